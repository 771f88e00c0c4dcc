"""Flows in the HTML report: each one as an SVG path diagram plus a hop table per journey.

Anomalous flows come first and at most MAX_DRAWN_FLOWS are drawn, so a report of a huge run
stays small enough to mail and still shows what matters.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from netdiag.report.describe import (
    COPY_TEXT,
    FlowRow,
    arrivals,
    corrected_ts,
    describe_change,
    flow_rows,
    format_ns,
    node_iface,
)
from netdiag.report.document import Analysis, Flow, Journey
from netdiag.report.markup import Markup, el, join
from netdiag.report.svg import CHANGE_CLASS, flow_svg

MAX_DRAWN_FLOWS = 500


def table(
    head: Sequence[str], rows: Sequence[Sequence[object]], num: Collection[int] = ()
) -> Markup:
    """A plain table; columns whose index is in ``num`` are right-aligned numbers."""
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


def section(anchor: str, title: str, *body: object, open_: bool = True) -> Markup:
    """A collapsible top-level section (``<details>``: works without script, prints open)."""
    return el(
        "details",
        {"class": "section", "id": anchor, "open": open_},
        el("summary", None, el("h2", None, title)),
        *body,
    )


def _hop_table(analysis: Analysis, journey: Journey, t0: int) -> Markup:
    arriving = arrivals(journey)
    rows = []
    for i, s in enumerate(journey.sightings):
        t = arriving[i]
        changes = [
            el("div", {"class": "chg-" + CHANGE_CLASS.get(c.kind, "other")}, describe_change(c))
            for c in (t.changes if t else ())
        ]
        if s.copy:
            changes = [el("div", {"class": "chg-other"}, COPY_TEXT.get(s.copy, s.copy))]
        latency = format_ns(t.latency_ns) if t else ""
        if t is not None and t.uncertain:
            latency += " (order uncertain: closer than the clocks' error)"
        rows.append(
            (
                *node_iface(analysis, s),
                s.direction,
                f"+{format_ns(corrected_ts(analysis, s) - t0)}",
                latency,
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
        table(head, rows, num={3, 4, 7}),
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
        tags.append(el("span", {"class": "tag nat"}, row.translated))
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


def flows_section(
    analysis: Analysis, shown: Collection[str] | None
) -> tuple[Markup, dict[str, str], int]:
    """The flows section, journey id -> flow id (for anomaly links), and the flow count."""
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
    return section("flows", f"Flows ({len(rows)})", toolbar, parts, note), flow_ids, len(rows)
