"""The self-contained HTML incident report: one file, no fetch, readable when mailed.

Layout: verdict first, then anomalies, translations, every flow as an SVG path with its hop
table, capture points, nodes and the commands run, tool versions. CSS and JS are inlined and
allowed by hash in a strict Content-Security-Policy; all text goes through ``markup.esc``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Sequence
from string import Template

from netdiag import __version__
from netdiag.report.assets import asset
from netdiag.report.bundle import RunView
from netdiag.report.describe import (
    FlowRow,
    arrivals,
    corrected_ts,
    describe_change,
    flow_rows,
    format_ns,
)
from netdiag.report.document import Analysis, Flow, Journey
from netdiag.report.markup import Markup, el, esc, join, script_json
from netdiag.report.svg import flow_svg
from netdiag.report.verdict import verdicts

MAX_DRAWN_FLOWS = 500
_CHG_CLASS = {
    "dnat": "nat",
    "snat": "nat",
    "un-dnat": "nat",
    "un-snat": "nat",
    "mac-rewrite": "mac",
    "ttl": "ttl",
    "encap": "encap",
    "decap": "encap",
}


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _table(
    head: Sequence[str], rows: Sequence[Sequence[object]], num: Collection[int] = ()
) -> Markup:
    return el(
        "table",
        None,
        el(
            "thead",
            None,
            el(
                "tr",
                None,
                [el("th", {"class": "num" if i in num else None}, h) for i, h in enumerate(head)],
            ),
        ),
        el(
            "tbody",
            None,
            [
                el(
                    "tr",
                    None,
                    [el("td", {"class": "num" if i in num else None}, c) for i, c in enumerate(r)],
                )
                for r in rows
            ],
        ),
    )


def _section(anchor: str, title: str, *body: object, open_: bool = True) -> Markup:
    return el(
        "details",
        {"class": "section", "id": anchor, "open": open_},
        el("summary", None, el("h2", None, title)),
        *body,
    )


def _summary(view: RunView) -> Markup:
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


def _anomalies(analysis: Analysis, flow_ids: dict[str, str]) -> Markup:
    found = list(analysis.anomalies) + [a for j in analysis.journeys.values() for a in j.anomalies]
    if not found:
        return _section("anomalies", "Anomalies (0)", el("p", None, "No anomaly found."))
    items = []
    for a in found[:1000]:
        flow = flow_ids.get(a.journey or "")
        link = el("a", {"href": f"#flow-{flow}"}, f"flow {flow}") if flow else None
        where = f" after {a.after_point}" if a.after_point else ""
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
    return _section("anomalies", f"Anomalies ({len(found)})", items, more)


def _translations(analysis: Analysis) -> Markup:
    rows = [
        (t.kind, t.node, t.proto, t.before, "→", t.after, t.packets) for t in analysis.translations
    ]
    body = (
        _table(("kind", "node", "proto", "before", "", "after", "packets"), rows, num={6})
        if rows
        else el("p", None, "No address translation seen.")
    )
    return _section("translations", f"Translations ({len(rows)})", body)


def _hop_table(analysis: Analysis, journey: Journey, t0: int) -> Markup:
    arriving = arrivals(journey)
    rows = []
    for i, s in enumerate(journey.sightings):
        t = arriving[i]
        changes = [
            el("div", {"class": "chg-" + _CHG_CLASS.get(c.kind, "other")}, describe_change(c))
            for c in (t.changes if t else ())
        ]
        rows.append(
            (
                s.node,
                s.iface,
                s.direction,
                f"+{format_ns(corrected_ts(analysis, s) - t0)}",
                format_ns(t.latency_ns) if t else "",
                f"{s.src} > {s.dst}",
                f"{s.eth_src} > {s.eth_dst}",
                "-" if s.ttl is None else s.ttl,
                join(changes),
            )
        )
    head = (
        "node",
        "device",
        "dir",
        "since first",
        "hop latency",
        "addresses",
        "MACs",
        "TTL",
        "changed on the way here",
    )
    return el(
        "div",
        None,
        el("strong", None, f"{journey.id}: {journey.summary}"),
        _table(head, rows, num={3, 4, 7}),
    )


def _flow(analysis: Analysis, flow: Flow, row: FlowRow) -> Markup:
    request = analysis.journeys.get(flow.request)
    reply = analysis.journeys.get(flow.reply) if flow.reply else None
    if request is None:
        return el(
            "details",
            {"class": "flow", "id": f"flow-{flow.id}", "data-search": row.haystack},
            el("summary", None, f"{flow.id}: request journey {flow.request} missing"),
        )
    t0 = corrected_ts(analysis, request.sightings[0]) if request.sightings else 0
    tags = [el("span", {"class": "tag"}, row.reply)]
    if row.translated != "-":
        tags.append(el("span", {"class": "tag nat"}, f"DNAT → {row.translated}"))
    if row.anomalies:
        tags.append(el("span", {"class": "tag bad"}, row.anomalies))
    tables = [_hop_table(analysis, j, t0) for j in (request, reply) if j is not None]
    return el(
        "details",
        {
            "class": "flow has-anomaly" if row.anomalies else "flow",
            "id": f"flow-{flow.id}",
            "data-search": row.haystack,
            "open": True,
        },
        el(
            "summary",
            None,
            el("strong", None, flow.id),
            f" {row.proto} {row.client} → {row.server} ",
            tags,
        ),
        el("div", {"class": "diagram"}, flow_svg(analysis, request, reply)),
        tables,
    )


def _flows(analysis: Analysis, shown: Collection[str] | None) -> tuple[Markup, dict[str, str], int]:
    flows = {f.id: f for f in analysis.flows}
    rows = [r for r in flow_rows(analysis) if shown is None or r.id in shown]
    flow_ids = {}
    for f in analysis.flows:
        flow_ids[f.request] = f.id
        if f.reply:
            flow_ids[f.reply] = f.id
    # Anomalous flows first, so a truncated report still shows what matters.
    drawn = sorted(rows, key=lambda r: (not r.anomalies, r.first_ts))[:MAX_DRAWN_FLOWS]
    parts = [_flow(analysis, flows.get(r.id) or Flow(id=r.id, request=r.id), r) for r in drawn]
    note = (
        el(
            "p",
            None,
            f"{len(rows) - len(drawn)} more flows are not drawn here; open the run "
            "with `netdiag tui` to browse all of them.",
        )
        if len(rows) > len(drawn)
        else None
    )
    toolbar = el(
        "div",
        {"class": "toolbar"},
        el(
            "input",
            {
                "id": "flow-filter",
                "type": "search",
                "placeholder": "filter flows: address, port, protocol, anomaly…",
            },
        ),
        el("button", {"id": "expand-all", "type": "button"}, "expand all"),
        el("button", {"id": "collapse-all", "type": "button"}, "collapse all"),
        el("span", {"id": "flow-count"}, f"{len(drawn)} flows"),
    )
    return _section("flows", f"Flows ({len(rows)})", toolbar, parts, note), flow_ids, len(rows)


def _points(view: RunView) -> Markup:
    caps = {c.point: c for c in view.manifest.captures} if view.manifest else {}
    nodes = view.manifest.nodes if view.manifest else {}
    rows = []
    for p in view.analysis.points:
        cap = caps.get(p.name)
        node = nodes.get(p.node)
        err = "" if p.clock_error_ns is None else f" ± {format_ns(p.clock_error_ns)}"
        rows.append(
            (
                p.name,
                node.status if node else "-",
                cap.status if cap else "-",
                p.packets,
                "-" if cap is None or cap.captured is None else cap.captured,
                "-" if cap is None or cap.dropped is None else cap.dropped,
                "-" if p.kernel_dropped is None else p.kernel_dropped,
                f"{format_ns(p.clock_offset_ns)}{err}",
            )
        )
    head = (
        "point",
        "node status",
        "capture",
        "packets",
        "captured",
        "dropped (tcpdump)",
        "kernel dropped",
        "clock offset",
    )
    return _section("points", "Capture points", _table(head, rows, num={3, 4, 5, 6}))


def _probes(view: RunView, node: str) -> list[Markup]:
    """The probes run from ``node`` with their output as captured (capped for mail)."""
    parts = []
    for probe in view.manifest.probes if view.manifest else ():
        if str(probe.get("node")) != node:
            continue
        argv = " ".join(str(a) for a in probe.get("argv") or ())
        head = f"{probe.get('kind', 'probe')}: {argv} (exit status {probe.get('exit_status')})"
        output = view.probe_output(str(probe.get("output") or ""))
        parts.append(el("div", None, el("em", None, head), el("pre", None, output)))
    return parts


def _nodes(view: RunView) -> Markup | None:
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
            if p.partition("/")[0] == node.name
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
    return _section("nodes", "Nodes and commands run", parts, open_=False)


def _versions(view: RunView) -> Markup:
    versions = view.manifest.tool_versions if view.manifest else {}
    rows: list[tuple[object, ...]] = [("netdiag (report)", "netdiag", __version__)]
    if versions.get("netdiag"):
        rows.append(("netdiag (capture)", "netdiag", versions["netdiag"]))
    nodes = versions.get("nodes")
    for node, tools in nodes.items() if isinstance(nodes, dict) else ():
        for tool, version in tools.items() if isinstance(tools, dict) else ():
            rows.append((node, tool, version))
    return _section(
        "versions", "Tool versions", _table(("where", "tool", "version"), rows), open_=False
    )


def render_html(
    view: RunView, *, shown_flows: Collection[str] | None = None, title: str = ""
) -> str:
    """The report as one HTML document; ``shown_flows`` limits it to those flow ids."""
    run_id = view.manifest.run_id if view.manifest else ""
    title = title or f"netdiag report {run_id}".strip()
    flows_html, flow_ids, flow_count = _flows(view.analysis, shown_flows)
    body = join(
        [
            el("h1", None, title),
            el("p", {"class": "sub"}, f"source: {view.source}"),
            _summary(view),
            _anomalies(view.analysis, flow_ids),
            _translations(view.analysis),
            flows_html,
            _points(view),
            _nodes(view),
            _versions(view),
            el(
                "footer",
                None,
                f"Written by netdiag {__version__}. Self-contained: no network access.",
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
            {"kind": t.kind, "node": t.node, "before": t.before, "after": t.after}
            for t in view.analysis.translations
        ],
        "points": [p.name for p in view.analysis.points],
    }
    return Template(asset("report.html")).substitute(
        csp=csp,
        generator=f"netdiag {__version__}",
        title=esc(title),
        style=style,
        script=script,
        body=body,
        data=script_json(data),
    )
