"""The flight recorder on the lab: rings that rotate under load, snapshots that find a drop,
watch, and nothing left behind — after stop, after netdiag is SIGKILLed, after a reboot.

The suite has its own lab (``nr<pid>``): it reboots a node (``netdiag.lab.reboot``: every
process of the node killed at once, its network namespace deleted and made again, sshd started;
its disk, the node's /tmp, stays). Leases are seconds long here.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.lab import LabState, default_spec
from netdiag.lab.reboot import reboot_node
from netdiag.record.control import RECORDER_FILES_MAX
from netdiag.record.listing import count_samples
from netdiag.record.ring import RingSpec
from tests.integration.conftest import own_lab, processes_naming, session_lab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CLIENT, CP, WORKER = "client", "kube-ovn-control-plane", "kube-ovn-worker"
FIP, POD_IP = "172.19.0.11", "192.168.0.6"
SNAPLEN = 256
PLAN = f"""\
version: 1
name: recorder
capture:
  interfaces: [uplink, {{pod: default/fip-busybox01}}]
  filter: "icmp or arp or tcp port 80"
  snaplen: {SNAPLEN}
probes:
  - ping: {{from: client, target: {FIP}, count: 1}}
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[LabState]:
    yield from own_lab("r")


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def netdiag(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def record(lab: LabState, *argv: str) -> tuple[int, str, str]:
    return netdiag("record", argv[0], "--inventory", lab.inventory_path, *argv[1:])


def in_node(lab: LabState, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", lab.node(node).netns, *argv],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip


# -- what a recorder leaves on the nodes -------------------------------------------------------


def rec_dirs(lab: LabState, name: str) -> list[Path]:
    tmps = [Path(lab.state_dir) / "nodes" / n / "tmp" for n in lab.node_names]
    return sorted(d for tmp in tmps for d in tmp.glob(f"netdiag-rec-{name}.*"))


def rec_processes(name: str) -> list[str]:
    return processes_naming(f"netdiag-rec-{name}.")


def traces(lab: LabState, name: str) -> list[str]:
    return rec_processes(name) + [f"dir {d}" for d in rec_dirs(lab, name)]


def sampled_since(lab: LabState, name: str, since_ns: int) -> bool:
    """Has every recorder sampled tcpdump's counts since ``since_ns``?"""
    dirs = [d for d in rec_dirs(lab, name) if ".cap-" in d.name]
    for d in dirs:
        try:
            text = (d / "tcpdump.err").read_text(errors="replace")
        except OSError:
            return False
        if not any(at > since_ns for at, _ in count_samples(text)):
            return False
    return bool(dirs)


def wait_until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


class DiskWatch:
    """Samples each recorder directory's bytes every 50 ms, in a thread, and keeps the maximum."""

    def __init__(self, lab: LabState, name: str) -> None:
        self.lab, self.name = lab, name
        self.max: dict[str, int] = {}  # the ring's files
        self.max_all: dict[str, int] = {}  # everything in the recorder's directory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for d in rec_dirs(self.lab, self.name):
                size = everything = 0
                try:
                    entries = list(d.iterdir())
                except OSError:  # the recorder ended meanwhile
                    continue
                for f in entries:
                    with contextlib.suppress(OSError):
                        n = f.stat().st_size
                        everything += n
                        size += n if f.name.startswith("ring.pcap") else 0
                self.max[str(d)] = max(self.max.get(str(d), 0), size)
                self.max_all[str(d)] = max(self.max_all.get(str(d), 0), everything)
            time.sleep(0.05)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def quiet_pod(lab: LabState, pod: str) -> Iterator[str]:
    """The pod's gateway pinned in its neighbour table, so the pod sends no ARP of its own: its
    point sees only what is routed to it (else an ARP refresh lands at a random moment)."""
    state = next(p for p in lab.pods if p.name.endswith(pod))
    spec = default_spec(lab.name, session_lab("r")[1])
    gateway, mac = spec.pod_gateway, spec.node(state.node).bridge_mac
    pin = ["ip", "netns", "exec", state.host_netns, "ip", "neigh"]
    subprocess.run([*pin, "replace", gateway, "lladdr", str(mac), "dev", state.iface, "nud",
                    "permanent"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"{state.node}/{state.host_iface}"
    finally:
        subprocess.run([*pin, "del", gateway, "dev", state.iface], check=False,
                       capture_output=True)  # fmt: skip


def flood(lab: LabState, count: int, pattern: str = "00") -> None:
    """Echo requests as fast as the lab answers them: client -> FIP -> pod (DNAT on CP)."""
    in_node(lab, CLIENT, "ping", "-f", "-q", "-c", str(count), "-s", "1000", "-p", pattern, FIP)


# -- the tests -------------------------------------------------------------------------------


def test_snapshot_of_a_rotating_ring_locates_a_drop(
    lab: LabState, plan: Path, tmp_path: Path
) -> None:
    ring = RingSpec(3, 1)
    bound = ring.bound_bytes(SNAPLEN)
    code, out, err = record(lab, "start", "--plan", str(plan), "--ring", "3x1M",
                            "--max-duration", "60s", "--name", "drop")  # fmt: skip
    assert code == ExitCode.OK, err
    assert out.count(": recording") == 4
    try:
        with DiskWatch(lab, "drop") as disk, quiet_pod(lab, "fip-busybox01") as pod_point:
            # ~270 bytes a record: 3 MB of ring per point hold ~11k packets; send 4x that
            flood(lab, 22000)
            flooded = time.time_ns()
            # every recorder samples tcpdump's counts after the flood (every 10 s): the
            # snapshot's counts then start there, not at the recorder's start
            assert wait_until(lambda: sampled_since(lab, "drop", flooded), 15)
            time.sleep(2)  # quiet, so the window below starts after the flood
            # the incident: the control plane drops what the FIP forwards to the pod
            rule = ["FORWARD", "-p", "icmp", "-d", POD_IP, "-j", "DROP"]
            incident_from = time.time()
            # healthy pings first: they show the path the dropped ones should have taken
            in_node(lab, CLIENT, "ping", "-c", "3", "-i", "0.1", "-p", "dead", FIP)
            in_node(lab, CP, "iptables", "-I", *rule)
            try:
                in_node_ok = subprocess.run(
                    ["ip", "netns", "exec", lab.node(CLIENT).netns, "ping", "-c", "5", "-i",
                     "0.1", "-W", "1", "-p", "dead", FIP],
                    capture_output=True, text=True, timeout=30, check=False,
                )  # fmt: skip
            finally:
                in_node(lab, CP, "iptables", "-D", *rule)
            incident_to = time.time()
            assert in_node_ok.returncode != 0  # the pings really were dropped
            code, status, err = record(lab, "status", "--name", "drop", "--json")
            snap = tmp_path / "snap"
            code_s, out_s, err_s = record(
                lab, "snapshot", "--name", "drop", "--from", f"{incident_from - 0.5:.3f}",
                "--to", f"{incident_to + 0.5:.3f}", "--out", str(snap), "--json",
            )  # fmt: skip
        # the disk bound held throughout, and the rings really rotated several times
        assert len(disk.max) == 4
        assert all(0 < used <= bound for used in disk.max.values()), (disk.max, bound)
        assert all(used <= bound + RECORDER_FILES_MAX for used in disk.max_all.values())
        assert code == ExitCode.OK, err
        doc = json.loads(status)
        assert doc["schema"] == "netdiag.record.status/1"
        cp_eth1 = next(r for r in doc["recorders"] if r["point"] == f"{CP}/eth1")
        assert cp_eth1["files"] == 3
        assert cp_eth1["bytes"] <= cp_eth1["bound_bytes"] == bound
        assert cp_eth1["captured"] * (SNAPLEN + 16) > 3 * bound  # rotated 3+ times over
        assert cp_eth1["kernel_dropped"] is not None
        assert 0 < cp_eth1["lease_left_s"] <= 60
        # the snapshot: a bundle that analyze reads, where the drop is located
        assert code_s == ExitCode.OK, err_s
        sdoc = json.loads(out_s)
        assert sdoc["schema"] == "netdiag.record.snapshot/1"
        fetched = {p["point"]: p for p in sdoc["points"]}
        # only the files overlapping the window: at most 2 of the 3 per point
        assert all(len(p["files_fetched"]) <= 2 for p in fetched.values()), fetched
        assert fetched[f"{CP}/eth1"]["packets"] > 0
        code_a, _, err_a = netdiag("analyze", str(snap), "--json", str(tmp_path / "a.json"))
        assert code_a == ExitCode.OK, err_a
        analysis = json.loads((tmp_path / "a.json").read_text())
        # every one of the five dropped pings, placed after the control plane's eth1 where the
        # pod's veth expected it. The pod's point is quiet after the healthy pings (its last
        # frame comes before the drops): only because the bundle says its recorder ran through
        # the window (until_ns) are these drops, not "the capture had ended"
        drops = [a for a in analysis["anomalies"] if a["kind"] == "dropped"]
        pod_pcap = snap / "pcaps" / f"{pod_point.replace('/', '__')}.pcap"
        pod_text = subprocess.run(["tcpdump", "-nr", str(pod_pcap)], capture_output=True,
                                  text=True, check=True).stdout  # fmt: skip
        assert "ARP" not in pod_text, pod_text
        assert pod_text.count("echo reply") == 3, pod_text
        assert [(a["after_point"], a["expected_point"]) for a in drops] == [
            (f"{CP}/eth1", pod_point)
        ] * 5, analysis["anomalies"][:6]
        manifest = json.loads((snap / "manifest.json").read_text())
        assert manifest["schema"] == "netdiag.run/1"
        assert all(n["clock"] is not None for n in manifest["nodes"].values())
        # tcpdump's counts are the window's (around it: from the sample after the flood to
        # the snapshot's), not the recorder's whole life, whose 22000+ flood pings they leave out
        window_counts = {c["point"]: c["stats"] for c in manifest["captures"]}
        assert all(st is not None for st in window_counts.values()), window_counts
        assert window_counts[f"{CP}/eth1"]["captured"] < 1000 < cp_eth1["captured"]
        until = {c["point"]: c["until_ns"] for c in manifest["captures"]}
        assert all(u is not None and u > incident_to * 1e9 - 1e9 for u in until.values()), until
    finally:
        code, out, err = record(lab, "stop", "--name", "drop")
    assert code == ExitCode.OK, err
    assert out.count("stopped and removed") == 4
    assert traces(lab, "drop") == []  # stop leaves zero processes and files, at once


def test_watch_snapshots_a_failing_tcp_probe(lab: LabState, plan: Path, tmp_path: Path) -> None:
    code, _, err = record(lab, "start", "--plan", str(plan), "--ring", "2x1M",
                          "--max-duration", "40s", "--name", "watch")  # fmt: skip
    assert code == ExitCode.OK, err
    rule = ["FORWARD", "-p", "tcp", "--dport", "80", "-d", POD_IP, "-j", "DROP"]

    def incident() -> None:
        time.sleep(2)
        in_node(lab, CP, "iptables", "-I", *rule)
        time.sleep(2.5)
        in_node(lab, CP, "iptables", "-D", *rule)

    fault = threading.Thread(target=incident)
    fault.start()
    try:
        code, out, err = record(lab, "watch", "--name", "watch", "--probe", f"tcp:{FIP}:80",
                                "--from", CLIENT, "--every", "0.5s", "--timeout", "1s",
                                "--after", "2s", "--before", "4s", "--max-snapshots", "1",
                                "--out", str(tmp_path / "incidents"), "--no-analysis")  # fmt: skip
    finally:
        fault.join()
        stop_code, _, stop_err = record(lab, "stop", "--name", "watch")
    assert code == ExitCode.OK, err
    m = re.search(r"^snapshot: (\S+) \(failure at ", out, re.M)
    assert m is not None, out
    snap = Path(m.group(1))
    # the failure is in the snapshot: a SYN to the FIP that the client never saw answered
    text = subprocess.run(["tcpdump", "-nr", str(snap / "pcaps" / f"{CLIENT}__eth0.pcap")],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    syns = set(re.findall(rf"172\.19\.0\.1\.(\d+) > {FIP}\.80: Flags \[S\]", text))
    answered = set(re.findall(rf"{FIP}\.80 > 172\.19\.0\.1\.(\d+): Flags \[S\.\]", text))
    assert syns - answered, text[-2000:]
    assert answered  # and the healthy handshakes before it
    assert stop_code == ExitCode.OK, stop_err
    assert traces(lab, "watch") == []


def test_sigkill_during_start_and_a_reboot_leave_no_orphan_after_the_lease(
    lab: LabState, plan: Path
) -> None:
    lease = 6
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from netdiag.cli import main; sys.exit(main())",
         "record", "start", "--inventory", lab.inventory_path, "--plan", str(plan),
         "--ring", "2x1M", "--max-duration", f"{lease}s", "--name", "killed"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def on_worker() -> list[Path]:
        return [d for d in rec_dirs(lab, "killed") if f"/nodes/{WORKER}/" in str(d)]

    def elsewhere() -> list[Path]:
        return [d for d in rec_dirs(lab, "killed") if f"/nodes/{WORKER}/" not in str(d)]

    # netdiag dies mid-start, as soon as recorders exist on the worker and on another node
    assert wait_until(lambda: (on_worker() and elsewhere()) or proc.poll() is not None, 30)
    assert proc.poll() is None, "netdiag finished before it could be killed mid-start"
    proc.kill()
    proc.wait()
    started = time.monotonic()
    # the worker reboots while its recorder runs: every process of it dies, its namespace is
    # deleted and made again, sshd starts; its disk (/tmp, the capture_dir) stays
    worker_files = on_worker()
    assert worker_files
    reboot_node(default_spec(lab.name, session_lab("r")[1]), WORKER)
    worker_ip = lab.node(WORKER).uplink_ip
    in_node(lab, CLIENT, "ping", "-c", "1", "-W", "5", worker_ip)  # booted again, reachable
    assert all(d.exists() for d in worker_files)  # the files survive the reboot
    # what netdiag had started elsewhere goes on recording without it...
    survivors = elsewhere()
    assert survivors, rec_dirs(lab, "killed")
    assert rec_processes("killed")
    time.sleep(max(0.0, lease - 2 - (time.monotonic() - started)))
    assert all(d.exists() for d in survivors)  # ...until its lease ends
    # a lost SSH session (netdiag killed) stops nothing: what started records until its lease,
    # and nothing of any node's recorder outlives it (the worker's died with the reboot)
    assert wait_until(lambda: not rec_processes("killed"), lease + 15) is True, rec_processes(
        "killed"
    )
    assert time.monotonic() - started < lease + 15
    # the healthy nodes removed their files at the lease's end; the rebooted node's stay (their
    # supervisor died with it) until the next netdiag command that looks at the node
    assert wait_until(lambda: not [d for d in survivors if d.exists()], 5)
    assert all(d.exists() for d in worker_files)
    code, out, err = record(lab, "list")
    assert code == ExitCode.OK, err
    assert "killed" not in out
    assert f"{WORKER}: removed the leftovers of recorder 'killed'" in err, err
    assert traces(lab, "killed") == []
