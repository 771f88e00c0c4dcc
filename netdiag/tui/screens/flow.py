"""One flow's path, hop by hop: each sighting, and what changed on the way to it, as a diff.

Rows are the sightings of the request then of the reply; times are since the request's first
sighting on the reference clock. Selecting a row dissects its frame in the packet detail pane.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from netdiag.report.describe import (
    COPY_TEXT,
    arrivals,
    corrected_ts,
    encap_text,
    endpoint,
    format_ns,
    format_signed_ns,
    node_iface,
)
from netdiag.report.document import Journey, Sighting
from netdiag.tui.widgets.cells import cells
from netdiag.tui.widgets.diff import changes_text
from netdiag.tui.widgets.packet_detail import PacketDetail
from netdiag.tui.widgets.runinfo import run_view


class FlowScreen(Screen[None]):
    """The hop-by-hop view of flow ``flow_id`` (request and reply journeys)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, flow_id: str) -> None:
        super().__init__()
        self.flow_id = flow_id
        self.sightings: dict[str, Sighting] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="flow-title")
        yield DataTable(id="hops", cursor_type="row")
        yield PacketDetail(id="detail")
        yield Footer()

    def _journeys(self) -> list[tuple[str, Journey]]:
        analysis = run_view(self).analysis
        flow = analysis.flow(self.flow_id)
        ids = [("request", flow.request), ("reply", flow.reply)] if flow else []
        return [(role, analysis.journeys[j]) for role, j in ids if j and j in analysis.journeys]

    def on_mount(self) -> None:
        analysis = run_view(self).analysis
        journeys = self._journeys()
        title = Text(f"flow {self.flow_id}", style="bold")
        if not journeys:
            title.append(": no journey of this flow is in the analysis", style="red")
        for role, journey in journeys:
            title.append(f"\n{role} {journey.id}: {journey.summary}")
        self.query_one("#flow-title", Static).update(title)
        table = self.query_one("#hops", DataTable)
        table.add_columns(
            "journey",
            "#",
            "node",
            "device",
            "dir",
            "since first",
            "changed on the way here",
            "latency",
            "addresses",
            "TTL",
        )
        first = journeys[0][1].sightings[0] if journeys and journeys[0][1].sightings else None
        t0 = corrected_ts(analysis, first) if first else 0
        for role, journey in journeys:
            arriving = arrivals(journey)
            for n, s in enumerate(journey.sightings):
                hop = arriving[n]
                changes = changes_text(hop.changes) if hop else Text("")
                if s.copy:
                    changes = Text(COPY_TEXT.get(s.copy, s.copy), style="dim")
                if s.encap:
                    changes.append(
                        ("\n" if changes else "") + f"in tunnel: {encap_text(s.encap)}",
                        style="yellow",
                    )
                key = f"{journey.id}:{n}"
                self.sightings[key] = s
                addresses = f"{endpoint(s.src, s.sport)} > {endpoint(s.dst, s.dport)}"
                table.add_row(
                    *cells(
                        f"{role[:3]} {journey.id}" if n == 0 else "",
                        str(n + 1),
                        *node_iface(analysis, s),
                        s.direction,
                        format_signed_ns(corrected_ts(analysis, s) - t0),
                        changes,
                        (format_ns(hop.latency_ns) + (" ?" if hop.uncertain else ""))
                        if hop
                        else "",
                        addresses,
                        "-" if s.ttl is None else str(s.ttl),
                    ),
                    key=key,
                    height=max(1, len(changes.plain.splitlines())),
                )
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = str(event.row_key.value)
        sighting = self.sightings.get(key)
        if sighting is not None:
            view = run_view(self)
            path = view.pcap_of(sighting.point)
            self.query_one(PacketDetail).show(key, path, sighting, view.frame_of(sighting))

    def shown_flows(self) -> Collection[str] | None:
        """What `e` exports from here: this flow only."""
        return {self.flow_id}
