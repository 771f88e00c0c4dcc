"""The benchmark's capture generator writes the packets it planned (checked with scapy).

The benchmark's figures are only worth something if the 1M-packet file is what it claims to be:
valid frames with the planned fields, the documented traffic mix, TCP sequence numbers that
follow the bytes sent. A small file (1,000 packets) is parsed with scapy, field by field.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.utils import checksum, rdpcap

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def gen() -> Iterator[tuple[Any, Any]]:
    """The generator modules, imported from benchmarks/ (not a package: it is not shipped)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        mods: list[ModuleType] = [importlib.import_module(m) for m in ("_gen", "_wire")]
        yield mods[0], mods[1]


@pytest.fixture(scope="module")
def contenders() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        yield importlib.import_module("_contenders")


def _ip_text(hi: int, lo: int, version: int) -> str:
    import ipaddress

    if version == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFF_FFFF))
    return str(ipaddress.IPv6Address(hi << 64 | lo))


def _mac(value: int) -> str:
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -1, -8))


def _check_l3_l4(ip: Any, p: Any, i: int) -> None:
    """The (inner) IP packet and its L4 header carry exactly the planned fields."""
    version = int(p.ip_version[i])
    assert ip.version == version
    assert ip.src == _ip_text(int(p.src_hi[i]), int(p.src_lo[i]), version)
    assert ip.dst == _ip_text(int(p.dst_hi[i]), int(p.dst_lo[i]), version)
    if version == 4:
        assert (ip.id, ip.ttl, ip.proto, ip.len) == (
            p.ip_id[i], p.ttl[i], p.proto[i], p.ip_len()[i])  # fmt: skip
        assert bool(ip.flags.DF) == bool(p.df[i])
        assert checksum(bytes(ip)[:20]) == 0, "IPv4 header checksum"
    else:
        assert (ip.hlim, ip.nh, ip.plen + 40) == (p.ttl[i], p.proto[i], p.ip_len()[i])
    l4 = ip.payload
    if p.proto[i] == 6:
        assert isinstance(l4, TCP)
        assert (l4.sport, l4.dport, l4.seq, l4.ack, int(l4.flags)) == (
            p.sport[i], p.dport[i], p.tcp_seq[i], p.tcp_ack[i], p.tcp_flags[i])  # fmt: skip
        assert l4.dataofs * 4 == p.tcp_hlen[i]
        assert len(bytes(l4.payload)) == p.payload_len[i]
    elif p.proto[i] == 17:
        assert isinstance(l4, UDP)
        assert (l4.sport, l4.dport, l4.len) == (p.sport[i], p.dport[i], 8 + p.payload_len[i])
    elif p.proto[i] == 1:
        assert isinstance(l4, ICMP)
        assert (l4.type, l4.code, l4.id, l4.seq) == (p.icmp_type[i], 0, p.icmp_id[i], p.icmp_seq[i])
        assert len(bytes(l4.payload)) == p.payload_len[i]
    else:
        assert isinstance(l4, ICMPv6EchoRequest | ICMPv6EchoReply)
        assert (l4.type, l4.id, l4.seq) == (p.icmp_type[i], p.icmp_id[i], p.icmp_seq[i])


def test_small_capture_has_every_planned_field(gen: tuple[Any, Any], tmp_path: Path) -> None:
    plan_mod, wire = gen
    p = plan_mod.make_plan(1000, seed=7)
    path = tmp_path / "gen.pcap"
    size = wire.write_pcap(path, p, seed=7)
    packets = rdpcap(str(path))
    assert len(packets) == 1000
    assert size == 24 + 16 * 1000 + int(p.frame_len().sum())
    for i, pkt in enumerate(packets):
        assert len(pkt) == p.frame_len()[i]
        assert int(pkt.time * 10**6) * 1000 == p.ts_ns[i]
        assert isinstance(pkt, Ether)
        assert (pkt.src, pkt.dst) == (_mac(int(p.eth_src[i])), _mac(int(p.eth_dst[i])))
        assert (Dot1Q in pkt and pkt[Dot1Q].vlan) == (p.vlan[i] or False)
        outer = pkt[Dot1Q].payload if Dot1Q in pkt else pkt.payload
        if p.vxlan[i]:
            assert outer.src == _ip_text(0, int(p.outer_src[i]), 4)
            assert outer.dst == _ip_text(0, int(p.outer_dst[i]), 4)
            assert (outer.id, outer.ttl) == (p.outer_ip_id[i], p.outer_ttl[i])
            assert checksum(bytes(outer)[:20]) == 0, "outer IPv4 header checksum"
            assert (outer[UDP].sport, outer[UDP].dport) == (p.outer_sport[i], 4789)
            assert outer[VXLAN].vni == p.vni[i]
            inner = outer[VXLAN].payload
            assert (inner.src, inner.dst) == (
                _mac(int(p.inner_eth_src[i])), _mac(int(p.inner_eth_dst[i])))  # fmt: skip
            _check_l3_l4(inner.payload, p, i)
        else:
            assert isinstance(outer, IP | IPv6)
            _check_l3_l4(outer, p, i)


def test_tcp_sequence_numbers_follow_the_bytes_sent(gen: tuple[Any, Any]) -> None:
    p = gen[0].make_plan(20_000, seed=3)
    next_seq: dict[tuple[int, ...], int] = {}
    checked = 0
    for i in np.flatnonzero(p.proto == 6):
        key = (int(p.src_lo[i]), int(p.dst_lo[i]), int(p.sport[i]), int(p.dport[i]))
        if key in next_seq:
            assert p.tcp_seq[i] == next_seq[key]
            checked += 1
        syn_fin = 1 if p.tcp_flags[i] & 0x03 else 0
        next_seq[key] = (int(p.tcp_seq[i]) + int(p.payload_len[i]) + syn_fin) & 0xFFFF_FFFF
    assert checked > 10_000


def test_traffic_mix_is_the_documented_one(gen: tuple[Any, Any]) -> None:
    p = gen[0].make_plan(50_000, seed=5)
    assert 0.04 < p.vxlan.mean() < 0.06
    plain = ~p.vxlan
    assert 0.08 < (p.ip_version[plain] == 6).mean() < 0.22
    assert 0.05 < (p.vlan[plain] > 0).mean() < 0.15
    assert not (p.vlan[p.vxlan] > 0).any()
    counts = {proto: int((p.proto == proto).sum()) for proto in (1, 6, 17, 58)}
    assert all(c > 0 for c in counts.values()), counts
    assert p.payload_len.min() == 0
    assert p.payload_len.max() == 1400
    assert p.payload_len[p.vxlan].max() <= 1350
    flags = p.tcp_flags[p.proto == 6]
    syn, synack = int((flags == 0x02).sum()), int((flags == 0x12).sum())
    assert syn > 100
    assert synack == syn
    assert (flags == 0x10).sum() > syn
    assert (flags == 0x18).sum() > syn
    assert np.all(np.diff(p.ts_ns) >= 0)


def test_same_seed_gives_the_same_bytes(gen: tuple[Any, Any]) -> None:
    plan_mod, wire = gen
    one = wire.encode(plan_mod.make_plan(300, seed=11), seed=11)
    two = wire.encode(plan_mod.make_plan(300, seed=11), seed=11)
    other = wire.encode(plan_mod.make_plan(300, seed=12), seed=12)
    assert np.array_equal(one, two)
    assert not np.array_equal(one[:1000], other[:1000])


def test_empty_plan_is_refused(gen: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        gen[0].make_plan(0)


@pytest.mark.parametrize("reader", ["dpkt", "scapy", "tshark"])
def test_contenders_read_the_planned_fields(
    gen: tuple[Any, Any], contenders: Any, tmp_path: Path, reader: str
) -> None:
    """The benchmark's "fields ok" verdict: each contender's column sums equal the plan's, over
    the subset it read, and the check would notice one packet too many or too few."""
    if reader == "tshark" and shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (Debian package tshark)")
    plan_mod, wire = gen
    p = plan_mod.make_plan(2000, seed=9)
    path = tmp_path / "gen.pcap"
    wire.write_pcap(path, p, seed=9)
    result = contenders.run(reader, str(path), 1500, 0)
    assert result["packets"] == 1500
    assert result["columns"] == 40
    assert result["digest"] == plan_mod.expected_digest(p, 1500)
    assert result["digest"] != plan_mod.expected_digest(p, 1499)


def test_netdiag_reads_the_planned_fields(
    gen: tuple[Any, Any], contenders: Any, tmp_path: Path
) -> None:
    """The benchmark only counts netdiag's speed if its table is right: the reader's column sums
    over the whole generated file (VXLAN, 802.1Q, IPv6, TCP options) equal the plan's."""
    plan_mod, wire = gen
    p = plan_mod.make_plan(3000, seed=13)
    path = tmp_path / "gen.pcap"
    wire.write_pcap(path, p, seed=13)
    result = contenders.run("netdiag", str(path), 0, 0)
    assert result["packets"] == 3000
    assert result["digest"] == plan_mod.expected_digest(p, 3000)
    assert result["buffer_bytes"] > 0
