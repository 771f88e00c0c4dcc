"""What a run found, node by node, as it goes; its on-disk form is the run's manifest.

These are mutable records filled in as the run advances (the progress display reads them
live); :func:`manifest` freezes them into :class:`netdiag.bundle.Manifest`, the one shape of
``manifest.json`` that ``analyze``, ``report`` and ``tui`` read. The manifest is rewritten after
every phase, so a run that fails half-way still leaves one in which every node has a status.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from netdiag.bundle import layout
from netdiag.bundle.manifest import CaptureRun, Manifest, NodeRun, ProbeRun
from netdiag.bundle.manifest import write_manifest as write_manifest_file
from netdiag.capture.tcpdump import CaptureStats
from netdiag.clock import Clock

__all__ = [
    "CaptureResult",
    "CaptureStatus",
    "NodeResult",
    "NodeStatus",
    "ProbeResult",
    "RunRecord",
    "capture_status",
    "copy_fields",
    "manifest",
    "node_status",
    "node_status_of",
    "write_manifest",
]

Record = TypeVar("Record")

# A capture point's status in the manifest (the README's capture section names each).
CaptureStatus = Literal[
    "pending", "armed", "listening",  # on the way
    "ok", "incomplete", "recovered",  # a file to analyse (incomplete: fewer frames than counted)
    "not-started", "no-device", "no-interface", "no-tcpdump", "no-permission", "bad-filter",
    "disk-full", "not-listening", "lost", "fetch-failed", "failed",
]  # fmt: skip
# A node's status: its preflight verdict, or the first failure of one of its captures.
NodeStatus = Literal[
    "pending", "ok", "recovered",
    "unreachable", "auth-failed", "hostkey-rejected", "no-tcpdump", "no-permission",
    "no-interface", "bad-filter", "disk-full", "not-listening", "not-started", "lost",
    "interrupted", "failed",
]  # fmt: skip


def node_status(text: object) -> NodeStatus:
    """``text`` (a manifest's word) as a node status; ValueError for any other word."""
    if text not in get_args(NodeStatus):
        raise ValueError(f"unknown node status {text!r}")
    return cast(NodeStatus, text)


def capture_status(text: object) -> CaptureStatus:
    """``text`` (a manifest's word) as a capture status; ValueError for any other word."""
    if text not in get_args(CaptureStatus):
        raise ValueError(f"unknown capture status {text!r}")
    return cast(CaptureStatus, text)


def node_status_of(status: CaptureStatus) -> NodeStatus:
    """A failed capture's status as its node's ("failed" for one no node can have)."""
    return cast(NodeStatus, status) if status in get_args(NodeStatus) else "failed"


def copy_fields(source: object, target: type[Record], **given: Any) -> Record:
    """A ``target`` made of the fields of ``source`` it has by name, ``given`` overriding them:
    these mutable records and the manifest's frozen ones share their field names."""
    names = {f.name for f in fields(target) if f.init} - given.keys()  # type: ignore[arg-type]
    return target(**{n: getattr(source, n) for n in names if hasattr(source, n)}, **given)


@dataclass
class NodeResult:
    """One node: its final status, and ``state`` (what it is doing now) for the progress view."""

    name: str
    status: NodeStatus = "pending"
    detail: str = ""
    state: str = "waiting"
    commands: list[list[str]] = field(default_factory=list)
    interfaces: list[Any] = field(default_factory=list)
    clock: Clock | None = None  # the node's clock vs this host's
    simulated_clock_offset_ns: int = 0
    tcpdump: str | None = None
    kernel: str | None = None
    state_since: float = field(default_factory=time.monotonic)  # when ``state`` began
    state_limit: float | None = None  # seconds the current step may take, when known

    def enter(self, state: str, *, limit: float | None = None) -> None:
        """Move to ``state`` (what the progress display shows), optionally with its time bound."""
        self.state, self.state_since, self.state_limit = state, time.monotonic(), limit

    def fail(self, status: NodeStatus, detail: str) -> None:
        """Record the first failure; later ones (often consequences) do not overwrite it."""
        if self.status in ("pending", "ok"):
            self.status, self.detail = status, detail

    def record(self) -> NodeRun:
        """The node as the manifest records it now."""
        return copy_fields(
            self, NodeRun, commands=tuple(map(tuple, self.commands)),
            interfaces=tuple(self.interfaces),
        )  # fmt: skip


@dataclass
class CaptureResult:
    """One capture point. ``packets`` is the live count (SIGUSR1), ``stats`` the final one."""

    node: str
    iface: str
    netns: str | None
    file: str  # relative to the run directory: bundle.layout.pcap_name()
    status: CaptureStatus = "pending"
    detail: str = ""
    stats: CaptureStats | None = None
    stderr: str = ""
    packets: int | None = None
    remote_dir: str | None = None
    resolved_from: str = "inventory"  # inventory | discovery (found on the node) | name
    role: str | None = None
    pod: str | None = None
    discovery: list[str] = field(default_factory=list)  # the commands that placed it
    label: str = ""  # what the point is called after "node/" when not iface: "web-1:eth0"
    frames: int | None = None  # frames in the fetched file (tcpdump's count is stats.captured)
    free_bytes: int | None = None  # free space in capture_dir when tcpdump ended
    kept: bool = False  # not fetched: the node keeps the file for the run's grace period
    #: the capture is known to have run until then (the node's clock, ns): a recorder's
    #: snapshot covers its whole window even when the point's last frame came earlier
    until_ns: int | None = None

    @property
    def point(self) -> str:
        """``node/label``; a pod found on no node is its label alone (``<pod ns/name>``)."""
        label = self.label or self.iface
        return f"{self.node}/{label}" if self.node else label

    def record(self) -> CaptureRun:
        """The capture point as the manifest records it now."""
        stats = self.stats.to_json() if self.stats else {}
        return copy_fields(self, CaptureRun, discovery=tuple(self.discovery), **stats)


@dataclass
class ProbeResult:
    node: str
    name: str
    kind: str
    argv: list[str]
    output: str  # relative path of the saved output
    netns: str | None = None
    exit_status: int | None = None
    detail: str = ""

    def record(self) -> ProbeRun:
        """The probe as the manifest records it now."""
        return copy_fields(self, ProbeRun, argv=tuple(self.argv))


def local_timezone() -> dict[str, Any]:
    """``{"name": "CET", "utc_offset_s": 3600}`` of this machine, now."""
    now = time.localtime()
    return {"name": now.tm_zone, "utc_offset_s": now.tm_gmtoff}


@dataclass
class RunRecord:
    """Everything the manifest says; filled in by the orchestrator as the run goes."""

    run_id: str
    out: Path
    plan: dict[str, Any]
    inventory: dict[str, Any]
    transport: str
    nodes: dict[str, NodeResult]
    captures: list[CaptureResult] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    started_ns: int = field(default_factory=time.time_ns)
    finished_ns: int | None = None
    phase: str = "starting"
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    heartbeat_s: float = 15.0
    grace_s: float = 0.0  # how long a node keeps what netdiag did not fetch
    #: the capturing machine's time zone when the run started, so a report can say the local
    #: time the engineer saw as well as UTC
    timezone: dict[str, Any] = field(default_factory=local_timezone)


def manifest(record: RunRecord) -> Manifest:
    """The run as its manifest records it now."""
    from netdiag import __version__

    return copy_fields(
        record,
        Manifest,
        netdiag_version=__version__,
        nodes={name: n.record() for name, n in record.nodes.items()},
        captures=tuple(c.record() for c in record.captures),
        probes=tuple(p.record() for p in record.probes),
        notes=tuple(record.notes),
    )


def write_manifest(record: RunRecord) -> Path:
    """Write DIR/manifest.json atomically (a reader never sees half a file)."""
    return write_manifest_file(layout.Layout(record.out).manifest, manifest(record))


def plan_json(plan: Any, points: Sequence[Any], bpf: str) -> dict[str, Any]:
    """The plan as run: its source, limits, resolved points and the filter actually used."""
    cap = plan.capture
    return {
        "name": plan.name,
        "path": str(plan.path),
        "description": plan.description,
        "filter": bpf,
        "snaplen": cap.snaplen,
        "duration": cap.duration,
        "max_packets": cap.max_packets,
        "max_file_mb": cap.max_file_mb,
        "linger": plan.linger,
        "points": [
            {
                "node": p.node,
                "iface": p.iface,
                "netns": p.netns,
                "pod": p.pod,
                "role": p.role,
                "resolved_from": p.via,
            }
            for p in points
        ],
        "probes": [
            {"name": p.name, "kind": p.kind, "from": p.source, "target": p.target}
            for p in plan.probes
        ],
    }
