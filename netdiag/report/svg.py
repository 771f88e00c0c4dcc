"""A flow as an inline SVG path diagram: one box per sighting, the changes written on the edges.

Inline SVG needs no fetch and no script, so it survives the report's strict CSP and a mail client.
Colours come from CSS classes (report.css), never from style attributes (blocked by the CSP).
"""

from __future__ import annotations

from netdiag.report.describe import (
    arrivals,
    change_label,
    corrected_ts,
    describe_change,
    format_signed_ns,
    latency_text,
    node_iface,
)
from netdiag.report.document import AnalysisDocument, Change, Journey, Transform
from netdiag.report.markup import Markup, el, join

# Drawn at its own size, never scaled down (the page scrolls it sideways instead), so its text
# is as large as the CSS says: 13 px names, 12.5 px changes.
BOX_W, BOX_H, GAP, ROW_H, TOP = 200, 64, 300, 160, 28
_MAX_CHARS = 24
#: what fits on an edge in the changes' monospace font (~7.6 px a character)
_EDGE_CHARS = GAP // 8
#: CSS class of each change kind, shared by the SVG diagrams and the hop tables.
CHANGE_CLASS = {
    "dnat": "nat",
    "snat": "nat",
    "un-dnat": "nat",
    "un-snat": "nat",
    "mac-rewrite": "mac",
    "ttl": "ttl",
    "encap": "encap",
    "decap": "encap",
}


def _fit(text: str, limit: int = _MAX_CHARS) -> str:
    """Shorten text to the box width; the full text is in the box's <title> tooltip."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge_text(change: Change) -> str:
    """A change short enough for an edge: a MAC rewrite names only the new address (the old
    one is in the box before it), as the terminal's path lines do."""
    if change.kind == "mac-rewrite":
        return f"{change_label(change)} → {change.after}"
    return describe_change(change)


def _edge(analysis: AnalysisDocument, x1: int, y: int, transform: Transform | None) -> list[Markup]:
    x2 = x1 + GAP
    parts = [
        el("line", {"x1": x1, "y1": y, "x2": x2 - 8, "y2": y, "class": "edge"}),
        el("polygon", {"points": f"{x2 - 9},{y - 5} {x2},{y} {x2 - 9},{y + 5}", "class": "arrow"}),
    ]
    if transform is None:
        return parts
    parts.append(
        el(
            "text",
            {"x": x1 + GAP // 2, "y": y - 8, "class": "lat", "text-anchor": "middle"},
            latency_text(analysis, transform, signed=True)
            + (" (order?)" if transform.uncertain else ""),
        )
    )
    for n, change in enumerate(transform.changes):
        cls = "chg " + CHANGE_CLASS.get(change.kind, "other")
        parts.append(
            el(
                "g",
                None,
                el("title", None, describe_change(change)),
                el(
                    "text",
                    {"x": x1 + 8, "y": y + 20 + 16 * n, "class": cls},
                    _fit(_edge_text(change), _EDGE_CHARS),
                ),
            )
        )
    if not transform.changes:
        parts.append(
            el(
                "text",
                {"x": x1 + GAP // 2, "y": y + 20, "class": "chg none", "text-anchor": "middle"},
                "unchanged",
            )
        )
    return parts


def _row(
    analysis: AnalysisDocument, journey: Journey, y0: int, t0: int, label: str
) -> list[Markup]:
    parts = [el("text", {"x": 4, "y": y0 - 8, "class": "rowlabel"}, f"{label}: {journey.summary}")]
    arriving = arrivals(journey)
    path = journey.path
    for i, s in enumerate(path):
        x = 4 + i * (BOX_W + GAP)
        since = corrected_ts(analysis, s) - t0
        node, iface = node_iface(analysis, s)
        detail = f"{s.src} > {s.dst}  ttl {s.ttl}  {s.eth_src} > {s.eth_dst}"
        # tcpdump on a plain interface records no direction: say nothing rather than "unknown"
        known = s.direction in ("in", "out")
        parts.append(
            el(
                "g",
                {"class": "hop"},
                el("title", None, f"{s.point}{f' ({s.direction})' if known else ''}: {detail}"),
                el(
                    "rect",
                    {"x": x, "y": y0, "width": BOX_W, "height": BOX_H, "rx": 6, "class": "box"},
                ),
                el("text", {"x": x + 8, "y": y0 + 18, "class": "node"}, _fit(node)),
                el(
                    "text",
                    {"x": x + 8, "y": y0 + 35, "class": "dev"},
                    _fit(f"{iface} ({s.direction})" if known else iface),
                ),
                el(
                    "text", {"x": x + 8, "y": y0 + 53, "class": "ts"}, f"t{format_signed_ns(since)}"
                ),
            )
        )
        if i + 1 < len(path):
            parts += _edge(analysis, x + BOX_W, y0 + BOX_H // 2, arriving[i + 1])
    if journey.copies:
        seen = ", ".join(dict.fromkeys(s.point for s in journey.copies))
        parts.append(
            el(
                "text",
                {"x": 4, "y": y0 + BOX_H + 12, "class": "dev"},
                f"also seen (copies): {seen}",
            )
        )
    return parts


def flow_svg(analysis: AnalysisDocument, request: Journey, reply: Journey | None) -> Markup:
    """The diagram of one flow: the request row, then the reply row (times since the request)."""
    rows = [(request, "request")] + ([(reply, "reply")] if reply is not None else [])
    first = request.sightings[0] if request.sightings else None
    t0 = corrected_ts(analysis, first) if first is not None else 0
    parts: list[Markup] = []
    width, height = 0, TOP
    for n, (journey, label) in enumerate(rows):
        parts += _row(analysis, journey, TOP + n * ROW_H, t0, label)
        changes = max((len(t.changes) for t in journey.transforms), default=1)
        width = max(width, 8 + len(journey.path) * (BOX_W + GAP) - GAP)
        height = TOP + n * ROW_H + max(BOX_H + 16, BOX_H // 2 + 28 + 16 * changes)
    width = max(width, 480)
    return el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "flowsvg",
            "width": width,
            "height": height,
            "viewBox": f"0 0 {width} {height}",
            "role": "img",
            "aria-label": f"path of {request.summary}",
        },
        join(parts),
    )
