"""ICMP / ICMPv6 errors: the MTU and the quoted packet's fields, by hand and against tshark.

The shared corpus holds no ICMP error, so these frames are built here (scapy) and the same file
also goes through the tshark oracle (pcap_oracle.expected) when tshark is installed.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrFragment,
)
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from netdiag.pcap import read_capture
from netdiag.pcap.format import display_frame
from tests.unit.pcap.pcap_builders import pcap_bytes, write
from tests.unit.pcap.pcap_oracle import expected, normalise, run_tshark

ETH = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
V4_UDP = IP(src="10.0.0.2", dst="8.8.8.8", id=4321, flags="DF") / UDP(sport=1111, dport=53)
V6_TCP = IPv6(src="fd00::2", dst="fd00::9") / TCP(sport=2222, dport=443)
FRAMES: list[Any] = [
    # 0: frag-needed, next-hop MTU 1400, quoting a UDP datagram
    ETH / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=3, code=4, nexthopmtu=1400) / V4_UDP,
    # 1: time exceeded quoting TCP (no MTU: only type 3 code 4 has one)
    ETH
    / IP(src="10.0.0.1", dst="10.0.0.2")
    / ICMP(type=11, code=0)
    / IP(src="10.0.0.2", dst="10.9.9.9", id=77, proto=6)
    / TCP(sport=40000, dport=22),
    # 2: ICMPv6 packet too big, MTU 1280, quoting TCP
    ETH / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6PacketTooBig(mtu=1280) / V6_TCP,
    # 3: ICMPv6 unreachable quoting a UDP first fragment (identification in quoted_ip_id)
    ETH
    / IPv6(src="fd00::1", dst="fd00::2")
    / ICMPv6DestUnreach(code=4)
    / IPv6(src="fd00::2", dst="fd00::7")
    / IPv6ExtHdrFragment(id=0xABCDEF01, m=1)
    / UDP(sport=5000, dport=6000),
    # 4: an error carried in VXLAN: the inner error's quoted packet, not the outer headers
    ETH
    / IP(src="192.168.0.1", dst="192.168.0.2")
    / UDP(sport=50000, dport=4789)
    / VXLAN(vni=42)
    / ETH
    / IP(src="172.16.0.1", dst="172.16.0.2")
    / ICMP(type=3, code=4, nexthopmtu=1450)
    / V4_UDP,
    # 5: ICMPv6 time exceeded whose quoted header is cut short: the fields it still holds
    ETH
    / IPv6(src="fd00::1", dst="fd00::2")
    / ICMPv6TimeExceeded()
    / bytes(IPv6(src="fd00::2", dst="fd00::3"))[:30],
    # 6: an echo request is no error: nothing quoted
    ETH / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8) / V4_UDP,
]
COLUMNS = (
    "icmp_mtu", "quoted_src", "quoted_dst", "quoted_proto", "quoted_ip_id", "quoted_sport",
    "quoted_dport",
)  # fmt: skip
WANT = [
    (1400, "10.0.0.2", "8.8.8.8", 17, 4321, 1111, 53),
    (None, "10.0.0.2", "10.9.9.9", 6, 77, 40000, 22),
    (1280, "fd00::2", "fd00::9", 6, None, 2222, 443),
    (None, "fd00::2", "fd00::7", 17, 0xABCDEF01, 5000, 6000),
    (1450, "10.0.0.2", "8.8.8.8", 17, 4321, 1111, 53),
    (None, "fd00::2", None, 59, None, None, None),
    (None, None, None, None, None, None, None),
]


@pytest.fixture
def capture(tmp_path: Path) -> str:
    frames = [(1_000_000_000 * (i + 1), bytes(f)) for i, f in enumerate(FRAMES)]
    return write(tmp_path, "icmp_errors.pcap", pcap_bytes(frames, linktype=1))


def _value(v: object) -> object:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def test_mtu_and_quoted_fields(capture: str) -> None:
    table = display_frame(read_capture(capture).table)
    got = [tuple(_value(r[c]) for c in COLUMNS) for r in table.to_dict("records")]
    assert got == WANT
    assert table["src"].iloc[4] == "172.16.0.1"  # the main columns stay the error's own


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_matches_tshark(capture: str) -> None:
    table = display_frame(read_capture(capture).table).to_dict("records")
    run = run_tshark(capture)
    checked = 0
    for ours, row in zip(table, run.rows, strict=True):
        for column, want in expected(row).items():
            assert normalise(_value(ours[column])) == normalise(want), (ours["frame"], column)
            checked += column in COLUMNS and want is not None
    assert checked >= 25  # the quoted fields were really compared, not skipped
