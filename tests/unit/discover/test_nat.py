"""What a node DNATs, from ``iptables-save -t nat``: the lab's recorded rules and kube-proxy's."""

from __future__ import annotations

from netdiag.discover.nat import matching, parse_iptables_nat
from tests.unit.discover.discover_fixtures import fixture

LAB_CP = parse_iptables_nat(fixture("lab_cp_iptables_nat.txt"))
CP_ADDRESSES = ("172.19.0.6", "172.19.0.11", "172.19.0.10", "100.64.0.2", "192.168.0.1")


def targets(
    ip: str, port: int | None, proto: str, local: tuple[str, ...] = CP_ADDRESSES
) -> set[tuple[str, str | None]]:
    return {(r.to, r.in_iface) for r in matching(LAB_CP, ip, port, proto, local)}


def test_lab_fip_takes_every_protocol_and_port() -> None:
    assert targets("172.19.0.11", None, "icmp") == {("192.168.0.6", "eth1")}
    assert targets("172.19.0.11", 22, "tcp") == {("192.168.0.6", "eth1")}


def test_lab_services_are_reached_only_with_their_port_and_protocol() -> None:
    assert targets("172.19.0.10", 8080, "tcp") == {("192.168.0.3:80", "eth1")}
    assert targets("172.19.0.6", 30080, "tcp") == {("192.168.0.7:80", "eth1")}
    assert targets("172.19.0.6", 30081, "tcp") == {("192.168.0.7:80", "eth1")}
    assert targets("10.96.0.10", 80, "tcp") == {("192.168.0.6:80", "br-pods")}
    # a ping to a NodePort's or load balancer's address reaches the node itself
    assert targets("172.19.0.10", None, "icmp") == set()
    assert targets("172.19.0.6", 30080, "udp") == set()
    assert targets("10.96.0.10", 81, "tcp") == set()


def test_the_worker_dnats_nothing() -> None:
    assert parse_iptables_nat(fixture("lab_worker_iptables_nat.txt")) == ()


def test_ovs_lab_rules_enter_on_the_ovs_bridge() -> None:
    rules = parse_iptables_nat(fixture("ovs_lab_iptables_nat.txt"))
    found = {(r.to, r.in_iface) for r in matching(rules, "172.19.0.11", None, "icmp")}
    assert found == {("192.168.0.6", "br-phy")}
    (nodeport,) = matching(rules, "172.19.0.6", 30081, "tcp")
    assert (nodeport.to_ip, nodeport.to_port, nodeport.entry) == ("192.168.0.7", 80, "PREROUTING")
    assert "--dport 30081" in nodeport.rule


def test_kube_proxy_chains_are_followed_to_the_endpoint() -> None:
    """OpenShift SDN's kube-proxy (seed 003): KUBE-SERVICES > KUBE-SVC > KUBE-SEP > DNAT."""
    rules = parse_iptables_nat(fixture("seed003_iptables_nat.txt"))
    entries = {r.entry for r in rules}
    assert entries == {"PREROUTING", "OUTPUT"}, "from pods and from the node itself"
    (dnat,) = {r.to for r in matching(rules, "172.30.229.30", 9200, "tcp")}
    assert dnat == "10.131.2.45:9200"
    assert matching(rules, "172.30.229.30", 9300, "tcp") == []
    assert matching(rules, "172.30.229.31", 9200, "tcp") == []


def test_a_damaged_paste_yields_no_made_up_backend() -> None:
    """The seed's rules as pasted: unbalanced quotes, the DNAT address cut to '2.45:9200'."""
    assert parse_iptables_nat(fixture("seed003_iptables_nat_pasted.txt")) == ()


def test_node_ports_apply_to_every_local_address_only() -> None:
    """kube-proxy's NodePort layout: KUBE-SERVICES jumps to KUBE-NODEPORTS for any local
    address, which matches the port, then KUBE-EXT, KUBE-SVC, one KUBE-SEP per endpoint."""
    rules = parse_iptables_nat(fixture("kube_proxy_nodeport_iptables_nat.txt"))
    local = ("10.0.0.11",)
    found = sorted(r.to for r in matching(rules, "10.0.0.11", 30080, "tcp", local))
    assert found == ["10.244.1.5:8080", "[fd00::7]:8080"]
    assert matching(rules, "10.0.0.12", 30080, "tcp", local) == [], "not this node's address"
