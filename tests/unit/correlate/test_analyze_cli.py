"""``netdiag analyze``: pcaps or a run directory in, a summary or JSON out, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env
from tests.support import scenarios as sc
from tests.support.builder import write_pcaps


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def fip_pcaps(tmp_path: Path) -> list[str]:
    paths = write_pcaps(sc.fip_ingress(count=4, skew={sc.CP: -1.25}), tmp_path)
    return [f"{point}={path}" for point, path in paths.items()]


def test_summary_shows_points_translations_paths(fip_pcaps: list[str]) -> None:
    code, out, err = run_cli("analyze", *fip_pcaps)
    assert code == 0, err
    assert "kube-ovn-control-plane/eth1" in out
    assert "-1.250 s" in out  # the node's clock offset
    assert (
        "client/eth0 -> kube-ovn-control-plane/eth1 [DNAT 172.19.0.11 -> 192.168.0.6, "
        "src MAC 02:42:57:db:a9:c6 -> 00:00:00:91:cc:aa, TTL 64 -> 63] -> "
        "kube-ovn-control-plane/dd2b931fc304_h"
    ) in out.replace("\n", "")
    assert "4 packets" in out
    assert "No anomalies." in out


def test_json_to_stdout(fip_pcaps: list[str]) -> None:
    code, out, _ = run_cli("analyze", *fip_pcaps, "--json", "-", "--reference-node", sc.CP)
    assert code == 0
    doc = json.loads(out)
    assert doc["reference_node"] == sc.CP
    assert {c["node"]: c["offset_ns"] for c in doc["clocks"]}[sc.CP] == 0
    assert len(doc["flows"]) == 4


def test_unknown_reference_node_is_an_input_error(fip_pcaps: list[str]) -> None:
    code, _, err = run_cli("analyze", *fip_pcaps, "--reference-node", "nope")
    assert code == 1
    assert "reference node 'nope'" in err
    assert err.count("\n") == 1


def test_not_a_capture_file(tmp_path: Path) -> None:
    bogus = tmp_path / "x.pcap"
    bogus.write_text("hello")
    code, _, err = run_cli("analyze", str(bogus))
    assert code == 1
    assert err.startswith("netdiag: error:")
    assert "Traceback" not in err


def test_missing_file_and_bad_window(tmp_path: Path) -> None:
    code, _, err = run_cli("analyze", str(tmp_path / "none.pcap"))
    assert (code, "no such capture file" in err) == (1, True)
    code, _, err = run_cli("analyze", str(tmp_path), "--window", "0")
    assert (code, "--window" in err) == (1, True)


def _bundle(tmp_path: Path, *, with_manifest: bool) -> Path:
    root = tmp_path / "run"
    (root / "pcaps").mkdir(parents=True)
    cap = sc.fip_ingress(count=3, skew={sc.CP: 0.5})
    paths = write_pcaps(cap, root / "pcaps")
    if with_manifest:
        manifest = {
            "schema": "netdiag.run/1",
            "run_id": "t",
            "nodes": {
                "client": {"status": "ok", "clock": {"offset_ns": 0, "error_ns": 1000,
                                                     "rtt_ns": 2000, "samples": 3}},
                sc.CP: {"status": "ok", "clock": {"offset_ns": 500_000_000, "error_ns": 30_000,
                                                  "rtt_ns": 60_000, "samples": 3}},
            },
            "captures": [
                {"point": p, "node": p.split("/")[0], "iface": p.split("/")[1],
                 "file": f"pcaps/{path.name}", "status": "ok",
                 "stats": {"captured": 1, "received": 1, "dropped": 7 if "eth1" in p else 0}}
                for p, path in paths.items()
            ] + [{"point": "gone/eth0", "file": "pcaps/gone__eth0.pcap", "status": "lost"}],
        }  # fmt: skip
        (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_bundle_with_manifest_uses_clock_samples_and_drops(tmp_path: Path) -> None:
    root = _bundle(tmp_path, with_manifest=True)
    code, out, err = run_cli("analyze", str(root), "--json", "-")
    assert code == 0, err
    doc = json.loads(out)
    points = {p["name"]: p for p in doc["points"]}
    assert points[sc.ETH1]["kernel_dropped"] == 7
    assert points[sc.ETH1]["clock_source"] in ("packets+bundle", "bundle", "packets")
    assert abs(points[sc.ETH1]["clock_offset_ns"] - 500_000_000) <= 40_000
    assert any(a["kind"] == "kernel-drops" for a in doc["anomalies"])


def test_bundle_without_manifest_and_save(tmp_path: Path) -> None:
    root = _bundle(tmp_path, with_manifest=False)
    code, _, err = run_cli("analyze", str(root), "--save")
    assert code == 0, err
    doc = json.loads((root / "analysis.json").read_text())
    assert len(doc["journeys"]) == 6
    assert (root / "packets.parquet").stat().st_size > 0
    code, _, err = run_cli("analyze", *[str(p) for p in (root / "pcaps").iterdir()], "--save")
    assert code == 1
    assert "--save needs a run directory" in err
