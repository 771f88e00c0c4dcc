"""Transport layers (TCP, UDP, ICMP, ICMPv6) and the payload hash, vectorized.

L4 payload (what ``payload_len`` counts and ``payload_hash`` hashes):
- TCP: the bytes after the header (data offset * 4, options included in the header);
- UDP: the bytes after the 8-byte header (for a tunnel: the whole encapsulated packet);
- ICMP / ICMPv6: the bytes after the 8-byte header (echo data; for errors, the quoted packet);
- a non-first IP fragment: its whole IP payload; any other protocol: the IP payload.
It ends where the IP packet ends (IPv4 total length / IPv6 payload length), so Ethernet padding
never counts, and only captured bytes are hashed: the first ``payload_hashed`` =
min(captured payload, 64) bytes. 64 bytes fit the smallest snaplen we capture with, so the hash
is equal at capture points with different snaplens. The checksum is never used: with checksum
offload it is wrong on the sending host.

The hash (stable across machines and numpy versions, never Python's ``hash()``): the 64-byte
window, bytes past ``payload_hashed`` zeroed, as 8 little-endian uint64 words w0..w7;
``h = 0x9E3779B97F4A7C15 ^ n``; for each word ``h = (h ^ w) * 0xFF51AFD7ED558CCD`` then
``h ^= h >> 32``; finally the splitmix64 finalizer (``h ^= h >> 30; h *= 0xBF58476D1CE4E5B9;
h ^= h >> 27; h *= 0x94D049BB133111EB; h ^= h >> 31``), all arithmetic modulo 2**64.
``payload_hashed`` = 0 gives the fixed hash of the empty payload (pure ACKs compare equal).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap.gather import Columns, Packets, be16, be32, one_of
from netdiag.pcap.icmp import errors as icmp_errors
from netdiag.pcap.network import L4Start

HASH_BYTES: Final = 64
_SEED: Final = np.uint64(0x9E3779B97F4A7C15)
_M: Final = np.uint64(0xFF51AFD7ED558CCD)
_F1: Final = np.uint64(0xBF58476D1CE4E5B9)
_F2: Final = np.uint64(0x94D049BB133111EB)
_ALL: Final = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
ECHO_TYPES: Final = {1: (0, 8), 58: (128, 129)}


def payload_hash(window: npt.NDArray[np.uint8], n: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """The documented 64-bit hash of the first ``n`` bytes of each row of ``window``."""
    words = np.ascontiguousarray(window).view("<u8")
    h = _SEED ^ n.astype(np.uint64)
    with np.errstate(over="ignore"):
        for k in range(HASH_BYTES // 8):
            # keep the first n - 8k bytes of word k (little-endian: the low bytes)
            keep = np.clip(n - 8 * k, 0, 8).astype(np.uint64) * np.uint64(8)
            mask = np.where(keep >= 64, _ALL, (np.uint64(1) << np.minimum(keep, 63)) - 1)
            h = (h ^ (words[:, k] & mask)) * _M
            h ^= h >> np.uint64(32)
        h ^= h >> np.uint64(30)
        h *= _F1
        h ^= h >> np.uint64(27)
        h *= _F2
        h ^= h >> np.uint64(31)
    result: npt.NDArray[np.uint64] = h
    return result


def transport(p: Packets, c: Columns, s: L4Start) -> npt.NDArray[np.int64]:
    """Fill the L4 and payload columns; returns the payload start (-1: unknown) per packet."""
    idx, l4, proto = s.idx, s.l4, s.proto
    payload = np.where(s.has_l4, -1, l4)  # non-first fragment: the IP payload
    w = p.window(idx, l4, 20)
    tcp = s.has_l4 & (proto == 6) & p.has(idx, l4 + 20)
    udp = s.has_l4 & (proto == 17) & p.has(idx, l4 + 8)
    ports = tcp | udp
    c.set("sport", idx[ports], be16(w, 0)[ports])
    c.set("dport", idx[ports], be16(w, 2)[ports])
    if tcp.any():
        t = idx[tcp]
        wt = w[tcp]
        c.set("tcp_seq", t, be32(wt, 4))
        c.set("tcp_ack", t, be32(wt, 8))
        c.set("tcp_flags", t, be16(wt, 12) & 0x1FF)
        doff = (wt[:, 12] >> 4).astype(np.int64) * 4
        payload[tcp] = np.where(doff >= 20, l4[tcp] + doff, -1)
    payload[udp] = l4[udp] + 8
    icmp_proto = 1 if s.version == 4 else 58
    icmp = s.has_l4 & (proto == icmp_proto) & p.has(idx, l4 + 2)
    if icmp.any():
        ic = idx[icmp]
        wi = w[icmp]
        itype = wi[:, 0]
        c.set("icmp_type", ic, itype)
        c.set("icmp_code", ic, wi[:, 1])
        full = p.has(ic, l4[icmp] + 8)
        echo = full & one_of(itype, ECHO_TYPES[icmp_proto])
        c.set("icmp_id", ic[echo], be16(wi, 4)[echo])
        c.set("icmp_seq", ic[echo], be16(wi, 6)[echo])
        payload[icmp] = np.where(full, l4[icmp] + 8, -1)
        icmp_errors(p, c, ic, l4[icmp], s.ip_end[icmp], icmp_proto=icmp_proto)
    other = s.has_l4 & ~one_of(proto, (6, 17, icmp_proto))
    payload[other] = l4[other]
    known = payload >= 0
    plen = np.maximum(s.ip_end - payload, 0)
    c.set("payload_len", idx[known], plen[known])
    end = np.minimum(p.caplen[idx], s.ip_end)
    n = np.clip(end - payload, 0, HASH_BYTES)
    k = np.flatnonzero(known)
    if len(k):
        window = p.window(idx[k], payload[k], HASH_BYTES)
        c.set("payload_hash", idx[k], payload_hash(window, n[k]))
        c.set("payload_hashed", idx[k], n[k])
    return payload
