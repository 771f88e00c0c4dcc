"""The run-bundle manifest ("netdiag.run/1") as read-only values for the views.

Only what the reports show is typed (node status, clock, commands, capture stats, versions); the
raw document is kept in ``raw`` so nothing written by a newer capture is lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdiag.errors import AnalysisInputError
from netdiag.report.document import split_point

SCHEMA = "netdiag.run/1"


@dataclass(frozen=True, slots=True)
class Clock:
    """Node clock minus reference clock, with its error bound (Cristian: <= RTT/2)."""

    offset_ns: int
    error_ns: int | None = None
    rtt_ns: int | None = None
    samples: int | None = None


@dataclass(frozen=True, slots=True)
class NodeRun:
    """What happened on one node: its status and the commands netdiag ran there."""

    name: str
    status: str
    detail: str = ""
    commands: tuple[tuple[str, ...], ...] = ()
    clock: Clock | None = None


@dataclass(frozen=True, slots=True)
class CaptureRun:
    """One tcpdump at one point: the file it produced and the counts it printed."""

    point: str
    node: str
    iface: str
    file: str | None
    status: str
    captured: int | None = None
    received: int | None = None
    detail: str = ""
    frames: int | None = None  # frames in the fetched file (fewer than captured: cut short)
    dropped: int | None = None
    netns: str | None = None
    stderr: str = ""
    resolved_from: str = ""  # inventory | discovery | name ("" in older manifests)
    pod: str | None = None
    role: str | None = None
    discovery: tuple[str, ...] = ()  # the commands that placed it

    @property
    def found_by(self) -> str:
        """How the point was chosen, for people: "discovery: pod default/x", "inventory: uplink"."""
        what = f"pod {self.pod}" if self.pod else self.role or ""
        if not self.resolved_from:
            return "-"
        return f"{self.resolved_from}: {what}" if what else self.resolved_from


@dataclass(frozen=True)
class Manifest:
    """The parts of ``manifest.json`` the views display."""

    run_id: str
    started_ns: int | None
    finished_ns: int | None
    nodes: dict[str, NodeRun]
    captures: tuple[CaptureRun, ...]
    tool_versions: dict[str, Any]
    probes: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def plan(self) -> dict[str, Any]:
        """The plan as run (name, description, path, points, probes); {} when not recorded."""
        plan = self.raw.get("plan")
        return dict(plan) if isinstance(plan, Mapping) else {}

    @property
    def utc_offset_s(self) -> int | None:
        """The capturing machine's offset from UTC when the run started, if recorded."""
        tz = self.raw.get("timezone")
        value = tz.get("utc_offset_s") if isinstance(tz, Mapping) else None
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def timezone_name(self) -> str:
        tz = self.raw.get("timezone")
        return str(tz.get("name") or "") if isinstance(tz, Mapping) else ""


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _clock(raw: Any) -> Clock | None:
    if not isinstance(raw, Mapping) or raw.get("offset_ns") is None:
        return None
    return Clock(
        int(raw["offset_ns"]),
        _int(raw.get("error_ns")),
        _int(raw.get("rtt_ns")),
        _int(raw.get("samples")),
    )


def _node(name: str, raw: Mapping[str, Any]) -> NodeRun:
    commands = tuple(tuple(str(a) for a in argv) for argv in raw.get("commands") or ())
    return NodeRun(
        name=name,
        status=str(raw.get("status") or "unknown"),
        detail=str(raw.get("detail") or ""),
        commands=commands,
        clock=_clock(raw.get("clock")),
    )


def _capture(raw: Mapping[str, Any]) -> CaptureRun:
    point = str(raw.get("point") or f"{raw.get('node', '?')}/{raw.get('iface', '?')}")
    node, iface = split_point(point)
    stats = raw.get("stats") if isinstance(raw.get("stats"), Mapping) else {}
    assert isinstance(stats, Mapping)
    return CaptureRun(
        point=point,
        node=str(raw.get("node") or node),
        iface=str(raw.get("iface") or iface),
        file=None if raw.get("file") is None else str(raw["file"]),
        status=str(raw.get("status") or "unknown"),
        detail=str(raw.get("detail") or ""),
        frames=_int(raw.get("frames")),
        captured=_int(stats.get("captured")),
        received=_int(stats.get("received")),
        dropped=_int(stats.get("dropped")),
        netns=None if raw.get("netns") is None else str(raw["netns"]),
        stderr=str(raw.get("stderr") or ""),
        resolved_from=str(raw.get("resolved_from") or ""),
        pod=None if raw.get("pod") is None else str(raw["pod"]),
        role=None if raw.get("role") is None else str(raw["role"]),
        discovery=tuple(str(c) for c in raw.get("discovery") or ()),
    )


def parse_manifest(raw: Mapping[str, Any], source: str = "manifest.json") -> Manifest:
    """A decoded manifest -> :class:`Manifest`; refuses other documents with a clear message."""
    if not isinstance(raw, Mapping) or raw.get("schema") != SCHEMA:
        got = raw.get("schema") if isinstance(raw, Mapping) else type(raw).__name__
        raise AnalysisInputError(
            f"{source}: schema is {got!r}, expected {SCHEMA!r}; "
            "give a run directory written by `netdiag capture --out DIR`"
        )
    try:
        nodes = {str(k): _node(str(k), v) for k, v in (raw.get("nodes") or {}).items()}
        captures = tuple(_capture(c) for c in raw.get("captures") or ())
    except (TypeError, ValueError, AttributeError) as exc:
        raise AnalysisInputError(f"{source}: malformed node or capture entry ({exc})") from exc
    return Manifest(
        run_id=str(raw.get("run_id") or ""),
        started_ns=_int(raw.get("started_ns")),
        finished_ns=_int(raw.get("finished_ns")),
        nodes=nodes,
        captures=captures,
        tool_versions=dict(raw.get("tool_versions") or {}),
        probes=tuple(dict(p) for p in raw.get("probes") or () if isinstance(p, Mapping)),
        raw=dict(raw),
    )


def load_manifest(path: Path) -> Manifest:
    """Read and parse ``DIR/manifest.json``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisInputError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise AnalysisInputError(
            f"{path}: not valid JSON ({exc}); the run bundle is damaged"
        ) from exc
    return parse_manifest(raw, str(path))
