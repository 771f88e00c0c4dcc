"""`netdiag trace FROM TO` on both labs, end to end over SSH: no plan written by the test.

For each path (the FIP from the external client, the pod's egress SNAT, pod to pod across the
nodes, the router load balancer, a NodePort on one node to a pod on the other, a destination
that drops) the trace asks the nodes, makes its plan, captures, probes and analyses; the test
checks the facts it states: each translation and its node, the devices the request and the
reply went through in order, where a lost request stopped. Each trace runs once per module on
the session's lab; the facts come from its `--json` document and the run's analysis.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netdiag.cli import Env, ExitCode, main
from netdiag.lab import LabState
from netdiag.lab.ovs import missing_tools
from netdiag.plan import load_plan
from tests.support import lab_facts as facts

pytestmark = pytest.mark.integration

CLIENT, CP, WORKER = facts.CLIENT, facts.CP, facts.WORKER
CP_ETH1, CP_OVN0, CP_VETH = facts.CP_ETH1, facts.CP_OVN0, facts.CP_VETH
W_ETH1, W_OVN0, W_VETH = facts.W_ETH1, facts.W_OVN0, facts.W_VETH
CP_TUNNEL, W_TUNNEL = f"{CP}/vxlan0", f"{WORKER}/vxlan0"
LB_VETH = f"{CP}/3a5e1d7c9f02_h"
N1, N2 = facts.OVS_NODE1, facts.OVS_NODE2
N1_ETH1, N2_ETH1, N1_OVN0, N2_OVN0 = f"{N1}/eth1", f"{N2}/eth1", f"{N1}/ovn0", f"{N2}/ovn0"
POD_A, POD_B = facts.OVS.pod1_port, facts.OVS.pod2_port


@dataclass(frozen=True)
class Traced:
    code: int
    doc: dict[str, Any]  # the trace's --json document
    analysis: dict[str, Any]  # the run's analysis.json
    out: Path
    stderr: str

    @property
    def verdict(self) -> dict[str, Any]:
        found: dict[str, Any] = self.doc["verdict"]
        return found

    def translations(self) -> set[tuple[str, str, str, str]]:
        return {
            (t["kind"], t["node"], t["before"], t["after"]) for t in self.verdict["translations"]
        }

    def encap_between(self, a: str, b: str) -> list[str]:
        """The tunnel changes on the main request path between points ``a`` and ``b``."""
        path = self.verdict["path"]
        journey = next(
            j for j in self.analysis["journeys"]
            if [s["point"] for s in j["sightings"] if s.get("copy") is None] == path
        )  # fmt: skip
        return [
            f"{c['kind']} {c['encap']} vni {c['vni']}"
            for t in journey["transforms"]
            if (t["from"], t["to"]) == (a, b)
            for c in t["changes"]
            if c["kind"] in ("encap", "decap")
        ]


class TraceFailed(RuntimeError):
    """`netdiag trace` itself failed: never an expected answer of the analysis."""


@contextlib.contextmanager
def held(netns: str, rule: tuple[str, ...]) -> Iterator[None]:
    """An iptables rule inserted in ``netns`` for the duration, removed after, always."""
    base = ["ip", "netns", "exec", netns, "iptables"]
    subprocess.run([*base, "-I", *rule], check=True, capture_output=True, timeout=20)
    try:
        yield
    finally:
        subprocess.run([*base, "-D", *rule], check=True, capture_output=True, timeout=20)


def warm(lab: LabState) -> None:
    """Every namespace of the lab pings every address once: its switches (the external bridge,
    the pods' bridges and tunnels) then know every MAC, as a running cluster's do. A switch
    that does not floods a node's first frames to every port, the sender's neighbours too, and
    those copies are not what the traces here are about."""
    spaces = [n.netns for n in lab.nodes] + [p.host_netns for p in lab.pods]
    addresses = [n.uplink_ip for n in lab.nodes] + [p.ip for p in lab.pods]
    pings = [
        subprocess.Popen(
            ["ip", "netns", "exec", space, "ping", "-c", "1", "-W", "1", address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for space in spaces
        for address in addresses
    ]
    for ping in pings:
        ping.wait(timeout=20)


def run_trace(lab: LabState, out: Path, *argv: str) -> Traced:
    env = Env(io.StringIO(), io.StringIO())
    args = ["trace", "--inventory", lab.inventory_path, *argv, "--out", str(out), "--json"]
    code = main(args, env)
    stdout, stderr = env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]
    if code not in (ExitCode.OK, ExitCode.PARTIAL) or not (out / "analysis.json").is_file():
        raise TraceFailed(f"netdiag trace {' '.join(argv)} exited {code}:\n{stderr}")
    analysis = json.loads((out / "analysis.json").read_text())
    return Traced(code, json.loads(stdout), analysis, out, stderr)


def tracer(
    lab: LabState, tmp: pytest.TempPathFactory, drops: dict[str, tuple[str, tuple[str, ...]]]
) -> Callable[[str], Traced]:
    """Trace a path the first time a test asks for it; ``drops``: the rule it needs held."""
    done: dict[str, Traced] = {}
    warm(lab)

    def get(name: str, *argv: str) -> Traced:
        if name not in done:
            out = tmp.mktemp(name) / "run"
            with held(*drops[name]) if name in drops else contextlib.nullcontext():
                done[name] = run_trace(lab, out, *argv)
        return done[name]

    return get  # type: ignore[return-value]


# -- the kernel lab ---------------------------------------------------------------------------

ECHO_DROP = ("FORWARD", "-i", "ovn0", "-d", "192.168.0.7/32", "-p", "icmp", "--icmp-type",
             "echo-request", "-j", "DROP")  # fmt: skip


@pytest.fixture(scope="module")
def kernel(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Traced]:
    drops = {"drop": (lab.node(WORKER).netns, ECHO_DROP)}
    return tracer(lab, tmp_path_factory, drops)


def test_fip_from_the_external_client(kernel: Callable[..., Traced]) -> None:
    t = kernel("fip", "client", "172.19.0.11")
    assert t.code == ExitCode.OK, t.stderr
    assert t.verdict["path"] == [CLIENT, CP_ETH1, CP_VETH]
    assert t.translations() == {
        ("dnat", CP, "172.19.0.11", "192.168.0.6"),
        ("un-dnat", CP, "192.168.0.6", "172.19.0.11"),
    }
    assert t.verdict["reply_path"] == [CP_VETH, CP_ETH1, CLIENT]
    assert t.verdict["reply"]["symmetric"] is True
    assert t.verdict["requests"] == t.verdict["replies"] == 3
    assert t.verdict["probes"] == ["ping-1 from client: answered (exit 0)"]
    # the plan is in the run directory, an ordinary plan; the worker was not on the way
    plan = load_plan(t.out / "trace-plan.yaml")
    assert [p.kind for p in plan.probes] == ["ping"]
    assert {c["point"].split("/")[0] for c in t.doc["run"]["captures"]} == {"client", CP}


def test_pod_egress_is_snated_to_its_fip_on_its_node(kernel: Callable[..., Traced]) -> None:
    t = kernel("egress", "pod:default/fip-busybox01", "172.19.0.1", "--traceroute")
    assert t.verdict["path"] == [CP_VETH, CP_ETH1, CLIENT]
    assert {("snat", CP, "192.168.0.6", "172.19.0.11"), ("un-snat", CP, "172.19.0.11",
            "192.168.0.6")} == t.translations()  # fmt: skip
    assert t.verdict["reply_path"] == [CLIENT, CP_ETH1, CP_VETH]
    assert t.verdict["traceroute"] == {"hops": ["1 192.168.0.1", "2 172.19.0.1"], "reached": True}


def test_pod_to_pod_across_nodes_through_the_overlay(kernel: Callable[..., Traced]) -> None:
    t = kernel("pod-to-pod", "pod:default/fip-busybox01", "pod:default/fip-busybox02")
    assert t.verdict["path"] == [CP_VETH, CP_TUNNEL, CP_ETH1, W_ETH1, W_TUNNEL, W_VETH]
    assert t.encap_between(CP_TUNNEL, CP_ETH1) == ["encap vxlan vni 1"]
    assert t.encap_between(W_ETH1, W_TUNNEL) == ["decap vxlan vni 1"]
    assert t.verdict["translations"] == []
    assert t.verdict["reply_path"] == [W_VETH, W_TUNNEL, W_ETH1, CP_ETH1, CP_TUNNEL, CP_VETH]


def test_router_load_balancer_vip_to_its_backend(kernel: Callable[..., Traced]) -> None:
    t = kernel("lb", "client", "172.19.0.10:8080")
    assert t.verdict["path"] == [CLIENT, CP_ETH1, LB_VETH]
    assert t.translations() == {
        ("dnat", CP, "172.19.0.10:8080", "192.168.0.3:80"),
        ("un-dnat", CP, "192.168.0.3:80", "172.19.0.10:8080"),
    }
    assert t.verdict["reply"]["symmetric"] is True


def test_nodeport_on_one_node_to_a_pod_on_the_other(kernel: Callable[..., Traced]) -> None:
    t = kernel("nodeport", "client", "172.19.0.6:30080")
    assert t.verdict["path"] == facts.NODEPORT_REQUEST
    assert t.verdict["reply_path"] == facts.NODEPORT_REPLY
    kinds = {(kind, node, before.split(":")[0], after.split(":")[0])
             for kind, node, before, after in t.translations()}  # fmt: skip
    assert kinds == {
        ("dnat", CP, "172.19.0.6", "192.168.0.7"),
        ("snat", CP, "172.19.0.1", "100.64.0.2"),  # kube-proxy's masquerade, to ovn0's address
        ("un-dnat", CP, "192.168.0.7", "172.19.0.6"),
        ("un-snat", CP, "100.64.0.2", "172.19.0.1"),
    }
    assert ("dnat", CP, "172.19.0.6:30080", "192.168.0.7:80") in t.translations()
    assert t.verdict["reply"]["symmetric"] is True


def test_a_destination_that_drops_is_located(kernel: Callable[..., Traced], lab: LabState) -> None:
    t = kernel("drop", CP, "pod:default/fip-busybox02")
    assert t.verdict["path"] == [CP_OVN0, CP_ETH1, W_ETH1, W_OVN0]
    stopped = {(s["after_point"], s["expected_point"]) for s in t.verdict["stopped"]}
    assert stopped == {(W_OVN0, W_VETH)}
    assert len(t.verdict["stopped"]) == t.verdict["requests"] == 3
    assert t.verdict["replies"] == 0
    rules = subprocess.run(
        ["ip", "netns", "exec", lab.node(WORKER).netns, "iptables", "-S", "FORWARD"],
        capture_output=True, text=True, check=True, timeout=20,
    ).stdout  # fmt: skip
    assert "DROP" not in rules, "the test's rule is gone after the run"


# -- the ovs-geneve lab -----------------------------------------------------------------------

POD_DROP = ("INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP")
ovs_only = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"Open vSwitch is not installed ({', '.join(missing_tools())}); "
    "apt-get install openvswitch-switch",
)


@pytest.fixture(scope="module")
def ovs(ovs_lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Traced]:
    drops = {"drop": (ovs_lab.pod("default/pod-b").host_netns, POD_DROP)}
    return tracer(ovs_lab, tmp_path_factory, drops)


@ovs_only
def test_ovs_fip_from_the_external_client(ovs: Callable[..., Traced]) -> None:
    t = ovs("fip", "client", "172.19.0.11")
    assert t.verdict["path"] == [CLIENT, N1_ETH1, N1_OVN0, POD_A]
    assert t.translations() == {
        ("dnat", N1, "172.19.0.11", "192.168.0.6"),
        ("un-dnat", N1, "192.168.0.6", "172.19.0.11"),
    }
    assert t.verdict["reply_path"] == [POD_A, N1_OVN0, N1_ETH1, CLIENT]
    # OVN names both nodes as the FIP's gateway chassis: both captured, one used
    assert {c["point"] for c in t.doc["run"]["captures"]} >= {N2_ETH1, N2_OVN0}


@ovs_only
def test_ovs_pod_egress_is_snated_on_its_node(ovs: Callable[..., Traced]) -> None:
    t = ovs("egress", "pod:default/pod-a", "172.19.0.1")
    assert t.verdict["path"] == [POD_A, N1_OVN0, N1_ETH1, CLIENT]
    assert ("snat", N1, "192.168.0.6", "172.19.0.11") in t.translations()
    assert {node for _, node, _, _ in t.translations()} == {N1}
    assert t.verdict["reply_path"] == [CLIENT, N1_ETH1, N1_OVN0, POD_A]


@ovs_only
def test_ovs_pod_to_pod_across_nodes_through_geneve(ovs: Callable[..., Traced]) -> None:
    t = ovs("pod-to-pod", "pod:default/pod-a", "pod:default/pod-b")
    assert t.verdict["path"] == [POD_A, N1_ETH1, N2_ETH1, POD_B]
    assert t.encap_between(POD_A, N1_ETH1) == ["encap geneve vni 7"]
    assert t.encap_between(N2_ETH1, POD_B) == ["decap geneve vni 7"]
    assert t.verdict["translations"] == []
    assert t.verdict["reply_path"] == [POD_B, N2_ETH1, N1_ETH1, POD_A]


@ovs_only
def test_ovs_router_load_balancer_vip(ovs: Callable[..., Traced]) -> None:
    t = ovs("lb", "client", "172.19.0.10:8080")
    assert t.verdict["path"] == [CLIENT, N1_ETH1, N1_OVN0, POD_A]
    assert t.translations() == {
        ("dnat", N1, "172.19.0.10:8080", "192.168.0.6:80"),
        ("un-dnat", N1, "192.168.0.6:80", "172.19.0.10:8080"),
    }
    assert t.verdict["reply"]["symmetric"] is True


@ovs_only
def test_ovs_nodeport_reply_returns_by_the_other_node(ovs: Callable[..., Traced]) -> None:
    t = ovs("nodeport", "client", "172.19.0.6:30081")
    assert t.verdict["path"] == [CLIENT, N1_ETH1, N1_OVN0, N1_ETH1, N2_ETH1, POD_B]
    assert t.translations() == {("dnat", N1, "172.19.0.6:30081", "192.168.0.7:80")}
    assert {(a["point"], a["expected_point"]) for a in t.verdict["asymmetric"]} == {
        (N2_ETH1, N1_ETH1)
    }
    assert t.verdict["reply"]["missing_reverse_nat"] == ["un-dnat"]
    assert t.verdict["probes"] == ["tcp-1 from client: timed out (exit 124)"], "the client drops it"


@ovs_only
def test_ovs_a_destination_that_drops_got_the_requests(ovs: Callable[..., Traced]) -> None:
    t = ovs("drop", "pod:default/pod-a", "pod:default/pod-b")
    assert t.verdict["path"] == [POD_A, N1_ETH1, N2_ETH1, POD_B]
    assert t.verdict["replies"] == 0
    assert t.verdict["last_seen"] == {POD_B: 3}, "every request reached pod-b and died there"
