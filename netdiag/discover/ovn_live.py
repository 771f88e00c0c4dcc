"""OVN's gateway for discovery targets, over the transports (issue 7).

Each node with ``br-int`` answers, in its second discovery batch, its Open_vSwitch
``external_ids`` (``system-id`` = its chassis name) and whatever ``ovn-nbctl``/``ovn-sbctl``
reach from there (kube-ovn's central node, ovn-kubernetes' masters; elsewhere they fail at once
or within their ``--timeout``). When no asked node reached the northbound database, a few more
inventory nodes (control-plane-like first) are asked for just that. Then every target's IP is
looked up in the logical topology (:func:`netdiag.discover.gateway.gateway_for`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from netdiag.discover.gateway import (
    GW_LIST,
    NAT_FIND,
    NB_SHOW,
    SB_SHOW,
    Chassis,
    Nat,
    NbTopology,
    gateway_for,
    parse_gateway_chassis,
    parse_nat_records,
    parse_nbctl_show,
    parse_sbctl_show,
)
from netdiag.discover.model import Discovery
from netdiag.discover.ovs import parse_vsctl_find
from netdiag.discover.targets import Target
from netdiag.errors import InputError, NetdiagError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.transport import CommandResult, Transport, open_transport

#: How to open a node's transport (the CLI passes one that logs and tracks waits).
Factory = Callable[[NodeSpec, str], Transport]

if TYPE_CHECKING:
    from netdiag.discover.live import NodeView

__all__ = ["OVN_DB", "OVS_IDS", "OvnView", "ovs_ids", "with_gateways"]

Argv = tuple[str, ...]
OVS_IDS: Argv = ("ovs-vsctl", "--timeout=5", "--format=json", "--columns=external_ids", "list",
                 "Open_vSwitch")  # fmt: skip
OVN_DB: tuple[Argv, ...] = (NB_SHOW, NAT_FIND, GW_LIST, SB_SHOW)
EXTRA_NODES = 8  # at most this many more nodes are asked for the northbound database


def ovs_ids(text: str) -> dict[str, str]:
    """``external_ids`` of the Open_vSwitch row (system-id, ovn-encap-ip, hostname, ...)."""
    if not text.startswith("{"):
        return {}
    try:
        rows = parse_vsctl_find(text)
    except InputError:
        return {}
    ext = rows[0].get("external_ids") if rows else None
    return {str(k): str(v) for k, v in ext.items()} if isinstance(ext, Mapping) else {}


@dataclass(frozen=True)
class OvnView:
    """What a node's ovn-nbctl/sbctl answered (empty where the databases are out of reach)."""

    topology: NbTopology | None = None
    nats: tuple[Nat, ...] = ()
    chassis: tuple[Chassis, ...] = ()
    priorities: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, by_argv: Mapping[Argv, CommandResult]) -> OvnView:
        def text(argv: Argv) -> str | None:
            res = by_argv.get(argv)
            return res.stdout if res is not None and res.ok and res.stdout.strip() else None

        nb, nat, sb, gws = text(NB_SHOW), text(NAT_FIND), text(SB_SHOW), text(GW_LIST)
        topology, priorities = None, {}
        with contextlib.suppress(InputError):
            topology = parse_nbctl_show(nb) if nb else None
            priorities = parse_gateway_chassis(gws) if gws else {}
        return cls(
            topology,
            parse_nat_records(nat) if nat else (),
            parse_sbctl_show(sb) if sb else (),
            priorities,
        )


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
    return node.name, OvnView.of(by_argv), ovs_ids(ids.stdout) if ids and ids.ok else {}


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
