"""Point names, ifmaps, multi-file tables and the display form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from netdiag.errors import InputError
from netdiag.pcap import PointSpec, load_ifmap, parse_point_spec, read_captures
from netdiag.pcap.format import display_frame
from netdiag.pcap.schema import DISPLAY_COLUMNS
from tests.unit.pcap.pcap_builders import pcap_bytes, write


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "runs/node1__eth1.pcap",
            PointSpec("node1/eth1", "node1", "eth1", "runs/node1__eth1.pcap"),
        ),
        ("client.pcapng", PointSpec("client", "client", "", "client.pcapng")),
        ("client/eth0=x.pcap", PointSpec("client/eth0", "client", "eth0", "x.pcap")),
        ("client=node9__eth3.pcap", PointSpec("client/eth3", "client", "eth3", "node9__eth3.pcap")),
        ("gw=a.pcap", PointSpec("gw", "gw", "", "a.pcap")),
    ],
)
def test_parse_point_spec(spec: str, expected: PointSpec) -> None:
    assert parse_point_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "=x.pcap", "name="])
def test_bad_point_spec(spec: str) -> None:
    with pytest.raises(InputError, match="POINT"):
        parse_point_spec(spec)


def test_load_ifmap(tmp_path: Path) -> None:
    good = tmp_path / "l.json"
    good.write_text(
        json.dumps([{"ifindex": 1, "ifname": "lo"}, {"ifindex": 12, "ifname": "eth1@if11"}])
    )
    assert load_ifmap(good) == {1: "lo", 12: "eth1@if11"}
    for content, message in (("{", "not JSON"), ("{}", "JSON list"), ("[]", "no interfaces")):
        bad = tmp_path / "b.json"
        bad.write_text(content)
        with pytest.raises(InputError, match=message):
            load_ifmap(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_ifmap(tmp_path / "missing.json")


def test_read_captures_unions_categories(tmp_path: Path) -> None:
    frame = bytes(Ether() / IP(src="1.1.1.1") / UDP())
    a = write(tmp_path, "n1__eth1.pcap", pcap_bytes([(1, frame)] * 2))
    b = write(tmp_path, "n2__eth2.pcap", pcap_bytes([(2, frame)]))
    table, infos = read_captures([a, f"gw/ovn0={b}"])
    assert list(table["point"].astype(str)) == ["n1/eth1", "n1/eth1", "gw/ovn0"]
    assert list(table["iface"].astype(str)) == ["eth1", "eth1", "ovn0"]
    assert isinstance(table["point"].dtype, pd.CategoricalDtype)
    assert list(table["frame"]) == [1, 2, 1]
    assert [i.path for i in infos] == [a, b]


def test_display_frame_text_forms(tmp_path: Path) -> None:
    frames = [
        bytes(Ether(src="AA:BB:CC:00:00:01") / IP(src="192.0.2.1", dst="198.51.100.7") / UDP()),
        bytes(Ether() / IPv6(src="::ffff:192.0.2.1", dst="2001:db8::1") / UDP()),
    ]
    table = read_capture_table(tmp_path, frames)
    shown = display_frame(table)
    assert tuple(shown.columns) == DISPLAY_COLUMNS
    assert list(shown["src"]) == ["192.0.2.1", "::ffff:c000:201"]
    assert list(shown["dst"]) == ["198.51.100.7", "2001:db8::1"]
    assert shown["eth_src"][0] == "aa:bb:cc:00:00:01"
    assert shown["outer_src"][0] is None
    assert shown["arp_spa"][1] is None


def read_capture_table(tmp_path: Path, frames: list[bytes]) -> pd.DataFrame:
    from netdiag.pcap import read_capture

    return read_capture(write(tmp_path, "d.pcap", pcap_bytes([(0, f) for f in frames]))).table


def test_ips_with_many_repeated_values() -> None:
    """Rows map back to their distinct values correctly (formatting is per distinct value)."""
    from netdiag.pcap.format import ips

    n = 200_000
    hi = pd.Series(np.zeros(n, dtype=np.uint64), dtype="UInt64")
    lo = pd.Series((0xFFFF_0000_0000 + np.arange(n) % 3).astype(np.uint64), dtype="UInt64")
    out = ips(hi, lo)
    assert set(out) == {"0.0.0.0", "0.0.0.1", "0.0.0.2"}


def test_iter_capture_reports_info_and_empty_concat(tmp_path: Path) -> None:
    from netdiag.pcap import CaptureInfo, concat_tables, iter_capture
    from netdiag.pcap.schema import COLUMN_NAMES, DTYPES

    frame = bytes(Ether() / IP() / UDP() / bytes(200))
    path = write(tmp_path, "a.pcap", pcap_bytes([(i, frame) for i in range(100)]))
    infos: list[CaptureInfo] = []
    parts = list(iter_capture(path, chunk_bytes=4096, info=infos))
    assert len(parts) > 3
    assert sum(map(len, parts)) == 100
    assert infos[0].packets == 100
    assert infos[0].linktypes == [1]
    empty = concat_tables([])
    assert tuple(empty.columns) == COLUMN_NAMES
    assert len(empty) == 0
    assert {c: str(empty[c].dtype) for c in empty.columns} == DTYPES
