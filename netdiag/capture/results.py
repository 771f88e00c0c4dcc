"""What a run found, node by node, and its on-disk form: the run bundle's ``manifest.json``.

These are mutable records filled in as the run advances (the progress display reads them
live); :func:`manifest` turns them into the versioned JSON (schema ``netdiag.run/1``) that
``analyze``, ``report`` and ``tui`` read. The manifest is rewritten after every phase, so a run
that fails half-way still leaves one in which every node has a status.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from netdiag.capture.tcpdump import CaptureStats

__all__ = [
    "SCHEMA",
    "CaptureResult",
    "CaptureStatus",
    "ClockInfo",
    "NodeResult",
    "NodeStatus",
    "ProbeResult",
    "RunRecord",
    "capture_status",
    "manifest",
    "node_status",
    "node_status_of",
    "write_manifest",
]

SCHEMA = "netdiag.run/1"

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


@dataclass(frozen=True)
class ClockInfo:
    """Node clock minus the orchestrator's clock (corrected_ts = ts_ns - offset_ns)."""

    offset_ns: int
    error_ns: int
    rtt_ns: int
    samples: int

    def to_json(self) -> dict[str, int]:
        return {
            "offset_ns": self.offset_ns,
            "error_ns": self.error_ns,
            "rtt_ns": self.rtt_ns,
            "samples": self.samples,
        }


@dataclass
class NodeResult:
    """One node: its final status, and ``state`` (what it is doing now) for the progress view."""

    name: str
    status: NodeStatus = "pending"
    detail: str = ""
    state: str = "waiting"
    commands: list[list[str]] = field(default_factory=list)
    interfaces: list[Any] = field(default_factory=list)
    clock: ClockInfo | None = None
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

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "commands": [list(c) for c in self.commands],
            "interfaces": self.interfaces,
            "clock": self.clock.to_json() if self.clock else None,
            "simulated_clock_offset_ns": self.simulated_clock_offset_ns,
        }


@dataclass
class CaptureResult:
    """One capture point. ``packets`` is the live count (SIGUSR1), ``stats`` the final one."""

    node: str
    iface: str
    netns: str | None
    file: str  # relative to the bundle: pcaps/<node>__<iface>.pcap
    status: CaptureStatus = "pending"
    detail: str = ""
    stats: CaptureStats | None = None
    stderr: str = ""
    packets: int | None = None
    remote_dir: str | None = None
    resolved_from: str = "inventory"  # inventory | discovery (a role or a pod) | name
    role: str | None = None
    pod: str | None = None
    discovery: list[str] = field(default_factory=list)  # the commands that placed it
    label: str = ""  # what the point is called after "node/" when not iface: "web-1:eth0"
    frames: int | None = None  # frames in the fetched file (tcpdump's count is stats.captured)
    free_bytes: int | None = None  # free space in capture_dir when tcpdump ended
    kept: bool = False  # not fetched: the node keeps the file for the run's grace period

    @property
    def point(self) -> str:
        """``node/label``; a pod found on no node is its label alone (``<pod ns/name>``)."""
        label = self.label or self.iface
        return f"{self.node}/{label}" if self.node else label

    def to_json(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "node": self.node,
            "iface": self.iface,
            "netns": self.netns,
            "file": self.file,
            "status": self.status,
            "detail": self.detail,
            "stats": self.stats.to_json() if self.stats else None,
            "frames": self.frames,
            "free_bytes": self.free_bytes,
            "remote_dir": self.remote_dir,
            "kept": self.kept,
            "stderr": self.stderr,
            "resolved_from": self.resolved_from,
            "role": self.role,
            "pod": self.pod,
            "discovery": list(self.discovery),
        }


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

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "name": self.name,
            "kind": self.kind,
            "netns": self.netns,
            "argv": list(self.argv),
            "output": self.output,
            "exit_status": self.exit_status,
            "detail": self.detail,
        }


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


def _tool_versions(nodes: Mapping[str, NodeResult]) -> dict[str, Any]:
    from netdiag import __version__

    return {
        "netdiag": __version__,
        "nodes": {n.name: {"tcpdump": n.tcpdump, "kernel": n.kernel} for n in nodes.values()},
    }


def manifest(record: RunRecord) -> dict[str, Any]:
    """The run bundle's ``manifest.json`` document (schema ``netdiag.run/1``)."""
    return {
        "schema": SCHEMA,
        "run_id": record.run_id,
        "started_ns": record.started_ns,
        "finished_ns": record.finished_ns,
        "timezone": record.timezone,
        "phase": record.phase,
        "interrupted": record.interrupted,
        "heartbeat_s": record.heartbeat_s,
        "grace_s": record.grace_s,
        "transport": record.transport,
        "plan": record.plan,
        "inventory": record.inventory,
        "tool_versions": _tool_versions(record.nodes),
        "nodes": {name: n.to_json() for name, n in record.nodes.items()},
        "captures": [c.to_json() for c in record.captures],
        "probes": [p.to_json() for p in record.probes],
        "notes": list(record.notes),
    }


def write_manifest(record: RunRecord) -> Path:
    """Write DIR/manifest.json atomically (a reader never sees half a file)."""
    path = record.out / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest(record), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


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
