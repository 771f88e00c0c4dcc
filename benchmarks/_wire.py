"""Encode a :class:`_gen.Plan` into the bytes of a microsecond EN10MB pcap, vectorized.

Headers are declared as numpy structured dtypes (big-endian fields, like scapy's fields_desc);
packets that share a layout (tag, tunnel, IP version, L4 header) are encoded as one 2-D block and
scattered into the file buffer. The buffer starts as a tiled 64 MiB random pool, so payload bytes
cost nothing to produce; two payloads repeat only if their offsets collide modulo the pool size.

Checksums: the IPv4 header checksums (outer and inner) are correct; TCP / ICMP checksums are left
0 and UDP checksums 0 over IPv4 ("none") or a fixed non-zero value over IPv6 — what a capture on a
sending host with checksum offload looks like, and what readers must not rely on anyway.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from _gen import ICMP, ICMP6, SYN, TCP, U8, U64, UDP, Plan, expected_digest, make_plan
from numpy.typing import NDArray

POOL_BYTES = 64 << 20
SCATTER_ROWS = 1 << 15

_ETH = np.dtype([("dst_hi", ">u2"), ("dst_lo", ">u4"), ("src_hi", ">u2"), ("src_lo", ">u4"),
                 ("type", ">u2")])  # fmt: skip
_ETH_VLAN = np.dtype([("dst_hi", ">u2"), ("dst_lo", ">u4"), ("src_hi", ">u2"), ("src_lo", ">u4"),
                      ("tpid", ">u2"), ("tci", ">u2"), ("type", ">u2")])  # fmt: skip
_IPV4 = np.dtype([("vhl", "u1"), ("tos", "u1"), ("len", ">u2"), ("id", ">u2"), ("frag", ">u2"),
                  ("ttl", "u1"), ("proto", "u1"), ("csum", ">u2"), ("src", ">u4"),
                  ("dst", ">u4")])  # fmt: skip
_IPV6 = np.dtype([("vtf", ">u4"), ("plen", ">u2"), ("nxt", "u1"), ("hlim", "u1"),
                  ("src_hi", ">u8"), ("src_lo", ">u8"), ("dst_hi", ">u8"),
                  ("dst_lo", ">u8")])  # fmt: skip
_UDP = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("len", ">u2"), ("csum", ">u2")])
_ICMP = np.dtype([("type", "u1"), ("code", "u1"), ("csum", ">u2"), ("id", ">u2"), ("seq", ">u2")])
_VXLAN = np.dtype([("flags", ">u4"), ("vni_rsvd", ">u4")])
_TCP = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                 ("off_flags", ">u2"), ("win", ">u2"), ("csum", ">u2"), ("urg", ">u2"),
                 ("o1", ">u4"), ("tsval", ">u4"), ("tsecr", ">u4")])  # fmt: skip
#: SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (Linux's order).
_TCP_SYN = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                     ("off_flags", ">u2"), ("win", ">u2"), ("csum", ">u2"), ("urg", ">u2"),
                     ("mss", ">u4"), ("sack_ts", ">u4"), ("tsval", ">u4"), ("tsecr", ">u4"),
                     ("nop_ws", ">u4")])  # fmt: skip
_RECORD = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4")])
_GLOBAL = np.array([0xA1B2C3D4, 0x0004_0002, 0, 0, 262144, 1], dtype="<u4")  # v2.4, EN10MB


def _rows(block: NDArray[np.void]) -> U8:
    return block.view(np.uint8).reshape(len(block), block.dtype.itemsize)


def _eth(dst: U64, src: U64, ethertype: int, vlan: NDArray[np.uint16] | None) -> U8:
    blk = np.zeros(len(dst), dtype=_ETH if vlan is None else _ETH_VLAN)
    blk["dst_hi"], blk["dst_lo"] = dst >> np.uint64(32), dst & np.uint64(0xFFFF_FFFF)
    blk["src_hi"], blk["src_lo"] = src >> np.uint64(32), src & np.uint64(0xFFFF_FFFF)
    blk["type"] = ethertype
    if vlan is not None:
        blk["tpid"], blk["tci"] = 0x8100, vlan
    return _rows(blk)


def _ipv4(*, total: NDArray[np.uint32], ip_id: NDArray[np.integer], df: NDArray[np.bool_],
          ttl: NDArray[np.uint8], proto: NDArray[np.uint8] | int, src: NDArray[np.uint32],
          dst: NDArray[np.uint32]) -> U8:  # fmt: skip
    blk = np.zeros(len(total), dtype=_IPV4)
    blk["vhl"], blk["len"], blk["id"] = 0x45, total, ip_id
    blk["frag"] = np.where(df, 0x4000, 0)
    blk["ttl"], blk["proto"], blk["src"], blk["dst"] = ttl, proto, src, dst
    rows = _rows(blk)
    words = rows[:, 0::2].astype(np.uint32) << 8 | rows[:, 1::2]
    csum = words.sum(axis=1)
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    blk["csum"] = ~csum & 0xFFFF
    return rows


def _l3(p: Plan, i: NDArray[np.intp], l4_and_payload: NDArray[np.uint32]) -> U8:
    if p.ip_version[i[0]] == 4:
        return _ipv4(total=20 + l4_and_payload, ip_id=p.ip_id[i], df=p.df[i], ttl=p.ttl[i],
                     proto=p.proto[i], src=p.src_lo[i].astype(np.uint32),
                     dst=p.dst_lo[i].astype(np.uint32))  # fmt: skip
    blk = np.zeros(len(i), dtype=_IPV6)
    blk["vtf"] = 0x6000_0000 | ((p.sport[i].astype(np.uint32) * 40503 + p.dport[i]) & 0xFFFFF)
    blk["plen"], blk["nxt"], blk["hlim"] = l4_and_payload, p.proto[i], p.ttl[i]
    blk["src_hi"], blk["src_lo"] = p.src_hi[i], p.src_lo[i]
    blk["dst_hi"], blk["dst_lo"] = p.dst_hi[i], p.dst_lo[i]
    return _rows(blk)


def _l4(p: Plan, i: NDArray[np.intp]) -> U8:
    proto, n = int(p.proto[i[0]]), len(i)
    if proto in (ICMP, ICMP6):
        icmp = np.zeros(n, dtype=_ICMP)
        icmp["type"], icmp["id"], icmp["seq"] = p.icmp_type[i], p.icmp_id[i], p.icmp_seq[i]
        return _rows(icmp)
    if proto == UDP:
        udp = np.zeros(n, dtype=_UDP)
        udp["sport"], udp["dport"], udp["len"] = p.sport[i], p.dport[i], 8 + p.payload_len[i]
        udp["csum"] = 0 if p.ip_version[i[0]] == 4 else 0x5A5A
        return _rows(udp)
    assert proto == TCP
    syn = int(p.tcp_hlen[i[0]]) == 40
    tcp = np.zeros(n, dtype=_TCP_SYN if syn else _TCP)
    tcp["sport"], tcp["dport"] = p.sport[i], p.dport[i]
    tcp["seq"], tcp["ack"] = p.tcp_seq[i], p.tcp_ack[i]
    tcp["off_flags"] = (p.tcp_hlen[i].astype(np.uint16) // 4) << 12 | p.tcp_flags[i]
    tcp["win"] = np.where((p.tcp_flags[i] & SYN) != 0, 64240, 501)
    tcp["tsval"] = (p.ts_ns[i] // 1_000_000) & 0xFFFF_FFFF
    tcp["tsecr"] = np.where(p.tcp_ack[i] != 0, tcp["tsval"] - 7, 0)
    if syn:
        tcp["mss"], tcp["sack_ts"], tcp["nop_ws"] = 0x020405B4, 0x0402080A, 0x01030307
    else:
        tcp["o1"] = 0x0101080A  # NOP, NOP, timestamps
    return _rows(tcp)


def _headers(p: Plan, i: NDArray[np.intp]) -> U8:
    """All header bytes of packets ``i``, which share one layout."""
    first = i[0]
    l4 = _l4(p, i)
    inner_len = l4.shape[1] + p.payload_len[i]
    l3 = _l3(p, i, inner_len)
    ethertype = 0x0800 if p.ip_version[first] == 4 else 0x86DD
    if not p.vxlan[first]:
        vlan = p.vlan[i] if p.vlan[first] else None
        return np.hstack([_eth(p.eth_dst[i], p.eth_src[i], ethertype, vlan), l3, l4])
    inner_eth = _eth(p.inner_eth_dst[i], p.inner_eth_src[i], ethertype, None)
    vx = np.zeros(len(i), dtype=_VXLAN)
    vx["flags"], vx["vni_rsvd"] = 0x0800_0000, p.vni[i] << 8
    udp = np.zeros(len(i), dtype=_UDP)
    udp["sport"], udp["dport"] = p.outer_sport[i], 4789
    udp["len"] = 8 + 8 + 14 + l3.shape[1] + inner_len
    outer_ip = _ipv4(total=udp["len"].astype(np.uint32) + 20, ip_id=p.outer_ip_id[i],
                     df=np.ones(len(i), dtype=bool), ttl=p.outer_ttl[i], proto=UDP,
                     src=p.outer_src[i], dst=p.outer_dst[i])  # fmt: skip
    outer_eth = _eth(p.eth_dst[i], p.eth_src[i], 0x0800, None)
    return np.hstack([outer_eth, outer_ip, _rows(udp), _rows(vx), inner_eth, l3, l4])


def _scatter(buf: U8, starts: NDArray[np.int64], rows: U8) -> None:
    cols = np.arange(rows.shape[1], dtype=np.int64)
    for k in range(0, len(starts), SCATTER_ROWS):
        buf[starts[k : k + SCATTER_ROWS, None] + cols] = rows[k : k + SCATTER_ROWS]


def encode(p: Plan, seed: int = 1) -> U8:
    """The whole pcap file as one uint8 array."""
    n = len(p)
    caplen = p.frame_len().astype(np.int64)
    rec = 24 + np.concatenate([[0], np.cumsum(16 + caplen)[:-1]]).astype(np.int64)
    total = int(rec[-1] + 16 + caplen[-1])
    pool = np.frombuffer(np.random.default_rng(seed).bytes(POOL_BYTES), dtype=np.uint8)
    buf = np.resize(pool, total)
    buf[:24] = _GLOBAL.view(np.uint8)
    hdr = np.zeros(n, dtype=_RECORD)
    hdr["sec"], hdr["usec"] = p.ts_ns // 10**9, (p.ts_ns // 1000) % 10**6
    hdr["caplen"] = hdr["wirelen"] = caplen
    _scatter(buf, rec, _rows(hdr))
    layout = (
        p.vlan.astype(np.int64) > 0,
        p.vxlan,
        p.ip_version,
        p.proto,
        p.tcp_hlen,
    )
    key = np.zeros(n, dtype=np.int64)
    for part in layout:
        key = key * 256 + part.astype(np.int64)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        _scatter(buf, rec[group] + 16, _headers(p, group))
    return buf


def write_pcap(path: Path, p: Plan, seed: int = 1) -> int:
    """Write the capture for plan ``p``; returns its size in bytes."""
    buf = encode(p, seed)
    buf.tofile(path)
    return len(buf)


def main(argv: list[str]) -> int:
    """``_wire.py PATH PACKETS SEED [LIMIT...]``: write the capture unless PATH already holds it.

    Run by ingest.py in its own process, so the benchmark's parent stays small: Linux charges a
    parent's peak RSS to a child's ``ru_maxrss`` at exec time. Prints the file size, the time
    taken and the expected column sums over each LIMIT first packets (0 = all) as JSON.
    """
    path, n, seed = Path(argv[0]), int(argv[1]), int(argv[2])
    start = time.perf_counter()
    p = make_plan(n, seed)
    size = 24 + 16 * n + int(p.frame_len().sum())
    reused = path.exists() and path.stat().st_size == size
    if not reused:
        write_pcap(path, p, seed)
    digests = {k: expected_digest(p, int(k) or n) for k in argv[3:]}
    elapsed = None if reused else time.perf_counter() - start
    print(json.dumps({"file_bytes": size, "generate_s": elapsed, "digests": digests}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
