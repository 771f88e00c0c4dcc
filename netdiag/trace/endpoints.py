"""FROM and TO as typed: ``pod:NS/NAME``, a node name, an IP, each with an optional ``:PORT``.

Only the inventory is consulted here; where an address really lives (a pod discovery found, a
node holding it, a NAT) is the planner's question.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from netdiag.errors import InputError
from netdiag.inventory import Inventory

__all__ = ["Spec", "parse_endpoint"]


@dataclass(frozen=True)
class Spec:
    text: str
    kind: Literal["pod", "node", "ip"]
    name: str | None = None  # the pod's namespace/name or the node's name
    ip: str | None = None
    port: int | None = None


def _port(text: str, value: str, what: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise InputError(f"{what} {text!r}: port {value!r} is not a number 1-65535")
    return int(value)


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_endpoint(text: str, inventory: Inventory, what: str) -> Spec:
    """``what`` (FROM or TO) names the argument in errors."""
    if text.startswith("pod:"):
        name, port = text[4:], None
        if name.count(":") == 1:
            name, raw = name.split(":")
            port = _port(text, raw, what)
        try:
            pod = inventory.pod(name)
        except KeyError:
            raise InputError(
                f"{what} {text!r}: pod {name!r} is not in {inventory.path}; give the pod's IP "
                "instead, or add it under pods: (`netdiag inventory from-kubectl` writes them)"
            ) from None
        if not pod.ips:
            raise InputError(
                f"{what} {text!r}: {inventory.path} gives pod {name!r} no ips; add its IP "
                "under ips:, or give the IP instead"
            )
        return Spec(text, "pod", pod.name, pod.ips[0], port)
    host, port_text = text, None
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise InputError(f"{what} {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:] or None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = _port(text, port_text, what) if port_text is not None else None
    ip = _ip(host)
    if ip is not None:
        return Spec(text, "ip", None, ip, port)
    if any(n.name == host for n in inventory.nodes):
        return Spec(text, "node", host, None, port)
    nodes = ", ".join(n.name for n in inventory.nodes)
    raise InputError(
        f"{what} {text!r} is neither pod:NAMESPACE/NAME, an IP address (IP:PORT for a port) nor "
        f"a node of {inventory.path} (nodes: {nodes})"
    )
