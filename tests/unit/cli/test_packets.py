"""``netdiag packets``: formats, column selection, point names, ifmaps, warnings, exit codes."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
from pathlib import Path

import pandas as pd
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from netdiag.cli import Env, ExitCode, main
from netdiag.pcap.schema import DISPLAY_COLUMNS

FRAMES = [
    bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
          / IP(src="10.0.0.1", dst="10.0.0.2", id=7) / UDP(sport=1, dport=2) / b"x"),
    bytes(Ether() / IP(src="192.168.0.1", dst="192.168.0.2") / UDP(dport=4789) / VXLAN(vni=42)
          / Ether() / IP(src="172.16.0.1", dst="172.16.0.2") / UDP(sport=3, dport=4)),
]  # fmt: skip


def pcap(path: Path, frames: list[bytes], linktype: int = 1) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 100 + i, 0, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))
    return path


def run(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO(), stdout_isatty=tty)
    code = main(["packets", *argv], env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_csv_when_piped_with_display_names(tmp_path: Path) -> None:
    path = pcap(tmp_path / "node1__eth1.pcap", FRAMES)
    code, out, err = run(str(path))
    assert (code, err) == (ExitCode.OK, "")
    table = pd.read_csv(io.StringIO(out), keep_default_na=False, dtype=str)
    assert tuple(table.columns) == DISPLAY_COLUMNS
    first, second = table.to_dict("records")
    assert (first["point"], first["node"], first["iface"], first["frame"]) == (
        "node1/eth1",
        "node1",
        "eth1",
        "1",
    )
    assert (first["src"], first["eth_src"], first["vni"], first["encap"]) == (
        "10.0.0.1",
        "02:00:00:00:00:01",
        "",
        "",
    )
    assert (second["src"], second["outer_src"], second["vni"], second["encap"]) == (
        "172.16.0.1",
        "192.168.0.1",
        "42",
        "vxlan",
    )
    assert first["ts_ns"] == str(100 * 10**9)


def test_table_on_a_terminal(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    code, out, _ = run(f"client/eth0={path}", tty=True)
    header, row1, _row2 = out.splitlines()
    assert code == ExitCode.OK
    assert header.split()[:4] == ["point", "frame", "ts_ns", "direction"]
    assert row1.split()[0] == "client/eth0"
    assert "<NA>" not in out


def test_json_array_with_nulls_and_columns(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    code, out, _ = run(str(path), "--format", "json", "--columns", "frame,src,sport,vni")
    assert code == ExitCode.OK
    assert json.loads(out) == [
        {"frame": 1, "src": "10.0.0.1", "sport": 1, "vni": None},
        {"frame": 2, "src": "172.16.0.1", "sport": 3, "vni": 42},
    ]


def test_unknown_column_lists_the_valid_ones(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    code, out, err = run(str(path), "--columns", "src,bogus")
    assert (code, out) == (ExitCode.INPUT, "")
    assert "bogus" in err
    assert "valid: point, node, iface" in err
    assert len(err.splitlines()) == 1


def test_parquet_keeps_numbers(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    target = tmp_path / "out.parquet"
    code, _, _ = run(
        str(path), "--format", "parquet", "--output", str(target), "--columns", "frame,src,vni"
    )
    assert code == ExitCode.OK
    table = pd.read_parquet(target)
    assert list(table.columns) == ["frame", "src_hi", "src_lo", "vni"]
    assert int(table["src_lo"][0]) == 0xFFFF_0A00_0001
    code, _, err = run(str(path), "--format", "parquet")
    assert code == ExitCode.INPUT
    assert "--output" in err


def test_output_file(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    target = tmp_path / "out.csv"
    code, out, _ = run(str(path), "--output", str(target))
    assert (code, out) == (ExitCode.OK, "")
    assert target.read_text().startswith("point,node,iface,frame,")


def test_ifmap_names_sll2_interfaces(tmp_path: Path) -> None:
    sll2 = struct.pack(">HHIHBB", 0x0800, 0, 5, 1, 4, 6) + b"\x02\0\0\0\0\x01\0\0"
    path = pcap(tmp_path / "node2__any.pcap", [sll2 + bytes(IP() / UDP())], linktype=276)
    links = tmp_path / "links.json"
    links.write_text(json.dumps([{"ifindex": 1, "ifname": "lo"}, {"ifindex": 5, "ifname": "eth1"}]))
    code, out, _ = run(
        str(path), "--ifmap", f"node2={links}", "--columns", "point,iface,ifindex,direction"
    )
    assert code == ExitCode.OK
    assert out.splitlines()[1] == "node2/eth1,eth1,5,out", "one point per device, not node2/any"
    code, out, err = run(str(path), "--columns", "point,iface,ifindex")
    assert code == ExitCode.OK
    assert out.splitlines()[1] == "node2/if5,if5,5", "without a map: named by index"
    assert "if5" in err
    assert "--ifmap node2=" in err
    code, _, err = run(str(path), "--ifmap", "node2")
    assert code == ExitCode.INPUT
    assert "NODE=PATH" in err


def test_damaged_file_warns_and_keeps_frames(tmp_path: Path) -> None:
    path = pcap(tmp_path / "a.pcap", FRAMES)
    cut = path.read_bytes()[:-5]
    path.write_bytes(cut)
    code, out, err = run(str(path), "--columns", "frame")
    assert code == ExitCode.OK
    assert out.splitlines() == ["frame", "1"]
    assert err.startswith(f"netdiag: warning: {path}: frame 2 at byte ")
    assert "cut short" in err


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a capture at all",
        b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\0" * 8 + b"\xff\xff\0\0\xa0\0\0\0",
    ],
)
def test_unusable_input_is_one_line_and_exit_1(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    code, out, err = run(str(path))
    assert (code, out) == (ExitCode.INPUT, "")
    assert err.startswith("netdiag: error: ")
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_missing_file_exit_1(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.pcap"))
    assert code == ExitCode.INPUT
    assert "cannot open" in err


def test_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    import subprocess

    path = pcap(tmp_path / "a.pcap", FRAMES)
    code = "import sys; from netdiag.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, "packets", str(path), "--columns", "frame,dst"]
    root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["frame,dst", "1,10.0.0.2", "2,172.16.0.2"]


def test_csv_quotes_odd_interface_names(tmp_path: Path) -> None:
    """A pcapng if_name may hold a comma or a newline: the csv must still parse."""
    from tests.unit.pcap.pcap_builders import epb, idb, shb

    content = shb("<") + idb("<", 1, 'eth0, "primary"\nline') + epb("<", 0, 0, FRAMES[0])
    path = tmp_path / "odd.pcapng"
    path.write_bytes(content)
    code, out, _ = run(str(path), "--columns", "iface,src")
    assert code == ExitCode.OK
    table = pd.read_csv(io.StringIO(out), keep_default_na=False, dtype=str)
    assert table.to_dict("records") == [{"iface": 'eth0, "primary"\nline', "src": "10.0.0.1"}]


def test_ethertype_is_hex_in_table_and_csv_and_a_number_in_json(tmp_path: Path) -> None:
    path = pcap(tmp_path / "n1__eth1.pcap", FRAMES[:1])
    code, text, _ = run(str(path), "--columns", "point,ethertype", "--format", "csv")
    assert (code, text.splitlines()) == (0, ["point,ethertype", "n1/eth1,0x0800"])
    code, text, _ = run(str(path), "--columns", "ethertype", "--format", "table")
    assert "0x0800" in text
    code, text, _ = run(str(path), "--columns", "ethertype", "--format", "json")
    assert json.loads(text) == [{"ethertype": 2048}]
