"""Where OVN's gateway for an IP is: which router NATs or serves it, on which node(s).

A router with a distributed gateway port (``gateway chassis: [A B]``) handles centralized NAT
on the highest-priority chassis that is alive (``ovn-sbctl show`` lists ``Port_Binding
cr-<port>`` under the one that claimed it); the chassis name is a node's
``external_ids:system-id``. ``show`` does not print priorities, nor list chassis in priority
order (measured: OVN 23.03 lists them as stored), so they come from ``list Gateway_Chassis``;
without them no chassis is called active unless the southbound binding says so.

A ``dnat_and_snat`` with ``logical_port`` and ``external_mac`` is a *distributed* FIP instead:
the pod's own node answers it (a distributed-router setup), so its path does not cross the
gateway. Pure matching on parsed values (:mod:`netdiag.discover.ovn.model`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from netdiag.discover.ovn.model import (
    Chassis,
    Gateway,
    GatewayChassis,
    LogicalRouter,
    Nat,
    NbTopology,
)

__all__ = ["gateway_for"]


def _holds(cidr_or_ip: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr_or_ip, strict=False)
    except ValueError:
        return False


def _router_of(topo: NbTopology, ip: str) -> tuple[LogicalRouter, Nat | None, str] | None:
    """The router that NATs ``ip`` (as external or logical address), owns it, or serves its
    switch; with the NAT row and how it was found."""
    for r in topo.routers:
        for nat in r.nats:
            if nat.external_ip == ip:
                return r, nat, f"{ip} is the external IP of a {nat.type} on router {r.name}"
    for r in topo.routers:
        for nat in r.nats:
            if nat.logical_ip == ip or (nat.type == "snat" and _holds(nat.logical_ip, ip)):
                return r, nat, f"{ip} is NATed by a {nat.type} to {nat.external_ip} on {r.name}"
    for r in topo.routers:
        for port in r.ports:
            if any(_holds(net, ip) for net in port.networks):
                return r, None, f"{ip} is in {port.name}'s network on router {r.name}"
    return None


def gateway_for(
    ip: str,
    topo: NbTopology,
    system_ids: Mapping[str, str],
    *,
    chassis: Sequence[Chassis] = (),
    nats: Iterable[Nat] = (),
    priorities: Mapping[str, Sequence[tuple[str, int]]] | None = None,
) -> Gateway | None:
    """Where ``ip``'s traffic leaves/enters through OVN's gateway; None when no router knows it.

    ``system_ids`` maps a chassis name to a node (each node's OVS ``system-id``); SB hostnames
    fill in the rest. ``nats`` (from ``find NAT``) refine ``show``'s rows with the DVR columns;
    ``priorities`` (:func:`parse_gateway_chassis`) order the chassis.
    """
    extra = {(n.external_ip, n.logical_ip, n.type): n for n in nats}
    routers = tuple(
        replace(r, nats=tuple(extra.get((n.external_ip, n.logical_ip, n.type), n) for n in r.nats))
        for r in topo.routers
    )
    found = _router_of(replace(topo, routers=routers), ip)
    if found is None:
        return None
    router, nat, why = found
    if nat is not None and nat.distributed:
        why += f"; distributed (DVR): answered on the node of {nat.logical_port}, not a gateway"
        return Gateway(ip, router.name, None, (), nat, why)
    port = router.gateway_port
    if port is None:
        return Gateway(ip, router.name, None, (), nat, why + "; the router has no gateway port")
    hosts = {c.name: c.hostname for c in chassis}
    bound = next((c.name for c in chassis if f"cr-{port.name}" in c.bindings), None)
    known = dict((priorities or {}).get(port.name, ()))
    order = list(port.gateway_chassis)
    if known:
        order = sorted(order, key=lambda name: -known.get(name, -1))
    active = bound or (order[0] if known else None)
    rows = tuple(
        GatewayChassis(
            name, i, system_ids.get(name) or hosts.get(name), name == active, known.get(name)
        )
        for i, name in enumerate(order)
    )
    if bound:
        how = f"the one bound to cr-{port.name} (southbound)"
    elif known:
        how = "the highest priority (if it is up; the southbound binding was not available)"
    else:
        how = (
            "unknown: no priorities or southbound binding (run `ovn-nbctl "
            f"lrp-get-gateway-chassis {port.name}`)"
        )
    return Gateway(ip, router.name, port.name, rows, nat, f"{why}; active chassis: {how}")
