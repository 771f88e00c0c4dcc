"""Link layers, vectorized: where the network layer starts and what it is, per packet.

Each decoder fills the L2 columns for its packets and returns (l3 offset, ethertype), -1 where
there is no network layer we decode (802.3/LLC frames, truncated headers, odd families).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap.gather import Columns, Idx, Packets, be16, be32, be48, one_of
from netdiag.pcap.schema import DIRECTIONS

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_TPIDS: Final = (0x8100, 0x88A8, 0x9100)
DIR_IN, DIR_OUT, DIR_OTHER, DIR_HOST, DIR_UNKNOWN = range(5)
assert DIRECTIONS[DIR_UNKNOWN] == "unknown"
#: Linux sll_pkttype (linux/if_packet.h) -> DIRECTIONS code: 0 HOST, 1 BROADCAST, 2 MULTICAST
#: -> in; 3 OTHERHOST -> other; 4 OUTGOING -> out; 5 LOOPBACK -> host; 6 USER, 7 KERNEL -> unknown
PKTTYPE_DIRECTION: Final = np.array(
    [DIR_IN, DIR_IN, DIR_IN, DIR_OTHER, DIR_OUT, DIR_HOST] + [DIR_UNKNOWN] * 250, dtype=np.int8
)
SUPPORTED: Final = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})

L2Result = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def ethernet(
    p: Packets, c: Columns, idx: Idx, rel: Idx | int, set_macs: npt.NDArray[np.bool_] | bool
) -> L2Result:
    """Ethernet II with up to two 802.1Q/802.1ad tags at ``rel`` (also used for inner frames).

    ``set_macs`` says where eth_src/eth_dst/vlan are written: a tunnel's inner Ethernet frame
    (VXLAN, Geneve, GRE-TEB) keeps the outer frame's MACs and VLAN, which are what the
    capturing interface saw; only without an outer Ethernet header do the inner ones show.
    """
    w = p.window(idx, rel, 22)
    has_hdr = p.has(idx, np.asarray(rel) + 14)
    macs = has_hdr & set_macs
    c.set("eth_dst", idx[macs], be48(w, 0)[macs])
    c.set("eth_src", idx[macs], be48(w, 6)[macs])
    etype = be16(w, 12).astype(np.int64)
    l3 = np.full(len(idx), 14, dtype=np.int64)
    outer_tag = one_of(etype, VLAN_TPIDS) & p.has(idx, np.asarray(rel) + 18)
    if outer_tag.any():
        tag = outer_tag & set_macs
        c.set("vlan", idx[tag], (be16(w, 14) & 0xFFF)[tag])
        etype = np.where(outer_tag, be16(w, 16), etype)
        l3 = np.where(outer_tag, 18, l3)
        inner_tag = outer_tag & one_of(etype, VLAN_TPIDS) & p.has(idx, np.asarray(rel) + 22)
        tag = inner_tag & set_macs
        c.set("vlan_inner", idx[tag], (be16(w, 18) & 0xFFF)[tag])
        etype = np.where(inner_tag, be16(w, 20), etype)
        l3 = np.where(inner_tag, 22, l3)
    ok = has_hdr & p.has(idx, np.asarray(rel) + l3) & (etype >= 0x0600)
    c.set("ethertype", idx[ok], etype[ok])
    return np.where(ok, l3 + rel, -1), np.where(ok, etype, -1)


def _sll_common(
    c: Columns,
    idx: Idx,
    *,
    ok: npt.NDArray[np.bool_],
    pkttype: npt.NDArray[np.uint32],
    halen: npt.NDArray[np.uint32],
    addr: npt.NDArray[np.uint64],
    proto: npt.NDArray[np.uint32],
    direction: npt.NDArray[np.int8],
    hdr: int,
) -> L2Result:
    direction[idx[ok]] = PKTTYPE_DIRECTION[np.minimum(pkttype, 255)][ok]
    mac = ok & (halen == 6)
    c.set("eth_src", idx[mac], addr[mac])
    # protocol 1 (Novell 802.3), 4 (802.2 LLC) and the other small values are not ethertypes
    l3ok = ok & (proto >= 0x0600)
    c.set("ethertype", idx[l3ok], proto[l3ok])
    etype = np.where(l3ok, proto.astype(np.int64), -1)
    return np.where(l3ok, hdr, -1).astype(np.int64), etype


def sll(p: Packets, c: Columns, idx: Idx, direction: npt.NDArray[np.int8]) -> L2Result:
    """LINUX_SLL: pkttype, hatype, halen, 8 address bytes, protocol (16 bytes)."""
    w = p.window(idx, 0, 16)
    ok = p.has(idx, 16)
    return _sll_common(
        c, idx, ok=ok, pkttype=be16(w, 0), halen=be16(w, 4), addr=be48(w, 6),
        proto=be16(w, 14), direction=direction, hdr=16,
    )  # fmt: skip


def sll2(p: Packets, c: Columns, idx: Idx, direction: npt.NDArray[np.int8]) -> L2Result:
    """LINUX_SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, 8 address bytes."""
    w = p.window(idx, 0, 20)
    ok = p.has(idx, 20)
    c.set("ifindex", idx[ok], be32(w, 4)[ok])
    pkttype = w[:, 10].astype(np.uint32)
    halen = w[:, 11].astype(np.uint32)
    return _sll_common(
        c, idx, ok=ok, pkttype=pkttype, halen=halen, addr=be48(w, 12), proto=be16(w, 0),
        direction=direction, hdr=20,
    )  # fmt: skip


def raw_ip(p: Packets, c: Columns, idx: Idx, hdr: int = 0) -> L2Result:
    """RAW / IPV4 / IPV6: the IP version nibble decides, also for IPV4/IPV6 (a mislabelled
    packet is decoded as what it is, as tshark does)."""
    w = p.window(idx, hdr, 1)
    version = w[:, 0] >> 4
    etype = np.select([version == 4, version == 6], [ETH_IPV4, ETH_IPV6], -1).astype(np.int64)
    ok = p.has(idx, hdr + 1) & (etype > 0)
    c.set("ethertype", idx[ok], etype[ok])
    return np.where(ok, hdr, -1).astype(np.int64), np.where(ok, etype, -1).astype(np.int64)


def null(p: Packets, c: Columns, idx: Idx, big_endian_only: bool) -> L2Result:
    """NULL (0): 4-byte address family in the *capturing host's* byte order, so both orders
    occur; LOOP (108): always big-endian. AF_INET = 2; AF_INET6 = 10 (Linux), 24 (NetBSD,
    OpenBSD), 28 (FreeBSD), 30 (macOS)."""
    w = p.window(idx, 0, 4)
    fam = be32(w, 0).astype(np.int64)
    if not big_endian_only:
        swapped = np.ascontiguousarray(w).view("<u4")[:, 0].astype(np.int64)
        fam = np.where(fam > 0xFFFF, swapped, fam)
    etype = np.select([fam == 2, one_of(fam, (10, 24, 28, 30))], [ETH_IPV4, ETH_IPV6], -1).astype(
        np.int64
    )
    ok = p.has(idx, 5) & (etype > 0)
    c.set("ethertype", idx[ok], etype[ok])
    return np.where(ok, 4, -1).astype(np.int64), np.where(ok, etype, -1).astype(np.int64)


def decode_link(
    p: Packets, c: Columns, linktype: npt.NDArray[np.int64], direction: npt.NDArray[np.int8]
) -> L2Result:
    """Dispatch every packet to its link-type decoder; unsupported ones get no L3."""
    n = len(p)
    l3 = np.full(n, -1, dtype=np.int64)
    etype = np.full(n, -1, dtype=np.int64)
    for lt in np.unique(linktype).tolist():
        idx = np.flatnonzero(linktype == lt)
        if lt == 1:
            res = ethernet(p, c, idx, 0, True)
        elif lt == 113:
            res = sll(p, c, idx, direction)
        elif lt == 276:
            res = sll2(p, c, idx, direction)
        elif lt in (12, 14, 101, 228, 229):
            res = raw_ip(p, c, idx)
        elif lt in (0, 108):
            res = null(p, c, idx, big_endian_only=lt == 108)
        else:
            continue
        l3[idx], etype[idx] = res
    return l3, etype
