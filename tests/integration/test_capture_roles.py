"""Issue 7 on the lab: a plan with pod/role capture points and an inventory without pods.

The points are placed by discovery at run time over the capture's own SSH sessions; the FIP
DNAT story must come out exactly as with the inventory-resolved plan (test_capture.py).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.lab import LabState
from tests.integration.test_capture import wait_clean

pytestmark = pytest.mark.integration

PLAN = Path(__file__).resolve().parents[2] / "probes" / "fip-ingress-by-role.yaml"
CP = "kube-ovn-control-plane"


def test_role_and_pod_points_found_by_discovery_yield_the_fip_dnat(
    lab: LabState, tmp_path: Path
) -> None:
    inv: dict[str, Any] = yaml.safe_load(Path(lab.inventory_path).read_text())
    assert inv.pop("pods")  # the lab's inventory places the pod: this run must not rely on it
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(inv))
    out, env = tmp_path / "run", Env(io.StringIO(), io.StringIO())
    argv = ["capture", "--inventory", str(tmp_path / "inv.yaml"), "--plan", str(PLAN)]
    code = main([*argv, "--out", str(out), "--transport", "asyncssh"], env)
    assert code == ExitCode.OK, env.stderr.getvalue()  # type: ignore[attr-defined]
    m = json.loads((out / "manifest.json").read_text())
    points = [c["point"] for c in m["captures"]]
    assert sorted(points) == sorted(set(points))  # the client's eth0: by role and by name, once
    caps = {c["point"]: c for c in m["captures"]}
    veth, eth1 = caps[f"{CP}/dd2b931fc304_h"], caps[f"{CP}/eth1"]
    assert (veth["resolved_from"], veth["pod"], veth["status"]) == (
        "discovery",
        "default/fip-busybox01",
        "ok",
    )
    assert (eth1["resolved_from"], eth1["role"], eth1["status"]) == ("discovery", "uplink", "ok")
    assert f"{CP}: ip -j -d addr" in veth["discovery"]
    analysis = json.loads((out / "analysis.json").read_text())
    assert {
        "kind": "dnat", "node": CP, "proto": "icmp",
        "before": "172.19.0.11", "after": "192.168.0.6", "packets": 3,
    } in analysis["translations"]  # fmt: skip
    request = next(j for j in analysis["journeys"] if "echo-request" in j["summary"])
    seen = {s["point"] for s in request["sightings"]}
    assert {f"{CP}/dd2b931fc304_h", f"{CP}/eth1"} <= seen
    assert wait_clean(lab, m["run_id"], 5) == []
