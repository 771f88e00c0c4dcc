"""Flows in the HTML report: each one as an SVG path diagram plus a hop table per journey.

Flows that took the same path with the same changes are drawn once ("3 flows, same path"),
with the range of their latencies. Anomalous flows come first and at most MAX_DRAWN_FLOWS
groups are drawn, so a report of a huge run stays small enough to mail and still shows what
matters. Each flow says which capture points saw none of its packets.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from netdiag.report.describe import (
    COPY_TEXT,
    arrivals,
    corrected_ts,
    describe_change,
    flow_rows,
    format_ns,
    format_signed_ns,
    latency_text,
    node_iface,
)
from netdiag.report.document import AnalysisDocument, Journey, Transform
from netdiag.report.groups import FlowGroup, flow_groups, members
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


def _latency_cell(analysis: AnalysisDocument, t: Transform, others: Sequence[int]) -> str:
    """The hop's latency with the clocks' error, and the range over the group's other flows."""
    text = latency_text(analysis, t)
    if others and t.latency_ns is not None:
        every = [t.latency_ns, *others]
        text += f" ({format_ns(min(every))}–{format_ns(max(every))} over {len(every)})"
    if t.uncertain:
        text += " (order uncertain: closer than the clocks' error)"
    return text


def _hop_table(
    analysis: AnalysisDocument, journey: Journey, t0: int, siblings: Sequence[Journey] = ()
) -> Markup:
    arriving = arrivals(journey)
    rows: list[tuple[object, ...]] = []
    for i, s in enumerate(journey.sightings):
        t = arriving[i]
        changes = [
            el("div", {"class": "chg-" + CHANGE_CLASS.get(c.kind, "other")}, describe_change(c))
            for c in (t.changes if t else ())
        ]
        if s.copy:
            changes = [el("div", {"class": "chg-other"}, COPY_TEXT.get(s.copy, s.copy))]
        latency = ""
        if t is not None:
            k = journey.transforms.index(t)
            others = [
                o.transforms[k].latency_ns
                for o in siblings
                if len(o.transforms) == len(journey.transforms)
            ]
            latency = _latency_cell(analysis, t, [x for x in others if x is not None])
        node, device = node_iface(analysis, s)
        rows.append(
            (
                el("span", {"class": "nowrap"}, node),
                el("span", {"class": "nowrap"}, device),
                s.direction if s.direction in ("in", "out") else "",
                format_signed_ns(corrected_ts(analysis, s) - t0),
                latency,
                f"{s.src} > {s.dst}",
                f"{s.eth_src} > {s.eth_dst}",
                "-" if s.ttl is None else s.ttl,
                join(changes),
            )
        )
    head: tuple[str, ...] = (
        "node",
        "device",
        "dir",
        "since first",
        "hop latency ± clock error",
        "addresses",
        "MACs",
        "TTL",
        "changed on the way here",
    )
    num = {3, 7}
    if not any(s.direction in ("in", "out") for s in journey.sightings):
        # tcpdump on one interface records no direction: no column of blanks
        head = head[:2] + head[3:]
        rows = [r[:2] + r[3:] for r in rows]
        num = {2, 6}
    return el(
        "div",
        None,
        el("strong", None, f"{journey.id}: {journey.summary}"),
        table(head, rows, num=num),
    )


def _not_seen(analysis: AnalysisDocument, journeys: Sequence[Journey]) -> Markup | None:
    """Negative evidence: the capture points that saw none of these packets (or only copies)."""
    on_path = {s.point for j in journeys for s in j.path}
    copies = {s.point for j in journeys for s in j.copies}
    lines = []
    for p in analysis.points:
        if p.name in on_path:
            continue
        if p.name in copies:
            lines.append(f"{p.name} saw only a copy of these packets, off their path")
        else:
            lines.append(f"{p.name} saw none of these packets")
    if not lines:
        return None
    return el("ul", {"class": "unseen"}, [el("li", None, line) for line in lines])


def _flow(analysis: AnalysisDocument, group: FlowGroup) -> Markup:
    row = group.first
    found = members(analysis, group)
    ids = [r.id for r in group.rows]
    search = " ".join(r.haystack for r in group.rows)
    attrs = {
        "class": "flow has-anomaly" if row.anomalies else "flow",
        "id": f"flow-{row.id}",
        "data-search": search,
        "data-flows": len(group.rows),
        "open": True,
    }
    if not found:
        return el(
            "details",
            attrs,
            el("summary", None, f"{row.id}: request journey missing"),
        )
    request, reply = found[0]
    t0 = corrected_ts(analysis, request.sightings[0]) if request.sightings else 0
    tags = [el("span", {"class": "tag"}, row.reply)]
    if row.translated != "-":
        tags.append(el("span", {"class": "tag nat"}, row.translated))
    if row.anomalies:
        tags.append(el("span", {"class": "tag bad"}, row.anomalies))
    count = (
        el("span", {"class": "count"}, f"{len(ids)} flows, same path: ") if len(ids) > 1 else None
    )
    tables = [
        _hop_table(analysis, request, t0, [m[0] for m in found[1:]]),
    ]
    if reply is not None:
        tables.append(
            _hop_table(analysis, reply, t0, [m[1] for m in found[1:] if m[1] is not None])
        )
    anchors = [el("span", {"id": f"flow-{i}", "class": "anchor"}) for i in ids[1:]]
    journeys = [j for pair in found for j in pair if j is not None]
    return el(
        "details",
        attrs,
        el(
            "summary",
            None,
            count,
            el("strong", None, ", ".join(ids) if len(ids) <= 6 else f"{ids[0]} … {ids[-1]}"),
            f" {row.proto} {row.client} → {row.server} ",
            tags,
        ),
        anchors,
        el("div", {"class": "diagram"}, flow_svg(analysis, request, reply)),
        _not_seen(analysis, journeys),
        tables,
    )


def flows_section(
    analysis: AnalysisDocument, shown: Collection[str] | None
) -> tuple[Markup, dict[str, str], int]:
    """The flows section, journey id -> flow id (for anomaly links), and the flow count."""
    rows = [r for r in flow_rows(analysis) if shown is None or r.id in shown]
    flow_ids = {}
    for f in analysis.flows:
        flow_ids[f.request] = f.id
        if f.reply:
            flow_ids[f.reply] = f.id
    groups = flow_groups(analysis, rows)
    # Anomalous flows first, so a truncated report still shows what matters.
    drawn = sorted(groups, key=lambda g: (not g.anomalies, g.first.first_ts))[:MAX_DRAWN_FLOWS]
    parts = [_flow(analysis, g) for g in drawn]
    in_drawn = sum(len(g.rows) for g in drawn)
    note = (
        el(
            "p",
            None,
            f"{len(rows) - in_drawn} more flows are not drawn here; open the run "
            "with `netdiag tui` to browse all of them.",
        )
        if len(rows) > in_drawn
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
        el("span", {"id": "flow-count"}, f"{in_drawn} flows"),
    )
    title = f"Flows ({len(rows)}"
    distinct = f"{len(groups)} distinct path{'s' if len(groups) != 1 else ''}"
    title += f", {distinct})" if len(groups) != len(rows) else ")"
    return section("flows", title, toolbar, parts, note), flow_ids, len(rows)
