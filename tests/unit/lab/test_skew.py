"""The lab's simulated clock skew: what a skewed node's transport hands over is shifted."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from netdiag.capture.preflight import sample_clock
from netdiag.errors import CaptureFormatError
from netdiag.inventory import NodeSpec
from netdiag.lab.skew import SimulatedSkew, shift_pcap, simulated_offset, with_simulated_skew
from tests.unit.capture.fake_cluster import Cluster, tiny_pcap


def test_shift_moves_every_record_and_keeps_a_truncated_tail(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(tiny_pcap(count=3)[:-10])  # last record cut short, as after SIGKILL
    assert shift_pcap(path, -300_000_000) == 3
    data = path.read_bytes()
    assert struct.unpack_from("<II", data, 24) == (1_699_999_999, 950_000)
    assert struct.unpack_from("<II", data, 24 + 16 + 60) == (1_700_000_000, 950_000)
    assert len(data) == len(tiny_pcap(count=3)) - 10


def test_shift_refuses_what_it_cannot_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "a.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(CaptureFormatError, match="not a classic pcap"):
        shift_pcap(path, 1)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert shift_pcap(empty, 1) == 0


def test_simulated_offset_comes_from_labels_only_when_numeric() -> None:
    assert simulated_offset({"simulated_clock_offset_ns": "-2500"}) == -2500
    assert simulated_offset({"simulated_clock_offset_ns": "soon"}) == 0
    assert simulated_offset({}) == 0


async def test_a_skewed_nodes_clock_and_files_come_through_shifted(tmp_path: Path) -> None:
    node = NodeSpec(name="n", host="h", labels={"simulated_clock_offset_ns": "2500000000"})
    fake = Cluster().factory(node, "asyncssh")
    fake.files["/tmp/d/n__eth1.pcap"] = tiny_pcap()
    fake.files["/tmp/d/notes.txt"] = b"as is"
    skewed = with_simulated_skew(fake)
    assert isinstance(skewed, SimulatedSkew)
    plain = Cluster().factory(NodeSpec(name="m", host="h"), "asyncssh")
    assert with_simulated_skew(plain) is plain
    async with skewed:
        sample = await sample_clock(skewed, rounds=3)
        await skewed.get("/tmp/d/n__eth1.pcap", tmp_path / "a.pcap")
        await skewed.get("/tmp/d/notes.txt", tmp_path / "notes.txt")
    assert abs(sample.offset_ns - 2_500_000_000) < 500_000_000  # the fake shares our clock
    assert struct.unpack_from("<II", (tmp_path / "a.pcap").read_bytes(), 24) == (
        1_700_000_002,
        750_000,
    )
    assert (tmp_path / "notes.txt").read_bytes() == b"as is"
