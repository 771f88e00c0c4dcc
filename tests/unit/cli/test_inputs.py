"""What the analysis commands accept as input files: odd names, pipes, one file, few packets."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from netdiag.cli import Env, ExitCode, main
from tests.support import scenarios as sc
from tests.support.builder import one_packet_pcap, write_pcaps

TARGETS = {
    "analyze": [],
    "report": ["--html", "{tmp}/r.html"],
    "export": ["--pcapng", "{tmp}/all.pcapng"],
}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err))
    return code, out.getvalue(), err.getvalue()


def command(name: str, tmp: Path, *inputs: str) -> list[str]:
    return [name, *inputs, *(arg.format(tmp=tmp) for arg in TARGETS[name])]


@pytest.fixture
def fip(tmp_path: Path) -> list[Path]:
    return list(write_pcaps(sc.fip_ingress(count=2), tmp_path).values())


@pytest.mark.parametrize("name", TARGETS)
def test_a_file_name_that_is_not_utf8_names_its_point_with_escapes(
    tmp_path: Path, fip: list[Path], name: str
) -> None:
    odd = os.fsdecode(bytes(tmp_path) + b"/cl\xffient__eth0.pcap")
    fip[0].rename(odd)
    code, out, err = run_cli(*command(name, tmp_path, odd, *map(str, fip[1:])))
    assert (code, err) == (ExitCode.OK, "")
    if name == "analyze":
        assert "cl\\xffient/eth0" in out
    if name == "report":
        assert "cl\\xffient/eth0" in (tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", TARGETS)
def test_a_point_name_longer_than_a_file_name_may_be(
    tmp_path: Path, fip: list[Path], name: str
) -> None:
    long_point = "n" * 300 + "/eth0"
    inputs = [f"{long_point}={fip[0]}", *map(str, fip[1:])]
    json_out = ["--json", "-"] if name == "analyze" else []
    code, out, err = run_cli(*command(name, tmp_path, *inputs), *json_out)
    assert (code, err) == (ExitCode.OK, "")
    if name == "analyze":
        assert long_point in [p["name"] for p in json.loads(out)["points"]]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", TARGETS)
def test_a_named_pipe_is_refused_instead_of_waiting_for_a_writer(
    tmp_path: Path, fip: list[Path], name: str
) -> None:
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)  # nobody will ever write to it
    code, _, err = run_cli(*command(name, tmp_path, str(fifo), *map(str, fip)))
    assert code == ExitCode.INPUT
    assert err == f"netdiag: error: {fifo}: not a regular file but a named pipe (FIFO); " + (
        "give the capture file as a regular file\n"
    )


@pytest.mark.timeout(60)
def test_a_named_pipe_as_analysis_json_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "analysis.json"
    os.mkfifo(fifo)
    code, _, err = run_cli("report", str(fifo), "--html", str(tmp_path / "r.html"))
    assert code == ExitCode.INPUT
    assert "not a regular file but a named pipe (FIFO)" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("name", TARGETS)
def test_a_single_capture_file(tmp_path: Path, fip: list[Path], name: str) -> None:
    """One capture point alone: its packets are journeys of one sighting each."""
    code, out, err = run_cli(*command(name, tmp_path, str(fip[1])))
    assert (code, err) == (ExitCode.OK, "")
    if name == "analyze":
        assert "at 1 capture points" in out


@pytest.mark.parametrize("content", [b"", None], ids=["no bytes", "header only"])
@pytest.mark.parametrize("name", TARGETS)
def test_an_empty_capture_is_one_error_line(
    tmp_path: Path, fip: list[Path], name: str, content: bytes | None
) -> None:
    empty = tmp_path / "n1__eth0.pcap"
    empty.write_bytes(fip[0].read_bytes()[:24] if content is None else content)
    code, _, err = run_cli(*command(name, tmp_path, str(empty)))
    assert code == ExitCode.INPUT
    assert err.count("\n") == 1
    expected = "is empty" if content == b"" else "the capture files hold no packets"
    assert expected in err


@pytest.mark.parametrize("name", TARGETS)
def test_a_capture_with_one_packet(tmp_path: Path, name: str) -> None:
    pcap = one_packet_pcap(tmp_path / "node1__eth0.pcap")
    code, out, err = run_cli(*command(name, tmp_path, str(pcap)))
    assert (code, err) == (ExitCode.OK, "")
    if name == "analyze":
        assert "1 packets at 1 capture points" in out


def test_inventory_show_of_a_large_inventory_lists_every_node_as_plain_lines(
    tmp_path: Path,
) -> None:
    nodes = "".join(f"- {{name: n{i}, host: 10.0.{i // 256}.{i % 256}}}\n" for i in range(2500))
    path = tmp_path / "big.yaml"
    path.write_text(f"version: 1\nnodes:\n{nodes}")
    code, out, err = run_cli("inventory", "show", str(path))
    assert (code, err) == (ExitCode.OK, "")
    lines = out.splitlines()
    assert lines[0] == f"{path}: 2500 nodes, 0 pods"
    assert lines[1].split() == ["node", "ssh", "sudo", "labels", "devices"]
    assert lines[-1].split() == ["n2499", "10.0.9.195", "no"]
    assert len(lines) == 2 + 2500


@pytest.mark.parametrize("damage", ["cut", "impossible length"])
@pytest.mark.parametrize("name", TARGETS)
def test_a_capture_damaged_before_its_first_packet_says_so(
    tmp_path: Path, fip: list[Path], name: str, damage: str
) -> None:
    """Not "check the capture filter": the file's own damage, with where it is."""
    whole = fip[0].read_bytes()
    broken = tmp_path / "n1__eth0.pcap"
    if damage == "cut":
        broken.write_bytes(whole[:30])  # inside the first record's header
    else:
        broken.write_bytes(whole[:24] + bytes.fromhex("ffffff7f00000000ffffff7fffffff7f"))
    code, _, err = run_cli(*command(name, tmp_path, str(broken)))
    assert code == ExitCode.INPUT
    assert err.count("\n") == 1, err
    assert "hold no usable packet" in err
    assert ("cut short" if damage == "cut" else "impossible record length") in err
    assert "at byte 24" in err
