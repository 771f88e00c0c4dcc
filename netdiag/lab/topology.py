"""The lab's topology as plain data, and the default one that mirrors a real kube-ovn cluster.

Nothing here touches the system: the spec is validated and every name, address and MAC the lab
will create can be computed from it (the unit tests read them, the builder applies them).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from netdiag.errors import InputError

__all__ = [
    "DEFAULT_NAME",
    "OVS_DEFAULT_NAME",
    "STATE_ROOT",
    "LabNode",
    "LabPod",
    "LabSpec",
    "PortForward",
    "default_spec",
    "ovs_spec",
    "validate_name",
]

DEFAULT_NAME = "netdiag"
STATE_ROOT = "/run/netdiag-lab"
# `<name>-mgmt` is the one interface the lab adds to the host; Linux caps names at 15 bytes.
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")

Role = Literal["node", "external"]
Dataplane = Literal["kernel", "ovs"]
OVS_DEFAULT_NAME = "ndovs"


def validate_name(name: str) -> str:
    """A lab name is the prefix of everything the lab creates, so it must be short and dash-free."""
    if not _NAME_RE.match(name):
        raise InputError(
            f"lab name {name!r} is invalid: use 1-10 lowercase letters/digits starting with a "
            "letter (it prefixes namespace and interface names), e.g. --name netdiag"
        )
    return name


@dataclass(frozen=True)
class LabPod:
    """A pod: its own network namespace behind a veth whose host side sits on a node's bridge."""

    name: str  # namespace/name as kubectl shows it
    node: str
    ip: str
    mac: str
    host_iface: str  # kube-ovn names the host side `<12 hex>_h`
    netns: str  # the name the node sees under /run/netns (`ip netns exec <netns>`)
    fip: str | None = None
    iface: str = "eth0"
    ifindex: int | None = None  # seed: eth0@if23 -> pod eth0 is 22, host veth 23
    host_ifindex: int | None = None
    mtu: int = 1400
    # False: the node does not see the namespace under /run/netns (docker-style runtimes); only
    # a process inside it (the lab starts a pause-like holder) leads there: `nsenter -t PID -n`.
    named: bool = True
    # TCP ports a server in the pod accepts connections on (netdiag.lab.listener), so a
    # connect through a service is a whole handshake instead of a RST
    listen: tuple[int, ...] = ()


@dataclass(frozen=True)
class PortForward:
    """A VIP:port that ``node`` DNATs to a pod:port, on this node or another one: seed 001's
    router load balancer (`lr-lb-list`), or a kube-proxy NodePort / ClusterIP.

    ``reached_from`` says where requests come from: ``uplink`` (external clients; the VIP is a
    node or load-balancer address) or ``pods`` (a ClusterIP called from the node's pods).
    ``masquerade`` SNATs every request to the address of the device it leaves by (kube-proxy's
    KUBE-MARK-MASQ for a NodePort, externalTrafficPolicy Cluster), so the reply comes back
    through this node; without it a backend on another node answers the client directly.
    Requests from pods are masqueraded when they hairpin back to the calling pod, as kube-proxy
    does (else the pod would answer itself without leaving its namespace).
    """

    node: str
    vip: str
    port: int
    pod_ip: str
    pod_port: int
    proto: Literal["tcp", "udp"] = "tcp"
    reached_from: Literal["uplink", "pods"] = "uplink"
    masquerade: bool = False
    name: str = ""  # what it stands for, shown in the inventory's comment


@dataclass(frozen=True)
class LabNode:
    """A node (or the external client): one namespace with sshd on the management network."""

    name: str
    role: Role
    mgmt_ip: str
    uplink: str  # eth1 on nodes, eth0 on the client
    uplink_ip: str
    uplink_mac: str
    uplink_ifindex: int | None = None
    extra_uplink_ips: tuple[str, ...] = ()  # FIPs this node answers ARP for (/32)
    bridge_mac: str | None = None  # pod-facing bridge owns the logical router MAC
    join_ip: str | None = None  # ovn0
    join_mac: str | None = None
    clock_offset_ns: int = 0  # simulated; see netdiag.lab's docstring

    @property
    def is_node(self) -> bool:
        return self.role == "node"


@dataclass(frozen=True)
class LabSpec:
    """Everything needed to build one lab; names derive from ``name`` so a sweep by prefix works."""

    name: str = DEFAULT_NAME
    mgmt_net: str = "10.250.0.0/24"
    ext_prefixlen: int = 16  # 172.19.0.0/16 as in the seed's kind network
    pod_subnet: str = "192.168.0.0/24"
    join_prefixlen: int = 16  # 100.64.0.0/16
    pod_vni: int = 1  # vxlan0 carries the pod subnet between nodes (L2, like a logical switch)
    join_vni: int = 100  # ovn0 is itself a point-to-point VXLAN device (no OVS internal ports)
    vxlan_port: int = 4789
    bridge: str = "br-pods"
    tunnel: str = "vxlan0"
    join: str = "ovn0"
    mgmt_iface: str = "mgmt0"
    # "kernel": Linux bridge + VXLAN + iptables (S1/S2); "ovs": Open vSwitch userspace datapath
    # with br-int, Geneve and an ovn0 internal port (see netdiag.lab.ovs)
    dataplane: Dataplane = "kernel"
    nodes: tuple[LabNode, ...] = ()
    pods: tuple[LabPod, ...] = ()
    port_forwards: tuple[PortForward, ...] = ()
    state_root: str = STATE_ROOT

    # -- names -----------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """Every namespace of this lab starts with this; `down` sweeps by it alone."""
        return f"{self.name}-"

    @property
    def state_dir(self) -> str:
        return f"{self.state_root}/{self.name}"

    @property
    def switch_netns(self) -> str:
        """The namespace holding the external and management bridges (the 'top-of-rack')."""
        return f"{self.name}-sw"

    @property
    def host_iface(self) -> str:
        return f"{self.name}-mgmt"

    def node_netns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def pod_netns(self, pod: LabPod) -> str:
        return f"{self.name}-pod-{pod.netns}"

    def l3_uplink(self, node: LabNode) -> str:
        """The device holding the node's underlay IP: the uplink itself, or OVS's ``br-phy``
        (the userspace datapath sends tunnel packets only out of a bridge's internal port)."""
        return "br-phy" if self.dataplane == "ovs" and node.is_node else node.uplink

    @property
    def pod_gateway_iface(self) -> str:
        """The node device holding the pods' gateway: the bridge, or OVS's ``ovn0`` port."""
        return self.join if self.dataplane == "ovs" else self.bridge

    @property
    def host_mgmt_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.mgmt_net).hosts()))

    @property
    def mgmt_prefixlen(self) -> int:
        return ipaddress.ip_network(self.mgmt_net).prefixlen

    @property
    def pod_gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.pod_subnet).hosts()))

    @property
    def pod_prefixlen(self) -> int:
        return ipaddress.ip_network(self.pod_subnet).prefixlen

    def node(self, name: str) -> LabNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise InputError(f"lab has no node {name!r}; nodes: {', '.join(self.node_names)}")

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def pods_on(self, node: str) -> tuple[LabPod, ...]:
        return tuple(p for p in self.pods if p.node == node)

    def all_netns(self) -> tuple[str, ...]:
        """Every namespace the lab creates, switch first (its bridges must exist before ports)."""
        return (
            self.switch_netns,
            *(self.node_netns(n.name) for n in self.nodes),
            *(self.pod_netns(p) for p in self.pods),
        )

    def with_clock_offsets(self, offsets: dict[str, int]) -> LabSpec:
        """A copy with simulated clock offsets (ns) for the named nodes."""
        unknown = sorted(set(offsets) - set(self.node_names))
        if unknown:
            raise InputError(
                f"clock offset for unknown node(s) {', '.join(unknown)}; "
                f"nodes are: {', '.join(self.node_names)}"
            )
        nodes = tuple(
            replace(n, clock_offset_ns=offsets.get(n.name, n.clock_offset_ns)) for n in self.nodes
        )
        return replace(self, nodes=nodes)

    def validate(self) -> LabSpec:
        """Check what the kernel would reject later with a less helpful message."""
        validate_name(self.name)
        mgmt = _mgmt_network(self.mgmt_net)
        root = self.state_root.rstrip("/")
        if not root.startswith("/") or root == "/tmp" or root.startswith("/tmp/"):
            raise InputError(
                f"lab state root {self.state_root!r} must be an absolute path outside /tmp "
                "(each node gets a private /tmp); use the default /run/netdiag-lab"
            )
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise InputError(f"lab node name {node.name!r} is used twice")
            seen.add(node.name)
            if ipaddress.ip_address(node.mgmt_ip) not in mgmt:
                raise InputError(f"node {node.name}: mgmt address {node.mgmt_ip} not in {mgmt}")
        for pod in self.pods:
            if pod.node not in seen or not self.node(pod.node).is_node:
                raise InputError(f"pod {pod.name}: node {pod.node!r} is not a lab node")
            if len(pod.host_iface) > 15:
                raise InputError(f"pod {pod.name}: interface name {pod.host_iface!r} > 15 chars")
        for fwd in self.port_forwards:
            if not self.node(fwd.node).is_node:
                raise InputError(f"port forward {fwd.vip}:{fwd.port}: {fwd.node} is not a node")
            if not any(p.ip == fwd.pod_ip for p in self.pods):
                raise InputError(f"port forward {fwd.vip}:{fwd.port}: no pod {fwd.pod_ip}")
        return self


@dataclass(frozen=True)
class _Defaults:
    """Addresses and MACs from seed 001 (kind cluster with kube-ovn, `k ko nbctl show`)."""

    client_mac: str = "02:42:57:db:a9:c6"  # source MAC of the client's echo requests on eth1
    router_ext_mac: str = "00:00:00:21:44:fd"  # vpc-75989-external: FIP replies leave with it
    router_pod_mac: str = "00:00:00:91:cc:aa"  # vpc-75989-overlay-subnet: routed towards pods
    worker_ext_mac: str = "00:00:00:02:6a:fb"  # node-ext-gw port of kube-ovn-worker
    cp_join_mac: str = "00:00:00:a6:eb:bb"  # node-kube-ovn-control-plane 100.64.0.2
    worker_join_mac: str = "00:00:00:93:93:4a"  # node-kube-ovn-worker 100.64.0.3


def default_spec(name: str = DEFAULT_NAME, mgmt_net: str = "10.250.0.0/24") -> LabSpec:
    """The S1/S2 lab: client 172.19.0.1, FIP 172.19.0.11 -> pod 192.168.0.6 on node 1, pod on 2."""
    d = _Defaults()
    mgmt = _mgmt_addresses(mgmt_net)

    nodes = (
        LabNode("client", "external", mgmt(10), "eth0", "172.19.0.1", d.client_mac),
        LabNode(
            "kube-ovn-control-plane",
            "node",
            mgmt(11),
            "eth1",
            "172.19.0.6",
            d.router_ext_mac,
            uplink_ifindex=81,
            extra_uplink_ips=("172.19.0.11", "172.19.0.10"),  # FIP, load-balancer VIP
            bridge_mac=d.router_pod_mac,
            join_ip="100.64.0.2",
            join_mac=d.cp_join_mac,
        ),
        LabNode(
            "kube-ovn-worker",
            "node",
            mgmt(12),
            "eth1",
            "172.19.0.7",
            d.worker_ext_mac,
            bridge_mac=d.router_pod_mac,  # a distributed router has one MAC on every chassis
            join_ip="100.64.0.3",
            join_mac=d.worker_join_mac,
        ),
    )
    pods = (
        LabPod(
            "default/fip-busybox01",
            "kube-ovn-control-plane",
            "192.168.0.6",
            "00:00:00:de:cb:07",
            "dd2b931fc304_h",
            "fip-busybox01",
            fip="172.19.0.11",
            ifindex=22,
            host_ifindex=23,
            listen=(80,),  # backend of the ClusterIP below: calls it, reaches itself
        ),
        LabPod(
            "default/lb-backend",  # behind the router load balancer 172.19.0.10:8080
            "kube-ovn-control-plane",
            "192.168.0.3",
            "00:00:00:f2:0d:7b",
            "3a5e1d7c9f02_h",
            "lb-backend",
            listen=(80,),  # a connect to the load balancer is a whole handshake
        ),
        LabPod(
            "default/fip-busybox02",
            "kube-ovn-worker",
            "192.168.0.7",
            "00:00:00:a2:70:8d",
            "6f1e0c3a9b57_h",
            "fip-busybox02",
            listen=(80,),  # backend of the NodePorts below
        ),
    )
    cp = "kube-ovn-control-plane"
    nodeport, worker_pod = "172.19.0.6", "192.168.0.7"  # node 1's own address; pod on the worker
    services = (
        PortForward(cp, "172.19.0.10", 8080, "192.168.0.3", 80, name="router load balancer"),
        PortForward(cp, nodeport, 30080, worker_pod, 80, masquerade=True, name="NodePort"),
        PortForward(cp, nodeport, 30081, worker_pod, 80, name="NodePort, not masqueraded"),
        PortForward(
            cp,
            "10.96.0.10",
            80,
            "192.168.0.6",
            80,
            "tcp",
            "pods",
            name="ClusterIP, called by its backend",
        ),
    )
    spec = LabSpec(name=name, mgmt_net=mgmt_net, nodes=nodes, pods=pods, port_forwards=services)
    return spec.validate()


def ovs_spec(name: str = OVS_DEFAULT_NAME, mgmt_net: str = "10.249.0.0/24") -> LabSpec:
    """The ``ovs-geneve`` lab: the S1 client and FIP, two OVS nodes, one pod on each.

    Its own management network (so it runs beside the default lab), seed-like underlay IPs,
    kube-ovn-style host devices, and pod namespaces the nodes cannot see by name.
    """
    d = _Defaults()
    mgmt = _mgmt_addresses(mgmt_net)

    nodes = (
        LabNode("client", "external", mgmt(10), "eth0", "172.19.0.1", d.client_mac),
        LabNode(
            "ovs-node1",
            "node",
            mgmt(11),
            "eth1",
            "172.19.0.6",
            d.router_ext_mac,
            extra_uplink_ips=("172.19.0.11", "172.19.0.10"),  # FIP, load-balancer VIP
            bridge_mac=d.router_pod_mac,
        ),
        LabNode(
            "ovs-node2",
            "node",
            mgmt(12),
            "eth1",
            "172.19.0.7",
            d.worker_ext_mac,
            bridge_mac=d.router_pod_mac,
        ),
    )
    pods = (
        LabPod(
            "default/pod-a",
            "ovs-node1",
            "192.168.0.6",
            "00:00:00:de:cb:07",
            "a1b2c3d4e5f6_h",
            "pod-a",
            fip="172.19.0.11",
            named=False,
            listen=(80,),
        ),
        LabPod(
            "default/pod-b",
            "ovs-node2",
            "192.168.0.7",
            "00:00:00:a2:70:8d",
            "0f1e2d3c4b5a_h",
            "pod-b",
            named=False,
            listen=(80,),
        ),
    )
    # As in the default lab, minus the masqueraded NodePort: every node's ovn0 holds the same
    # gateway address here, so a reply to a request masqueraded to it would stay on node 2.
    node1 = "ovs-node1"
    services = (
        PortForward(node1, "172.19.0.10", 8080, "192.168.0.6", 80, name="router load balancer"),
        PortForward(
            node1, "172.19.0.6", 30081, "192.168.0.7", 80, name="NodePort, not masqueraded"
        ),
        PortForward(
            node1,
            "10.96.0.10",
            80,
            "192.168.0.6",
            80,
            "tcp",
            "pods",
            name="ClusterIP, called by its backend",
        ),
    )
    spec = LabSpec(
        name=name,
        mgmt_net=mgmt_net,
        pod_vni=7,
        tunnel="genev",  # no device: OVS's userspace tunnel ports are ovn-<peer> on br-int
        bridge="br-int",
        join="ovn0",
        dataplane="ovs",
        nodes=nodes,
        pods=pods,
        port_forwards=services,
    )
    return spec.validate()


def _mgmt_addresses(mgmt_net: str) -> Callable[[int], str]:
    """Host number -> address in the (validated) management network: .10 client, .11/.12 nodes."""
    base = int(_mgmt_network(mgmt_net).network_address)
    return lambda host: str(ipaddress.IPv4Address(base + host))


def _mgmt_network(text: str) -> ipaddress.IPv4Network:
    """The management network, refused early if the lab's fixed host numbers cannot fit in it."""
    try:
        net = ipaddress.ip_network(text)
    except ValueError as exc:
        raise InputError(
            f"management network {text!r} is not a CIDR network; use e.g. 10.250.0.0/24"
        ) from exc
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 27:
        raise InputError(
            f"management network {text} must be IPv4 and /27 or larger (nodes use .10-.12)"
        )
    return net
