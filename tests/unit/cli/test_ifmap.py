"""`tcpdump -i any` captures in every command: one point per device, named by the interface map.

Input: the recorded lab run where node 1 was captured on `any` (LINUX_SLL2, interface indexes)
and its manifest's `ip -j link` of that node (81 = eth1, 6 = ovn0).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from netdiag.bundle import load_input
from netdiag.bundle.open import open_run
from netdiag.cli import Env, ExitCode, main
from netdiag.pcap import read_capture
from tests.support.lab_runs import lab_run

CP = "kube-ovn-control-plane"
ANY_FILE = f"{CP}__any.pcap"


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A writable copy of the recorded run (commands may write analysis files into it)."""
    return Path(shutil.copytree(lab_run("nodeport-overlay-any"), tmp_path / "run"))


@pytest.fixture
def links(bundle: Path, tmp_path: Path) -> Path:
    """Node 1's `ip -j link`, as a user would have saved it on the node."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    path = tmp_path / "cp-links.json"
    path.write_text(json.dumps(manifest["nodes"][CP]["interfaces"]))
    return path


def files(bundle: Path) -> list[str]:
    return sorted(str(p) for p in (bundle / "pcaps").glob("*.pcap"))


def cp_points(points: Any) -> set[str]:
    return {str(p) for p in points if str(p).startswith(f"{CP}/")}


def test_a_bundle_splits_its_any_capture_by_the_devices_its_manifest_recorded(
    bundle: Path,
) -> None:
    data = load_input([bundle])
    assert cp_points(data.table["point"].unique()) == {f"{CP}/eth1", f"{CP}/ovn0"}
    any_rows = data.table[data.table["node"].astype(str) == CP]
    assert set(any_rows["iface"].astype(str)) == {"eth1", "ovn0"}
    assert data.warnings == ()
    assert data.ifmaps[CP][81] == "eth1"


def test_analyze_names_devices_by_index_without_a_map_and_says_how_to_name_them(
    bundle: Path,
) -> None:
    code, out, err = run("analyze", *files(bundle), "--json", "-")
    assert code == ExitCode.OK, err
    points = {p["name"] for p in json.loads(out)["points"]}
    assert cp_points(points) == {f"{CP}/if81", f"{CP}/if6"}
    assert f"--ifmap {CP}=" in err
    assert err.startswith("netdiag: warning: ")


def test_analyze_report_and_export_take_the_map(bundle: Path, links: Path, tmp_path: Path) -> None:
    ifmap = ["--ifmap", f"{CP}={links}"]
    code, out, err = run("analyze", *files(bundle), *ifmap, "--json", "-")
    assert code == ExitCode.OK, err
    assert cp_points(p["name"] for p in json.loads(out)["points"]) == {f"{CP}/eth1", f"{CP}/ovn0"}
    assert err == ""

    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    code, _, err = run("report", *files(bundle), *ifmap, "--html", str(html), "--json", str(doc))
    assert code == ExitCode.OK, err
    assert cp_points(p["name"] for p in json.loads(doc.read_text())["points"]) == {
        f"{CP}/eth1",
        f"{CP}/ovn0",
    }
    assert f"{CP}/any" not in html.read_text()

    merged = tmp_path / "merged.pcapng"
    code, out, err = run("export", *files(bundle), *ifmap, "--pcapng", str(merged))
    assert code == ExitCode.OK, err
    ifaces = set(read_capture(merged).table["iface"].astype(str))
    assert {f"{CP}/eth1", f"{CP}/ovn0"} <= ifaces
    assert not any(i.endswith("/any") or "/if" in i for i in ifaces), ifaces


def test_export_of_a_bundle_splits_the_any_file_by_device(bundle: Path, tmp_path: Path) -> None:
    merged = tmp_path / "merged.pcapng"
    code, _, err = run("export", str(bundle), "--pcapng", str(merged))
    assert code == ExitCode.OK, err
    table = read_capture(merged).table
    per_iface = table["iface"].astype(str).value_counts().to_dict()
    original = read_capture(bundle / "pcaps" / ANY_FILE).table
    assert per_iface[f"{CP}/eth1"] + per_iface[f"{CP}/ovn0"] == len(original)
    assert f"{CP}/any" not in per_iface


def test_views_open_a_device_point_in_its_any_file(bundle: Path, links: Path) -> None:
    view = open_run([Path(f) for f in files(bundle)])
    assert view.pcap_of(f"{CP}/if81") == bundle / "pcaps" / ANY_FILE
    assert any("--ifmap" in w for w in view.warnings)
    named = open_run([bundle])
    assert named.pcap_of(f"{CP}/eth1") == bundle / "pcaps" / ANY_FILE
    assert named.ifmaps[CP][6] == "ovn0"
    assert named.warnings == ()


def test_a_map_for_a_node_no_input_comes_from_is_refused(bundle: Path, links: Path) -> None:
    code, _, err = run("analyze", *files(bundle), "--ifmap", f"node9={links}")
    assert code == ExitCode.INPUT
    assert "no input is from node 'node9'" in err
    code, _, err = run("tui", str(bundle), "--ifmap", "node9")
    assert code == ExitCode.INPUT
    assert "NODE=PATH" in err
