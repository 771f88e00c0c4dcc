"""The ovs-geneve lab live, end to end over SSH: OVS discovery, unnamed pod namespaces entered by
PID, a plan naming pods (not veths) captured with `netdiag capture`, and its story.

The lab's inventory lists pods only by name, node and IP, as `inventory from-kubectl` would; the
nodes cannot see the pods' namespaces by name. So every device and namespace below is found by
discovery over the nodes' sshd, exactly as on a cluster. `down` must then leave nothing behind.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import Env, main
from netdiag.cli._env import ExitCode
from netdiag.discover.ovs import parse_vsctl_find, pod_ports
from netdiag.errors import LabError
from netdiag.inventory import load_inventory
from netdiag.lab import LabState, down, up
from netdiag.lab.ovs import chassis_id, missing_tools, stray_ovs_pids
from netdiag.lab.system import list_netns
from netdiag.lab.topology import ovs_spec
from netdiag.transport import open_transport
from tests.integration.conftest import LabSandbox

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(missing_tools()),
        reason=f"Open vSwitch is not installed ({', '.join(missing_tools())}); "
        "apt-get install openvswitch-switch",
    ),
]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=Env(out, err))
    return code, out.getvalue(), err.getvalue()


def _capture_plan(state: LabState, run: Path, body: str) -> tuple[int, str, str]:
    """`netdiag capture` of a plan made of ``body`` (capture: and probes:) into ``run``."""
    plan = run.with_suffix(".yaml")
    plan.write_text(f"version: 1\nname: t\ndescription: t\n{body}linger: 1\n")
    argv = ["capture", "--inventory", state.inventory_path, "--plan", str(plan), "--out", str(run)]
    return _run(argv)


async def _on_node(state: LabState, node: str, *commands: tuple[str, ...]) -> list[str]:
    inventory = load_inventory(Path(state.inventory_path))
    async with open_transport(inventory.node(node), "asyncssh") as tr:
        results = await tr.run_batch(list(commands), timeout=20)
    assert all(r.ok for r in results), [r.stderr for r in results]
    return [r.stdout for r in results]


def test_a_node_shows_ovs_as_a_real_one_does_over_ssh(ovs_lab: LabState) -> None:
    """Plain ovs-vsctl in an SSH session reaches the node's own OVS; no pod netns has a name."""
    spec = ovs_spec(ovs_lab.name)
    find, system_id, names = asyncio.run(
        _on_node(
            ovs_lab,
            "ovs-node1",
            (
                "ovs-vsctl",
                "--format=json",
                "--columns=name,ofport,external_ids",
                "list",
                "Interface",
            ),
            ("ovs-vsctl", "get", "Open_vSwitch", ".", "external_ids:system-id"),
            ("ip", "netns", "list"),
        )
    )
    ports = {p.iface: p for p in pod_ports(parse_vsctl_find(find))}
    assert set(ports) == {"a1b2c3d4e5f6_h"}
    pod = ports["a1b2c3d4e5f6_h"]
    assert (pod.namespace, pod.pod, pod.iface_id, pod.ips) == (
        "default",
        "pod-a",
        "pod-a.default",
        ("192.168.0.6",),
    )
    assert system_id.strip().strip('"') == chassis_id(spec, "ovs-node1")
    assert names.strip() == ""


def test_discover_finds_unnamed_pods_by_pid_over_ssh(ovs_lab: LabState) -> None:
    code, stdout, err = _run(
        ["discover", "--inventory", ovs_lab.inventory_path, "192.168.0.6", "pod:default/pod-b",
         "--json"]
    )  # fmt: skip
    assert code == 0, err
    by_ip, by_name = json.loads(stdout)["targets"]
    assert (by_ip["node"], by_ip["host_iface"]) == ("ovs-node1", "a1b2c3d4e5f6_h")
    assert (by_name["node"], by_name["host_iface"]) == ("ovs-node2", "0f1e2d3c4b5a_h")
    for found, mac in ((by_ip, "00:00:00:de:cb:07"), (by_name, "00:00:00:a2:70:8d")):
        ns = found["netns"]
        assert ns["name"].startswith("/proc/")
        assert ns["name"].endswith("/ns/net")
        eth0 = next(i for i in ns["interfaces"] if i["name"] == "eth0")
        assert eth0["mac"] == mac
        assert any("entered by PID" in n for n in found["notes"])
        assert any(c.endswith("lsns -J -t net -o NS,PID,NETNSID") for c in found["commands"])
        roles = {(d["role"], d["name"]) for d in found["path"]}
        assert {("join", "ovn0"), ("br-int", "br-int"), ("uplink", "eth1")} <= roles
        uplink = next(d for d in found["path"] if d["role"] == "uplink")
        assert uplink["why"].startswith("port of OVS bridge br-phy")  # found, not the inventory


def test_discover_names_the_ovn_gateway_chassis_of_a_fip_and_of_a_pod(ovs_lab: LabState) -> None:
    """The lab's first node holds OVN's databases; pod-b's node does not reach them, so the
    gateway comes from asking the other nodes. Chassis names are the nodes' system-ids."""
    spec = ovs_spec(ovs_lab.name)
    code, stdout, err = _run(
        ["discover", "--inventory", ovs_lab.inventory_path, "172.19.0.11", "pod:default/pod-b",
         "--json"]
    )  # fmt: skip
    assert code == ExitCode.OK, err  # the FIP is no pod, but its gateway answers the question
    fip, pod = json.loads(stdout)["targets"]
    assert fip["node"] is None
    assert fip["host_iface"] is None  # not "behind" the client's eth0 that routes the /16
    expected = [
        {"name": chassis_id(spec, "ovs-node1"), "rank": 0, "priority": 2, "node": "ovs-node1",
         "active": True},
        {"name": chassis_id(spec, "ovs-node2"), "rank": 1, "priority": 1, "node": "ovs-node2",
         "active": False},
    ]  # fmt: skip
    for found in (fip, pod):
        gw = found["gateway"]
        assert (gw["router"], gw["port"]) == ("ovn-cluster", "ovn-cluster-external")
        assert gw["chassis"] == expected
    assert fip["gateway"]["nat"]["logical_ip"] == "192.168.0.6"
    assert pod["node"] == "ovs-node2"
    code, text, err = _run(["discover", "--inventory", ovs_lab.inventory_path, "172.19.0.11"])
    assert code == ExitCode.OK, err
    assert text.splitlines()[:2] == [
        "172.19.0.11: not a pod; OVN NATs it",
        "  gateway    ovn-cluster-external of router ovn-cluster on ovs-node1 (active), ovs-node2",
    ]


def test_a_plan_naming_pods_yields_the_fip_dnat_and_geneve_story(
    ovs_lab: LabState, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    code, stdout, err = _run(
        ["capture", "--inventory", ovs_lab.inventory_path,
         "--plan", str(REPO / "probes" / "ovs-geneve.yaml"), "--out", str(run)]
    )  # fmt: skip
    assert code == 0, err + stdout
    manifest: dict[str, Any] = json.loads((run / "manifest.json").read_text())
    placed = {c["point"]: c["resolved_from"] for c in manifest["captures"]}
    assert placed["ovs-node1/a1b2c3d4e5f6_h"] == "discovery"
    assert placed["ovs-node2/0f1e2d3c4b5a_h"] == "discovery"
    from_pod = next(p for p in manifest["probes"] if p["netns"])
    assert from_pod["node"] == "ovs-node1"
    assert from_pod["netns"].startswith("/proc/")
    assert all(p["exit_status"] == 0 for p in manifest["probes"]), manifest["probes"]

    doc: dict[str, Any] = json.loads((run / "analysis.json").read_text())
    nat = {(t["kind"], t["node"], t["before"], t["after"]) for t in doc["translations"]}
    assert ("dnat", "ovs-node1", "172.19.0.11", "192.168.0.6") in nat
    assert ("un-dnat", "ovs-node1", "192.168.0.6", "172.19.0.11") in nat

    def requests(dst: str) -> list[dict[str, Any]]:
        return [
            j
            for j in doc["journeys"]
            if j["summary"].startswith("icmp echo-req") and dst in j["summary"]
        ]

    fip = requests("> 172.19.0.11")
    assert len(fip) == 3
    for journey in fip:
        points = [s["point"] for s in journey["sightings"]]
        assert points == ["client/eth0", "ovs-node1/eth1", "ovs-node1/a1b2c3d4e5f6_h"]
        changes = {c["kind"] for hop in journey["transforms"] for c in hop["changes"]}
        assert {"dnat", "ttl"} <= changes
    geneve = requests("> 192.168.0.7")
    assert len(geneve) == 3
    for journey in geneve:
        points = [s["point"] for s in journey["sightings"]]
        assert points == [
            "ovs-node1/a1b2c3d4e5f6_h",
            "ovs-node1/eth1",
            "ovs-node2/eth1",
            "ovs-node2/0f1e2d3c4b5a_h",
        ]
        changes = [c for hop in journey["transforms"] for c in hop["changes"]]
        enc = [c for c in changes if c["kind"] == "encap"]
        assert len(enc) == 1
        assert (enc[0]["encap"], enc[0]["vni"]) == ("geneve", 7)
        assert (enc[0]["outer_src"], enc[0]["outer_dst"]) == ("172.19.0.6", "172.19.0.7")
        assert not any(c["kind"] in ("dnat", "snat") for c in changes)


def test_down_removes_every_trace(lab_sandbox: LabSandbox) -> None:
    state = up(spec=ovs_spec(lab_sandbox.name, lab_sandbox.mgmt_net))
    assert len(stray_ovs_pids(state.state_dir)) == 6  # 2 per node + OVN NB and SB
    report = down(lab_sandbox.name)
    assert report.namespaces == 6
    assert report.state_dir_removed
    assert lab_sandbox.leftovers() == []


def test_a_build_failing_after_the_daemons_started_leaves_nothing(
    lab_sandbox: LabSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ovs_spec(lab_sandbox.name, lab_sandbox.mgmt_net)

    def broken(spec_: object, node: object) -> None:
        assert len(stray_ovs_pids(spec.state_dir)) == 4  # both nodes' OVS daemons are running
        raise LabError("simulated failure while adding bridges")

    monkeypatch.setattr("netdiag.lab.ovs._bridges", broken)
    with pytest.raises(LabError, match="simulated"):
        up(spec=spec)
    assert lab_sandbox.leftovers() == []


def test_down_kills_daemons_whose_namespace_was_already_deleted(lab_sandbox: LabSandbox) -> None:
    """A half-removed lab: the netns names are gone, the daemons and files are not."""
    state = up(spec=ovs_spec(lab_sandbox.name, lab_sandbox.mgmt_net))
    for ns in list_netns():
        if ns.startswith(f"{lab_sandbox.name}-"):
            subprocess.run(["ip", "netns", "del", ns], check=True)
    assert len(stray_ovs_pids(state.state_dir)) == 6  # 2 per node + OVN NB and SB
    report = down(lab_sandbox.name)
    assert report.processes >= 6
    assert lab_sandbox.leftovers() == []
    assert not os.path.exists(state.state_dir)


def test_status_reports_the_ovs_lab(ovs_lab: LabState) -> None:
    code, out, err = _run(["lab", "status", "--name", ovs_lab.name])
    assert code == 0, err
    assert "ovs-node1" in out
    assert "a1b2c3d4e5f6_h" in out


def _holders_of_nameless_namespaces() -> list[int]:
    """`sleep infinity` processes whose network namespace no `ip netns` name leads to."""
    named = {os.stat(f"/run/netns/{ns}").st_ino for ns in list_netns()}
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read() != b"sleep\0infinity\0":
                    continue
            if os.stat(f"/proc/{entry}/ns/net").st_ino not in named:
                out.append(int(entry))
        except (OSError, ValueError):
            continue
    return out


def test_down_right_after_up_leaves_no_holder_in_a_nameless_namespace(
    lab_sandbox: LabSandbox,
) -> None:
    """`up` returns only once the pods' holders sit in their namespaces, so `down` finds them."""
    before = set(_holders_of_nameless_namespaces())
    for _ in range(3):
        up(spec=ovs_spec(lab_sandbox.name, lab_sandbox.mgmt_net))
        down(lab_sandbox.name)
    assert set(_holders_of_nameless_namespaces()) - before == set()
    assert lab_sandbox.leftovers() == []


def test_capture_inside_an_unnamed_pod_namespace_and_probe_from_a_pod_by_ip(
    ovs_lab: LabState, tmp_path: Path
) -> None:
    """`inside: true` and `from: {pod: IP}` for pods the inventory gives no netns: both enter
    the namespace discovery found by PID (nsenter --net=/proc/PID/ns/net)."""
    run = tmp_path / "run"
    code, stdout, err = _capture_plan(
        ovs_lab,
        run,
        "capture:\n  interfaces:\n    - {pod: default/pod-a, inside: true}\n"
        "    - {pod: default/pod-b}\n  duration: 20\n"
        "probes:\n  - ping: {from: {pod: 192.168.0.6}, target: 192.168.0.7, count: 2}\n",
    )
    assert code == 0, err + stdout
    manifest: dict[str, Any] = json.loads((run / "manifest.json").read_text())
    inside = next(c for c in manifest["captures"] if c["netns"])
    assert inside["node"] == "ovs-node1"
    assert inside["iface"] == "eth0"
    assert inside["netns"].startswith("/proc/")
    assert inside["status"] == "ok"
    (probe,) = manifest["probes"]
    assert (probe["node"], probe["netns"], probe["exit_status"]) == (
        "ovs-node1",
        inside["netns"],
        0,
    )
    doc: dict[str, Any] = json.loads((run / "analysis.json").read_text())
    requests = [j for j in doc["journeys"] if j["summary"].startswith("icmp echo-req")]
    assert len(requests) == 2
    for journey in requests:
        points = [s["point"] for s in journey["sightings"]]
        assert points == ["ovs-node1/pod-a:eth0", "ovs-node2/0f1e2d3c4b5a_h"]


def test_a_probe_from_a_pod_found_nowhere_is_reported_and_the_run_is_partial(
    ovs_lab: LabState, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    code, stdout, err = _capture_plan(
        ovs_lab,
        run,
        "capture:\n  interfaces:\n    - {node: client, devices: [eth0]}\n  duration: 10\n"
        "probes:\n  - ping: {from: {pod: default/ghost}, target: 172.19.0.11, count: 1}\n"
        "  - ping: {from: client, target: 172.19.0.11, count: 1}\n",
    )
    assert code == ExitCode.PARTIAL, err + stdout
    assert "probe(s) ping-1 did not run" in err
    manifest: dict[str, Any] = json.loads((run / "manifest.json").read_text())
    ghost, client = manifest["probes"]
    assert ghost["exit_status"] is None
    assert ghost["detail"].startswith("not run: pod default/ghost not found")
    assert client["exit_status"] == 0


def test_a_dead_vswitchd_makes_the_lab_broken_and_up_rebuilds_it(lab_sandbox: LabSandbox) -> None:
    spec = ovs_spec(lab_sandbox.name, lab_sandbox.mgmt_net)
    state = up(spec=spec)
    pidfile = Path(state.state_dir) / "nodes" / "ovs-node2" / "run" / "openvswitch"
    pid = int((pidfile / "ovs-vswitchd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):  # until the kernel has it gone (it is not our child: no reaping)
        if not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text():
            break
        time.sleep(0.01)
    code, out, _ = _run(["lab", "status", "--name", lab_sandbox.name])
    assert code != 0, out
    assert "BROKEN" in out
    node2 = next(line for line in out.splitlines() if line.startswith("ovs-node2"))
    assert node2.endswith("ovs DOWN")
    again = up(spec=spec)
    assert not again.already_running  # rebuilt, not reported as running
    code, out, _err = _run(["lab", "status", "--name", lab_sandbox.name])
    assert code == 0, out
    assert out.count("ovs ok") == 2
    down(lab_sandbox.name)
    assert lab_sandbox.leftovers() == []
