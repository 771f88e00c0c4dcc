"""Shared by the Pilot, snapshot and large-run tests."""

from __future__ import annotations

import contextlib

from textual.pilot import Pilot
from textual.worker import WorkerCancelled


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker finished and the messages they posted were handled."""
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # a restarted exclusive worker: wait again
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
