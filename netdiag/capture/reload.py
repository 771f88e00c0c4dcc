"""A run directory's ``manifest.json`` back into the :class:`RunRecord` it was written from.

``netdiag capture --recover`` continues a run that did not finish: it needs the run as the
orchestrator knew it (run id, nodes, capture points, their files and remote directories), then
writes the manifest again through the same :func:`write_manifest`.
"""

from __future__ import annotations

import json
from pathlib import Path

from netdiag.bundle.layout import Layout
from netdiag.bundle.manifest import RUN_SCHEMA, CaptureRun, Manifest, NodeRun
from netdiag.capture.results import (
    CaptureResult,
    NodeResult,
    ProbeResult,
    RunRecord,
    capture_status,
    copy_fields,
    node_status,
)
from netdiag.capture.tcpdump import CaptureStats
from netdiag.errors import AnalysisInputError, InputError

__all__ = ["load_record"]


def load_record(out: Path) -> RunRecord:
    """Read ``out/manifest.json``; InputError (what is wrong, what to give) when unusable."""
    path = Layout(out).manifest
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{out}: no manifest.json; give the directory `netdiag capture --out DIR` wrote"
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); it is not a run manifest") from exc
    if not isinstance(doc, dict) or doc.get("schema") != RUN_SCHEMA or not doc.get("run_id"):
        raise InputError(f"{path}: not a netdiag run manifest (schema {RUN_SCHEMA} with a run_id)")
    try:
        return _record(Manifest.from_json(doc, str(path)), out)
    except AnalysisInputError as exc:
        raise InputError(f"{exc}; it cannot be continued") from exc
    except ValueError as exc:  # a status no run can have
        raise InputError(f"{path}: damaged run manifest ({exc}); it cannot be continued") from exc


def _record(manifest: Manifest, out: Path) -> RunRecord:
    return copy_fields(
        manifest,
        RunRecord,
        out=out,
        plan=dict(manifest.plan),
        inventory=dict(manifest.inventory),
        transport=manifest.transport or "asyncssh",
        nodes={name: _node(node) for name, node in manifest.nodes.items()},
        captures=[_capture(c) for c in manifest.captures],
        probes=[copy_fields(p, ProbeResult, argv=list(p.argv)) for p in manifest.probes],
        started_ns=manifest.started_ns or 0,
        notes=list(manifest.notes),
        # a recovered run keeps the zone it was captured in (an older run: none recorded)
        timezone=dict(manifest.timezone),
    )


def _node(run: NodeRun) -> NodeResult:
    node = copy_fields(
        run, NodeResult, status=node_status(run.status), commands=[list(c) for c in run.commands],
        interfaces=list(run.interfaces),
    )  # fmt: skip
    node.enter(node.status)
    return node


def _capture(run: CaptureRun) -> CaptureResult:
    stats = None
    if run.captured is not None and run.received is not None and run.dropped is not None:
        stats = CaptureStats(run.captured, run.received, run.dropped)
    label = run.point.partition("/")[2] if run.node else run.point
    return copy_fields(
        run,
        CaptureResult,
        status=capture_status(run.status),
        file=run.file or "",
        stats=stats,
        resolved_from=run.resolved_from or "inventory",
        discovery=list(run.discovery),
        label=label if label != run.iface else "",
    )
