"""What a report says before its verdict: which plan, when (UTC and the capturer's zone), how
the run went, and each probe with its result. Shared by the HTML and Markdown reports."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from netdiag.bundle.manifest import Manifest
from netdiag.bundle.open import OpenedRun
from netdiag.report.describe import corrected_ts, format_ns
from netdiag.report.probes import ProbeLine, probe_line

__all__ = ["RunFacts", "run_facts", "utc_text"]


@dataclass(frozen=True)
class RunFacts:
    title: str  # the report's heading: the plan and the time, never a local path
    page_title: str  # <title>: what a browser tab or a mail attachment list shows
    description: str
    when: str
    status: str
    status_level: str  # ok | warn | bad
    probes: tuple[ProbeLine, ...]
    run_id: str


def utc_text(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ns / 1e9))


def _local_text(ns: int, offset_s: int, name: str) -> str:
    local = time.gmtime(ns / 1e9 + offset_s)
    sign = "+" if offset_s >= 0 else "-"
    hours, minutes = divmod(abs(offset_s) // 60, 60)
    zone = f"UTC{sign}{hours:02d}:{minutes:02d}"
    label = f"{name}, {zone}" if name and name not in ("UTC", "GMT") else zone
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f" {label}"


def _when(view: OpenedRun) -> tuple[str, int | None]:
    manifest = view.manifest
    if manifest is not None and manifest.started_ns:
        start = manifest.started_ns
        text = utc_text(start)
        offset = manifest.utc_offset_s
        if offset == 0 and manifest.timezone_name in ("UTC", "GMT", "UCT", ""):
            text += " (the capturing host's zone)"
        elif offset is not None:
            text += f" ({_local_text(start, offset, manifest.timezone_name)} on the capturing host)"
        if manifest.finished_ns and manifest.finished_ns >= start:
            text += f", for {format_ns(manifest.finished_ns - start)}"
        return text, start
    firsts = [
        corrected_ts(view.analysis, j.sightings[0])
        for j in view.analysis.journeys.values()
        if j.sightings
    ]
    if not firsts:
        return "", None
    first = min(firsts)
    return f"{utc_text(first)} (first packet followed; no run manifest)", first


def _status(manifest: Manifest | None) -> tuple[str, str]:
    if manifest is None:
        return "capture files given by hand: no run manifest, node statuses unknown", "info"
    bad_nodes = [n for n in manifest.nodes.values() if n.status not in ("ok", "recovered")]
    bad_caps = [c for c in manifest.captures if c.status not in ("ok", "recovered")]
    recovered = [c for c in manifest.captures if c.status == "recovered"]
    total = len(manifest.captures)
    ok = total - len(bad_caps)
    interrupted, phase = manifest.interrupted, manifest.phase
    parts = []
    if bad_nodes:
        kinds = Counter(n.status for n in bad_nodes)
        parts.append(
            ", ".join(f"{', '.join(n.name for n in bad_nodes if n.status == k)} {k}" for k in kinds)
        )
    if bad_caps or recovered:
        parts.append(f"{ok} of {total} capture points complete")
    if interrupted:
        head, level = "interrupted", "bad"
    elif phase == "abandoned":
        head, level = "abandoned before the clean-up ended", "bad"
    elif not ok and total:
        head, level = "failed", "bad"
    elif parts:
        head, level = "partial", "warn"
    else:
        head, level = "complete", "ok"
        parts.append(f"every node and all {total} capture points captured")
    return f"{head}: {'; '.join(parts)}" if parts else head, level


def run_facts(view: OpenedRun) -> RunFacts:
    manifest = view.manifest
    plan = manifest.plan if manifest is not None else {}
    name = str(plan.get("name") or "")
    description = str(plan.get("description") or "")
    when, start = _when(view)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start / 1e9)) if start else ""
    if name:
        title = f"{name}, {stamp}" if stamp else name
    else:
        points = len(view.analysis.points)
        title = f"{points} capture point(s)" + (f", {stamp}" if stamp else "")
    status, level = _status(manifest)
    probes = tuple(
        probe_line(p, _output(view, p.output))
        for p in (manifest.probes if manifest is not None else ())
    )
    return RunFacts(
        title=title,
        page_title=f"netdiag: {title}",
        description=description,
        when=when,
        status=status,
        status_level=level,
        probes=probes,
        run_id=manifest.run_id if manifest is not None else "",
    )


def _output(view: OpenedRun, relative: str) -> str:
    return view.probe_output(relative) if relative else ""
