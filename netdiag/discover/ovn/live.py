"""OVN's gateway for discovery targets, over the transports.

Each node with ``br-int`` answers, in its second discovery batch, its Open_vSwitch
``external_ids`` (``system-id`` = its chassis name) and whatever ``ovn-nbctl``/``ovn-sbctl``
reach from there (kube-ovn's central node, ovn-kubernetes' masters; elsewhere they fail at once
or within their ``--timeout``). When no asked node reached the northbound database, a few more
inventory nodes (control-plane-like first) are asked for just that. Then every target's IP is
looked up in the logical topology (:func:`netdiag.discover.ovn.gateway.gateway_for`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from netdiag.discover.model import Discovery
from netdiag.discover.ovn.gateway import gateway_for
from netdiag.discover.ovn.model import OvnView
from netdiag.discover.ovn.parse import OVN_DB, OVS_IDS, Argv, ovn_view, ovs_ids
from netdiag.discover.targets import Target
from netdiag.errors import NetdiagError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.transport import Transport, open_transport

#: How to open a node's transport (the CLI passes one that logs and tracks waits).
Factory = Callable[[NodeSpec, str], Transport]

if TYPE_CHECKING:
    from netdiag.discover.live import NodeView

__all__ = ["Factory", "with_gateways"]

EXTRA_NODES = 8  # at most this many more nodes are asked for the northbound database


def _unsudo(argv: Argv) -> Argv:
    return argv[2:] if argv[:2] == ("sudo", "-n") else argv


async def _ask(
    node: NodeSpec, kind: str, factory: Factory = open_transport
) -> tuple[str, OvnView, dict[str, str]] | None:
    """One more node, for the OVN databases and its own system-id only."""
    pre: Argv = ("sudo", "-n") if node.sudo else ()
    try:
        async with factory(node, kind) as tr:
            results = await tr.run_batch([(*pre, *a) for a in (OVS_IDS, *OVN_DB)], timeout=30)
    except (NetdiagError, TimeoutError):
        return None
    by_argv = {_unsudo(r.argv): r for r in results}
    ids = by_argv.get(OVS_IDS)
    return node.name, ovn_view(by_argv), ovs_ids(ids.stdout) if ids and ids.ok else {}


def _central_first(nodes: Sequence[NodeSpec]) -> list[NodeSpec]:
    def rank(n: NodeSpec) -> int:
        text = " ".join([n.name, *n.labels.values(), *n.labels]).lower()
        return 0 if any(w in text for w in ("master", "control-plane", "central", "ovn")) else 1

    return sorted(nodes, key=rank)


async def with_gateways(
    inventory: Inventory,
    views: Mapping[str, NodeView | str],
    targets: Sequence[Target],
    found: Sequence[Discovery],
    kind: str,
    *,
    factory: Factory = open_transport,
) -> list[Discovery]:
    """``found`` with each target's OVN gateway filled in, when OVN is there and reachable."""
    asked = [v for v in views.values() if not isinstance(v, str)]
    if not any(v.bridges or v.ovs_ids for v in asked):
        return list(found)  # no OVS/OVN on the nodes asked
    system_ids = {v.ovs_ids["system-id"]: v.node.name for v in asked if "system-id" in v.ovs_ids}
    ovn = next((v.ovn for v in asked if v.ovn.topology is not None), None)
    if ovn is None:
        rest = [n for n in inventory.nodes if n.name not in views]
        extra = await asyncio.gather(
            *(_ask(n, kind, factory) for n in _central_first(rest)[:EXTRA_NODES])
        )
        for got in extra:
            if got is None:
                continue
            name, view, ids = got
            if "system-id" in ids:
                system_ids[ids["system-id"]] = name
            if ovn is None and view.topology is not None:
                ovn = view
    if ovn is None or ovn.topology is None:
        return list(found)
    out = []
    for target, d in zip(targets, found, strict=True):
        if target.kind == "node":
            out.append(d)
            continue
        gw = None
        for ip in dict.fromkeys([*([d.ip] if d.ip else []), *target.ips]):
            gw = gateway_for(
                ip,
                ovn.topology,
                system_ids,
                chassis=ovn.chassis,
                nats=ovn.nats,
                priorities=ovn.priorities,
            )
            if gw is not None:
                break
        out.append(replace(d, gateway=gw))
    return out
