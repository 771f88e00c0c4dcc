"""Timeouts and task cancellation that never swallow the caller's own cancellation.

Python 3.11's ``asyncio.wait_for`` returns the inner result when the caller is cancelled in
the same loop iteration in which the inner awaitable completes (CPython gh-86296, fixed in
3.12 by building wait_for on ``asyncio.timeout``). A loop that is stopped by ``cancel()`` —
the capture heartbeat, say — then never stops, and whoever waits for it hangs. These helpers
use ``asyncio.timeout`` and ``asyncio.wait``, which do not have that race.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["bounded", "cancel_and_wait"]

T = TypeVar("T")


async def bounded(aw: Awaitable[T], timeout: float | None) -> T:
    """``await aw`` for at most ``timeout`` seconds (None: no limit); TimeoutError after."""
    async with asyncio.timeout(timeout):
        return await aw


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended; its own outcome is dropped.

    The caller's cancellation still propagates. A task that ignored a cancel is cancelled
    again rather than waited for forever.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
    if not task.cancelled():
        task.exception()  # retrieved: a failure of a helper being stopped is not news
