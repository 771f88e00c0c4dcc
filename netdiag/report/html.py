"""The self-contained HTML incident report: one file, no fetch, readable when mailed.

Layout: what was captured and when (plan, time in UTC and the capturer's zone, probes and
their results, run status), the verdict with failures first, a table of contents, then
anomalies, translations, every flow (identical ones once) as an SVG path with its hop table,
capture points, nodes and the commands run, tool versions. CSS and JS are inlined and allowed
by hash in a strict Content-Security-Policy; all text goes through ``markup.esc``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from dataclasses import replace
from string import Template

from netdiag import __version__
from netdiag.bundle.manifest import CaptureRun, split_point
from netdiag.bundle.open import OpenedRun
from netdiag.report.assets import asset
from netdiag.report.describe import format_offset
from netdiag.report.document import AnalysisDocument
from netdiag.report.facts import RunFacts, run_facts
from netdiag.report.html_flows import flows_section, section, table
from netdiag.report.markup import Markup, el, esc, join, script_json
from netdiag.report.verdict import verdicts


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _header(view: OpenedRun, facts: RunFacts) -> Markup:
    """Title, what and when: a colleague reads this before anything else."""
    rows: list[tuple[str, object]] = []
    if facts.when:
        rows.append(("captured", facts.when))
    rows.append(("status", el("span", {"class": f"status-{facts.status_level}"}, facts.status)))
    if facts.probes:
        rows.append(
            (
                "probes",
                el(
                    "ul",
                    {"class": "probes"},
                    [
                        el(
                            "li",
                            {"class": "ok" if p.ok else "bad"},
                            p.what,
                            ": ",
                            el("strong", None, p.result),
                        )
                        for p in facts.probes
                    ],
                ),
            )
        )
    if facts.run_id:
        rows.append(("run", facts.run_id))
    return el(
        "header",
        None,
        el("h1", None, facts.title),
        el("p", {"class": "sub"}, facts.description) if facts.description else None,
        el("dl", {"class": "facts"}, [(el("dt", None, k), el("dd", None, v)) for k, v in rows]),
    )


_CONTENTS = (
    ("summary", "Summary"),
    ("anomalies", "Anomalies"),
    ("translations", "Translations"),
    ("flows", "Flows"),
    ("points", "Capture points"),
    ("nodes", "Nodes and commands"),
    ("versions", "Tool versions"),
)


def _contents(view: OpenedRun) -> Markup:
    entries = [(a, t) for a, t in _CONTENTS if a != "nodes" or view.manifest is not None]
    return el(
        "nav",
        {"class": "toc", "aria-label": "contents"},
        el("strong", None, "Contents: "),
        join(el("a", {"href": f"#{anchor}"}, title) for anchor, title in entries),
    )


def _summary(view: OpenedRun) -> Markup:
    analysis, manifest = view.analysis, view.manifest
    items = [el("li", {"class": v.level}, v.text) for v in verdicts(analysis, manifest)]
    nodes = sorted({p.node for p in analysis.points})
    where = ", ".join(f"{p.name} ({p.packets} packets)" for p in analysis.points[:12])
    if len(analysis.points) > 12:
        where += f", and {len(analysis.points) - 12} more"
    captured = (
        f"Captured at {len(analysis.points)} point(s) on {len(nodes)} node(s): {where}."
        if analysis.points
        else "No capture points in the analysis."
    )
    followed = (
        f"{len(analysis.journeys)} packet journeys followed, "
        f"{len(analysis.flows)} request/reply pairs, "
        f"{len(analysis.translations)} translations."
    )
    return el(
        "section",
        {"id": "summary"},
        el("h2", None, "Summary"),
        el("ul", {"class": "verdicts"}, items),
        el("p", None, captured, " ", followed),
    )


def _anomalies(analysis: AnalysisDocument, flow_ids: dict[str, str]) -> Markup:
    found = list(analysis.all_anomalies)
    if not found:
        return section("anomalies", "Anomalies (0)", el("p", None, "No anomaly found."))
    items = []
    for a in found[:1000]:
        flow = flow_ids.get(a.journey or "")
        link = el("a", {"href": f"#flow-{flow}"}, f"flow {flow}") if flow else None
        where = f" after {a.after_point}" if a.after_point else ""
        if a.expected_point:
            where += f", expected at {a.expected_point}"
        items.append(
            el(
                "div",
                {"class": "anomaly"},
                el("span", {"class": "kind"}, a.kind),
                f"journey {a.journey or '-'}{where}: {a.detail} ",
                link,
            )
        )
    more = el("p", None, f"... and {len(found) - 1000} more") if len(found) > 1000 else None
    return section("anomalies", f"Anomalies ({len(found)})", items, more)


def _translations(analysis: AnalysisDocument) -> Markup:
    rows = [
        (t.kind, t.where, t.proto, t.before, "→", t.after, t.packets) for t in analysis.translations
    ]
    body = (
        table(("kind", "node", "proto", "before", "", "after", "packets"), rows, num={6})
        if rows
        else el("p", None, "No address translation seen.")
    )
    return section("translations", f"Translations ({len(rows)})", body)


def _points(view: OpenedRun) -> Markup:
    caps = {c.point: c for c in view.manifest.captures} if view.manifest else {}
    nodes = view.manifest.nodes if view.manifest else {}
    ref = view.analysis.reference_node or "the reference node"
    rows = []
    for p in view.analysis.points:
        cap = caps.get(p.name)
        node = nodes.get(p.node)
        rows.append(
            (
                p.name,
                node.status if node else "-",
                cap.status if cap else "-",
                p.packets,
                "-" if cap is None or cap.captured is None else cap.captured,
                "-" if cap is None or cap.frames is None else cap.frames,
                "-" if p.kernel_dropped is None else p.kernel_dropped,
                el("span", {"class": "nowrap"}, format_offset(p.clock_offset_ns, p.clock_error_ns)),
                _found_by(cap),
            )
        )
    head = (
        "point",
        "node status",
        "capture",
        "analysed",
        "captured",
        "in file",
        "kernel drops",
        f"clock vs {ref}",
        "found by",
    )
    legend = el(
        "p",
        {"class": "legend"},
        "analysed: packets read from the file; captured: tcpdump's own count; in file: frames "
        "the fetched file holds (fewer than captured: the file was cut short, e.g. a full "
        "disk); kernel drops: packets the kernel's capture buffer had no room for, in no file. "
        f"Clock: the node's clock minus {ref}'s, ± its error bound; every time in this report "
        f"is on {ref}'s clock.",
    )
    return section("points", "Capture points", table(head, rows, num={3, 4, 5, 6}), legend)


def _found_by(cap: CaptureRun | None) -> Markup | str:
    """How the point was chosen; discovery's commands on hover, so the reader can rerun them."""
    if cap is None:
        return "-"
    if not cap.discovery:
        return cap.found_by
    return el("span", {"title": "\n".join(cap.discovery)}, cap.found_by)


def _probes(view: OpenedRun, node: str) -> list[Markup]:
    """The probes run from ``node`` with their output as captured (capped for mail)."""
    parts = []
    for probe in view.manifest.probes if view.manifest else ():
        if probe.node != node:
            continue
        head = f"{probe.kind}: {' '.join(probe.argv)} (exit status {probe.exit_status})"
        output = view.probe_output(probe.output)
        parts.append(el("div", None, el("em", None, head), el("pre", None, output)))
    return parts


def _nodes(view: OpenedRun) -> Markup | None:
    if view.manifest is None:
        return None
    parts = []
    stderr = {c.point: c.stderr for c in view.manifest.captures if c.stderr}
    for node in view.manifest.nodes.values():
        cls = "status-ok" if node.status == "ok" else "status-bad"
        cmds = "\n".join(" ".join(argv) for argv in node.commands) or "(none)"
        errs = [
            el("div", None, el("em", None, f"tcpdump on {p}:"), el("pre", None, text))
            for p, text in stderr.items()
            if split_point(p)[0] == node.name
        ]
        parts.append(
            el(
                "details",
                {"class": "section"},
                el(
                    "summary",
                    None,
                    el("strong", None, node.name),
                    " ",
                    el("span", {"class": cls}, node.status),
                    f" {node.detail}",
                ),
                el("div", None, "commands run:"),
                el("pre", None, cmds),
                errs,
                _probes(view, node.name),
            )
        )
    return section("nodes", "Nodes and commands run", parts, open_=False)


def _versions(view: OpenedRun) -> Markup:
    versions = view.manifest.tool_versions if view.manifest else {}
    rows: list[tuple[object, ...]] = [("netdiag (report)", "netdiag", __version__)]
    if versions.get("netdiag"):
        rows.append(("netdiag (capture)", "netdiag", versions["netdiag"]))
    nodes = versions.get("nodes")
    for node, tools in nodes.items() if isinstance(nodes, dict) else ():
        for tool, version in tools.items() if isinstance(tools, dict) else ():
            rows.append((node, tool, version))
    return section(
        "versions", "Tool versions", table(("where", "tool", "version"), rows), open_=False
    )


def render_html(
    view: OpenedRun, *, shown_flows: Collection[str] | None = None, title: str = ""
) -> str:
    """The report as one HTML document; ``shown_flows`` limits it to those flow ids."""
    facts = run_facts(view)
    if title:
        facts = replace(facts, title=title)
    flows_html, flow_ids, flow_count = flows_section(view.analysis, shown_flows)
    body = join(
        [
            _header(view, facts),
            _summary(view),
            _contents(view),
            _anomalies(view.analysis, flow_ids),
            _translations(view.analysis),
            flows_html,
            _points(view),
            _nodes(view),
            _versions(view),
            el(
                "footer",
                None,
                f"Written by netdiag {__version__} from {view.source}. "
                "Self-contained: no network access.",
            ),
        ]
    )
    style, script = asset("report.css"), asset("report.js")
    csp = (
        f"default-src 'none'; style-src '{_sha256(style)}'; script-src '{_sha256(script)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    data = {
        "schema": "netdiag.report/1",
        "flow_count": flow_count,
        "translations": [
            {"kind": t.kind, "node": t.where, "before": t.before, "after": t.after}
            for t in view.analysis.translations
        ],
        "points": [p.name for p in view.analysis.points],
    }
    return Template(asset("report.html")).substitute(
        csp=csp,
        generator=f"netdiag {__version__}",
        title=esc(facts.page_title),
        style=style,
        script=script,
        body=body,
        data=script_json(data),
    )
