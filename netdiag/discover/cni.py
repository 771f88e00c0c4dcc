"""Per-CNI rules that the generic veth matching cannot see on its own.

- calico: every pod has a /32 route ``IP dev caliXXXX`` on its node, and inside the pod the
  default gateway is the fixed link-local 169.254.1.1 (answered by proxy ARP on the cali* end).
- flannel: pods hang on the ``cni0`` bridge; the bridge's fdb maps the pod MAC to its port.
- OpenShift SDN: pod veths are ports of the OVS bridge ``br0`` next to ``tun0`` (the gateway)
  and ``vxlan0``; ``ovs-ofctl dump-ports-desc br0`` numbers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from netdiag.discover.model import Link, Route
from netdiag.discover.ovs import OvsBridge

__all__ = [
    "CALICO_GATEWAY",
    "calico_host_iface",
    "fdb_port",
    "guess_cni",
    "is_calico_pod",
    "neigh_mac",
    "openshift_pod_ports",
]

CALICO_GATEWAY = "169.254.1.1"

# DaemonSet (or container) name fragments -> CNI, most specific first.
_CNI_MARKS = (
    ("kube-ovn-cni", "kube-ovn"),
    ("ovs-ovn", "kube-ovn"),
    ("ovnkube-node", "ovn-kubernetes"),
    ("calico-node", "calico"),
    ("kube-flannel", "flannel"),
    ("flannel", "flannel"),
    ("cilium", "cilium"),
    ("sdn", "openshift-sdn"),
    ("weave-net", "weave"),
)


def calico_host_iface(routes: Iterable[Route], ip: str) -> str | None:
    """The ``cali*`` device of the node's /32 route to ``ip``."""
    for r in routes:
        if r.dst in (ip, f"{ip}/32") and r.dev and r.dev.startswith("cali"):
            return r.dev
    return None


def is_calico_pod(pod_routes: Iterable[Route]) -> bool:
    """A pod route table with calico's fixed gateway (default via 169.254.1.1)."""
    return any(
        r.dst in ("default", "0.0.0.0/0") and r.gateway == CALICO_GATEWAY for r in pod_routes
    )


def neigh_mac(text: str, ip: str) -> str | None:
    """The MAC of ``ip`` in ``ip -j neigh`` output (None if absent or incomplete)."""
    for d in json.loads(text or "[]"):
        if isinstance(d, dict) and d.get("dst") == ip and isinstance(d.get("lladdr"), str):
            return str(d["lladdr"]).lower()
    return None


def fdb_port(text: str, mac: str, bridge: str | None = None) -> str | None:
    """The bridge port that learned ``mac``, from ``bridge -j fdb show [br BR]``."""
    for d in json.loads(text or "[]"):
        if not isinstance(d, dict) or str(d.get("mac", "")).lower() != mac.lower():
            continue
        if "self" in (d.get("flags") or []) or (bridge and d.get("master") not in (None, bridge)):
            continue
        if isinstance(d.get("ifname"), str):
            return str(d["ifname"])
    return None


def openshift_pod_ports(bridges: Sequence[OvsBridge], links: Sequence[Link]) -> tuple[str, ...]:
    """Veths on OpenShift SDN's ``br0``: its ports that are not tun0, vxlan0 or br0 itself.

    ``links`` (the host's ``ip a``) confirm a port is a real veth with a peer in a pod netns.
    """
    br0 = next((b for b in bridges if b.name == "br0"), None)
    if br0 is None:
        return ()
    veths = {link.name for link in links if link.link_netnsid is not None}
    return tuple(p.name for p in br0.ports if p.name in veths and not p.type)


def guess_cni(daemonset_names: Iterable[str]) -> str | None:
    """The CNI whose node agent DaemonSet is present (``kubectl get ds -A``), else None."""
    names = [n.lower() for n in daemonset_names]
    for mark, cni in _CNI_MARKS:
        if any(mark == n or n.startswith(mark) for n in names):
            return cni
    return None
