"""The trace planner on both labs' nodes as they answered over SSH (recorded): which nodes, which
devices on each, which probe, and a plan file that `netdiag capture --plan` takes as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdiag.errors import InputError
from netdiag.plan import CapturePoint, Probe, parse_plan, resolve
from netdiag.trace.model import TracePlan, TraceRequest
from tests.unit.trace.replay import inventory, survey_for, trace

CP, WORKER = "kube-ovn-control-plane", "kube-ovn-worker"
POD1, POD2 = "default/fip-busybox01", "default/fip-busybox02"
POD_A, POD_B = "default/pod-a (a1b2c3d4e5f6_h)", "default/pod-b (0f1e2d3c4b5a_h)"


def devices(plan: TracePlan) -> dict[str, list[tuple[str, str]]]:
    """Per node, in path order: (role, device as found) and ("pod", pod name (host device))."""
    out = {}
    for stop in plan.stops:
        found = list(zip(stop.roles, stop.devices, strict=True))
        found += [("pod", f"{p} ({d})") for p, d in zip(stop.pods, stop.pod_devices, strict=True)]
        found += [("pod device", d) for d in stop.ports]
        out[stop.node] = found
    return out


def probes(plan: TracePlan) -> list[tuple[str, str, str, int | None, int | None]]:
    """(kind, from, target, port, pings) of each probe."""
    return [
        (p.kind, p.source, p.target, p.port, p.count if p.kind == "ping" else None)
        for p in plan.plan.probes
    ]


def test_fip_from_the_client_captures_the_client_and_the_node_holding_the_fip() -> None:
    plan = trace("kernel", "client", "172.19.0.11")
    assert devices(plan) == {
        "client": [("uplink", "eth0")],
        CP: [("uplink", "eth1"), ("join", "ovn0"), ("pod", f"{POD1} (dd2b931fc304_h)")],
    }  # one cluster node: no tunnel; the worker is not on the way
    assert probes(plan) == [("ping", "client", "172.19.0.11", None, 3)]
    assert plan.dest.what.startswith("172.19.0.11: held by node kube-ovn-control-plane; DNATed on")
    (cp,) = (s for s in plan.stops if s.node == CP)
    assert any(
        "-d 172.19.0.11/32 -i eth1 -j DNAT --to-destination 192.168.0.6" in r for r in cp.reasons
    )


def test_nodeport_captures_the_node_addressed_and_the_backends_node_with_their_tunnels() -> None:
    plan = trace("kernel", "client", "172.19.0.6:30080")
    assert devices(plan) == {
        "client": [("uplink", "eth0")],
        CP: [("uplink", "eth1"), ("join", "ovn0"), ("tunnel", "vxlan0")],
        WORKER: [
            ("uplink", "eth1"), ("join", "ovn0"), ("tunnel", "vxlan0"),
            ("pod", f"{POD2} (6f1e0c3a9b57_h)"),
        ],
    }  # fmt: skip
    assert probes(plan) == [("tcp", "client", "172.19.0.6", 30080, None)]  # one connect
    assert plan.dest_points == {f"{WORKER}/6f1e0c3a9b57_h"}, "TO: where the NodePort leads"


def test_a_clusterip_is_followed_to_its_backend_through_the_senders_nat_table() -> None:
    plan = trace("kernel", f"pod:{POD1}", "10.96.0.10:80")
    assert devices(plan) == {
        CP: [("uplink", "eth1"), ("join", "ovn0"), ("pod", f"{POD1} (dd2b931fc304_h)")],
    }  # the pod calls itself through the service: one node
    assert probes(plan)[0][:4] == ("tcp", f"pod:{POD1}", "10.96.0.10", 80)
    assert "DNATed on kube-ovn-control-plane to 192.168.0.6:80" in plan.dest.what


def test_a_load_balancer_vip_leads_to_its_backend_pod() -> None:
    plan = trace("kernel", "client", "172.19.0.10:8080")
    assert devices(plan)[CP] == [
        ("uplink", "eth1"), ("join", "ovn0"), ("pod", "default/lb-backend (3a5e1d7c9f02_h)"),
    ]  # fmt: skip
    ping = trace("kernel", "client", "172.19.0.10", proto="icmp")
    assert list(devices(ping)) == ["client", CP], "a ping is not load-balanced: it stays on CP"
    assert ping.notes == (
        "172.19.0.10 is DNATed for tcp port 8080 (on kube-ovn-control-plane), not for what this "
        "trace sends (icmp); give TO as IP:PORT (and --proto) to follow it",
    )


def test_a_dnat_is_followed_only_for_packets_that_can_meet_it() -> None:
    """The lab's rules name their input device: the ClusterIP's is the pods' bridge, the FIP's
    the uplink. A client outside the cluster never enters by the bridge; a pod never by the
    uplink (its own FIP, asked from inside, is the node's own address)."""
    client = trace("kernel", "client", "10.96.0.10:80")
    assert list(devices(client)) == ["client"]
    assert client.notes[0] == (
        "kube-ovn-control-plane DNATs 10.96.0.10:80 to 192.168.0.6:80 only for packets that "
        "enter by br-pods, which FROM's do not (-A PREROUTING -d 10.96.0.10/32 -i br-pods -p "
        "tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.0.6:80)"
    )
    own_fip = trace("kernel", f"pod:{POD1}", "172.19.0.11")
    assert own_fip.dest.what.startswith("172.19.0.11: held by node kube-ovn-control-plane; the")
    assert "only for packets that enter by eth1" in own_fip.notes[0]


def test_pod_egress_to_the_client_and_pod_to_pod_across_nodes() -> None:
    egress = trace("kernel", f"pod:{POD1}", "172.19.0.1")
    assert devices(egress) == {
        CP: [("uplink", "eth1"), ("join", "ovn0"), ("pod", f"{POD1} (dd2b931fc304_h)")],
        "client": [("uplink", "eth0")],
    }
    assert egress.dest.external
    assert egress.dest_points == set(), "the client is no pod"
    across = trace("kernel", f"pod:{POD1}", f"pod:{POD2}")
    assert [(n, [r for r, _ in d]) for n, d in devices(across).items()] == [
        (CP, ["uplink", "join", "tunnel", "pod"]),
        (WORKER, ["uplink", "join", "tunnel", "pod"]),
    ]
    assert probes(across) == [("ping", f"pod:{POD1}", "192.168.0.7", None, 3)]


def test_an_address_nobody_holds_is_traced_on_the_senders_side_only() -> None:
    plan = trace("kernel", f"pod:{POD1}", "172.19.0.99")
    assert list(devices(plan)) == [CP]
    assert any("outside the cluster?" in n for n in plan.notes)
    assert plan.dest.external


def test_a_node_that_cannot_be_asked_is_planned_from_the_inventory() -> None:
    found = survey_for("kernel", TraceRequest("client", "172.19.0.6:30080"), down=(WORKER,))
    assert found.nodes[WORKER].error == f"{WORKER}: connection refused"
    plan = trace("kernel", "client", "172.19.0.6:30080", down=(WORKER,))
    assert devices(plan)[WORKER] == [
        ("uplink", "eth1"), ("join", "ovn0"), ("tunnel", "vxlan0"),
        ("pod", f"{POD2} (6f1e0c3a9b57_h)"),
    ]  # fmt: skip


def test_ovs_lab_fip_and_nodeport_and_pods_placed_by_discovery() -> None:
    fip = trace("ovs-geneve", "client", "172.19.0.11")
    # the inventory lists pod-a without its device: discovery found it (nsenter by PID)
    assert devices(fip) == {
        "client": [("uplink", "eth0")],
        "ovs-node1": [
            ("uplink", "eth1"),
            ("join", "ovn0"),
            ("pod", "default/pod-a (a1b2c3d4e5f6_h)"),
        ],
        "ovs-node2": [("uplink", "eth1"), ("join", "ovn0")],  # the FIP's standby gateway chassis
    }
    assert "OVN: 172.19.0.11 is the external IP of a dnat_and_snat on router ovn-cluster" in (
        fip.dest.what
    )
    nodeport = trace("ovs-geneve", "client", "172.19.0.6:30081")
    assert devices(nodeport) == {
        "client": [("uplink", "eth0")],
        "ovs-node1": [("uplink", "eth1"), ("join", "ovn0")],  # no tunnel device: userspace
        "ovs-node2": [
            ("uplink", "eth1"),
            ("join", "ovn0"),
            ("pod", "default/pod-b (0f1e2d3c4b5a_h)"),
        ],
    }


def test_ovs_lab_egress_goes_through_every_ovn_gateway_chassis() -> None:
    plan = trace("ovs-geneve", "pod:default/pod-a", "172.19.0.1")
    assert list(devices(plan)) == ["ovs-node1", "ovs-node2", "client"], "FROM, gateway, TO"
    (node2,) = (s for s in plan.stops if s.node == "ovs-node2")
    assert node2.reasons == (
        "OVN gateway chassis (rank 1) of router ovn-cluster for 172.19.0.1",
        "OVN gateway chassis (rank 1) of router ovn-cluster for 192.168.0.6",
    )
    # pod to pod never crosses the gateway
    assert list(devices(trace("ovs-geneve", "pod:default/pod-a", "pod:default/pod-b"))) == [
        "ovs-node1", "ovs-node2",
    ]  # fmt: skip


def test_the_plan_file_is_an_ordinary_plan_that_resolves_on_the_inventory() -> None:
    plan = trace("kernel", "client", "172.19.0.6:30080", traceroute=True, count=2)
    again = parse_plan(plan.text, Path("copy.yaml"))
    assert (again.capture, again.probes, again.linger) == (
        plan.plan.capture, plan.plan.probes, plan.plan.linger,
    )  # fmt: skip
    assert plan.text.startswith("# Made by `netdiag trace client 172.19.0.6:30080`")
    assert (
        "#   netdiag capture --inventory " + str(inventory("kernel").path)
        + " --plan /runs/r1/trace-plan.yaml"
    ) in plan.text  # fmt: skip
    resolved = resolve(plan.plan, inventory("kernel"))
    assert CapturePoint(WORKER, "6f1e0c3a9b57_h", None, POD2) in resolved.points
    assert CapturePoint(CP, "", role="tunnel", via="discovery") in resolved.points
    assert [p.name for p in plan.plan.probes] == ["tcp-1", "tcp-2", "traceroute-3"]
    (tcp, _, traceroute) = plan.plan.probes
    assert tcp == Probe("tcp", "tcp-1", "client", "172.19.0.6", port=30080, timeout=3.0)
    assert (traceroute.kind, traceroute.target) == ("traceroute", "172.19.0.6")


@pytest.mark.parametrize(
    ("source", "dest", "options", "message"),
    [
        ("172.19.0.99", "client", {}, "FROM '172.19.0.99': 172.19.0.99 is not somewhere a probe"),
        ("client:80", "172.19.0.11", {}, "FROM 'client:80': a port belongs to TO"),
        ("client", "172.19.0.11:80", {"port": 81}, "TO '172.19.0.11:80' and --port 81 disagree"),
        ("client", "172.19.0.11:80", {"proto": "icmp"}, "ping has no ports"),
        ("client", "172.19.0.11", {"proto": "udp"}, "--proto udp needs a port"),
        ("client", "172.19.0.1", {}, "are the same address 172.19.0.1"),
        ("client", "pod:default/nope", {}, "pod 'default/nope' is not in"),
        ("client", "172.19.0.11:99999", {}, "port '99999' is not a number 1-65535"),
        ("client", "no-such-node", {}, "neither pod:NAMESPACE/NAME, an IP address"),
        ("client", "172.19.0.11", {"count": 101}, "--count 101: give 1 to 100"),
    ],
)
def test_what_cannot_be_traced_is_said_plainly(
    source: str, dest: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError) as info:
        trace("kernel", source, dest, **options)
    assert message in str(info.value)
