"""Network layers, vectorized: ARP, IPv4 (options, fragments), IPv6 (extension headers).

Each IP decoder fills the IP columns and returns an :class:`L4Start` per packet: where the
transport header starts, which protocol it is, where the IP packet ends (for the payload
length and hash: bytes after it are link padding), and whether an L4 header is there at all
(not in a non-first fragment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap.gather import Columns, Idx, Packets, be16, be32, be48, be64, one_of

V4_MAPPED: Final = np.uint64(0xFFFF_0000_0000)
#: IPv6 extension headers walked to find the transport protocol (RFC 8200 section 4):
#: hop-by-hop 0, routing 43, fragment 44, destination options 60.
IPV6_EXT: Final = (0, 43, 44, 60)
MAX_EXT_HEADERS: Final = 256


@dataclass
class L4Start:
    idx: Idx
    l4: npt.NDArray[np.int64]
    proto: npt.NDArray[np.int64]
    ip_end: npt.NDArray[np.int64]
    has_l4: npt.NDArray[np.bool_]  # L4 header follows (not a non-first fragment)
    version: int


def arp(p: Packets, c: Columns, idx: Idx, l3: npt.NDArray[np.int64]) -> None:
    """ARP / RARP for Ethernet + IPv4 (hlen 6, plen 4); other hardware types keep only op."""
    w = p.window(idx, l3, 28)
    has_op = p.has(idx, l3 + 8)
    c.set("arp_op", idx[has_op], be16(w, 6)[has_op])
    ok = has_op & (w[:, 4] == 6) & (w[:, 5] == 4) & p.has(idx, l3 + 28)
    i = idx[ok]
    c.set("arp_sha", i, be48(w, 8)[ok])
    c.set("arp_spa", i, be32(w, 14)[ok])
    c.set("arp_tha", i, be48(w, 18)[ok])
    c.set("arp_tpa", i, be32(w, 24)[ok])


def ipv4(p: Packets, c: Columns, idx: Idx, l3: npt.NDArray[np.int64]) -> L4Start:
    """IPv4. Each field is kept if its bytes were captured (a snaplen may cut the header, as
    tshark shows); a header length < 20 keeps only the version. Total length 0 (TSO / BIG TCP
    super-packets, RFC-violating but what Linux captures) falls back to the wire length of
    the frame from this header on."""
    w = p.window(idx, l3, 20)
    is4 = p.has(idx, l3 + 1) & ((w[:, 0] >> 4) == 4)
    c.set("ip_version", idx[is4], 4)
    ihl = (w[:, 0] & 0x0F).astype(np.int64) * 4
    ok = is4 & (ihl >= 20)
    w, idx, l3, ihl = w[ok], idx[ok], l3[ok], ihl[ok]

    def has(end: int) -> npt.NDArray[np.bool_]:
        return p.has(idx, l3 + end)

    total = be16(w, 2).astype(np.int64)
    total = np.where(total == 0, p.wirelen[idx] - l3, total)
    flags_frag = be16(w, 6)
    frag = (flags_frag & 0x1FFF).astype(np.int64) * 8
    c.set("ip_len", idx, total, has(4))
    c.set("ip_id", idx, be16(w, 4), has(6))
    c.set("frag_offset", idx, frag, has(8))
    c.set("mf", idx, (flags_frag & 0x2000) != 0, has(8))
    c.set("df", idx, (flags_frag & 0x4000) != 0, has(8))
    c.set("ttl", idx, w[:, 8], has(9))
    c.set("proto", idx, w[:, 9], has(10))
    c.set("src_hi", idx, 0, has(16))
    c.set("src_lo", idx, V4_MAPPED | be32(w, 12).astype(np.uint64), has(16))
    c.set("dst_hi", idx, 0, has(20))
    c.set("dst_lo", idx, V4_MAPPED | be32(w, 16).astype(np.uint64), has(20))
    full = has(20)
    total = np.where(has(4), total, p.caplen[idx] - l3)
    return L4Start(idx, l3 + ihl, w[:, 9].astype(np.int64), l3 + total, full & (frag == 0), 4)


def ipv6(p: Packets, c: Columns, idx: Idx, l3: npt.NDArray[np.int64]) -> L4Start:
    """IPv6 and its extension-header chain (at most MAX_EXT_HEADERS headers are followed).

    Jumbograms (RFC 2675): payload length 0 and a hop-by-hop Jumbo Payload option; the option
    is recognised as the first option of the hop-by-hop header, where Linux and every known
    writer put it. Payload length 0 without it (Linux BIG TCP strips the option before
    capture) falls back to the wire length, like IPv4 TSO.
    """
    w = p.window(idx, l3, 40)
    is6 = p.has(idx, l3 + 1) & ((w[:, 0] >> 4) == 6)
    c.set("ip_version", idx[is6], 6)
    w, idx, l3 = w[is6], idx[is6], l3[is6]

    def has(end: int) -> npt.NDArray[np.bool_]:
        return p.has(idx, l3 + end)

    plen = be16(w, 4).astype(np.int64)
    total = 40 + plen
    nh = w[:, 6].astype(np.int64)
    c.set("ttl", idx, w[:, 7], has(8))
    c.set("src_hi", idx, be64(w, 8), has(24))
    c.set("src_lo", idx, be64(w, 16), has(24))
    c.set("dst_hi", idx, be64(w, 24), has(40))
    c.set("dst_lo", idx, be64(w, 32), has(40))
    pos = l3 + 40
    has_l4 = has(40)
    jumbo_set = plen != 0
    active = one_of(nh, IPV6_EXT) & has_l4
    for _ in range(MAX_EXT_HEADERS):
        a = np.flatnonzero(active)
        if not len(a):
            break
        e = p.window(idx[a], pos[a], 8)
        captured = p.has(idx[a], pos[a] + 8)
        kind = nh[a]
        frag = kind == 44
        hdr_len = np.where(frag, 8, (e[:, 1].astype(np.int64) + 1) * 8)
        fi = a[frag & captured]
        if len(fi):
            ef = e[frag & captured]
            offlg = be16(ef, 2)
            off = (offlg & 0xFFF8).astype(np.int64)
            first = ~c.valid["ip_id"][idx[fi]]  # several fragment headers: keep the first
            c.set("ip_id", idx[fi[first]], be32(ef, 4)[first])
            c.set("frag_offset", idx[fi[first]], off[first])
            c.set("mf", idx[fi[first]], (offlg[first] & 1) != 0)
            has_l4[fi] &= off == 0
        jumbo = (kind == 0) & captured & ~jumbo_set[a] & (e[:, 2] == 0xC2) & (e[:, 3] == 4)
        ji = a[jumbo]
        if len(ji):
            total[ji] = 40 + be32(e[jumbo], 4).astype(np.int64)
            jumbo_set[ji] = True
        nh[a] = np.where(captured, e[:, 0], nh[a])
        pos[a] = np.where(captured, pos[a] + hdr_len, pos[a])
        has_l4[a[~captured]] = False
        active[a] = captured & one_of(nh[a], IPV6_EXT) & ~(frag & ~has_l4[a])
    has_l4 &= ~active  # chain longer than we follow
    total = np.where(jumbo_set, total, p.wirelen[idx] - l3)
    c.set("proto", idx, nh, has(7))
    c.set("ip_len", idx, total, has(6))
    total = np.where(has(6), total, p.caplen[idx] - l3)
    return L4Start(idx, pos, nh, l3 + total, has_l4, 6)
