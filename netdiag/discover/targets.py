"""What the user asked for: a pod IP, ``pod:NS/NAME`` or a node name, resolved on the inventory.

Resolution is pure: it decides which nodes must be asked, so ``discover`` connects only where the
answer can be (the inventory's pod entry names the node; an unknown IP is searched everywhere).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from netdiag.errors import InputError
from netdiag.inventory import Inventory

__all__ = ["Target", "parse_target"]


@dataclass(frozen=True)
class Target:
    """A resolved target: ``nodes`` are the ones to query, ``ips`` the addresses to look for."""

    text: str
    kind: Literal["ip", "pod", "node"]
    nodes: tuple[str, ...]
    ips: tuple[str, ...] = ()
    pod: str | None = None


def parse_target(text: str, inventory: Inventory) -> Target:
    """``10.16.0.7``, ``pod:default/fip-busybox01`` or ``kube-ovn-worker``; InputError otherwise."""
    all_nodes = tuple(n.name for n in inventory.nodes)
    if text.startswith("pod:"):
        name = text[4:]
        try:
            pod = inventory.pod(name)
        except KeyError:
            raise InputError(
                f"target {text!r}: pod {name!r} is not in {inventory.path}; add it under pods: "
                "(`netdiag inventory from-kubectl` writes them) or give the pod's IP instead"
            ) from None
        if not pod.ips:
            raise InputError(
                f"target {text!r}: the inventory gives pod {name!r} no ips; add its IP under "
                "ips: or give the IP as the target"
            )
        return Target(text, "pod", (pod.node,), pod.ips, pod.name)
    try:
        ip = str(ipaddress.ip_address(text))
    except ValueError:
        if text in all_nodes:
            return Target(text, "node", (text,))
        raise InputError(
            f"target {text!r} is neither an IP address, pod:NAMESPACE/NAME nor a node of "
            f"{inventory.path} (nodes: {', '.join(all_nodes)})"
        ) from None
    owners = [p for p in inventory.pods if ip in p.ips]
    if owners:
        return Target(text, "ip", (owners[0].node,), (ip,), owners[0].name)
    return Target(text, "ip", all_nodes, (ip,))
