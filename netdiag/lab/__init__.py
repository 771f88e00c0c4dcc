"""The network-namespace lab: a kube-ovn-like cluster in a box (`netdiag lab up|down|status`).

It reproduces the packet paths of a kube-ovn cluster (FIP DNAT/SNAT, pod egress SNAT, the
cross-node overlay) with a real cluster's addresses, device names and MACs, so that netdiag's own
tests — and users without a cluster — run real OpenSSH, real tcpdump and real iptables NAT.

Topology (every namespace is named ``<lab>-...``, so ``down`` finds a lab by prefix alone)::

    host ── <lab>-mgmt 10.250.0.1 ──┐  <lab>-sw: br-mgmt (SSH only)  br-ext (172.19.0.0/16)
      client          mgmt0 .10, eth0 172.19.0.1 (02:42:57:db:a9:c6)       │
      kube-ovn-control-plane  mgmt0 .11, eth1 172.19.0.6 + FIP 172.19.0.11 (00:00:00:21:44:fd)
          br-pods 192.168.0.1 (router MAC 00:00:00:91:cc:aa) ─ dd2b931fc304_h ─ pod 192.168.0.6
          br-pods ─ 3a5e1d7c9f02_h ─ pod 192.168.0.3 (load balancer 172.19.0.10:8080 -> :80)
          vxlan0 (VNI 1, pod L2 overlay over eth1)   ovn0 100.64.0.2 (VXLAN VNI 100, join)
          NodePorts 172.19.0.6:30080 (masqueraded) and :30081 (not) -> 192.168.0.7:80 via ovn0;
          ClusterIP 10.96.0.10:80 -> 192.168.0.6:80, called by that pod itself (hairpin)
      kube-ovn-worker  mgmt0 .12, eth1 172.19.0.7; br-pods ─ 6f1e0c3a9b57_h ─ pod 192.168.0.7
          vxlan0, ovn0 100.64.0.3

The node kernel plays OVN's logical router: iptables DNAT/SNAT for the FIP, MASQUERADE for the pod
subnet, routing TTL-1 with the router MAC as source; and kube-proxy: the services' DNAT with its
masquerade mark. Backend pods run a small TCP server (netdiag.lab.listener). Pods on different
nodes share the L2 subnet through ``vxlan0`` (static FDB; the bridge answers ARP for remote pods
via ``neigh_suppress``, as OVN's ARP responder does), so pod-to-pod packets cross the underlay
encapsulated and unchanged inside. Differences from a real kube-ovn node, forced by the kernel
here: VXLAN instead of Geneve (no ``genev_sys_6081``), ``ovn0`` is itself a VXLAN device (no OVS
internal ports), NAT is iptables instead of OVN flows, IPv6 is disabled to keep captures quiet, and
node 1's eth1 itself carries the router's external MAC (so its VXLAN underlay frames do too). The
topology is data (``LabSpec``): ``topology.ovs_spec`` is the same lab on Open vSwitch's userspace
datapath with Geneve and unnamed pod namespaces (``dataplane="ovs"``, see ``netdiag.lab.ovs``),
built by the same ``up``/``down``.

Each node runs ``sshd -D`` inside its namespace plus a private mount and UTS namespace: its own
hostname, ``/run`` and ``/tmp`` (directories of the state dir bound over them), and its own pods'
namespace files under ``/run/netns`` so ``ip netns exec <pod>`` works in an SSH session.

Clock skew is *simulated*: all namespaces share the host's clock, so each node carries a
``clock_offset_ns`` (state, inventory label ``simulated_clock_offset_ns``).
:mod:`netdiag.lab.skew` wraps that node's transport so that its clock readings and fetched pcap
timestamps arrive shifted by it, and the run manifest labels the shift as simulated; the lab
itself never changes a clock.
Processes: sshd is a child of the process that ran ``up``; in one process (tests, ``demo``)
``down`` reaps it. After a CLI ``up`` it is re-parented to init, which reaps it on real systems.
"""

from __future__ import annotations

from netdiag.lab.lifecycle import DownReport, down, up
from netdiag.lab.state import LabState, NodeState, PodState
from netdiag.lab.status import LabStatus, NodeStatus, status
from netdiag.lab.topology import (
    DEFAULT_NAME,
    LabNode,
    LabPod,
    LabSpec,
    PortForward,
    default_spec,
)

__all__ = [
    "DEFAULT_NAME",
    "DownReport",
    "LabNode",
    "LabPod",
    "LabSpec",
    "LabState",
    "LabStatus",
    "NodeState",
    "NodeStatus",
    "PodState",
    "PortForward",
    "default_spec",
    "down",
    "status",
    "up",
]
