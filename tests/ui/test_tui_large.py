"""A large run must not freeze the TUI: loading, paging, scrolling and filtering stay responsive.

Responsiveness is measured, not speed: a ticker task on the app's event loop records the longest
gap between its 20 ms ticks while the user works. A blocked loop (json.loads of the whole file on
the UI thread, adding 100k rows to a DataTable) shows up as a gap of seconds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from netdiag.tui.app import make_app
from netdiag.tui.screens.flows import PAGE, FlowsScreen

from .helpers import settle
from .synthetic import write_large_analysis

# A design that blocks (json.loads of the document or 50,000 add_row calls on the UI thread)
# stalls for several seconds; measured here: 0.06 s loading, 0.15 s interacting on an idle
# machine, up to 0.7 s when four other test suites share its two cores.
MAX_STALL_S = 1.0
FLOWS = 50_000


class Ticker:
    """Measures the longest time the event loop did not get to run this task."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.02)
            last = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


@pytest.mark.slow
async def test_large_run_opens_and_scrolls_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "analysis.json"
    journeys, sightings = write_large_analysis(path, flows=FLOWS, sightings_per_journey=3)
    assert journeys > 90_000
    assert sightings > 250_000
    app = make_app([path])
    async with app.run_test(size=(120, 36)) as pilot:
        ticker = Ticker()
        ticker.start()
        deadline = time.monotonic() + 240
        while app.run_view is None:  # loading happens in a worker; the loop keeps ticking
            assert app.load_error is None, app.load_error
            assert time.monotonic() < deadline, "the run never finished loading"
            await asyncio.sleep(0.05)
        load_stall = ticker.worst
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FlowsScreen)
        table = screen.query_one("#flows", DataTable)
        assert table.row_count == PAGE  # one page, not 50,000 rows
        for key in ("pagedown", "pagedown", "end", "n", "n", "pagedown", "p", "home"):
            await pilot.press(key)
        await pilot.press("slash", *"dropped", "enter")
        await settle(pilot)
        assert screen.matches is not None
        assert len(screen.matches) == len([n for n in range(FLOWS) if n % 7 == 0])
        await pilot.press("enter")
        await settle(pilot)
        await ticker.stop()
    assert load_stall < MAX_STALL_S, f"loading blocked the UI for {load_stall:.2f} s"
    assert ticker.worst < MAX_STALL_S, f"the UI was blocked for {ticker.worst:.2f} s"
