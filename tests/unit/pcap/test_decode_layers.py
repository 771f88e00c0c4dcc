"""Hand-built frames (scapy, in tests only), one per link type, layer and tunnel, in both byte
orders of the file: each must come out of the reader with the right columns."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from netdiag.pcap import read_capture
from netdiag.pcap.format import display_frame
from tests.unit.pcap.pcap_builders import pcap_bytes, write

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
PAYLOAD = bytes(range(100))


def rows(
    tmp_path: Path,
    frames: list[bytes],
    linktype: int = 1,
    ifmap: dict[int, str] | None = None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Write the frames both big- and little-endian; both files must decode identically."""
    out = []
    for be in (False, True):
        content = pcap_bytes(
            [(1_000_000_000 * (i + 1), f) for i, f in enumerate(frames)],
            linktype=linktype,
            big_endian=be,
            **kw,
        )
        path = write(tmp_path, f"x_{be}.pcap", content)
        table = display_frame(read_capture(path, point="n/i", ifmap=ifmap).table)
        out.append(
            [{k: (None if _na(v) else v) for k, v in r.items()} for r in table.to_dict("records")]
        )
    assert out[0] == out[1]
    return out[0]


def _na(v: object) -> bool:
    import pandas as pd

    return v is None or v is pd.NA or (not isinstance(v, str) and bool(pd.isna(v)))


def one(tmp_path: Path, frame: bytes, linktype: int = 1) -> dict[str, Any]:
    return rows(tmp_path, [frame], linktype)[0]


def test_ethernet_qinq_tcp(tmp_path: Path) -> None:
    pkt = (
        Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=100) / Dot1Q(vlan=200)
        / IP(src="10.0.0.1", dst="10.0.0.2", id=4321, ttl=61, flags="DF")
        / TCP(sport=40000, dport=443, seq=1000, ack=2000, flags="PA") / PAYLOAD
    )  # fmt: skip
    r = one(tmp_path, bytes(pkt))
    assert (r["eth_src"], r["eth_dst"], r["vlan"], r["vlan_inner"]) == (MAC_A, MAC_B, 100, 200)
    assert (r["ethertype"], r["ip_version"], r["src"], r["dst"]) == (
        0x0800,
        4,
        "10.0.0.1",
        "10.0.0.2",
    )
    assert (r["ip_id"], r["ttl"], r["proto"], r["df"], r["mf"], r["frag_offset"]) == (
        4321,
        61,
        6,
        True,
        False,
        0,
    )
    assert (r["sport"], r["dport"], r["tcp_seq"], r["tcp_ack"], r["tcp_flags"]) == (
        40000,
        443,
        1000,
        2000,
        0x18,
    )
    assert (r["payload_len"], r["payload_hashed"]) == (100, 64)
    assert r["direction"] == "unknown"
    assert r["encap"] is None


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    small = Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2) / b"ab"
    padded = bytes(small) + b"\xee" * 18  # what a NIC pads a short frame to 60 bytes with
    a, b = rows(tmp_path, [bytes(small), padded])
    assert a["payload_len"] == b["payload_len"] == 2
    assert a["payload_hash"] == b["payload_hash"]
    assert a["payload_hashed"] == 2


def test_payload_hash_is_equal_across_snaplens(tmp_path: Path) -> None:
    pkt = bytes(Ether() / IP() / TCP() / PAYLOAD)
    full = read_capture(write(tmp_path, "f.pcap", pcap_bytes([(0, pkt)]))).table
    cut = read_capture(
        write(tmp_path, "c.pcap", pcap_bytes([(0, pkt[: 14 + 40 + 64])], wirelen_extra=36))
    ).table
    shorter = read_capture(
        write(tmp_path, "s.pcap", pcap_bytes([(0, pkt[: 14 + 40 + 10])], wirelen_extra=90))
    ).table
    assert full["payload_hash"][0] == cut["payload_hash"][0]
    assert int(shorter["payload_hashed"][0]) == 10
    assert shorter["payload_hash"][0] != full["payload_hash"][0]
    assert int(cut["payload_len"][0]) == 100  # from the IP header, not what was captured


def test_payload_hash_is_the_documented_function(tmp_path: Path) -> None:
    pkt = bytes(Ether() / IP() / UDP() / PAYLOAD[:37])
    table = read_capture(write(tmp_path, "h.pcap", pcap_bytes([(0, pkt)]))).table
    assert int(table["payload_hash"][0]) == reference_hash(PAYLOAD[:37])


def reference_hash(data: bytes) -> int:
    """The hash of netdiag/pcap/l4.py's docstring, written independently in plain Python."""
    m64 = (1 << 64) - 1
    n = min(len(data), 64)
    window = data[:n].ljust(64, b"\0")
    h = 0x9E3779B97F4A7C15 ^ n
    for k in range(8):
        (w,) = struct.unpack_from("<Q", window, 8 * k)
        h = ((h ^ w) * 0xFF51AFD7ED558CCD) & m64
        h ^= h >> 32
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & m64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & m64
    return h ^ (h >> 31)


def sll(pkttype: int, proto: int, mac: bytes = b"\x02\0\0\0\0\x0a") -> bytes:
    return struct.pack(">HHH", pkttype, 1, 6) + mac + b"\0\0" + struct.pack(">H", proto)


def sll2(pkttype: int, proto: int, ifindex: int, mac: bytes = b"\x02\0\0\0\0\x0a") -> bytes:
    return struct.pack(">HHIHBB", proto, 0, ifindex, 1, pkttype, 6) + mac + b"\0\0"


def test_linux_sll(tmp_path: Path) -> None:
    ip = bytes(IP(src="192.168.1.1", dst="192.168.1.2") / UDP(sport=53, dport=5353))
    out, inn, other = rows(
        tmp_path, [sll(4, 0x0800) + ip, sll(0, 0x0800) + ip, sll(3, 0x0800) + ip], 113
    )
    assert (out["direction"], inn["direction"], other["direction"]) == ("out", "in", "other")
    assert out["eth_src"] == MAC_A
    assert out["eth_dst"] is None
    assert (out["src"], out["sport"], out["dport"]) == ("192.168.1.1", 53, 5353)


def test_linux_sll2_ifindex_and_ifmap(tmp_path: Path) -> None:
    ip6 = bytes(IPv6(src="fd00::1", dst="fd00::2", hlim=9) / TCP(sport=1, dport=2, flags="S"))
    frames = [sll2(4, 0x86DD, 7) + ip6, sll2(5, 0x86DD, 1) + ip6]
    r = rows(tmp_path, frames, 276, ifmap={7: "veth7"})
    assert [x["ifindex"] for x in r] == [7, 1]
    assert [x["iface"] for x in r] == ["veth7", "i"]  # 1 is not in the map: the point's iface
    assert [x["direction"] for x in r] == ["out", "host"]
    assert (r[0]["src"], r[0]["ttl"], r[0]["tcp_flags"]) == ("fd00::1", 9, 2)


@pytest.mark.parametrize("linktype", [101, 12, 14, 228, 229])
def test_raw_ip(tmp_path: Path, linktype: int) -> None:
    v4 = bytes(IP(src="1.2.3.4", dst="5.6.7.8") / ICMP(type=8, id=7, seq=9))
    v6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=3, seq=4))
    a, b = rows(tmp_path, [v4, v6], linktype)
    assert (a["src"], a["icmp_type"], a["icmp_id"], a["icmp_seq"]) == ("1.2.3.4", 8, 7, 9)
    assert (b["src"], b["icmp_type"], b["icmp_id"], b["icmp_seq"]) == ("2001:db8::1", 128, 3, 4)
    assert a["eth_src"] is None


@pytest.mark.parametrize(("linktype", "family"), [(0, "<I"), (0, ">I"), (108, ">I")])
def test_null_and_loop(tmp_path: Path, linktype: int, family: str) -> None:
    v4 = struct.pack(family, 2) + bytes(IP(dst="9.9.9.9") / UDP())
    v6 = struct.pack(family, 30) + bytes(IPv6(dst="::1") / UDP())
    a, b = rows(tmp_path, [v4, v6], linktype)
    assert (a["ip_version"], a["dst"], b["ip_version"], b["dst"]) == (4, "9.9.9.9", 6, "::1")


def test_arp(tmp_path: Path) -> None:
    pkt = Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=MAC_A, psrc="10.1.1.1", hwdst="00:00:00:00:00:00", pdst="10.1.1.2"
    )
    r = one(tmp_path, bytes(pkt))
    assert (r["arp_op"], r["arp_sha"], r["arp_spa"], r["arp_tpa"]) == (
        1,
        MAC_A,
        "10.1.1.1",
        "10.1.1.2",
    )
    assert r["arp_tha"] == "00:00:00:00:00:00"
    assert r["ip_version"] is None


def test_ipv4_options_and_fragments(tmp_path: Path) -> None:
    opts = IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x94\x04\x00\x00")  # router alert
    first = Ether() / IP(bytes(opts / UDP(sport=7, dport=8) / PAYLOAD))
    whole = IP(id=99, dst="10.0.0.2") / UDP(sport=7, dport=8) / (b"x" * 100)
    frags = [bytes(Ether() / f) for f in fragment(whole, 48)]
    r0 = one(tmp_path, bytes(first))
    assert (r0["sport"], r0["dport"], r0["payload_len"]) == (7, 8, 100)
    a, b, *_ = rows(tmp_path, frags)
    assert (a["mf"], a["frag_offset"], a["sport"], a["ip_id"]) == (True, 0, 7, 99)
    assert (b["frag_offset"], b["sport"], b["payload_len"]) == (48, None, 48)


def test_ipv6_extension_headers_and_fragment(tmp_path: Path) -> None:
    chain = (
        Ether() / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
        / IPv6ExtHdrFragment(id=0xABCDEF, m=1, offset=0) / IPv6ExtHdrDestOpt()
        / UDP(sport=5, dport=6) / b"z"
    )  # fmt: skip
    later = Ether() / IPv6() / IPv6ExtHdrFragment(id=5, offset=10, nh=17) / (b"y" * 16)
    a, b = rows(tmp_path, [bytes(chain), bytes(later)])
    assert (a["proto"], a["sport"], a["dport"], a["ip_id"], a["mf"], a["frag_offset"]) == (
        17,
        5,
        6,
        0xABCDEF,
        True,
        0,
    )
    assert (b["proto"], b["sport"], b["frag_offset"], b["ip_id"], b["payload_len"]) == (
        17,
        None,
        80,
        5,
        16,
    )
    assert a["df"] is None
    assert a["ip_len"] == len(bytes(chain)) - 14


def test_ipv6_jumbo_and_tso_lengths(tmp_path: Path) -> None:
    jumbo_hbh = bytes([17, 0, 0xC2, 4]) + struct.pack(">I", 8 + 8 + 3)
    jumbo = (
        bytes(Ether(type=0x86DD))
        + bytes(IPv6(plen=0, nh=0))
        + jumbo_hbh
        + bytes(UDP(sport=1, dport=2, len=11))
        + b"abc"
    )
    tso = bytearray(bytes(Ether() / IP(dst="1.1.1.1") / TCP() / PAYLOAD))
    tso[16:18] = b"\0\0"  # total length 0, as Linux writes TSO/BIG TCP super-packets
    a, b = rows(tmp_path, [jumbo, bytes(tso)])
    assert (a["ip_len"], a["sport"], a["payload_len"]) == (40 + 19, 1, 3)
    assert (b["ip_len"], b["payload_len"]) == (len(tso) - 14, 100)


def test_icmp_errors_keep_the_outer_packet(tmp_path: Path) -> None:
    quoted = IP(src="10.0.0.2", dst="8.8.8.8") / UDP(sport=1111, dport=53)
    pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=3, code=4) / quoted
    r = one(tmp_path, bytes(pkt))
    assert (r["src"], r["icmp_type"], r["icmp_code"], r["icmp_id"], r["sport"]) == (
        "10.0.0.1",
        3,
        4,
        None,
        None,
    )


def _check_tunnel(r: dict[str, Any], encap: str, vni: int | None, outer: tuple[str, str]) -> None:
    assert (r["encap"], r["vni"], r["outer_src"], r["outer_dst"]) == (encap, vni, *outer)
    assert (r["src"], r["dst"], r["sport"], r["dport"], r["payload_len"]) == (
        "172.16.0.1",
        "172.16.0.2",
        1000,
        80,
        100,
    )


INNER = IP(src="172.16.0.1", dst="172.16.0.2", ttl=5) / TCP(sport=1000, dport=80) / PAYLOAD
OUTER = IP(src="192.168.0.1", dst="192.168.0.2", id=777, ttl=64)


@pytest.mark.parametrize("port", [4789, 8472])
def test_vxlan(tmp_path: Path, port: int) -> None:
    pkt = (
        Ether(src=MAC_A, dst=MAC_B)
        / OUTER
        / UDP(sport=5555, dport=port)
        / VXLAN(vni=4242)
        / Ether(src="02:99:99:99:99:99")
        / INNER
    )
    r = one(tmp_path, bytes(pkt))
    _check_tunnel(r, "vxlan", 4242, ("192.168.0.1", "192.168.0.2"))
    assert (r["outer_ip_id"], r["outer_ttl"], r["ttl"], r["eth_src"]) == (777, 64, 5, MAC_A)


def test_vxlan_without_outer_ethernet_shows_inner_macs(tmp_path: Path) -> None:
    pkt = OUTER / UDP(dport=4789) / VXLAN(vni=1) / Ether(src="02:99:99:99:99:99") / INNER
    r = one(tmp_path, bytes(pkt), 101)
    assert r["eth_src"] == "02:99:99:99:99:99"
    assert r["encap"] == "vxlan"


def test_geneve_ipv6_outer_with_ovn_option(tmp_path: Path) -> None:
    other = struct.pack(">HBB", 0x0132, 0x01, 2) + b"\x11" * 8  # a Google option, skipped
    ovn = struct.pack(">HBB", 0x0102, 0x80, 1) + b"\x00\x01\x00\x02"
    opts = other + ovn
    geneve = struct.pack(">BBHI", len(opts) // 4, 0, 0x6558, 99 << 8) + opts
    pkt = (
        Ether()
        / IPv6(src="fd00::a", dst="fd00::b", hlim=33)
        / UDP(sport=1, dport=6081)
        / (geneve + bytes(Ether() / INNER))
    )
    r = one(tmp_path, bytes(pkt))
    _check_tunnel(r, "geneve", 99, ("fd00::a", "fd00::b"))
    assert (r["geneve_ovn"], r["outer_ttl"], r["outer_ip_id"]) == (0x00010002, 33, None)


def test_geneve_scapy_ipv4_payload(tmp_path: Path) -> None:
    pkt = Ether() / OUTER / UDP(dport=6081) / GENEVE(vni=7, proto=0x0800) / INNER
    r = one(tmp_path, bytes(pkt))
    _check_tunnel(r, "geneve", 7, ("192.168.0.1", "192.168.0.2"))
    assert r["geneve_ovn"] is None


def test_gre_variants(tmp_path: Path) -> None:
    keyed = Ether() / OUTER / GRE(key_present=1, key=0x1234, proto=0x0800) / INNER
    teb = Ether() / OUTER / GRE(proto=0x6558) / Ether() / INNER
    erspan2 = (
        bytes(Ether() / OUTER / GRE(seqnum_present=1, sequence_number=1, proto=0x88BE))
        + b"\x10\x00\x00\x01\x00\x00\x00\x00"
        + bytes(Ether() / INNER)
    )
    gre_udp = Ether() / OUTER / UDP(dport=4754) / GRE(proto=0x0800) / INNER
    a, b, c, d = rows(tmp_path, [bytes(keyed), bytes(teb), erspan2, bytes(gre_udp)])
    _check_tunnel(a, "gre", 0x1234, ("192.168.0.1", "192.168.0.2"))
    for r in (b, c, d):
        _check_tunnel(r, "gre", None, ("192.168.0.1", "192.168.0.2"))


def test_gre_with_undecodable_payload_is_not_a_tunnel(tmp_path: Path) -> None:
    pkt = Ether() / OUTER / GRE(proto=0x8847) / (b"\x00" * 20)  # MPLS
    r = one(tmp_path, bytes(pkt))
    assert (r["encap"], r["proto"], r["src"]) == (None, 47, "192.168.0.1")


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        (IP(src="192.168.0.1", dst="192.168.0.2"), IP(src="172.16.0.1", dst="172.16.0.2")),
        (IP(src="192.168.0.1", dst="192.168.0.2"), IPv6(src="fd01::1", dst="fd01::2")),
        (IPv6(src="fd00::1", dst="fd00::2"), IP(src="172.16.0.1", dst="172.16.0.2")),
        (IPv6(src="fd00::1", dst="fd00::2"), IPv6(src="fd01::1", dst="fd01::2")),
    ],
)
def test_ip_in_ip(tmp_path: Path, outer: Any, inner: Any) -> None:
    r = one(tmp_path, bytes(Ether() / outer / inner / UDP(sport=9, dport=10) / b"q"))
    assert (r["encap"], r["outer_src"], r["src"], r["sport"]) == ("ipip", outer.src, inner.src, 9)
    assert r["ip_version"] == (4 if inner.version == 4 else 6)
