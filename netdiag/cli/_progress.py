"""Progress on stderr for work that takes more than a second, on a terminal or not.

Lines are plain text so a log collector or ``2>run.txt`` keeps them readable; when stderr is not
a terminal each starts with the wall-clock time (``06:10:51``). A :meth:`Progress.step` that is
over within :data:`QUIET_FOR` seconds prints nothing: quick commands stay quiet.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

__all__ = ["QUIET_FOR", "Progress", "say_waits"]

#: A step shorter than this is not announced.
QUIET_FOR = 1.0


class Progress:
    """Writes progress lines to ``stream``; timestamps them unless ``stream`` is a terminal."""

    def __init__(self, stream: TextIO, *, isatty: bool, enabled: bool = True) -> None:
        self.stream = stream
        self.isatty = isatty
        self.enabled = enabled
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """One progress line, now."""
        if not self.enabled:
            return
        stamp = "" if self.isatty else time.strftime("%H:%M:%S ")
        with self._lock:
            self.stream.write(f"{stamp}{text}\n")
            self.stream.flush()

    @contextmanager
    def step(self, text: str, *, after: float = QUIET_FOR) -> Iterator[None]:
        """Announce ``text`` if the block is still running ``after`` seconds in, and then say
        how long it took."""
        started = time.monotonic()
        shown = threading.Event()

        def announce() -> None:
            shown.set()
            self.say(f"{text} ...")

        timer = threading.Timer(after, announce)
        timer.daemon = True
        timer.start()
        try:
            yield
        except BaseException as exc:
            timer.cancel()
            if shown.is_set():
                how = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
                self.say(f"{text}: {how} after {time.monotonic() - started:.1f} s")
            raise
        timer.cancel()
        if shown.is_set():
            self.say(f"{text}: done in {time.monotonic() - started:.1f} s")


async def say_waits(
    lines: Callable[[float], Mapping[str, str]],
    progress: Progress,
    *,
    every: float = 5.0,
    tick: float = 0.5,
) -> None:
    """Say each line ``lines(now)`` returns (node -> text; ``now`` is the monotonic time), once
    per node every ``every`` seconds, until cancelled."""
    said: dict[str, float] = {}
    while True:
        await asyncio.sleep(tick)
        now = time.monotonic()
        for node, line in lines(now).items():
            if now - said.get(node, -every) >= every:
                said[node] = now
                progress.say(line)
