"""``netdiag inventory from-kubectl``: an inventory from ``kubectl get nodes/pods/ds -A -o json``.

The pure part (:func:`inventory_yaml`) turns the three JSON documents into inventory YAML that
:func:`netdiag.inventory.parse_inventory` accepts; the shell part (:func:`fetch`) runs kubectl.
Nodes are reached at their InternalIP (SSH settings come from ~/.ssh/config or a ``defaults:``
block the user adds). Host-network pods are left out: their IPs are the node's, they have no
namespace of their own to find. Secondary interfaces come from the Multus
``k8s.v1.cni.cncf.io/network-status`` annotation.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from netdiag.discover.cni import guess_cni
from netdiag.errors import InputError, NetdiagError

__all__ = [
    "KubeNode",
    "KubePod",
    "fetch",
    "from_kubectl",
    "inventory_yaml",
    "parse_nodes",
    "parse_pods",
]

NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
# Devices worth capturing per CNI, written as inventory `devices` hints (discover checks them).
CNI_DEVICES: dict[str, dict[str, str]] = {
    "kube-ovn": {"join": "ovn0", "tunnel": "genev_sys_6081"},
    "ovn-kubernetes": {"join": "ovn-k8s-mp0", "tunnel": "genev_sys_6081"},
    "calico": {"tunnel": "tunl0"},
    "flannel": {"tunnel": "flannel.1", "bridge": "cni0"},
    "openshift-sdn": {"tunnel": "vxlan_sys_4789", "tun0": "tun0"},
}


@dataclass(frozen=True)
class KubeNode:
    name: str
    internal_ip: str | None
    external_ip: str | None
    roles: tuple[str, ...]
    pod_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class KubePod:
    """A pod; ``interfaces`` are (interface, ips, network, mac) from network-status."""

    name: str  # namespace/name
    node: str
    ips: tuple[str, ...]
    mac: str | None
    interfaces: tuple[tuple[str, tuple[str, ...], str, str | None], ...]


def _items(text: str, what: str) -> list[Mapping[str, object]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"kubectl {what}: output is not JSON ({exc.msg}); use -o json") from exc
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise InputError(f"kubectl {what}: expected a List with items, got {type(doc).__name__}")
    return [i for i in items if isinstance(i, dict)]


def _get(obj: object, *path: str) -> object:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def parse_nodes(text: str) -> tuple[KubeNode, ...]:
    """``kubectl get nodes -o json``: addresses, roles (node-role.kubernetes.io/*), pod CIDRs."""
    out = []
    for item in _items(text, "get nodes"):
        addrs = _get(item, "status", "addresses")
        by_type = {
            str(a.get("type")): str(a.get("address"))
            for a in (addrs if isinstance(addrs, list) else [])
            if isinstance(a, Mapping)
        }
        labels = _get(item, "metadata", "labels")
        roles = sorted(
            k.split("/", 1)[1]
            for k in (labels if isinstance(labels, Mapping) else {})
            if str(k).startswith("node-role.kubernetes.io/")
        )
        cidrs = _get(item, "spec", "podCIDRs") or [_get(item, "spec", "podCIDR")]
        out.append(
            KubeNode(
                name=str(_get(item, "metadata", "name")),
                internal_ip=by_type.get("InternalIP"),
                external_ip=by_type.get("ExternalIP"),
                roles=tuple(roles),
                pod_cidrs=tuple(str(c) for c in (cidrs if isinstance(cidrs, list) else []) if c),
            )
        )
    return tuple(out)


def _network_status(raw: object) -> list[Mapping[str, object]]:
    if not isinstance(raw, str):
        return []
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        return []  # a malformed annotation is the CNI's problem; the pod's own IPs still count
    return [d for d in doc if isinstance(d, Mapping)] if isinstance(doc, list) else []


def parse_pods(text: str) -> tuple[KubePod, ...]:
    """``kubectl get pods -A -o json``: scheduled, non-host-network pods with their IPs."""
    out = []
    for item in _items(text, "get pods"):
        node = _get(item, "spec", "nodeName")
        if not isinstance(node, str) or _get(item, "spec", "hostNetwork") is True:
            continue
        ns, name = _get(item, "metadata", "namespace"), _get(item, "metadata", "name")
        pod_ips = _get(item, "status", "podIPs")
        ips = [str(p.get("ip")) for p in (pod_ips if isinstance(pod_ips, list) else []) if p]
        if not ips and isinstance(_get(item, "status", "podIP"), str):
            ips = [str(_get(item, "status", "podIP"))]
        ifaces, mac = [], None
        status = _network_status(_get(item, "metadata", "annotations", NETWORK_STATUS))
        for net in status:
            raw_ips = net.get("ips")
            nips = tuple(str(i) for i in raw_ips) if isinstance(raw_ips, list) else ()
            nmac = str(net["mac"]) if isinstance(net.get("mac"), str) else None
            iface = str(net.get("interface") or "?")
            ifaces.append((iface, nips, str(net.get("name", "?")), nmac))
            if net.get("default") is True:
                mac = nmac
            ips += [i for i in nips if i not in ips]
        out.append(KubePod(f"{ns}/{name}", node, tuple(ips), mac, tuple(ifaces)))
    return tuple(out)


def _q(value: object) -> str:
    return json.dumps(value)  # JSON scalars and lists are valid YAML flow values


def inventory_yaml(nodes_json: str, pods_json: str, ds_json: str, source: str) -> str:
    """Inventory YAML (version 1) for the cluster described by the three kubectl outputs."""
    nodes = parse_nodes(nodes_json)
    pods = parse_pods(pods_json)
    ds = [str(_get(i, "metadata", "name")) for i in _items(ds_json, "get ds")]
    cni = guess_cni(ds)
    lines = [
        f"# Generated by `netdiag inventory from-kubectl` from {source}.",
        "# SSH settings (user, identity_file, known_hosts, sudo) come from ~/.ssh/config unless",
        "# you add a `defaults:` block; check with `netdiag inventory check FILE`.",
        f"# CNI guess from the DaemonSets: {cni or 'unknown'} (DaemonSets: {', '.join(ds) or '-'})",
        "version: 1",
        "nodes:",
    ]
    names = set()
    for n in nodes:
        host = n.internal_ip or n.external_ip
        if host is None:
            lines.append(f"# node {n.name}: no InternalIP/ExternalIP; left out")
            continue
        names.add(n.name)
        labels: dict[str, str] = {"role": ",".join(n.roles) or "worker"}
        if cni:
            labels["cni"] = cni
        if n.external_ip and n.internal_ip:
            labels["external_ip"] = n.external_ip
        if n.pod_cidrs:
            labels["pod_cidrs"] = ",".join(n.pod_cidrs)
        lines.append(f"- name: {_q(n.name)}\n  host: {_q(host)}\n  labels: {_q(labels)}")
        if cni in CNI_DEVICES:
            lines.append(f"  devices: {_q(CNI_DEVICES[cni])}")
    lines.append("pods:" if any(p.node in names for p in pods) else "pods: []")
    for p in pods:
        if p.node not in names:
            continue
        entry = {"name": p.name, "node": p.node, "ips": list(p.ips)}
        if p.mac:
            entry["mac"] = p.mac
        lines.append(f"- {_q(entry)}")
        for iface, ips, net, mac in p.interfaces:
            lines.append(f"  # {iface}: {' '.join(ips) or '-'} {mac or ''} on {net}")
    return "\n".join(lines) + "\n"


def fetch(context: str | None, selector: str | None, timeout: float = 60.0) -> tuple[str, str, str]:
    """Run kubectl for nodes, pods (``-l selector``) and DaemonSets; their JSON outputs."""
    base = ["kubectl", *(["--context", context] if context else [])]
    pods = ["get", "pods", "-A", "-o", "json", *(["-l", selector] if selector else [])]
    outs = []
    for args in (["get", "nodes", "-o", "json"], pods, ["get", "ds", "-A", "-o", "json"]):
        argv = [*base, *args]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise NetdiagError(
                "kubectl not found on PATH; install kubectl (or run this where it is) and make "
                "sure your kubeconfig reaches the cluster"
            ) from None
        except subprocess.TimeoutExpired:
            raise NetdiagError(
                f"`{' '.join(argv)}` did not answer within {timeout:.0f} s; "
                "check that the API server is reachable (kubectl cluster-info)"
            ) from None
        if res.returncode != 0:
            why = (res.stderr.strip().splitlines() or ["no error output"])[-1]
            raise NetdiagError(
                f"`{' '.join(argv)}` failed (exit {res.returncode}): {why}; "
                "check --context and your kubeconfig (kubectl config get-contexts)"
            )
        outs.append(res.stdout)
    return outs[0], outs[1], outs[2]


def from_kubectl(context: str | None, selector: str | None) -> str:
    """The inventory YAML for the cluster kubectl reaches, checked to load as an inventory."""
    from pathlib import Path

    from netdiag.inventory import parse_inventory

    source = f"kubectl{f' --context {context}' if context else ''}"
    text = inventory_yaml(*fetch(context, selector), source=source)
    parse_inventory(text, Path("<from-kubectl>"))  # our own output must load; fail here if not
    return text
