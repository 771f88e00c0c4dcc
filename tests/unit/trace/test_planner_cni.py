"""The trace planner on the recorded discovery output of each CNI (tests/unit/discover/fixtures):
the devices it chooses per node.

One node of each is as the seed's author recorded it (routes, ``ip a``, NAT table, OVN's
databases), parsed by discovery's own parsers; the other node of each trace was not recorded,
so it stands for a node netdiag could not ask: its devices come from the inventory.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from netdiag.discover.cni import calico_host_iface
from netdiag.discover.iproute import (
    parse_ip_addr_text,
    parse_ip_route_text,
    parse_route_n,
)
from netdiag.discover.model import Link, Route
from netdiag.discover.ovn.gateway import gateway_for
from netdiag.discover.ovn.parse import parse_nbctl_show
from netdiag.discover.roles import path_devices
from netdiag.inventory import Inventory, load_inventory, parse_inventory
from netdiag.trace.model import NodeFacts, PlacedPod, Survey, TracePlan, TraceRequest
from netdiag.trace.planner import plan_trace
from netdiag.trace.survey import facts_from
from tests.unit.discover.discover_fixtures import fixture

REPO = Path(__file__).resolve().parents[3]
PLAN = Path("trace-plan.yaml")


def route_links(routes: list[Route], kinds: dict[str, str]) -> list[Link]:
    """The devices a recorded route table names (the author did not record ``ip a``)."""
    names = dict.fromkeys(r.dev for r in routes if r.dev)
    return [Link(i, name, kind=kinds.get(name)) for i, name in enumerate(names, 2)]


def not_asked(name: str) -> NodeFacts:
    return NodeFacts(name, error=f"{name}: connection refused")


def chosen(plan: TracePlan) -> dict[str, list[str]]:
    """Per node: role=device for each role, pod NAME and pod-device DEV for each pod."""
    out = {}
    for s in plan.stops:
        found = [f"{r}={d}" for r, d in zip(s.roles, s.devices, strict=True)]
        out[s.node] = found + [f"pod {p}" for p in s.pods] + [f"pod-device {d}" for d in s.ports]
    return out


def test_calico_ipip_pod_to_pod_across_nodes() -> None:
    """Seed 004: calico in IPIP mode, node 1's routing table (pods behind cali*, tunl0)."""
    inventory = load_inventory(REPO / "inventory" / "examples" / "calico.yaml")
    routes = parse_ip_route_text(fixture("seed004_calico_node_ip_route.txt"))
    links = route_links(routes, {"tunl0": "ipip"})
    pod = PlacedPod("172.25.0.129", calico_host_iface(routes, "172.25.0.129"))
    node_a = facts_from("k8s-node-a", links, path_devices(links, routes), pods=[pod])
    survey = Survey({"k8s-node-a": node_a, "k8s-node-b": not_asked("k8s-node-b")})
    plan = plan_trace(
        inventory, survey, TraceRequest("pod:default/nginx-7c5", "pod:default/client-5f9"), PLAN
    )
    assert chosen(plan) == {
        "k8s-node-a": ["uplink=eth0", "tunnel=tunl0", "pod default/nginx-7c5"],
        "k8s-node-b": ["uplink=eth0", "tunnel=tunl0", "pod default/client-5f9"],
    }
    # a pod the inventory does not list, found behind its cali* device by the /32 route
    unlisted = plan_trace(
        inventory, survey, TraceRequest("172.25.0.129", "pod:default/client-5f9"), PLAN
    )
    assert chosen(unlisted)["k8s-node-a"] == [
        "uplink=eth0", "tunnel=tunl0", "pod-device calib17705e4170",
    ]  # fmt: skip
    assert unlisted.plan.probes[0].source == "pod:172.25.0.129"


FLANNEL = textwrap.dedent(
    """\
    version: 1
    nodes:
      - {name: flannel-a, host: 10.100.0.155}
      - {name: flannel-b, host: 10.100.0.159, devices: {uplink: bond1, tunnel: flannel.ipip}}
    pods:
      - {name: default/web, node: flannel-a, ips: [192.168.2.175]}
      - {name: default/db, node: flannel-b, ips: [192.168.0.10]}
    """
)


def test_flannel_ipip_pod_to_pod_across_nodes() -> None:
    """Seed 004: flannel's IPIP backend, node 10.100.0.155's `route -n` (bond1, flannel.ipip)."""
    inventory = parse_inventory(FLANNEL, Path("flannel.yaml"))
    routes = parse_route_n(fixture("seed004_flannel_route_n.txt"))
    links = route_links(routes, {"flannel.ipip": "ipip"})
    node_a = facts_from("flannel-a", links, path_devices(links, routes))
    survey = Survey({"flannel-a": node_a, "flannel-b": not_asked("flannel-b")})
    plan = plan_trace(inventory, survey, TraceRequest("pod:default/web", "pod:default/db"), PLAN)
    assert chosen(plan) == {
        "flannel-a": ["uplink=bond1", "tunnel=flannel.ipip", "pod default/web"],
        "flannel-b": ["uplink=bond1", "tunnel=flannel.ipip", "pod default/db"],
    }


def test_openshift_sdn_service_is_followed_to_the_backends_node() -> None:
    """Seed 003: a node's `ip a` and `ip route` (eth0, vxlan_sys_4789, tun0) and kube-proxy's
    rules for the service 172.30.229.30:9200; its endpoint runs on the other node."""
    inventory = load_inventory(REPO / "inventory" / "examples" / "openshift-sdn.yaml")
    links = parse_ip_addr_text(fixture("seed003_node_ip_a.txt"))
    routes = parse_ip_route_text(fixture("seed003_node_ip_route.txt"))
    worker_a = facts_from(
        "worker-a", links, path_devices(links, routes), fixture("seed003_iptables_nat.txt")
    )
    survey = Survey({"worker-a": worker_a, "worker-b": not_asked("worker-b")})
    plan = plan_trace(inventory, survey, TraceRequest("worker-a", "172.30.229.30:9200"), PLAN)
    assert chosen(plan) == {
        "worker-a": ["uplink=eth0", "tunnel=vxlan_sys_4789", "tun0=tun0"],
        # not asked: the inventory's devices (its tun0 is listed as "gateway", not a role)
        "worker-b": ["uplink=eth0", "tunnel=vxlan_sys_4789", "pod logging/elasticsearch-0"],
    }
    assert "DNATed on worker-a to 10.131.2.45:9200 (pod logging/elasticsearch-0 on worker-b)" in (
        plan.dest.what
    )
    (probe,) = plan.plan.probes
    assert (probe.kind, probe.source, probe.target, probe.port) == (
        "tcp", "worker-a", "172.30.229.30", 9200,
    )  # fmt: skip


OVN = textwrap.dedent(
    """\
    version: 1
    nodes:
      - {name: client, host: 10.0.0.5, labels: {role: external}, devices: {uplink: eth0}}
      - name: kube-ovn-control-plane
        host: 10.0.0.11
        devices: {uplink: eth1, join: ovn0, tunnel: genev_sys_6081}
      - name: kube-ovn-worker
        host: 10.0.0.12
        devices: {uplink: eth1, join: ovn0, tunnel: genev_sys_6081}
    pods:
      - {name: default/fip-busybox01, node: kube-ovn-control-plane, ips: [192.168.0.4]}
    """
)
SEED_GW = ("2922af73-b67b-49ab-9a70-018c40af25a7", "2e3175b0-2129-4504-a333-0c4ac1f680d7")


def ovn_survey(inventory: Inventory) -> Survey:
    """Seed 001's centralized gateway (`ovn-nbctl show`): its chassis as the two nodes, the
    worker of higher priority; neither node's host devices were recorded."""
    topo = parse_nbctl_show(fixture("seed001_nbctl_show_central.txt"))
    ids = {SEED_GW[0]: "kube-ovn-control-plane", SEED_GW[1]: "kube-ovn-worker"}
    prio = {"vpc-75989-external": ((SEED_GW[1], 2), (SEED_GW[0], 1))}
    gateways = {}
    for ip in ("172.19.0.11", "192.168.0.4"):
        gw = gateway_for(ip, topo, ids, priorities=prio)
        assert gw is not None
        gateways[ip] = gw
    nodes = {n.name: not_asked(n.name) for n in inventory.nodes}
    return Survey(nodes, gateways)


def test_ovn_fip_goes_through_the_gateway_chassis_to_the_pod_behind_it() -> None:
    inventory = parse_inventory(OVN, Path("ovn.yaml"))
    plan = plan_trace(inventory, ovn_survey(inventory), TraceRequest("client", "172.19.0.11"), PLAN)
    tunnels = ["uplink=eth1", "join=ovn0", "tunnel=genev_sys_6081"]
    assert chosen(plan) == {
        "client": ["uplink=eth0"],
        "kube-ovn-worker": tunnels,  # the active chassis: where the FIP is DNATed
        "kube-ovn-control-plane": [*tunnels, "pod default/fip-busybox01"],
    }
    (worker,) = (s for s in plan.stops if s.node == "kube-ovn-worker")
    assert worker.reasons == ("OVN gateway chassis (active) of router vpc-75989 for 172.19.0.11",)
    # and the pod's own traffic out of the cluster takes the same gateway
    out = plan_trace(
        inventory, ovn_survey(inventory), TraceRequest("pod:default/fip-busybox01", "client"), PLAN
    )
    assert list(chosen(out)) == ["kube-ovn-control-plane", "kube-ovn-worker", "client"]
    assert out.target == "10.0.0.5"
    assert any("10.0.0.5 is client's host in the inventory (the node was not asked)" in n
               for n in out.notes)  # fmt: skip
