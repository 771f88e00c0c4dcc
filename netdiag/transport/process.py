"""A started remote process: its PID, its output as it arrives, its signal and its exit.

Output is pumped continuously from the moment the process starts, whether or not anyone looks,
because a full SSH window stalls the remote writer and makes the kernel drop packets
(measured with tcpdump). Signals go by PID over a second channel: SSH "signal" requests are
refused by OpenSSH < 10.0 for root logins and go unanswered in asyncssh.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from netdiag.errors import CommandError, CommandTimeout, TransportError
from netdiag.transport.aio import bounded

if TYPE_CHECKING:
    from netdiag.transport.base import LineCallback, Transport

__all__ = ["KILL_ONE", "KILL_TREE", "PID_WRAPPER", "Channel", "RemoteProcess", "wrap_argv"]

# Run as `sh -c SCRIPT SIG PID`: the signal and PID are arguments, never spliced into the script.
# Prints the shell's PID, then becomes the command (exec): that PID is the command's.
PID_WRAPPER = ("sh", "-c", 'echo $$; exec "$@"', "sh")
KILL_ONE = 'kill -s "$0" "$1"'
# The parent is stopped first, so that it starts no child between pkill and kill.
KILL_TREE = (
    'kill -s STOP "$1" 2>/dev/null; pkill --signal "$0" -P "$1" 2>/dev/null; '
    'kill -s "$0" "$1"; r=$?; kill -s CONT "$1" 2>/dev/null; exit $r'
)


def wrap_argv(argv: Sequence[str], *, netns: str | None, sudo: bool) -> list[str]:
    """``[sudo -n] [ip netns exec NS | nsenter --net=PATH] argv``: privileges, then namespace."""
    if not argv:
        raise ValueError("empty command")
    out: list[str] = ["sudo", "-n"] if sudo else []
    if netns:
        out += (
            ["nsenter", f"--net={netns}"]
            if netns.startswith("/")
            else ["ip", "netns", "exec", netns]
        )
    return out + list(argv)


class Channel(Protocol):
    """What a backend hands over for one started command: its byte streams and its exit."""

    async def read_stdout(self) -> bytes:
        """The next chunk of stdout; b"" at end of file."""

    async def read_stderr(self) -> bytes:
        """The next chunk of stderr; b"" at end of file."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def wait(self) -> int:
        """Exit status; -N when killed by signal N (-1 when the signal is not reported)."""

    def abort(self) -> None:
        """Drop the channel locally; the remote process is not guaranteed to die."""


class RemoteProcess:
    """Handle on a process started by :meth:`Transport.start`."""

    def __init__(
        self,
        transport: Transport,
        argv: tuple[str, ...],
        channel: Channel,
        *,
        sudo: bool,
        on_line: LineCallback | None,
    ) -> None:
        self.transport = transport
        self.argv = argv
        self.pid: int | None = None
        self.exit_status: int | None = None
        self._channel = channel
        self._sudo = sudo
        self._on_line = on_line
        self._buf = {"stdout": bytearray(), "stderr": bytearray()}
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._partial = {"stdout": b"", "stderr": b""}
        self._cursor = {"stdout": 0, "stderr": 0}
        self._pid_seen = False
        self._eof: set[str] = set()
        self._changed = asyncio.Condition()
        self._pumps: list[asyncio.Task[None]] = []
        self._closed = False

    def _start_pumps(self) -> None:
        if not self._pumps:
            self._pumps = [
                asyncio.create_task(self._pump("stdout", self._channel.read_stdout)),
                asyncio.create_task(self._pump("stderr", self._channel.read_stderr)),
            ]

    async def _pid_line(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._pid_seen or "stdout" in self._eof)

    async def begin(self, data: str | bytes | None, *, keep_stdin: bool = False) -> None:
        """Start pumping, feed stdin, and read the PID line the wrapper prints first."""
        self._start_pumps()
        if data is not None:
            await self.write(data)
        if not keep_stdin:
            await self.close_stdin()
        limit = max(10.0, self.transport.node.connect_timeout * 3)
        try:
            await bounded(self._pid_line(), limit)
        except TimeoutError as exc:
            self.close()
            raise CommandTimeout(
                f"{self.transport.name}: `{' '.join(self.argv)}` did not start within "
                f"{limit:g} s; check the node's load"
            ) from exc

    async def write(self, data: str | bytes) -> None:
        """Send to the process's stdin (started with ``keep_stdin=True``)."""
        await self._channel.write_stdin(data.encode() if isinstance(data, str) else data)

    async def close_stdin(self) -> None:
        await self._channel.close_stdin()

    async def next_line(self, *, stream: str = "stdout", timeout: float) -> str:
        """The next line on ``stream`` not yet returned by next_line (a request/response dialog)."""

        async def waiter() -> str | None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: len(self._lines[stream]) > self._cursor[stream] or stream in self._eof
                )
                if len(self._lines[stream]) <= self._cursor[stream]:
                    return None
                self._cursor[stream] += 1
                return self._lines[stream][self._cursor[stream] - 1]

        try:
            line = await bounded(waiter(), timeout)
        except TimeoutError as exc:
            raise CommandTimeout(
                f"{self.transport.name}: `{' '.join(self.argv)}` sent no line within {timeout:g} s"
            ) from exc
        if line is None:
            raise CommandError(
                f"{self.transport.name}: `{' '.join(self.argv)}` ended: {self._tail()}",
                stderr=self.stderr_text(),
            )
        return line

    def lines(self, stream: str = "stderr") -> list[str]:
        """Lines received so far on ``stream`` (without the PID line)."""
        return list(self._lines[stream])

    def stdout_text(self) -> str:
        return self._buf["stdout"].decode("utf-8", "replace")

    def stderr_text(self) -> str:
        return self._buf["stderr"].decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        return self.exit_status is None

    async def expect(
        self, pattern: str | re.Pattern[str], *, stream: str = "stderr", timeout: float
    ) -> str:
        """Wait for a line matching ``pattern`` (e.g. tcpdump's "listening on"); return it."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        seen = 0

        def found() -> str | None:
            nonlocal seen
            for line in self._lines[stream][seen:]:
                if rx.search(line):
                    return line
            seen = len(self._lines[stream])
            return None

        async def waiter() -> str | None:
            async with self._changed:
                while (line := found()) is None and stream not in self._eof:
                    await self._changed.wait()
                return line

        try:
            line = await bounded(waiter(), timeout)
        except TimeoutError as exc:
            raise CommandTimeout(
                f"{self.transport.name}: `{' '.join(self.argv)}` printed no line matching "
                f"{rx.pattern!r} within {timeout:g} s; see its output: {self._tail()}"
            ) from exc
        if line is None:
            raise CommandError(
                f"{self.transport.name}: `{' '.join(self.argv)}` ended before printing "
                f"{rx.pattern!r}: {self._tail()}",
                stderr=self.stderr_text(),
            )
        return line

    async def wait(self, timeout: float | None = None, *, kill_on_timeout: bool = False) -> int:
        """Wait for the exit and for all its output; the status is also kept in exit_status."""
        try:
            await bounded(self._finish(), timeout)
        except TimeoutError as exc:
            if kill_on_timeout:
                await self.kill()
            raise CommandTimeout(
                f"{self.transport.name}: `{' '.join(self.argv)}` did not finish within "
                f"{timeout:g} s; it was stopped. Raise the timeout or check the node's load"
            ) from exc
        assert self.exit_status is not None
        return self.exit_status

    async def _finish(self) -> None:
        if self.exit_status is not None:
            return
        if self._closed:
            raise TransportError(
                f"{self.transport.name}: `{' '.join(self.argv)}` was abandoned (channel closed)"
            )
        # asyncio.wait, not gather: a caller's timeout cancels this wait only, never the pumps
        # (cancelled pumps would drop the rest of the output and fail every later wait)
        await asyncio.wait(self._pumps)
        if self._closed:
            raise TransportError(
                f"{self.transport.name}: `{' '.join(self.argv)}` was abandoned (channel closed)"
            )
        self.exit_status = await self._channel.wait()

    async def signal(self, sig: str = "INT", *, children: bool = False) -> bool:
        """Send ``sig`` by PID over a new channel; False when the process is already gone.

        ``children`` also signals its direct children first (``pkill -P``, where present), for
        commands like ``sh -c 'a; b'`` whose work happens in a child.
        """
        if self.pid is None or self.exit_status is not None:
            return False
        res = await self.transport.run(
            ["sh", "-c", KILL_TREE if children else KILL_ONE, sig, str(self.pid)],
            sudo=self._sudo,
            check=False,
            timeout=15,
        )
        return res.exit_status == 0

    async def abandon(self, timeout: float = 5.0) -> None:
        """Our caller gave up on it: SIGKILL it by PID if it still runs (bounded), stop reading.

        Safe while the caller's task is being cancelled: a process whose PID line has not come
        yet gets ``timeout`` to send it, and the pumps have ended when this returns. A node
        that does not answer within ``timeout`` keeps the process (its own limits, like the
        capture watchdog, end it).
        """
        if self.exit_status is None and not self._closed:
            self._start_pumps()
            with contextlib.suppress(TransportError, TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._pid_line()
                    if self.pid is not None:
                        await self.signal("KILL", children=True)
        await self._drop()

    async def kill(self) -> None:
        """SIGKILL by PID (best effort), then drop the channel."""
        with contextlib.suppress(TransportError):
            await self.signal("KILL", children=True)
        await self._drop()

    async def _drop(self) -> None:
        """Drop the channel and wait until the pumps have stopped."""
        self.close()
        if self._pumps:
            await asyncio.wait(self._pumps)

    def close(self) -> None:
        """Stop reading and drop the channel (does not signal the remote process)."""
        self._closed = self.exit_status is None
        for task in self._pumps:
            task.cancel()
        self._channel.abort()

    def _tail(self) -> str:
        text = self.stderr_text().strip() or self.stdout_text().strip()
        return text.splitlines()[-1] if text else "(no output)"

    async def _pump(self, stream: str, read: Callable[[], Awaitable[bytes]]) -> None:
        while True:
            try:
                chunk = await read()
            except TransportError:  # the connection is gone: the channel's wait() says so
                chunk = b""
            async with self._changed:
                self._add(stream, chunk, final=not chunk)
                if not chunk:
                    self._eof.add(stream)
                self._changed.notify_all()
                if not chunk:
                    return

    def _add(self, stream: str, chunk: bytes, *, final: bool) -> None:
        """Append to the buffer, strip the wrapper's PID line, emit complete lines."""
        data = self._partial[stream] + chunk
        self._partial[stream] = b""
        if stream == "stdout" and not self._pid_seen:
            head, nl, rest = data.partition(b"\n")
            if not nl and not final:
                self._partial[stream] = data
                return
            self._pid_seen = True
            if nl and head.strip().isdigit():
                self.pid = int(head.strip())
                data = rest
            # else the wrapper did not run (e.g. sudo refused): keep the text as output
        if final:
            done = data
        else:
            cut = data.rfind(b"\n") + 1
            done, self._partial[stream] = data[:cut], data[cut:]
        if not done:
            return
        self._buf[stream] += done
        pieces = done.split(b"\n")
        if pieces[-1] == b"":
            pieces.pop()
        for raw in pieces:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self._lines[stream].append(line)
            if self._on_line is not None:
                self._on_line(stream, line)
