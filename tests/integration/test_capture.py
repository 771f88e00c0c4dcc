"""`netdiag capture` on the lab: the FIP story end to end, failures, interrupts, no leftovers.

After every run we look for what a run could leave behind: any process on the host (all lab
namespaces share its PID namespace) whose command line carries the run's marker, and any
capture directory in the nodes' private /tmp (and the host's).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.inventory import load_inventory
from netdiag.lab import LabState
from netdiag.orchestrator import RunOptions, run_capture
from netdiag.plan import parse_plan

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIP_PLAN = REPO / "probes" / "fip-ingress.yaml"


def leftovers(lab: LabState, run_id: str) -> list[str]:
    """Processes and capture directories of run ``run_id`` still present anywhere."""
    marker = f"netdiag-cap-{run_id}"
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(f"process {pid}: {cmd[:100]}")
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


def test_mgmt_link_down_mid_capture_marks_the_node_lost_and_its_watchdog_cleans_up(
    lab: LabState, tmp_path: Path
) -> None:
    plan = parse_plan(
        "version: 1\nname: t\ncapture:\n  interfaces: [uplink]\n  duration: 60\n"
        "probes:\n  - ping: {from: client, target: 172.19.0.11, count: 2}\nlinger: 3\n",
        tmp_path / "plan.yaml",
    )
    worker = lab.node("kube-ovn-worker")
    opts = RunOptions(out=tmp_path / "run", heartbeat_s=4, grace_s=2)

    async def scenario() -> Any:
        records: list[Any] = []
        task = asyncio.create_task(
            run_capture(load_inventory(lab.inventory_path), plan, opts, on_start=records.append)
        )
        while not records or records[0].nodes["kube-ovn-worker"].state != "lingering":
            assert not task.done()
            await asyncio.sleep(0.05)
        _ip(worker.netns, "down")
        return await task

    try:
        record = asyncio.run(scenario())
    finally:
        left = wait_clean(lab, opts.run_id, 20)  # while the link is still down: the watchdog
        _ip(worker.netns, "up")
    assert left == []
    assert record.nodes["kube-ovn-worker"].status == "lost"
    assert "stopped answering" in record.nodes["kube-ovn-worker"].detail
    assert ": ;" not in record.nodes["kube-ovn-worker"].detail, "the reason is named"
    assert record.nodes["client"].status == "ok"
    assert record.nodes["kube-ovn-control-plane"].status == "ok"


def _ip(netns: str, state: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "mgmt0", state], check=True)


def _spawn(lab: LabState, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FIP_PLAN.read_text().replace("\nlinger: 2 ", "\nlinger: 120 "))
    out = tmp_path / "run"
    cmd = "import sys; from netdiag.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", cmd, "capture", "--inventory", lab.inventory_path,
         "--plan", str(plan), "--out", str(out), "--no-analysis", "--grace", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "probes" / "client__ping-1.txt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached its probes"
        time.sleep(0.1)
    return proc, out


def test_one_sigint_stops_fetches_and_cleans_up(lab: LabState, tmp_path: Path) -> None:
    proc, out = _spawn(lab, tmp_path)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert "SIGINT: stopping captures" in stderr
    assert f"run directory: {out}" in stdout
    assert "interrupted: captures stopped, what existed was fetched" in stderr
    m = manifest(out)
    assert m["interrupted"] is True
    assert m["phase"] == "done"
    assert all(c["status"] == "ok" for c in m["captures"])
    assert (out / "pcaps" / "kube-ovn-control-plane__eth1.pcap").stat().st_size > 24
    assert wait_clean(lab, m["run_id"], 5) == []


def test_sigkill_leaves_nothing_behind_thanks_to_the_remote_watchdog(
    lab: LabState, tmp_path: Path
) -> None:
    proc, out = _spawn(lab, tmp_path)
    run_id = manifest(out)["run_id"]
    assert leftovers(lab, run_id)  # the captures are running...
    proc.kill()
    proc.communicate(timeout=10)
    assert wait_clean(lab, run_id, 10) == []  # ...and gone without netdiag's help
    m = manifest(out)  # written before the kill: every node has a status
    assert m["phase"] == "capturing"
    assert set(m["nodes"]) == set(lab.node_names)


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
