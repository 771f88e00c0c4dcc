"""Where NAT is applied: the analysis' aggregated translations."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from netdiag.tui.widgets.cells import cells
from netdiag.tui.widgets.runinfo import run_view


class TranslationsScreen(Screen[None]):
    """One row per (kind, node, before, after) with its packet count."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Translations: where addresses are rewritten", classes="title")
        yield DataTable(id="translations", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("kind", "node", "proto", "before", "", "after", "packets")
        for t in run_view(self).analysis.translations:
            table.add_row(
                *cells(t.kind, t.where, t.proto, t.before, "→", t.after, f"{t.packets:,}")
            )
