"""A run directory's ``manifest.json`` back into the :class:`RunRecord` it was written from.

``netdiag capture --recover`` continues a run that did not finish: it needs the run as the
orchestrator knew it (run id, nodes, capture points, their files and remote directories), then
writes the manifest again through the same :func:`write_manifest`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netdiag.capture.results import (
    SCHEMA,
    CaptureResult,
    ClockInfo,
    NodeResult,
    ProbeResult,
    RunRecord,
    capture_status,
    node_status,
)
from netdiag.capture.tcpdump import CaptureStats
from netdiag.errors import InputError

__all__ = ["load_record"]


def load_record(out: Path) -> RunRecord:
    """Read ``out/manifest.json``; InputError (what is wrong, what to give) when unusable."""
    path = out / "manifest.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{out}: no manifest.json; give the directory `netdiag capture --out DIR` wrote"
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); it is not a run manifest") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not doc.get("run_id"):
        raise InputError(f"{path}: not a netdiag run manifest (schema {SCHEMA} with a run_id)")
    try:
        return _record(doc, out)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: damaged run manifest ({exc!r}); it cannot be continued") from exc


def _record(doc: Mapping[str, Any], out: Path) -> RunRecord:
    versions = (doc.get("tool_versions") or {}).get("nodes") or {}
    nodes = {name: _node(name, raw, versions.get(name) or {}) for name, raw in doc["nodes"].items()}
    return RunRecord(
        run_id=str(doc["run_id"]),
        out=out,
        plan=dict(doc.get("plan") or {}),
        inventory=dict(doc.get("inventory") or {}),
        transport=str(doc.get("transport") or "asyncssh"),
        nodes=nodes,
        captures=[_capture(c) for c in doc.get("captures") or []],
        probes=[_probe(p) for p in doc.get("probes") or []],
        started_ns=int(doc.get("started_ns") or 0),
        finished_ns=doc.get("finished_ns"),
        phase=str(doc.get("phase") or ""),
        interrupted=bool(doc.get("interrupted")),
        notes=[str(n) for n in doc.get("notes") or []],
        heartbeat_s=float(doc.get("heartbeat_s") or 0),
        grace_s=float(doc.get("grace_s") or 0),
        # a recovered run keeps the zone it was captured in (an older run: none recorded)
        timezone=dict(doc["timezone"]) if isinstance(doc.get("timezone"), dict) else {},
    )


def _node(name: str, raw: Mapping[str, Any], versions: Mapping[str, Any]) -> NodeResult:
    clock = raw.get("clock")
    node = NodeResult(
        name,
        status=node_status(raw["status"]),
        detail=str(raw.get("detail") or ""),
        commands=[list(c) for c in raw.get("commands") or []],
        interfaces=list(raw.get("interfaces") or []),
        clock=ClockInfo(**clock) if isinstance(clock, dict) else None,
        simulated_clock_offset_ns=int(raw.get("simulated_clock_offset_ns") or 0),
        tcpdump=versions.get("tcpdump"),
        kernel=versions.get("kernel"),
    )
    node.enter(node.status)
    return node


def _capture(raw: Mapping[str, Any]) -> CaptureResult:
    stats = raw.get("stats")
    node, iface = str(raw["node"]), str(raw["iface"])
    point = str(raw.get("point") or "")
    label = point.partition("/")[2] if node else point
    return CaptureResult(
        node,
        iface,
        raw.get("netns"),
        str(raw.get("file") or ""),
        status=capture_status(raw["status"]),
        detail=str(raw.get("detail") or ""),
        stats=CaptureStats(**stats) if isinstance(stats, dict) else None,
        stderr=str(raw.get("stderr") or ""),
        remote_dir=raw.get("remote_dir"),
        resolved_from=str(raw.get("resolved_from") or "inventory"),
        role=raw.get("role"),
        pod=raw.get("pod"),
        discovery=[str(c) for c in raw.get("discovery") or []],
        label=label if label != iface else "",
        frames=raw.get("frames"),
        free_bytes=raw.get("free_bytes"),
        kept=bool(raw.get("kept")),
    )


def _probe(raw: Mapping[str, Any]) -> ProbeResult:
    return ProbeResult(
        node=str(raw["node"]),
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        argv=[str(a) for a in raw.get("argv") or []],
        output=str(raw.get("output") or ""),
        netns=raw.get("netns"),
        exit_status=raw.get("exit_status"),
        detail=str(raw.get("detail") or ""),
    )
