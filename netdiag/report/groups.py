"""Flows that took the same path with the same changes, told once: the terminal prints
"3 packets ...", the HTML report draws one diagram, the Markdown report one line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netdiag.report.describe import FlowRow, describe_change
from netdiag.report.document import AnalysisDocument, Flow, Journey

__all__ = ["FlowGroup", "flow_groups", "journey_signature", "members"]


def journey_signature(journey: Journey | None) -> tuple[object, ...]:
    """What two journeys share when the report may draw them once: the same points in the same
    order, the same changes on every hop, the same copies."""
    if journey is None:
        return ()
    return (
        tuple(s.point for s in journey.path),
        tuple(tuple(describe_change(c) for c in t.changes) for t in journey.transforms),
        tuple(t.uncertain for t in journey.transforms),
        tuple(sorted({s.point for s in journey.copies})),
    )


@dataclass(frozen=True)
class FlowGroup:
    """Flows that took one path with the same changes: drawn once, as the terminal prints
    "3 packets ..."; the first is the one drawn."""

    rows: tuple[FlowRow, ...]

    @property
    def first(self) -> FlowRow:
        return self.rows[0]

    @property
    def anomalies(self) -> str:
        return self.first.anomalies


def flow_groups(analysis: AnalysisDocument, rows: Sequence[FlowRow]) -> list[FlowGroup]:
    """``rows`` grouped by protocol, endpoints, reply, anomalies and both journeys' paths."""
    flows = {f.id: f for f in analysis.flows}
    groups: dict[tuple[object, ...], list[FlowRow]] = {}
    for row in rows:
        flow = flows.get(row.id) or Flow(id=row.id, request=row.id)
        request = analysis.journeys.get(flow.request)
        reply = analysis.journeys.get(flow.reply) if flow.reply else None
        key = (
            row.proto, row.client, row.server, row.reply, row.anomalies, row.translated,
            journey_signature(request), journey_signature(reply), request is None,
        )  # fmt: skip
        groups.setdefault(key, []).append(row)
    return [FlowGroup(tuple(members)) for members in groups.values()]


def members(analysis: AnalysisDocument, group: FlowGroup) -> list[tuple[Journey, Journey | None]]:
    """(request, reply) of each flow of ``group`` whose request journey is in the analysis."""
    flows = {f.id: f for f in analysis.flows}
    found = []
    for row in group.rows:
        flow = flows.get(row.id) or Flow(id=row.id, request=row.id)
        request = analysis.journeys.get(flow.request)
        if request is not None:
            reply = analysis.journeys.get(flow.reply) if flow.reply else None
            found.append((request, reply))
    return found
