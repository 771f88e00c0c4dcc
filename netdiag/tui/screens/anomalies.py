"""Anomalies first: each row names its journey; enter jumps to the flow it belongs to."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from netdiag.tui.widgets.cells import cells
from netdiag.tui.widgets.runinfo import netdiag_app, run_view

ANOMALY_ROWS = 10_000


class AnomaliesScreen(Screen[None]):
    """All anomalies of the run (top-level and per journey)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open flow", show=True)]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Anomalies: enter opens the flow", classes="title")
        yield DataTable(id="anomalies", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        analysis = run_view(self).analysis
        table = self.query_one(DataTable)
        table.add_columns("kind", "flow", "journey", "after point", "detail")
        flows = analysis.flow_by_journey
        for n, a in enumerate(analysis.all_anomalies[:ANOMALY_ROWS]):
            flow_id = flows.get(a.journey or "", a.journey or "")
            table.add_row(
                *cells(
                    a.kind,
                    flow_id or "-",
                    a.journey or "-",
                    a.after_point or "-",
                    a.detail,
                ),
                key=f"{n}:{flow_id}",
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self._open(str(key.value))

    def _open(self, key: str) -> None:
        flow_id = key.partition(":")[2]
        if flow_id:
            netdiag_app(self).action_show_flow(flow_id)
