"""``record start | status | list | stop`` across the inventory's nodes.

:func:`start_items` turns a resolved plan into what each node must launch (pure);
:func:`start`, :func:`survey` and :func:`stop` run the node operations of
:mod:`netdiag.record.nodes` on every node at once and return plain records.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from netdiag.capture.run_steps import point_labels
from netdiag.errors import PlanError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.plan import ResolvedPlan, point_filter
from netdiag.record.listing import Listing
from netdiag.record.nodes import (
    Factory,
    Launch,
    NodeOutcome,
    StartItem,
    connected,
    for_each_node,
    list_node,
    start_node,
    stop_node,
)
from netdiag.record.ring import PCAP_HEADER, RingSpec
from netdiag.record.scripts import (
    PROBE_LOG_MAX,
    capture_argv,
    meta_text,
    probe_argv,
    recorder_dir,
)
from netdiag.transport import open_transport

# beside its ring, a point's directory holds tcpdump.err (trimmed to 32 KiB past 64 KiB, with
# a 32 KiB copy while it is trimmed), meta and two PID files: the free-space check counts them
RECORDER_FILES_MAX = 128 * 1024

__all__ = ["NodeLaunches", "NodeListing", "NodeStopped", "start", "start_items", "stop", "survey"]


def start_items(
    resolved: ResolvedPlan,
    inventory: Inventory,
    *,
    name: str,
    ring: RingSpec,
    lease_s: float,
    probe_every: float | None,
) -> dict[str, list[StartItem]]:
    """node -> the recorders to launch there: one per capture point, one per probe if
    ``probe_every`` (a continuous probe, its results logged on the node)."""
    points = resolved.points
    odd = [p for p in points if p.unresolved or p.glob]
    if odd:
        shown = ", ".join(f"{p.node or '?'}/{p.iface or p.role or p.pod}" for p in odd)
        raise PlanError(
            f"{resolved.plan.path}: record start needs concrete interfaces, but {shown} "
            "would need discovery or a glob expanded at run time; name the interfaces "
            "(or use roles defined under devices: in the inventory)"
        )
    snaplen = resolved.plan.capture.snaplen
    labels = point_labels(points)
    items: dict[str, list[StartItem]] = {}
    for p in points:
        node = inventory.node(p.node)
        label = labels[p]
        directory = recorder_dir(node.capture_dir, name, "cap", label)
        bpf = point_filter(resolved, p, node)
        meta = meta_text({
            "name": name, "kind": "cap", "label": label, "node": p.node, "iface": p.iface,
            "netns": p.netns or "", "pod": p.pod or "", "files": ring.files,
            "file_mb": ring.file_mb, "snaplen": snaplen, "bound": ring.bound_bytes(snaplen),
            "lease_s": f"{lease_s:.0f}", "plan": resolved.plan.name, "filter": bpf,
        })  # fmt: skip
        command = capture_argv(
            tcpdump=node.tcpdump, iface=p.iface, ring=ring, snaplen=snaplen, lease_s=lease_s,
            bpf=bpf, netns=p.netns,
        )  # fmt: skip
        items.setdefault(p.node, []).append(
            StartItem(
                label,
                "cap",
                directory,
                meta,
                tuple(command),
                ring.bound_bytes(snaplen) + RECORDER_FILES_MAX,
            )
        )
    if probe_every is not None:
        for pr in resolved.probes:
            if pr.unresolved:
                raise PlanError(
                    f"{resolved.plan.path}: probe {pr.name} runs in a pod the inventory gives "
                    "no netns for; add netns: to that pod in the inventory"
                )
            node = inventory.node(pr.node)
            directory = recorder_dir(node.capture_dir, name, "probe", pr.name)
            meta = meta_text({
                "name": name, "kind": "probe", "label": pr.name, "node": pr.node,
                "probe_kind": pr.kind, "netns": pr.netns or "", "every_s": f"{probe_every:g}",
                "lease_s": f"{lease_s:.0f}", "argv": shlex.join(pr.argv),
            })  # fmt: skip
            command = probe_argv(
                log=f"{directory}/probe.log", every_s=probe_every, lease_s=lease_s,
                probe=pr.argv, netns=pr.netns,
            )  # fmt: skip
            items.setdefault(pr.node, []).append(
                StartItem(
                    pr.name,
                    "probe",
                    directory,
                    meta,
                    tuple(command),
                    2 * PROBE_LOG_MAX + PCAP_HEADER,
                    ready="",
                )
            )
    return items


@dataclass
class NodeLaunches:
    outcome: NodeOutcome
    launches: list[Launch] = field(default_factory=list)


async def start(
    inventory: Inventory,
    items: dict[str, list[StartItem]],
    *,
    name: str,
    transport: str = "asyncssh",
    factory: Factory = open_transport,
) -> list[NodeLaunches]:
    """Launch every node's recorders at once; one record per node, inventory order."""
    nodes = [n for n in inventory.nodes if n.name in items]

    async def one(node: NodeSpec) -> NodeLaunches:
        done = NodeLaunches(NodeOutcome(node.name))
        async with connected(node, transport, factory, done.outcome) as t:
            if t is None:
                done.launches = [
                    Launch(i, "not-started", done.outcome.detail) for i in items[node.name]
                ]
                return done
            done.launches = await start_node(t, name, items[node.name], done.outcome)
        return done

    return await for_each_node(nodes, one)


@dataclass
class NodeListing:
    outcome: NodeOutcome
    listing: Listing | None = None


async def survey(
    nodes: Sequence[NodeSpec],
    *,
    name: str,
    counts: bool,
    transport: str = "asyncssh",
    factory: Factory = open_transport,
) -> list[NodeListing]:
    """Every node's recorders (``name`` "" = all), found by their directories."""

    async def one(node: NodeSpec) -> NodeListing:
        done = NodeListing(NodeOutcome(node.name))
        async with connected(node, transport, factory, done.outcome) as t:
            if t is not None:
                done.listing = await list_node(t, name, done.outcome, counts=counts)
        return done

    return await for_each_node(nodes, one)


@dataclass
class NodeStopped:
    outcome: NodeOutcome
    stopped: list[str] = field(default_factory=list)


async def stop(
    nodes: Sequence[NodeSpec],
    *,
    name: str,
    transport: str = "asyncssh",
    factory: Factory = open_transport,
) -> list[NodeStopped]:
    """Stop recorders ``name`` ("" = all) on every node and remove their files."""

    async def one(node: NodeSpec) -> NodeStopped:
        done = NodeStopped(NodeOutcome(node.name))
        async with connected(node, transport, factory, done.outcome) as t:
            if t is not None:
                done.stopped = await stop_node(t, name, done.outcome)
        return done

    return await for_each_node(nodes, one)
