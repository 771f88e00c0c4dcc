"""The merged pcapng, read back by tshark: interfaces, corrected order, comments, count."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from netdiag.bundle.open import open_run
from netdiag.cli import Env, main
from netdiag.report.frames import read_frames
from netdiag.report.pcapng import export_pcapng, interface_block, packet_block
from tests.support import scenarios as sc
from tests.support.builder import write_pcaps
from tests.unit.pcap.pcap_builders import epb, idb, shb

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="needs tshark (make deps)")


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    assert TSHARK is not None
    args = [TSHARK, "-r", str(path), "-T", "fields", "-E", "separator=\t"]
    for name in fields:
        args += ["-e", name]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_blocks_are_padded_and_framed() -> None:
    block = packet_block(2, 0x1_0000_0005, 60, b"abc", "hi")
    btype, length = struct.unpack_from("<II", block)
    assert (btype, length) == (6, len(block))
    assert struct.unpack_from("<I", block, len(block) - 4)[0] == len(block)
    assert len(block) % 4 == 0
    assert struct.unpack_from("<IIIII", block, 8) == (2, 1, 5, 3, 60)
    idb = interface_block("n1/eth0", "node n1", 1)
    assert b"n1/eth0\0" in idb
    assert len(idb) % 4 == 0


@needs_tshark
def test_export_reads_back_in_tshark(seed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged.pcapng"
    stats = export_pcapng(open_run([seed_dir]), out)
    assert (stats.interfaces, stats.packets, stats.commented) == (3, 8, 8)
    rows = tshark_fields(
        out,
        "frame.interface_name",
        "frame.interface_description",
        "frame.time_epoch",
        "ip.id",
        "frame.comment",
    )
    assert len(rows) == 8
    names = [r[0] for r in rows]
    assert set(names) == {
        "client/eth0",
        "kube-ovn-control-plane/eth1",
        "kube-ovn-control-plane/dd2b931fc304_h",
    }
    assert all(r[1].startswith(f"node {r[0].split('/')[0]};") for r in rows)
    times = [float(r[2]) for r in rows]
    assert times == sorted(times)
    # The client clock runs 2 ms ahead: raw, its reply sighting would sort after the node's
    # frames of the next hop; corrected, the request goes client -> eth1 -> pod and back.
    assert names[:6] == [
        "client/eth0",
        "kube-ovn-control-plane/eth1",
        "kube-ovn-control-plane/dd2b931fc304_h",
        "kube-ovn-control-plane/dd2b931fc304_h",
        "kube-ovn-control-plane/eth1",
        "client/eth0",
    ]
    assert [int(r[3], 16) if r[3].startswith("0x") else int(r[3]) for r in rows[:3]] == [28471] * 3
    assert rows[2][4].startswith(
        "journey j1 (flow f1) hop 3/3 out: DNAT 172.19.0.11 -> 192.168.0.6"
    )
    assert "TTL 64 -> 63" in rows[2][4]
    assert rows[4][4].startswith(
        "journey j2 (flow f1) hop 2/3 out: un-DNAT 192.168.0.6 -> 172.19.0.11"
    )
    assert rows[0][4].startswith("journey j1 (flow f1) hop 1/3 out: first sighting")


def test_frames_reader_reads_the_export_and_classic_pcaps(seed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged.pcapng"
    export_pcapng(open_run([seed_dir]), out)
    merged = read_frames(out)
    assert len(merged) == 8
    assert merged.ts_ns.tolist() == sorted(merged.ts_ns.tolist())
    eth1 = read_frames(seed_dir / "pcaps" / "kube-ovn-control-plane__eth1.pcap")
    assert len(eth1) == 3
    assert eth1.frame_bytes(0)[12:14] == b"\x08\x00"
    index = eth1.find(int(eth1.ts_ns[1]))
    assert index == 1


def test_truncated_capture_keeps_complete_frames(seed_dir: Path, tmp_path: Path) -> None:
    data = (seed_dir / "pcaps" / "client__eth0.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])
    assert len(read_frames(cut)) == 2


def test_not_a_capture(tmp_path: Path) -> None:
    from netdiag.errors import InputError

    bad = tmp_path / "notes.pcap"
    bad.write_text("hello world")
    with pytest.raises(InputError, match=r"notes\.pcap"):
        read_frames(bad)


def test_times_before_1970_are_exported_through_if_tsoffset(tmp_path: Path) -> None:
    """Every point's clock says 1960 (a pcapng may): the export keeps those times exactly."""
    shift_ns = -2_000_000_000 * 10**9
    inputs, expected = [], []
    for path in write_pcaps(sc.fip_ingress(count=2), tmp_path).values():
        frames = read_frames(path)
        epbs = [epb("<", 0, int(ts), frames.frame_bytes(i)) for i, ts in enumerate(frames.ts_ns)]
        link = int(frames.linktype[0])
        old = tmp_path / f"{path.stem}.pcapng"
        old.write_bytes(
            shb("<") + idb("<", link, tsresol=9, tsoffset=-2_000_000_000) + b"".join(epbs)
        )
        inputs.append(str(old))
        expected += [int(ts) + shift_ns for ts in frames.ts_ns]
    merged = tmp_path / "merged.pcapng"
    out, err = io.StringIO(), io.StringIO()
    assert main(["export", *inputs, "--pcapng", str(merged)], Env(out, err)) == 0, err.getvalue()
    back = read_frames(merged)
    assert sorted(back.ts_ns.tolist()) == sorted(expected)
    assert max(expected) < 0
