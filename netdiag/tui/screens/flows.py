"""The flows list: filter (``/``), sort (``s``/``r``), page through a million rows (``n``/``p``).

The table only ever holds one page: filtering and sorting run over the precomputed rows in a
worker thread, and only the visible page is added to the DataTable, so a run with 100k flows
opens and scrolls as fast as one with ten.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from netdiag.report.describe import FlowRow, format_signed_ns
from netdiag.tui.messages import FlowsFiltered
from netdiag.tui.widgets.cells import cells
from netdiag.tui.widgets.runinfo import netdiag_app

PAGE = 200
SORTS = ("first_ts", "id", "proto", "client", "server", "hops", "reply", "anomalies")
_HEADERS = {
    "first_ts": "start",
    "id": "flow",
    "proto": "proto",
    "client": "client",
    "server": "server",
    "translated": "NAT",
    "reply": "reply",
    "hops": "hops",
    "anomalies": "anomalies",
}
_COLUMNS = (
    "first_ts",
    "id",
    "proto",
    "client",
    "server",
    "translated",
    "reply",
    "hops",
    "anomalies",
)


def select_rows(rows: list[FlowRow], query: str, sort: str, reverse: bool) -> list[FlowRow]:
    """Rows whose text contains every word of ``query``, sorted by the field ``sort``."""
    terms = query.lower().split()
    matched = [r for r in rows if all(t in r.haystack for t in terms)] if terms else list(rows)
    matched.sort(key=lambda r: getattr(r, sort), reverse=reverse)
    return matched


class FlowsScreen(Screen[None]):
    """All flows; enter opens one."""

    AUTO_FOCUS = "#flows"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("n", "page(1)", "Next page"),
        Binding("p", "page(-1)", "Prev page", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        self.sort = "first_ts"
        self.reverse = False
        self.page = 0
        self.matches: list[FlowRow] | None = None
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="filter: address, port, protocol, anomaly (enter to apply)",
            id="filter",
            classes="hidden",
        )
        yield Static("", id="flows-status")
        yield DataTable(id="flows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#flows", DataTable)
        for col in _COLUMNS:
            table.add_column(_HEADERS[col], key=col)
        self.refilter()

    def refilter(self) -> None:
        """Start (or restart) the filter/sort worker for the current query and sort."""
        self._generation += 1
        self.query_one("#flows-status", Static).update(Text("filtering…"))
        self._select(self._generation, self.query_text, self.sort, self.reverse)

    @work(thread=True, exclusive=True, group="filter")
    def _select(self, generation: int, query: str, sort: str, reverse: bool) -> None:
        rows = select_rows(netdiag_app(self).flow_rows, query, sort, reverse)
        self.post_message(FlowsFiltered(generation, rows))

    def on_flows_filtered(self, message: FlowsFiltered) -> None:
        if message.generation == self._generation:
            self.matches = message.rows
            self.show_page(0)

    def show_page(self, page: int) -> None:
        """Put page ``page`` of the matches into the table (the only rows it holds)."""
        matches = self.matches or []
        last = max(0, (len(matches) - 1) // PAGE)
        self.page = min(max(page, 0), last)
        table = self.query_one("#flows", DataTable)
        table.clear()
        start = self.page * PAGE
        t0 = netdiag_app(self).t0
        for row in matches[start : start + PAGE]:
            anomalies = Text(row.anomalies, style="bold red") if row.anomalies else ""
            reply = Text(row.reply, style="green" if row.reply == "reply" else "yellow")
            table.add_row(
                *cells(
                    format_signed_ns(row.first_ts - t0),
                    row.id,
                    row.proto,
                    row.client,
                    row.server,
                    row.translated,
                    reply,
                    str(row.hops),
                    anomalies,
                ),
                key=row.id,
            )
        total = len(netdiag_app(self).flow_rows)
        shown = f"{len(matches):,} of {total:,} flows"
        if self.query_text:
            shown += f" matching “{self.query_text}”"
        order = f"sorted by {_HEADERS[self.sort]}{' (reversed)' if self.reverse else ''}"
        pages = f"page {self.page + 1}/{last + 1}" if len(matches) > PAGE else ""
        status = " · ".join(p for p in (shown, order, pages) if p)
        self.query_one("#flows-status", Static).update(Text(status))  # the query is user text

    def shown_flows(self) -> Collection[str] | None:
        """What `e` exports: the filtered flows (None when unfiltered = the whole run)."""
        if not self.query_text or self.matches is None:
            return None
        return {r.id for r in self.matches}

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("hidden")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.query_one("#flows", DataTable).focus()
        if self.query_text:
            self.query_text = ""
            self.refilter()

    @on(Input.Submitted, "#filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        if not self.query_text:
            event.input.add_class("hidden")
        self.query_one("#flows", DataTable).focus()
        self.refilter()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.refilter()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refilter()

    def action_page(self, step: int) -> None:
        self.show_page(self.page + step)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORTS:
            self.reverse = self.sort == key and not self.reverse
            self.sort = key
            self.refilter()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        netdiag_app(self).action_show_flow(str(event.row_key.value))
