"""`netdiag capture` on the lab: the FIP story end to end, statuses, the sweep, no leftovers.

Faults one by one (nodes lost mid-capture, netdiag interrupted or killed, full disks, ...) are
in test_faults.py.

After every run we look for what a run could leave behind: any process on the host (all lab
namespaces share its PID namespace) whose command line carries the run's marker, and any
capture directory in the nodes' private /tmp (and the host's).
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.lab import LabState
from tests.integration.conftest import processes_naming

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIP_PLAN = REPO / "probes" / "fip-ingress.yaml"


def leftovers(lab: LabState, run_id: str) -> list[str]:
    """Processes and capture directories of run ``run_id`` still present anywhere."""
    marker = f"netdiag-cap-{run_id}"
    found = [f"process {p}" for p in processes_naming(marker)]
    tmps = [Path(lab.state_dir) / "nodes" / n / "tmp" for n in lab.node_names] + [Path("/tmp")]
    for tmp in tmps:
        found += [f"dir {p}" for p in tmp.glob(f"{marker}.*")]
    return found


def wait_clean(lab: LabState, run_id: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := leftovers(lab, run_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def capture(lab: LabState, out: Path, *extra: str, plan: Path = FIP_PLAN) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    argv = ["capture", "--inventory", lab.inventory_path, "--plan", str(plan), "--out", str(out)]
    code = main([*argv, *extra], env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


@pytest.mark.parametrize("transport", ["asyncssh", "paramiko"])
def test_fip_plan_shows_the_dnat_with_the_seeds_mac_and_ttl_story(
    lab: LabState, tmp_path: Path, transport: str
) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = capture(lab, out, "--transport", transport)
    assert code == ExitCode.OK, stderr
    m = manifest(out)
    assert {n: v["status"] for n, v in m["nodes"].items()} == dict.fromkeys(lab.node_names, "ok")
    assert all(c["stats"]["dropped"] == 0 for c in m["captures"])
    analysis = json.loads((out / "analysis.json").read_text())
    assert {
        "kind": "dnat", "node": "kube-ovn-control-plane", "proto": "icmp",
        "before": "172.19.0.11", "after": "192.168.0.6", "packets": 3,
    } in analysis["translations"]  # fmt: skip
    request = next(j for j in analysis["journeys"] if "echo-request" in j["summary"])
    seen = {s["point"]: s for s in request["sightings"]}
    eth1 = seen["kube-ovn-control-plane/eth1"]
    veth = seen["kube-ovn-control-plane/dd2b931fc304_h"]
    assert (eth1["dst"], eth1["ttl"], eth1["eth_dst"]) == ("172.19.0.11", 64, "00:00:00:21:44:fd")
    assert (veth["dst"], veth["ttl"]) == ("192.168.0.6", 63)
    assert (veth["eth_src"], veth["eth_dst"]) == ("00:00:00:91:cc:aa", "00:00:00:de:cb:07")
    assert "172.19.0.11" in stdout
    assert "report: " in stdout
    assert wait_clean(lab, m["run_id"], 5) == []


def test_unreachable_node_and_missing_interface_get_statuses(lab: LabState, tmp_path: Path) -> None:
    # The worker's sshd refuses connections: what a stopped sshd looks like from the client.
    inv = Path(lab.inventory_path).read_text()
    worker_ip = lab.node("kube-ovn-worker").mgmt_ip
    inv = inv.replace(f"host: {worker_ip}\n", f"host: {worker_ip}\n  port: 2222\n")
    (tmp_path / "inv.yaml").write_text(inv)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nname: t\ncapture:\n  interfaces: [uplink, nosuch0]\n  duration: 20\n"
        "probes:\n  - ping: {from: client, target: 172.19.0.11, count: 1}\nlinger: 0\n"
    )
    env = Env(io.StringIO(), io.StringIO())
    out = tmp_path / "run"
    argv = ["capture", "--inventory", str(tmp_path / "inv.yaml"), "--plan", str(plan)]
    code = main([*argv, "--out", str(out)], env)
    assert code == ExitCode.PARTIAL
    m = manifest(out)
    worker = m["nodes"]["kube-ovn-worker"]
    assert worker["status"] == "unreachable"
    assert "cannot reach" in worker["detail"]
    assert m["nodes"]["client"]["status"] == "no-interface"
    assert "has no interface 'nosuch0'" in m["nodes"]["client"]["detail"]
    caps = {c["point"]: c["status"] for c in m["captures"]}
    assert caps["client/eth0"] == "ok"
    assert caps["kube-ovn-control-plane/eth1"] == "ok"
    assert caps["kube-ovn-worker/eth1"] == "not-started"
    shown = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "unreachable" in shown
    assert "no-interface" in shown
    assert wait_clean(lab, m["run_id"], 5) == []


def test_the_next_run_sweeps_what_a_dead_run_left(lab: LabState, tmp_path: Path) -> None:
    # A dead run's leftovers on the worker: its capture dir (supervisor long gone) and a
    # process still carrying the dir in its command line, as an orphaned tcpdump would.
    node = "kube-ovn-worker"
    orphan = "/tmp/netdiag-cap-19700101T000000Z-dead00.Ab12Cd"
    script = (
        f"mkdir {orphan} && echo 999999 > {orphan}/supervisor.pid && : > {orphan}/x.pcap && "
        f"(setsid sh -c 'sleep 300' {orphan} </dev/null >/dev/null 2>&1 &)"
    )
    subprocess.run([*lab.ssh_argv(node), script], check=True, timeout=30)
    assert leftovers(lab, "19700101T000000Z-dead00")
    out = tmp_path / "run"
    code, _, stderr = capture(lab, out, "--no-analysis")
    assert code == ExitCode.OK, stderr
    assert wait_clean(lab, "19700101T000000Z-dead00", 5) == []
    notes = manifest(out)["notes"]
    assert any(n.startswith(f"{node}: removed leftovers of dead runs") for n in notes)
