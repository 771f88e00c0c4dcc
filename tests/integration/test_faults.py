"""The fault matrix: one lab fault per test, as a user at a terminal would meet it.

Each test breaks one node (mostly the worker; the FIP path runs client -> control plane, so
those two stay healthy) and checks what the user is told (exit code, status, reason), that the
healthy nodes' packets were fetched and analysed, and that nothing of the run is left on any
node: no process carrying its run id, no capture directory — at once for faults netdiag saw
through, after the grace period for faults that cut netdiag off (with the files still there to
recover before it, and ``capture --recover`` fetching them).

The suite has its own lab (``nf<pid>``): it kills sshd, pulls links and mounts a tiny tmpfs.
Every wait is bounded; short heartbeats, steps and grace periods keep it to seconds.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netdiag.capture.results import RunRecord
from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.cli.capture import conclude
from netdiag.inventory import load_inventory
from netdiag.lab import LabState, default_spec
from netdiag.lab import sshd as lab_sshd
from netdiag.orchestrator import RunOptions, run_capture
from netdiag.plan import load_plan
from tests.integration.conftest import own_lab, processes_naming, session_lab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]  # no fault may hang a run

REPO = Path(__file__).resolve().parents[2]
CLIENT, CP, WORKER = "client", "kube-ovn-control-plane", "kube-ovn-worker"
GRACE = 8.0  # seconds a node keeps what netdiag could not fetch, in this suite
PLAN = """\
version: 1
name: faults
capture:
  interfaces: [uplink]
  duration: 30
probes:
  - ping: {from: client, target: 172.19.0.11, count: 3, interval: 0.05}
linger: LINGER
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[LabState]:
    yield from own_lab("f")


# -- what a run leaves behind ---------------------------------------------------------------


def traces(lab: LabState, run_id: str) -> list[str]:
    """Processes whose command line carries the run id (tcpdump, timeout, supervisors) and
    capture directories of the run in any node's /tmp."""
    found = [f"process {p}" for p in processes_naming(run_id, width=80)]
    found += [f"dir {d}" for d in _dirs(lab, run_id)]
    return found


def _dirs(lab: LabState, run_id: str) -> list[Path]:
    tmps = [Path(lab.state_dir) / "nodes" / n / "tmp" for n in lab.node_names]
    return [d for tmp in tmps for d in tmp.glob(f"netdiag-cap-{run_id}.*")]


def kept_files(lab: LabState, run_id: str, node: str) -> list[str]:
    tmp = Path(lab.state_dir) / "nodes" / node / "tmp"
    return sorted(p.name for p in tmp.glob(f"netdiag-cap-{run_id}.*/*.pcap"))


def tcpdumps(run_id: str) -> list[str]:
    return [t for t in traces_of_processes(run_id) if " tcpdump " in t]


def traces_of_processes(run_id: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", run_id], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def wait_until(check: Callable[[], Any], seconds: float) -> Any:
    """Poll ``check`` until it returns something truthy or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def clean_within(lab: LabState, run_id: str, seconds: float) -> list[str]:
    wait_until(lambda: not traces(lab, run_id), seconds)
    return traces(lab, run_id)


# -- running netdiag -------------------------------------------------------------------------


def write_inventory(lab: LabState, tmp: Path, node: str = WORKER, **settings: str) -> Path:
    """The lab's inventory with node-level settings for ``node`` (e.g. tcpdump=PATH)."""
    text = Path(lab.inventory_path).read_text()
    host = f"  host: {lab.node(node).mgmt_ip}\n"
    extra = "".join(f"  {k}: {v}\n" for k, v in settings.items())
    path = tmp / "inventory.yaml"
    path.write_text(text.replace(host, host + extra))
    return path


def write_plan(tmp: Path, linger: float = 0, **replace: str) -> Path:
    text = PLAN.replace("LINGER", f"{linger:g}")
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp / "plan.yaml"
    path.write_text(text)
    return path


def capture(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(["capture", *argv], env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def run(
    lab: LabState, tmp: Path, inventory: Path | None = None, plan: Path | None = None
) -> tuple[int, str, str, Path, dict[str, Any]]:
    """netdiag capture in this process: exit code, stdout, stderr, run dir, manifest."""
    out = tmp / "run"
    inv = inventory or Path(lab.inventory_path)
    code, stdout, stderr = capture(
        "--inventory", str(inv), "--plan", str(plan or write_plan(tmp)), "--out", str(out),
        "--grace", f"{GRACE:g}",
    )  # fmt: skip
    return code, stdout, stderr, out, manifest(out)


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


def statuses(m: dict[str, Any]) -> dict[str, str]:
    return {c["point"]: c["status"] for c in m["captures"]}


def assert_healthy_analysed(out: Path, *points: str) -> None:
    """Those points' files were fetched and the analysis followed packets through them."""
    doc = json.loads((out / "analysis.json").read_text())
    seen = {p["name"]: p["packets"] for p in doc["points"]}
    for point in points:
        assert seen.get(point, 0) > 0, (point, seen)


# -- faults netdiag sees before or while starting -------------------------------------------


def test_node_down(lab: LabState, tmp_path: Path) -> None:
    inv = write_inventory(lab, tmp_path, connect_timeout="5")
    _link(lab, WORKER, "down")
    try:
        code, _, err, out, m = run(lab, tmp_path, inv)
    finally:
        _link(lab, WORKER, "up")
    assert code == ExitCode.PARTIAL, err
    worker = m["nodes"][WORKER]
    assert worker["status"] == "unreachable"
    assert f"{WORKER}: cannot reach {lab.node(WORKER).mgmt_ip}:22" in worker["detail"]
    assert f"waiting for {WORKER} ({lab.node(WORKER).mgmt_ip}:22): connecting" in err
    assert "gives up after 5 s" in err
    assert "1 capture point on 1 node failed (1 not-started)" in err
    assert statuses(m)[f"{WORKER}/eth1"] == "not-started"
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


@pytest.mark.parametrize("fault", ["wrong user", "wrong key", "host key changed"])
def test_login_refused(lab: LabState, tmp_path: Path, fault: str) -> None:
    if fault == "wrong user":
        inv = write_inventory(lab, tmp_path, user="nobody-here")
    elif fault == "wrong key":
        key = tmp_path / "other_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        inv = write_inventory(lab, tmp_path, identity_file=str(key))
    else:
        inv = write_inventory(lab, tmp_path, known_hosts=str(_changed_host_key(lab, tmp_path)))
    code, _, err, out, m = run(lab, tmp_path, inv)
    assert code == ExitCode.PARTIAL, err
    worker = m["nodes"][WORKER]
    if fault == "host key changed":
        assert worker["status"] == "hostkey-rejected"
        assert "ssh-keyscan" in worker["detail"]
    else:
        assert worker["status"] == "auth-failed"
        assert "refused our key" in worker["detail"]
        assert "check user and identity_file in the inventory" in worker["detail"]
    assert worker["status"] in err
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


def _changed_host_key(lab: LabState, tmp: Path) -> Path:
    """known_hosts in which the worker's entry holds another key (as after a reinstall)."""
    other = tmp / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    blob = Path(f"{other}.pub").read_text().split()[1]
    ip = lab.node(WORKER).mgmt_ip
    lines = Path(lab.known_hosts_path).read_text().splitlines()
    changed = [f"{ip} ssh-ed25519 {blob}" if ln.startswith(f"{ip} ") else ln for ln in lines]
    path = tmp / "known_hosts"
    path.write_text("\n".join(changed) + "\n")
    return path


def test_no_tcpdump(lab: LabState, tmp_path: Path) -> None:
    inv = write_inventory(lab, tmp_path, tcpdump="/nonexistent/tcpdump")
    code, _, err, out, m = run(lab, tmp_path, inv)
    assert code == ExitCode.PARTIAL, err
    worker = m["nodes"][WORKER]
    assert worker["status"] == "no-tcpdump"
    assert "tcpdump not found at '/nonexistent/tcpdump'" in worker["detail"]
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


def test_missing_interface(lab: LabState, tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path, **{"[uplink]": "[uplink, {node: kube-ovn-worker, devices: [nosuch0]}]"}
    )
    code, _, err, out, m = run(lab, tmp_path, plan=plan)
    assert code == ExitCode.PARTIAL, err
    assert statuses(m)[f"{WORKER}/nosuch0"] == "no-interface"
    assert statuses(m)[f"{WORKER}/eth1"] == "ok"  # the node's other point is captured
    assert f"{WORKER} has no interface 'nosuch0'" in m["nodes"][WORKER]["detail"]
    assert "no-interface" in err
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


def test_tcpdump_that_dies_at_start_for_lack_of_privilege(lab: LabState, tmp_path: Path) -> None:
    # A wrapper that drops CAP_NET_RAW: tcpdump starts, then cannot open the device and exits.
    wrapper = Path(lab.state_dir) / "nodes" / WORKER / "tmp" / "tcpdump-without-cap-net-raw"
    wrapper.write_text(
        '#!/bin/sh\nexec capsh --drop=cap_net_raw -- -c \'exec tcpdump "$@"\' tcpdump "$@"\n'
    )
    wrapper.chmod(0o755)
    try:
        inv = write_inventory(lab, tmp_path, tcpdump=f"/tmp/{wrapper.name}")
        code, _, err, out, m = run(lab, tmp_path, inv)
    finally:
        wrapper.unlink()
    assert code == ExitCode.PARTIAL, err
    cap = next(c for c in m["captures"] if c["point"] == f"{WORKER}/eth1")
    assert cap["status"] == "no-permission"
    assert "You don't have permission" in cap["detail"]
    assert "log in as root or set sudo: true" in cap["detail"]
    assert m["probes"][0]["exit_status"] == 0  # the probes still ran
    assert m["phase"] == "done"
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


def test_disk_full_mid_capture(lab: LabState, tmp_path: Path) -> None:
    # Three 4 KiB pages for the control plane's capture dir: the file fills up after ~70 of
    # the 120 frames the pings make on its eth1.
    ssh = lab.ssh_argv(CP)
    subprocess.run(
        [*ssh, "mkdir -p /tmp/small && mount -t tmpfs -o size=12k tmpfs /tmp/small"],
        check=True,
        timeout=30,
    )
    try:
        inv = write_inventory(lab, tmp_path, CP, capture_dir="/tmp/small")
        plan = write_plan(tmp_path, **{"count: 3, interval: 0.05": "count: 60, interval: 0.01"})
        code, _, err, out, m = run(lab, tmp_path, inv, plan)
        left = subprocess.run(
            [*ssh, "ls -A /tmp/small"], capture_output=True, text=True, timeout=30, check=True
        )
    finally:
        subprocess.run([*ssh, "umount /tmp/small; rmdir /tmp/small"], check=False, timeout=30)
    assert code == ExitCode.PARTIAL, err
    cap = next(c for c in m["captures"] if c["point"] == f"{CP}/eth1")
    assert cap["status"] == "incomplete"
    holds = re.search(r"file holds (\d+) of (\d+) captured packets", cap["detail"])
    assert holds is not None, cap["detail"]
    assert 0 < int(holds[1]) < int(holds[2]) == cap["stats"]["captured"]
    assert cap["detail"].startswith(f"disk full on {CP}:/tmp/small: ")
    assert "1 capture point on 1 node failed (1 incomplete)" in err
    assert left.stdout == ""  # nothing left in the full file system either
    # what the full disk kept is analysed with the healthy nodes' packets
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert clean_within(lab, m["run_id"], 5) == []


# -- faults that cut netdiag off a node mid-capture ------------------------------------------


def _lingering(lab: LabState, tmp: Path, fault: Callable[[], None]) -> tuple[RunRecord, Path]:
    """A run through the API with short heartbeats and steps; ``fault`` strikes while it
    lingers after the probes (every capture listening, packets captured)."""
    out = tmp / "run"
    opts = RunOptions(out=out, heartbeat_s=2, step_s=3, grace_s=GRACE, min_linger=0.5)
    plan = load_plan(write_plan(tmp, linger=2))

    async def scenario() -> RunRecord:
        records: list[RunRecord] = []
        inv = load_inventory(lab.inventory_path)
        task = asyncio.create_task(run_capture(inv, plan, opts, on_start=records.append))
        while not records or records[0].nodes[WORKER].state != "lingering":
            assert not task.done(), "the run ended before it lingered"
            await asyncio.sleep(0.02)
        fault()
        return await asyncio.wait_for(task, 60)

    return asyncio.run(scenario()), out


def _concluded(record: RunRecord, out: Path) -> tuple[int, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = conclude(record, out, env, analysis=True, interrupted=False)
    return code, env.stderr.getvalue()  # type: ignore[attr-defined]


def _recovered(lab: LabState, out: Path, run_id: str) -> None:
    code, stdout, err = capture("--recover", str(out))
    assert code == ExitCode.PARTIAL, err  # recovered points are not whole captures
    assert "recovered 1 file(s)" in stdout
    worker = next(c for c in manifest(out)["captures"] if c["node"] == WORKER)
    assert worker["status"] == "recovered"
    assert (out / worker["file"]).stat().st_size >= 24
    assert manifest(out)["phase"] == "recovered"
    assert "1 capture point recovered after the run lost it" in err
    assert traces(lab, run_id) == []  # recovery took the files and removed the rest


def test_link_down_mid_capture(lab: LabState, tmp_path: Path) -> None:
    run_id = ""
    try:
        record, out = _lingering(lab, tmp_path, lambda: _link(lab, WORKER, "down"))
        run_id = record.run_id
        code, err = _concluded(record, out)
        assert code == ExitCode.PARTIAL
        assert record.nodes[WORKER].status == "lost"
        assert "stopped answering mid-capture" in record.nodes[WORKER].detail
        assert f"{WORKER} keeps the 1 file netdiag could not fetch for 8 s" in err
        assert f"`netdiag capture --recover {out}`" in err
        assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
        # the node's watchdog has stopped tcpdump and keeps the file for the grace period
        assert wait_until(lambda: not tcpdumps(run_id), 10)
        assert kept_files(lab, run_id, WORKER) == [f"{WORKER}__eth1.pcap"]
    finally:
        _link(lab, WORKER, "up")
    _recovered(lab, out, run_id)


def test_sshd_killed_mid_capture(lab: LabState, tmp_path: Path) -> None:
    listener = lab.node(WORKER).sshd_pid
    assert listener is not None
    try:
        record, out = _lingering(lab, tmp_path, lambda: _kill_sshd(lab, WORKER))
        run_id = record.run_id
        code, err = _concluded(record, out)
        assert code == ExitCode.PARTIAL
        assert record.nodes[WORKER].status == "lost"
        assert "--recover" in err
        assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
        assert wait_until(lambda: not tcpdumps(run_id), 10)
        assert kept_files(lab, run_id, WORKER) == [f"{WORKER}__eth1.pcap"]
        # nobody recovers it: the grace period passes and the node is clean on its own
        assert clean_within(lab, run_id, GRACE + 10) == []
    finally:
        _restart_sshd(lab, WORKER)
    code, _, err = capture("--recover", str(out))
    assert code == ExitCode.PARTIAL, err
    worker = next(c for c in manifest(out)["captures"] if c["node"] == WORKER)
    assert worker["status"] == "lost"
    assert "the grace period (8 s) is over" in worker["detail"]


# -- netdiag itself stopped ------------------------------------------------------------------


def _spawn(lab: LabState, tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    """netdiag capture as its own process, lingering long after its probes."""
    out = tmp / "run"
    cmd = "import sys; from netdiag.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", cmd, "capture", "--inventory", lab.inventory_path,
         "--plan", str(write_plan(tmp, linger=120)), "--out", str(out), "--grace", f"{GRACE:g}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    probed = out / "probes" / "client__ping-1.txt"
    assert wait_until(lambda: probed.exists() or proc.poll() is not None, 60), "no probe ran"
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)  # the probe's output is written; let the captures see its last reply
    return proc, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_fetches_and_cleans_up(
    lab: LabState, tmp_path: Path, sig: signal.Signals
) -> None:
    proc, out = _spawn(lab, tmp_path)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert f"{sig.name}: stopping captures" in stderr
    assert "interrupted: captures stopped, what existed was fetched" in stderr
    m = manifest(out)
    assert (m["interrupted"], m["phase"]) == (True, "done")
    assert set(statuses(m).values()) == {"ok"}
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert "report: " in stdout
    assert traces(lab, m["run_id"]) == []  # released at once: no grace period needed


def test_sigkill_keeps_the_evidence_for_recovery(lab: LabState, tmp_path: Path) -> None:
    proc, out = _spawn(lab, tmp_path)
    run_id = manifest(out)["run_id"]
    proc.kill()
    proc.communicate(timeout=10)
    assert manifest(out)["phase"] == "capturing"  # the manifest as netdiag left it
    code, _, err = _analyze(out)
    assert code == ExitCode.INPUT
    assert f"netdiag capture --recover {out}" in err
    # every node's watchdog stopped its tcpdump and keeps the file for the grace period
    assert wait_until(lambda: not tcpdumps(run_id), 10)
    for node in lab.node_names:
        assert kept_files(lab, run_id, node), node
    code, stdout, err = capture("--recover", str(out))
    assert code == ExitCode.PARTIAL, err
    assert re.search(rf"recovered {len(lab.node_names)} file\(s\), \d+ bytes", stdout)
    assert set(statuses(manifest(out)).values()) == {"recovered"}
    assert_healthy_analysed(out, f"{CLIENT}/eth0", f"{CP}/eth1")
    assert traces(lab, run_id) == []


def _analyze(out: Path) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(["analyze", str(out)], env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


# -- breaking and mending the lab ------------------------------------------------------------


def _link(lab: LabState, node: str, state: str) -> None:
    argv = ["ip", "netns", "exec", lab.node(node).netns, "ip", "link", "set", "mgmt0", state]
    subprocess.run(argv, check=True)


def _kill_sshd(lab: LabState, node: str) -> None:
    """Every sshd of the node: its listener and the sessions it serves (ours among them)."""
    listener = lab.node(node).sshd_pid
    assert listener is not None
    children = subprocess.run(
        ["pgrep", "-P", str(listener)], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in [*children, str(listener)]:
        os.kill(int(pid), signal.SIGKILL)


def _restart_sshd(lab: LabState, node: str) -> None:
    spec = default_spec(lab.name, session_lab("f")[1])
    wanted = next(n for n in spec.nodes if n.name == node)
    pid = lab_sshd.start_sshd(spec, wanted)
    lab_sshd.wait_ready(spec, {node: pid})
