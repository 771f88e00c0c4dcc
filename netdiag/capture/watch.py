"""What netdiag sends to which node and when: a log line per command, and who it waits for.

:class:`WatchedTransport` wraps any backend. Every connect, command, started process and file
transfer is logged on the ``netdiag.remote`` logger (``-v`` shows it on stderr, every run
directory keeps it in ``run.log``); argv only, never a command's stdin, a key or a password.
Steps that only wait for the node (connecting, a command run to completion, a fetch) are kept
in an :class:`Activity`, so a progress printer can say whom it has waited for, for how long,
and when it will give up.
"""

from __future__ import annotations

import itertools
import logging
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.transport import CommandResult, RemoteEntry, Transport
from netdiag.transport.base import LineCallback
from netdiag.transport.process import Channel, RemoteProcess

__all__ = ["Activity", "Wait", "WatchedTransport", "keep_run_log", "log"]

log = logging.getLogger("netdiag.remote")

#: An argument longer than this (the supervisor scripts run to kilobytes) is summarised at INFO;
#: the command is logged whole at DEBUG, which run.log keeps.
SHORT = 160


class _UTCFormatter(logging.Formatter):
    """``2026-12-02T06:10:51.123456Z`` timestamps: one clock for every line of every node."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.created % 1 * 1e6):06d}Z"


@contextmanager
def keep_run_log(path: Path) -> Iterator[None]:
    """Append everything netdiag logs (DEBUG and up) to ``path`` while the block runs."""
    root = logging.getLogger("netdiag")
    try:
        handler = logging.FileHandler(path, encoding="utf-8", errors="backslashreplace")
    except OSError:  # the run directory is where the captures go: its own error says so
        yield
        return
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.DEBUG:
        root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


@dataclass
class Wait:
    """One step of one node that waits for the node's answer."""

    node: str
    address: str
    what: str
    since: float
    limit: float | None


@dataclass
class Activity:
    """The waits in progress, per node; a progress printer reads it, the transports write it."""

    waits: dict[int, Wait] = field(default_factory=dict)
    _keys: Iterator[int] = field(default_factory=itertools.count)

    @contextmanager
    def waiting(self, transport: Transport, what: str, limit: float | None) -> Iterator[None]:
        node = transport.node
        key = next(self._keys)
        self.waits[key] = Wait(
            node.name, f"{node.host}:{node.port or 22}", what, time.monotonic(), limit
        )
        try:
            yield
        finally:
            del self.waits[key]

    def lines(self, now: float, *, after: float) -> dict[str, str]:
        """Per node waited on for ``after`` seconds or more: who, what, how long, until when."""
        found: dict[str, str] = {}
        for w in sorted(self.waits.values(), key=lambda w: w.since):
            took = now - w.since
            if took < after or w.node in found:
                continue
            limit = f"; gives up after {w.limit:g} s" if w.limit else ""
            found[w.node] = f"waiting for {w.node} ({w.address}): {w.what}, {took:.0f} s{limit}"
        return found


def _argv_text(argv: Sequence[str], netns: str | None, sudo: bool | None, *, whole: bool) -> str:
    """A command as a shell would read it; unless ``whole``, an inline script (``sh -c``) is
    shown as ``<script: N lines>`` so the arguments that matter (tcpdump's) stay visible."""
    prefix = "sudo " if sudo else ""
    prefix += f"[netns {netns}] " if netns else ""
    if not whole:
        argv = [
            f"<script: {a.count(chr(10)) + 1} lines>" if "\n" in a or len(a) > SHORT else a
            for a in argv
        ]
    # one line per event: a script's newlines are written as \n
    return (prefix + shlex.join(argv)).replace("\\", "\\\\").replace("\n", "\\n")


def _short(text: str) -> str:
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


class WatchedTransport(Transport):
    """``inner`` with every remote action logged and every wait recorded in ``activity``."""

    def __init__(self, inner: Transport, activity: Activity | None = None) -> None:
        super().__init__(inner.node)
        self.inner = inner
        self.kind = inner.kind
        self.activity = activity or Activity()

    def _log(self, action: str, detail: str, whole: str = "") -> None:
        log.info("%s %s %s", self.name, action, detail)
        if whole and whole != detail:
            log.debug("%s %s (whole) %s", self.name, action, whole)

    def node_time_ns(self, reading: int) -> int:
        return self.inner.node_time_ns(reading)

    async def connect(self) -> None:
        node = self.node
        where = f"{node.user + '@' if node.user else ''}{node.host}:{node.port or 22}"
        self._log("connect", f"{where} over {self.kind}")
        with self.activity.waiting(self, "connecting", node.connect_timeout):
            await self.inner.connect()
        log.debug("%s connected", self.name)

    async def close(self) -> None:
        await self.inner.close()
        log.debug("%s closed", self.name)

    async def _spawn(self, argv: Sequence[str]) -> Channel:
        return await self.inner._spawn(argv)

    async def get(self, remote: str, local: str | Path) -> None:
        self._log("fetch", f"{remote} -> {local}")
        with self.activity.waiting(self, f"fetching {remote}", None):
            await self.inner.get(remote, local)

    async def put(self, local: str | Path, remote: str) -> None:
        self._log("put", f"{local} -> {remote}")
        await self.inner.put(local, remote)

    async def listdir(self, path: str) -> list[RemoteEntry] | None:
        self._log("list", path)
        return await self.inner.listdir(path)

    async def open_transfers(self) -> None:
        await self.inner.open_transfers()

    async def read(self, remote: str, size: int = -1) -> bytes:
        self._log("read", remote if size < 0 else f"{remote} ({size} bytes)")
        with self.activity.waiting(self, f"reading {remote}", None):
            return await self.inner.read(remote, size)

    async def read_into(self, remote: str, sink: Callable[[bytes], None], size: int = -1) -> None:
        self._log("read", remote if size < 0 else f"{remote} ({size} bytes)")
        with self.activity.waiting(self, f"reading {remote}", None):
            await self.inner.read_into(remote, sink, size)

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = 60.0,
        check: bool = True,
        input: str | bytes | None = None,
        netns: str | None = None,
        sudo: bool | None = None,
    ) -> CommandResult:
        what = f"`{_short(shlex.join(argv))}`"
        with self.activity.waiting(self, f"running {what}", timeout):
            result = await super().run(
                argv, timeout=timeout, check=check, input=input, netns=netns, sudo=sudo
            )
        log.debug("%s exit %d after %.2f s", self.name, result.exit_status, result.duration)
        return result

    async def start(
        self,
        argv: Sequence[str],
        *,
        netns: str | None = None,
        sudo: bool | None = None,
        input: str | bytes | None = None,
        on_line: LineCallback | None = None,
        keep_stdin: bool = False,
    ) -> RemoteProcess:
        use_sudo = self.node.sudo if sudo is None else sudo
        self._log(
            "run",
            _argv_text(argv, netns, use_sudo, whole=False),
            _argv_text(argv, netns, use_sudo, whole=True),
        )
        return await self.inner.start(
            argv, netns=netns, sudo=sudo, input=input, on_line=on_line, keep_stdin=keep_stdin
        )
