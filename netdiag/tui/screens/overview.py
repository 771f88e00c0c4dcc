"""The run at a glance: verdict, capture points with counts and clocks, node statuses."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from netdiag.report.describe import format_offset
from netdiag.tui.widgets.cells import cells
from netdiag.tui.widgets.runinfo import netdiag_app, run_view

_LEVEL_STYLE = {"ok": "green", "warn": "yellow", "bad": "bold red", "info": "dim"}


class OverviewScreen(Screen[None]):
    """Verdict sentences on top, then one table of points and one of nodes."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(id="verdict")
            yield Static("Capture points", classes="title")
            yield DataTable(id="points", cursor_type="row", zebra_stripes=True)
            yield Static("Nodes", classes="title")
            yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        view = run_view(self)
        analysis, manifest = view.analysis, view.manifest
        text = Text()
        for v in netdiag_app(self).verdicts:
            text.append("● ", style=_LEVEL_STYLE.get(v.level, ""))
            text.append(v.text + "\n")
        text.append(
            f"{len(analysis.journeys):,} journeys, {len(analysis.flows):,} flows, "
            f"{len(analysis.translations):,} translations, "
            f"{len(analysis.all_anomalies):,} anomalies",
            style="dim",
        )
        self.query_one("#verdict", Static).update(text)
        caps = {c.point: c for c in manifest.captures} if manifest else {}
        points = self.query_one("#points", DataTable)
        ref = analysis.reference_node or "reference"
        points.add_columns("point", "analysed", "captured", "kernel drops", f"clock vs {ref}")
        for p in analysis.points:
            cap = caps.get(p.name)
            dropped = p.kernel_dropped
            points.add_row(
                *cells(
                    p.name,
                    f"{p.packets:,}",
                    "-" if cap is None or cap.captured is None else f"{cap.captured:,}",
                    "-"
                    if dropped is None
                    else Text(f"{dropped:,}", style="bold red" if dropped else ""),
                    format_offset(p.clock_offset_ns, p.clock_error_ns),
                ),
            )
        nodes = self.query_one("#nodes", DataTable)
        nodes.add_columns("node", "status", "clock vs netdiag host", "commands", "detail")
        for node in manifest.nodes.values() if manifest else ():
            clock = node.clock
            offset = "-" if clock is None else format_offset(clock.offset_ns, clock.error_ns)
            style = "green" if node.status == "ok" else "bold red"
            nodes.add_row(
                *cells(
                    node.name,
                    Text(node.status, style=style),
                    offset,
                    str(len(node.commands)),
                    node.detail,
                ),
            )
