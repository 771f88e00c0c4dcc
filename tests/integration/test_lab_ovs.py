"""The ovs-geneve lab live: OVS (userspace datapath) discovery data and Geneve decapsulation.

Builds the topology, reads the live OVS databases with the parsers `netdiag discover` uses, pings
pod to pod across nodes while tcpdump runs on both pods' eth0 and on node 1's underlay, and
checks that `netdiag analyze` turns every echo request into one journey pod-a -> underlay
(Geneve, VNI, outer endpoints) -> pod-b. Then `down` must leave nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import Env, main
from netdiag.discover.ovs import parse_vsctl_find, parse_vsctl_show, pod_ports
from netdiag.errors import LabError
from netdiag.lab.lifecycle import down, up_ovs
from netdiag.lab.ovs import OvsLab, missing_tools, stray_ovs_pids
from netdiag.lab.system import list_netns
from netdiag.lab.topology import STATE_ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the OVS lab needs root (namespaces)"),
    pytest.mark.skipif(
        bool(missing_tools()),
        reason=f"Open vSwitch is not installed ({', '.join(missing_tools())}); "
        "apt-get install openvswitch-switch",
    ),
]

NAME = "ndovst"
PINGS = 4


@pytest.fixture(scope="module")
def ovs_lab() -> Iterator[OvsLab]:
    lab, seconds = up_ovs(NAME)
    print(f"ovs lab built in {seconds:.2f} s")
    try:
        yield lab
    finally:
        t0 = time.monotonic()
        down(NAME)
        print(f"ovs lab removed in {time.monotonic() - t0:.2f} s")


def _in(lab: OvsLab, netns: str, *argv: str) -> str:
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_ovs_discovery_reads_the_live_databases(ovs_lab: OvsLab) -> None:
    for node in ovs_lab.nodes:
        ns = ovs_lab.node_netns(node.name)
        rows = parse_vsctl_find(
            _in(ovs_lab, ns, *ovs_lab.vsctl(node.name, "--format=json", "list", "Interface"))
        )
        ports = {p.iface: p for p in pod_ports(rows)}
        mine = [p for p in ovs_lab.pods if p.node == node.name]
        assert set(ports) == {p.host_iface for p in mine}
        for pod in mine:
            found = ports[pod.host_iface]
            assert (found.namespace, found.pod, found.iface_id) == (
                pod.namespace,
                pod.pod,
                pod.iface_id,
            )
            assert found.ofport is not None
            assert found.ips == (pod.ip,)
        bridges = {
            b.name: b for b in parse_vsctl_show(_in(ovs_lab, ns, *ovs_lab.vsctl(node.name, "show")))
        }
        assert {"br-int", "br-phy"} <= set(bridges)
        tunnel = ovs_lab.tunnel_port(node.name)
        peer = next(n for n in ovs_lab.nodes if n.name != node.name)
        text = repr(bridges["br-int"])
        assert tunnel in text
        assert "geneve" in text
        assert peer.underlay_ip in text


def _tcpdump(netns: str, iface: str, out: Path, *bpf: str) -> subprocess.Popen[str]:
    argv = [
        "ip",
        "netns",
        "exec",
        netns,
        "tcpdump",
        "--immediate-mode",
        "-U",
        "-n",
        "-i",
        iface,
        "-w",
        str(out),
        *bpf,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "listening on" in line, line
    return proc


def _capture(lab: OvsLab, workdir: Path) -> dict[str, Path]:
    a, b = lab.pods
    node1 = lab.nodes[0].name
    files = {
        f"{a.pod}/eth0": (lab.pod_netns(a), "eth0", workdir / "pod-a.pcap", ("icmp",)),
        f"{node1}/eth1": (lab.node_netns(node1), "eth1", workdir / "underlay.pcap", ("udp",)),
        f"{b.pod}/eth0": (lab.pod_netns(b), "eth0", workdir / "pod-b.pcap", ("icmp",)),
    }
    procs = [_tcpdump(ns, iface, path, *bpf) for ns, iface, path, bpf in files.values()]
    try:
        out = _in(lab, lab.pod_netns(a), "ping", "-c", str(PINGS), "-i", "0.2", "-W", "2", b.ip)
        assert f"{PINGS} received" in out, out
        time.sleep(0.3)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.communicate(timeout=10)
    return {point: spec[2] for point, spec in files.items()}


def test_geneve_pings_become_journeys(ovs_lab: OvsLab, tmp_path: Path) -> None:
    files = _capture(ovs_lab, tmp_path)
    under = subprocess.run(
        ["tcpdump", "-n", "-r", str(files[f"{ovs_lab.nodes[0].name}/eth1"]), "udp port 6081"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert under.count("Geneve") >= 2 * PINGS, under

    out = tmp_path / "analysis.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    specs = [f"{point}={path}" for point, path in files.items()]
    assert main(["analyze", *specs, "--json", str(out)], env=Env(stdout, stderr)) == 0, stderr
    doc: dict[str, Any] = json.loads(out.read_text())

    a, b = ovs_lab.pods
    n1, n2 = ovs_lab.nodes
    underlay = f"{n1.name}/eth1"
    requests = [j for j in doc["journeys"] if j["summary"].startswith("icmp echo-req")]
    assert len(requests) == PINGS, [j["summary"] for j in doc["journeys"]]
    for journey in requests:
        assert [s["point"] for s in journey["sightings"]] == [
            f"{a.pod}/eth0",
            underlay,
            f"{b.pod}/eth0",
        ]
        changes = [c for hop in journey["transforms"] for c in hop["changes"]]
        for hop in journey["transforms"]:  # no warm-up: the tunnel neighbour is seeded by `up`
            assert 0 <= hop["latency_ns"] < 50_000_000, hop
        enc = [c for c in changes if c["kind"] == "encap"]
        dec = [c for c in changes if c["kind"] == "decap"]
        assert len(enc) == 1, changes
        assert len(dec) == 1, changes
        for c in (enc[0], dec[0]):
            assert c["encap"] == "geneve"
            assert c["vni"] == ovs_lab.vni
            assert (c["outer_src"], c["outer_dst"]) == (n1.underlay_ip, n2.underlay_ip)
    replies = [j for j in doc["journeys"] if j["summary"].startswith("icmp echo-rep")]
    assert len(replies) == PINGS
    assert doc["flows"]
    assert all(flow["symmetric"] for flow in doc["flows"])


def test_down_removes_every_trace() -> None:
    """Build a second time and tear down in the middle of nothing: no netns, daemon or file."""
    name = "ndovsd"
    lab, seconds = up_ovs(name)
    assert seconds < 10
    pids = stray_ovs_pids(lab.state_dir)
    assert len(pids) == 4
    report = down(name)
    assert report.namespaces == 4
    assert report.state_dir_removed
    _assert_gone(name, lab.state_dir)


def _assert_gone(name: str, state_dir: str) -> None:
    assert not [ns for ns in list_netns() if ns.startswith(f"{name}-")]
    assert not stray_ovs_pids(state_dir)
    assert not os.path.exists(state_dir)


def test_a_build_failing_after_the_daemons_started_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "ndovsf"

    def broken(lab: OvsLab, node: object) -> None:
        assert len(stray_ovs_pids(lab.state_dir)) == 4  # both nodes' daemons are running
        raise LabError("simulated failure while adding bridges")

    monkeypatch.setattr("netdiag.lab.ovs._bridges", broken)
    with pytest.raises(LabError, match="simulated"):
        up_ovs(name)
    _assert_gone(name, f"{STATE_ROOT}/{name}")


def test_down_kills_daemons_whose_namespace_was_already_deleted() -> None:
    """A half-removed lab: the netns names are gone, the daemons and files are not."""
    name = "ndovsn"
    lab, _ = up_ovs(name)
    for ns in lab.netns():
        subprocess.run(["ip", "netns", "del", ns], check=True)
    assert len(stray_ovs_pids(lab.state_dir)) == 4
    report = down(name)
    assert report.processes == 4
    _assert_gone(name, lab.state_dir)


def test_status_reports_the_ovs_lab(ovs_lab: OvsLab) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["lab", "status", "--name", ovs_lab.name], env=Env(out, err)) == 0, err.getvalue()
    assert "(ovs-geneve): running; 4 OVS daemons" in out.getvalue()
