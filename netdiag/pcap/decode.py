"""Decoding one chunk of packets into the table's columns, layer by layer, all vectorized.

Link layer per link type, then the network layer, transport layer and tunnels; a tunnel's inner
packet goes through the same network/transport steps again (at most MAX_TUNNEL_DEPTH levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap import link, network, tunnels
from netdiag.pcap.container import Batch
from netdiag.pcap.gather import Columns, Idx, Packets, one_of
from netdiag.pcap.l4 import transport

MAX_TUNNEL_DEPTH: Final = 3
ARP_TYPES: Final = (0x0806, 0x8035)  # ARP, RARP
#: Columns describing the (innermost) packet: cleared when a tunnel is entered.
MAIN: Final = (
    "ethertype", "ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo", "ip_id", "ttl", "proto",
    "ip_len", "frag_offset", "mf", "df", "sport", "dport", "tcp_seq", "tcp_ack", "tcp_flags",
    "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "payload_len", "payload_hash",
    "payload_hashed", "arp_op", "arp_sha", "arp_spa", "arp_tha", "arp_tpa", "icmp_mtu",
    "quoted_src_hi", "quoted_src_lo", "quoted_dst_hi", "quoted_dst_lo", "quoted_proto",
    "quoted_ip_id", "quoted_sport", "quoted_dport",
)  # fmt: skip
OUTER: Final = (
    ("src_hi", "outer_src_hi"),
    ("src_lo", "outer_src_lo"),
    ("dst_hi", "outer_dst_hi"),
    ("dst_lo", "outer_dst_lo"),
    ("ttl", "outer_ttl"),
)


@dataclass
class Decoded:
    """One chunk's columns: masked numeric ones plus the codes of the categorical ones."""

    columns: Columns
    direction: npt.NDArray[np.int8]  # codes into schema.DIRECTIONS
    encap: npt.NDArray[np.int8]  # codes into schema.ENCAPS, -1 = none


class _Decoder:
    def __init__(self, p: Packets, c: Columns) -> None:
        self.p = p
        self.c = c
        self.encap = np.full(len(p), -1, dtype=np.int8)

    def network(
        self, idx: Idx, l3: npt.NDArray[np.int64], etype: npt.NDArray[np.int64], depth: int
    ) -> None:
        arp = one_of(etype, ARP_TYPES)
        if arp.any():
            network.arp(self.p, self.c, idx[arp], l3[arp])
        for value, fn in ((link.ETH_IPV4, network.ipv4), (link.ETH_IPV6, network.ipv6)):
            sel = etype == value
            if not sel.any():
                continue
            start = fn(self.p, self.c, idx[sel], l3[sel])
            payload = transport(self.p, self.c, start)
            if depth < MAX_TUNNEL_DEPTH:
                inner = tunnels.find(self.p, self.c, start, payload)
                if len(inner.idx):
                    self.enter(inner, depth)

    def enter(self, t: tunnels.Inner, depth: int) -> None:
        """Move the carrying IP header to outer_* (outermost tunnel only), decode the inner."""
        c = self.c
        first = self.encap[t.idx] < 0
        fi = t.idx[first]
        for main, outer in OUTER:
            values, valid = c.get(main, fi)
            c.set(outer, fi, values, valid)
        version, has_version = c.get("ip_version", fi)
        ip_id, has_id = c.get("ip_id", fi)
        c.set("outer_ip_id", fi, ip_id, has_id & has_version & (version == 4))
        self.encap[fi] = t.kind[first]
        has_vni = first & (t.vni >= 0)
        c.set("vni", t.idx[has_vni], t.vni[has_vni])
        c.clear(MAIN, t.idx)
        eth = t.etype == tunnels.ETH
        if eth.any():
            ei = t.idx[eth]
            no_outer_eth = ~c.valid["eth_src"][ei]
            l3, etype = link.ethernet(self.p, c, ei, t.offset[eth], no_outer_eth)
            keep = l3 >= 0
            self.network(ei[keep], l3[keep], etype[keep], depth + 1)
        ip = ~eth
        if ip.any():
            c.set("ethertype", t.idx[ip], t.etype[ip])
            self.network(t.idx[ip], t.offset[ip], t.etype[ip], depth + 1)


def decode(batch: Batch, columns: Columns | None = None) -> Decoded:
    """All columns of the batch that come from packet bytes (not point/node/iface/frame),
    written into ``columns`` when given (views of the output table), else fresh arrays."""
    n = len(batch)
    p = Packets(batch.data, batch.off, batch.caplen, batch.wirelen)
    c = columns if columns is not None else Columns(n)
    # pcapng epb_flags bits 0-1: 1 inbound, 2 outbound; link layers may refine (SLL/SLL2)
    inout = batch.epb_flags & 3
    direction = np.select(
        [inout == 1, inout == 2], [link.DIR_IN, link.DIR_OUT], link.DIR_UNKNOWN
    ).astype(np.int8)
    l3, etype = link.decode_link(p, c, batch.linktype, direction)
    d = _Decoder(p, c)
    has_l3 = np.flatnonzero(l3 >= 0)
    d.network(has_l3, l3[has_l3], etype[has_l3], 0)
    return Decoded(c, direction, d.encap)
