"""Pure helpers of a capture run, kept out of :mod:`netdiag.orchestrator` so it stays small.

Run-directory preparation and run ids, which nodes a run involves, where a pod probe lands
after discovery, whether preflight may ride in the capture session, and how captures and lost
checks are shown. None of these opens a session; the orchestrator drives them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from netdiag.bundle.layout import Layout, pcap_name
from netdiag.capture.locate import Unplaced
from netdiag.capture.preflight import NodeCheck
from netdiag.capture.remote import RemoteCapture
from netdiag.capture.results import CaptureResult
from netdiag.errors import InputError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.plan import CapturePoint, ResolvedPlan, ResolvedProbe

__all__ = [
    "capture_file",
    "involved",
    "lost_check",
    "make_run_id",
    "placed_probe",
    "point_failure",
    "point_labels",
    "preflight_in_capture",
    "prepare_out",
    "shown",
]


def placed_probe(
    probe: ResolvedProbe, where: CapturePoint | Unplaced
) -> tuple[ResolvedProbe, str | None]:
    """A pod probe moved into the namespace discovery found, or the reason it was not."""
    if isinstance(where, Unplaced):
        return probe, where.detail
    return replace(probe, node=where.node, netns=where.netns), None


def make_run_id() -> str:
    """Unique and file-name safe: UTC time + random, e.g. ``20261121T150102Z-3f9a1c``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: exists and is not empty; choose a new --out directory")
    try:
        Layout(out).pcaps.mkdir(parents=True, exist_ok=True)
        Layout(out).probes.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the run directory ({exc.strerror})") from exc


def involved(resolved: ResolvedPlan, inventory: Inventory) -> list[NodeSpec]:
    names = {p.node for p in resolved.points} | {p.node for p in resolved.probes}
    if "" in names:  # a pod only discovery can place: every node may hold it
        return list(inventory.nodes)
    return [n for n in inventory.nodes if n.name in names]


def preflight_in_capture(node: NodeSpec, points: Sequence[CapturePoint]) -> bool:
    """Can the node's preflight ride in its first capture's session?

    Not under sudo (the checks must see the login user, and ``sudo -n`` may be what fails),
    not with globs or roles (their interfaces are needed before any capture exists), only when a
    point sits in the node's own namespace (``ip -j link`` there is the node's).
    """
    mine = [p for p in points if p.node == node.name]
    if node.sudo or any(p.glob or p.unresolved for p in mine):  # a role may resolve to nothing
        return False
    return any(p.netns is None for p in mine)


def lost_check(node: NodeSpec, exc: BaseException) -> NodeCheck:
    """The preflight session failed: the node answered the handshake, then not this."""
    return NodeCheck(
        node.name,
        node.host,
        "failed",
        f"preflight in the capture session failed ({exc}); check the node's load and shell",
        reachable=True,
        auth=True,
    )


def shown(c: RemoteCapture) -> list[str]:
    """The capture command as it ran (the placeholder replaced by the real remote path)."""
    path = c.remote_file or "<not created>"
    return [path if a == "@NETDIAG_FILE@" else a for a in c.capture_argv]


def point_labels(points: Sequence[CapturePoint]) -> dict[CapturePoint, str]:
    """What follows ``node/`` in each point's name: its interface, or inside a pod ``POD:IFACE``.

    Two pods in one namespace of Kubernetes cannot share a name, but two namespaces' pods can:
    on a node that holds both, their points become ``POD.NAMESPACE:IFACE``. Interface names
    never contain ':' (the kernel refuses it), so a pod point never collides with a device.
    """
    namespaces: dict[tuple[str, str, str], set[str]] = {}
    for p in points:
        if p.inside and p.pod:
            ns, _, name = p.pod.rpartition("/")
            namespaces.setdefault((p.node, name, p.iface), set()).add(ns)
    labels: dict[CapturePoint, str] = {}
    for p in points:
        if not (p.inside and p.pod):
            labels[p] = p.iface
            continue
        ns, _, name = p.pod.rpartition("/")
        shared = len(namespaces[(p.node, name, p.iface)]) > 1
        labels[p] = f"{name}.{ns}:{p.iface}" if shared and ns else f"{name}:{p.iface}"
    return labels


def capture_file(node: str, label: str) -> str:
    """The point's file in the run directory (:func:`pcap_name`), in safe characters."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label.replace("*", "STAR").replace("?", "Q"))
    return pcap_name(node, safe)


def point_failure(r: CaptureResult) -> str:
    """A capture's failure as its node's detail: the point, then what went wrong, the node
    named once (transport messages start with the node's name themselves)."""
    detail = r.detail.removeprefix(f"{r.node}: ")
    return f"{r.point}: {detail}"
