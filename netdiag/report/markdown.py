"""The report as Markdown, to paste into an incident ticket or a chat: what and when, the
verdict (failures first), translations, anomalies and each distinct path in one line.

Every string from a capture, a node or an inventory is escaped (``_text``, ``_cell``) or put in
a code span/fence longer than any backtick run it holds, so a hostile hostname cannot start a
link, an image or a heading.
"""

from __future__ import annotations

import re

from netdiag.bundle.open import OpenedRun
from netdiag.report.describe import (
    change_label,
    describe_change,
    flow_rows,
    latency_text,
)
from netdiag.report.document import AnalysisDocument, Change, Journey
from netdiag.report.facts import run_facts
from netdiag.report.groups import flow_groups, members
from netdiag.report.verdict import verdicts

__all__ = ["path_text", "render_markdown"]

MAX_PATHS = 25
MAX_ANOMALIES = 50
_MARK = {"bad": "✖", "warn": "⚠", "ok": "✔", "info": "·"}
# what can start markup inside a line (emphasis, code, links, images, tables, inline HTML)
_SPECIAL = re.compile(r"([\\`*_\[\]|<>~#!])")


def _text(value: object) -> str:
    """Text with every Markdown (and inline HTML) character escaped, on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _cell(value: object) -> str:
    return _text(value) or " "


def _code(value: str) -> str:
    """An inline code span that no backtick inside ``value`` can close early."""
    value = " ".join(value.split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def _short(change: Change) -> str:
    if change.kind == "mac-rewrite":
        return f"{change_label(change)} ->{change.after}"
    return describe_change(change)


def path_text(analysis: AnalysisDocument, journey: Journey) -> str:
    """``a/eth0 -> b/eth1 [DNAT x -> y, TTL 64 -> 63] -> b/veth`` as the terminal prints a
    path; ``~>`` where only clocks closer than their error decided the order."""
    path = journey.path
    if not path:
        return "(no sighting)"
    parts = [path[0].point]
    for transform, sighting in zip(journey.transforms, path[1:], strict=False):
        changes = ", ".join(_short(c) for c in transform.changes)
        arrow = "~>" if transform.uncertain else "->"
        latency = latency_text(analysis, transform)
        label = f" [{changes}; {latency}]" if changes else f" [{latency}]"
        parts.append(f"{label} {arrow} {sighting.point}")
    copies = sorted({s.point for s in journey.copies})
    if copies:
        parts.append(f" (copy also seen at {', '.join(copies)})")
    return "".join(parts)


def _header(view: OpenedRun) -> list[str]:
    facts = run_facts(view)
    lines = [f"## netdiag: {_text(facts.title)}", ""]
    if facts.description:
        lines += [_text(facts.description), ""]
    if facts.when:
        lines.append(f"- **Captured:** {_text(facts.when)}")
    lines.append(f"- **Status:** {_text(facts.status)}")
    for probe in facts.probes:
        mark = _MARK["ok" if probe.ok else "bad"]
        lines.append(f"- **Probe:** {mark} {_text(probe.what)}: **{_text(probe.result)}**")
    if facts.run_id:
        lines.append(f"- **Run:** {_code(facts.run_id)}")
    return [*lines, ""]


def _verdict(view: OpenedRun) -> list[str]:
    lines = ["### Verdict", ""]
    for v in verdicts(view.analysis, view.manifest):
        text = _text(v.text)
        lines.append(
            f"- {_MARK.get(v.level, '-')} " + (f"**{text}**" if v.level == "bad" else text)
        )
    return [*lines, ""]


def _translations(analysis: AnalysisDocument) -> list[str]:
    if not analysis.translations:
        return ["### Translations", "", "No address translation seen.", ""]
    lines = [
        "### Translations",
        "",
        "| kind | where | proto | before | after | packets |",
        "|---|---|---|---|---|---:|",
    ]
    for t in analysis.translations:
        cells = (t.kind, t.where, t.proto, t.before, t.after, t.packets)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def _anomalies(analysis: AnalysisDocument) -> list[str]:
    found = list(analysis.all_anomalies)
    if not found:
        return ["### Anomalies", "", "No anomaly found.", ""]
    lines = [f"### Anomalies ({len(found)})", ""]
    flow_of = analysis.flow_by_journey
    for a in found[:MAX_ANOMALIES]:
        where = f" after {_code(a.after_point)}" if a.after_point else ""
        if a.expected_point:
            where += f", expected at {_code(a.expected_point)}"
        flow = flow_of.get(a.journey or "")
        ref = f" (flow {_text(flow)}, journey {_text(a.journey)})" if flow else ""
        lines.append(f"- **{_text(a.kind)}**{where}: {_text(a.detail)}{ref}")
    if len(found) > MAX_ANOMALIES:
        lines.append(f"- … and {len(found) - MAX_ANOMALIES} more (see the HTML report)")
    return [*lines, ""]


def _paths(analysis: AnalysisDocument) -> list[str]:
    groups = flow_groups(analysis, flow_rows(analysis))
    if not groups:
        return []
    groups.sort(key=lambda g: (not g.anomalies, -len(g.rows), g.first.first_ts))
    lines = [f"### Paths ({len(groups)} distinct, {sum(len(g.rows) for g in groups)} flows)", ""]
    for group in groups[:MAX_PATHS]:
        row = group.first
        found = members(analysis, group)
        if not found:
            continue
        n = len(group.rows)
        ids = ", ".join(r.id for r in group.rows[:8]) + (" …" if n > 8 else "")
        head = f"**{n} flow{'s' if n > 1 else ''}** {_text(row.proto)} "
        head += f"{_code(row.client)} → {_code(row.server)}: {_text(row.reply)}"
        if row.anomalies:
            head += f", **{_text(row.anomalies)}**"
        lines.append(f"- {head} ({_text(ids)})")
        request, reply = found[0]
        block = [f"request: {path_text(analysis, request)}"]
        if reply is not None:
            block.append(f"reply:   {path_text(analysis, reply)}")
        runs = [len(m) + 1 for b in block for m in re.findall(r"`+", b)]
        fence = "`" * max([3, *runs])
        lines += [f"  {fence}", *(f"  {b}" for b in block), f"  {fence}"]
        seen = {s.point for pair in found for j in pair if j is not None for s in j.path}
        unseen = [p.name for p in analysis.points if p.name not in seen]
        if unseen:
            lines.append(f"  Not on this path: {', '.join(_code(u) for u in unseen)}")
    if len(groups) > MAX_PATHS:
        lines.append(f"- … {len(groups) - MAX_PATHS} more paths (see the HTML report)")
    return [*lines, ""]


def render_markdown(view: OpenedRun) -> str:
    """The whole Markdown report."""
    analysis = view.analysis
    lines = [
        *_header(view),
        *_verdict(view),
        *_translations(analysis),
        *_anomalies(analysis),
        *_paths(analysis),
    ]
    total = sum(p.packets for p in analysis.points)
    lines.append(
        f"_{total} packets at {len(analysis.points)} capture points; latencies ± the clocks' "
        f"error; times on the reference clock. Written by netdiag; the HTML report has "
        f"every hop._"
    )
    return "\n".join(lines) + "\n"
