"""ICMP / ICMPv6 error messages: the next-hop MTU and the invariant fields of the quoted packet.

An error message (RFC 792 / RFC 4443) carries, after its 8-byte header, the start of the packet
that caused it: its IP header and at least 8 bytes of its transport header. Those fields tie the
error exactly to the offending packet as another capture point saw it (correlate/anomalies.py).
The MTU: ICMP type 3 code 4 ("fragmentation needed") holds a 16-bit next-hop MTU in bytes 6-7
(RFC 1191); ICMPv6 type 2 ("packet too big") a 32-bit MTU in bytes 4-7 (RFC 4443 3.2).
The quoted packet is never decoded further (no tunnels, no IPv6 extension headers other than a
fragment header, whose identification becomes ``quoted_ip_id``), and a field is present only
when its bytes were captured and lie inside the error message.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap.gather import Columns, Idx, Packets, be16, be32, be64, one_of

#: error types per ICMP protocol number: v4 unreachable, source quench, redirect, time
#: exceeded, parameter problem; v6 unreachable, packet too big, time exceeded, parameter problem
ERROR_TYPES: Final = {1: (3, 4, 5, 11, 12), 58: (1, 2, 3, 4)}
V4_MAPPED: Final = np.uint64(0xFFFF_0000_0000)
PORTS: Final = (6, 17, 132, 33)  # TCP, UDP, SCTP, DCCP: ports in the first 4 bytes


def errors(
    p: Packets,
    c: Columns,
    idx: Idx,
    l4: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    *,
    icmp_proto: int,
) -> None:
    """Fill icmp_mtu and quoted_* for the ICMP (``icmp_proto`` 1) or ICMPv6 (58) packets
    ``idx``: ICMP header at ``l4``, end of the IP packet at ``end``."""
    limit = np.minimum(p.caplen[idx], end)  # bytes that are both captured and in the message
    head = p.window(idx, l4, 8)
    itype, code = head[:, 0], head[:, 1]
    if icmp_proto == 1:
        mtu = (itype == 3) & (code == 4) & (limit >= l4 + 8)
        c.set("icmp_mtu", idx[mtu], be16(head, 6)[mtu])
    else:
        mtu = (itype == 2) & (limit >= l4 + 8)
        c.set("icmp_mtu", idx[mtu], be32(head, 4)[mtu])
    # IPv4: the 20-byte header whole; IPv6: each field where its bytes are (as tshark does)
    need = l4 + (28 if icmp_proto == 1 else 16)
    err = one_of(itype, ERROR_TYPES[icmp_proto]) & (limit >= need)
    if err.any():
        quoted = _quoted_v4 if icmp_proto == 1 else _quoted_v6
        quoted(p, c, idx[err], l4[err] + 8, limit[err])


def _ports(
    p: Packets, c: Columns, idx: Idx, at: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_]
) -> None:
    w = p.window(idx, at, 4)
    c.set("quoted_sport", idx[ok], be16(w, 0)[ok])
    c.set("quoted_dport", idx[ok], be16(w, 2)[ok])


def _quoted_v4(p: Packets, c: Columns, idx: Idx, q: Idx, limit: Idx) -> None:
    w = p.window(idx, q, 20)
    ihl = (w[:, 0] & 0x0F).astype(np.int64) * 4
    ok = ((w[:, 0] >> 4) == 4) & (ihl >= 20)
    i, w = idx[ok], w[ok]
    c.set("quoted_src_hi", i, 0)
    c.set("quoted_src_lo", i, V4_MAPPED | be32(w, 12).astype(np.uint64))
    c.set("quoted_dst_hi", i, 0)
    c.set("quoted_dst_lo", i, V4_MAPPED | be32(w, 16).astype(np.uint64))
    c.set("quoted_proto", i, w[:, 9])
    c.set("quoted_ip_id", i, be16(w, 4))
    first = (be16(w, 6) & 0x1FFF) == 0
    at = q[ok] + ihl[ok]
    _ports(p, c, i, at, first & one_of(w[:, 9], PORTS) & (limit[ok] >= at + 4))


def _quoted_v6(p: Packets, c: Columns, idx: Idx, q: Idx, limit: Idx) -> None:
    w = p.window(idx, q, 40)
    ok = (w[:, 0] >> 4) == 6
    i, w, q, limit = idx[ok], w[ok], q[ok], limit[ok]
    has_src, has_dst = limit >= q + 24, limit >= q + 40
    c.set("quoted_src_hi", i, be64(w, 8), has_src)
    c.set("quoted_src_lo", i, be64(w, 16), has_src)
    c.set("quoted_dst_hi", i, be64(w, 24), has_dst)
    c.set("quoted_dst_lo", i, be64(w, 32), has_dst)
    nh = w[:, 6].astype(np.int64)
    at = q + 40
    first = np.ones(len(i), dtype=np.bool_)
    frag = (nh == 44) & (limit >= q + 48)
    if frag.any():  # RFC 8200 4.5: next header, reserved, offset/flags, identification
        f = p.window(i[frag], q[frag] + 40, 8)
        nh[frag] = f[:, 0]
        first[frag] = (be16(f, 2) & 0xFFF8) == 0
        c.set("quoted_ip_id", i[frag], be32(f, 4))
        at[frag] += 8
    known = (nh != 44) | frag
    c.set("quoted_proto", i[known], nh[known])  # the header's own byte 6: captured (>= q + 8)
    _ports(p, c, i, at, known & first & one_of(nh, PORTS) & (limit >= at + 4))
