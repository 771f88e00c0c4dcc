"""The packet table: one row per frame per capture point, the reader's output.

Numeric columns use pandas' nullable dtypes so that "absent" (a RAW frame has no MAC, a UDP
packet has no TCP seq) is a real missing value, written as an empty csv cell / JSON null.

Addresses are stored as numbers so the bulk path never builds strings:
- MACs as ``UInt64`` (the 48-bit value);
- IP addresses as two ``UInt64`` halves ``<name>_hi`` / ``<name>_lo`` of the 128-bit address,
  IPv4 encoded IPv4-mapped (``::ffff:a.b.c.d``: hi = 0, lo = 0xffff_0000_0000 | v4) so one pair
  of columns serves both families; ``ip_version`` says which text form to print.
The text columns ``src``, ``dst``, ``outer_src``, ``outer_dst`` (and colon-hex MACs) exist only
in the display/export form produced by :func:`netdiag.pcap.format.display_frame`.

When a frame is a tunnel (VXLAN, Geneve, GRE, IP-in-IP), the main columns describe the **inner**
packet and ``encap``, ``vni``, ``outer_*`` the outermost IP header that carried it.
An ICMP/ICMPv6 error's ``quoted_*`` columns describe the packet it quotes (pcap/icmp.py).
"""

from __future__ import annotations

from typing import Final

#: (column, pandas dtype, meaning). Order is the canonical column order of the table.
COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("point", "category", "capture point name, e.g. node1/eth1"),
    ("node", "category", "node part of the point ('' when unknown)"),
    ("iface", "category", "interface (SLL2: from ifindex via the ifmap; pcapng: IDB if_name)"),
    ("frame", "int64", "frame number in its file, from 1 (tshark frame.number)"),
    ("ts_ns", "int64", "capture timestamp, ns since the Unix epoch, as recorded (uncorrected)"),
    ("caplen", "UInt32", "bytes captured"),
    ("wirelen", "UInt32", "bytes on the wire"),
    ("direction", "category", "in / out / other / host / unknown (see DIRECTIONS)"),
    ("ifindex", "UInt32", "SLL2 interface index or pcapng interface id"),
    ("eth_src", "UInt64", "source MAC (SLL/SLL2: the link-layer address when 6 bytes)"),
    ("eth_dst", "UInt64", "destination MAC"),
    ("vlan", "UInt16", "outer 802.1Q/802.1ad VLAN id"),
    ("vlan_inner", "UInt16", "inner VLAN id of a QinQ frame"),
    ("ethertype", "UInt16", "ethertype of the (inner) L3 payload after VLAN tags"),
    ("ip_version", "UInt8", "4 or 6"),
    ("src_hi", "UInt64", "source address, high 64 bits (IPv4-mapped for IPv4)"),
    ("src_lo", "UInt64", "source address, low 64 bits"),
    ("dst_hi", "UInt64", "destination address, high 64 bits"),
    ("dst_lo", "UInt64", "destination address, low 64 bits"),
    ("ip_id", "UInt32", "IPv4 identification; IPv6: fragment header identification if any"),
    ("ttl", "UInt8", "IPv4 TTL / IPv6 hop limit"),
    ("proto", "UInt8", "L4 protocol (after IPv6 extension headers)"),
    ("ip_len", "UInt32", "IPv4 total length; IPv6 40 + payload length (jumbo: from the option)"),
    ("frag_offset", "UInt16", "fragment offset in bytes"),
    ("mf", "boolean", "more-fragments flag"),
    ("df", "boolean", "don't-fragment flag (IPv4 only)"),
    ("sport", "UInt16", "TCP/UDP source port"),
    ("dport", "UInt16", "TCP/UDP destination port"),
    ("tcp_seq", "UInt32", "TCP sequence number (raw, not relative)"),
    ("tcp_ack", "UInt32", "TCP acknowledgement number (raw)"),
    ("tcp_flags", "UInt16", "TCP flags (9 bits: NS..FIN)"),
    ("icmp_type", "UInt8", "ICMP / ICMPv6 type"),
    ("icmp_code", "UInt8", "ICMP / ICMPv6 code"),
    ("icmp_id", "UInt16", "echo identifier (echo request/reply only)"),
    ("icmp_seq", "UInt16", "echo sequence number (echo request/reply only)"),
    ("payload_len", "UInt32", "L4 payload length per the headers (may exceed what was captured)"),
    ("payload_hash", "UInt64", "64-bit hash of the first payload_hashed captured L4 payload bytes"),
    ("payload_hashed", "UInt8", "bytes hashed: min(captured payload, 64); < 64 means snaplen cut"),
    ("arp_op", "UInt16", "ARP opcode"),
    ("arp_sha", "UInt64", "ARP sender hardware address"),
    ("arp_spa", "UInt32", "ARP sender IPv4 address"),
    ("arp_tha", "UInt64", "ARP target hardware address"),
    ("arp_tpa", "UInt32", "ARP target IPv4 address"),
    ("encap", "category", "vxlan / geneve / gre / ipip (outermost tunnel), missing if none"),
    ("vni", "UInt32", "VXLAN/Geneve VNI, GRE key"),
    ("outer_src_hi", "UInt64", "outer IP source, high 64 bits"),
    ("outer_src_lo", "UInt64", "outer IP source, low 64 bits"),
    ("outer_dst_hi", "UInt64", "outer IP destination, high 64 bits"),
    ("outer_dst_lo", "UInt64", "outer IP destination, low 64 bits"),
    ("outer_ip_id", "UInt32", "outer IPv4 identification"),
    ("outer_ttl", "UInt8", "outer TTL / hop limit"),
    ("geneve_ovn", "UInt32", "raw 4 data bytes of the OVN Geneve option (class 0x0102 type 0x80)"),
    ("icmp_mtu", "UInt32", "next-hop MTU: ICMP frag-needed (3/4, 16 bits), ICMPv6 packet-too-big"),
    ("quoted_src_hi", "UInt64", "ICMP/ICMPv6 error: quoted packet's source, high 64 bits"),
    ("quoted_src_lo", "UInt64", "quoted packet's source, low 64 bits (IPv4-mapped for ICMPv4)"),
    ("quoted_dst_hi", "UInt64", "quoted packet's destination, high 64 bits"),
    ("quoted_dst_lo", "UInt64", "quoted packet's destination, low 64 bits"),
    ("quoted_proto", "UInt8", "quoted packet's protocol (after an IPv6 fragment header)"),
    ("quoted_ip_id", "UInt32", "quoted IPv4 identification / IPv6 fragment identification"),
    ("quoted_sport", "UInt16", "quoted TCP/UDP/SCTP/DCCP source port (first fragment only)"),
    ("quoted_dport", "UInt16", "quoted TCP/UDP/SCTP/DCCP destination port"),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(name for name, _, _ in COLUMNS)
DTYPES: Final[dict[str, str]] = {name: dtype for name, dtype, _ in COLUMNS}

#: Columns of the display/export form (csv, json, terminal table), in order: the names the
#: README documents for ``netdiag packets``.
DISPLAY_COLUMNS: Final[tuple[str, ...]] = (
    "point", "node", "iface", "frame", "ts_ns", "caplen", "wirelen", "direction", "ifindex",
    "eth_src", "eth_dst", "vlan", "vlan_inner", "ethertype", "ip_version", "src", "dst", "ip_id",
    "ttl", "proto", "ip_len", "frag_offset", "mf", "df", "sport", "dport", "tcp_seq", "tcp_ack",
    "tcp_flags", "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "payload_len", "payload_hash",
    "payload_hashed", "arp_op", "arp_sha", "arp_spa", "arp_tha", "arp_tpa", "encap", "vni",
    "outer_src", "outer_dst", "outer_ip_id", "outer_ttl", "geneve_ovn", "icmp_mtu", "quoted_src",
    "quoted_dst", "quoted_proto", "quoted_ip_id", "quoted_sport", "quoted_dport",
)  # fmt: skip

#: ``in``: received, addressed to this host or broadcast/multicast (SLL pkttype 0-2, pcapng
#: inbound); ``other``: received but addressed elsewhere, seen promiscuously or while forwarding
#: (pkttype 3, tcpdump's "P"); ``out``: sent (pkttype 4, pcapng outbound); ``host``: looped back
#: (pkttype 5); ``unknown``: the link type does not say (EN10MB pcap, RAW).
DIRECTIONS: Final[tuple[str, ...]] = ("in", "out", "other", "host", "unknown")
ENCAPS: Final[tuple[str, ...]] = ("vxlan", "geneve", "gre", "ipip")
