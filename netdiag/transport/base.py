"""The one interface every backend implements: run, start, get, put on one node.

Commands are argv lists. SSH backends join them with ``shlex.join`` for the remote shell, so an
interface name, a BPF filter or a path arrives verbatim and never as shell syntax. Long-running
processes are started as ``sh -c 'echo $$; exec "$@"' sh ARGV...``: the first stdout line is the
remote PID, which we signal with ``kill -INT PID`` over a second channel because SSH "signal"
requests are unreliable (OpenSSH < 10.0 refuses them for root logins, asyncssh gets no reply,
paramiko has no API for them). Backends supply connect/close/get/put and ``_spawn``
(a :class:`Channel` of bytes); pumping, timeouts and signals live in ``process.py``.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from netdiag.errors import CommandError, TransportError
from netdiag.transport.aio import bounded
from netdiag.transport.process import PID_WRAPPER, Channel, RemoteProcess, wrap_argv

if TYPE_CHECKING:
    from netdiag.inventory import NodeSpec

__all__ = ["CommandResult", "LineCallback", "RemoteEntry", "Transport", "wrap_argv"]

# Called with ("stdout" | "stderr", line without its newline) for every line of a started process.
LineCallback = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """One name in a remote directory, as the file-transfer channel lists it (no shell):
    size in bytes, mtime in whole seconds (SFTP version 3 has no finer time)."""

    name: str
    size: int
    mtime_s: int
    is_dir: bool


# Clean-ups of cancelled starts still running (a task nobody holds may be collected mid-way).
_LATE: set[asyncio.Future[None]] = set()


def cleanups_pending() -> int:
    """Cancelled starts whose channel may still open and is then stopped in the background."""
    return len(_LATE)


@dataclass(frozen=True)
class CommandResult:
    """A finished command. Output is text (UTF-8, bad bytes replaced); files move by get()."""

    host: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class Transport(abc.ABC):
    """A connection to one node. Use as ``async with open_transport(node) as t: ...``."""

    kind = "abstract"

    def __init__(self, node: NodeSpec) -> None:
        self.node = node

    @property
    def name(self) -> str:
        return self.node.name

    def node_time_ns(self, reading: int) -> int:
        """A reading of the node's clock (ns since the epoch) as netdiag should take it: as is.

        Wrappers pass it on to the transport they wrap; the lab's nodes share our clock, and
        :class:`netdiag.lab.skew.SimulatedSkew` shifts their readings to simulate a skew.
        """
        return reading

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection; raises ConnectError, AuthError or HostKeyError."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection; safe to call twice and after a failed connect."""

    @abc.abstractmethod
    async def _spawn(self, argv: Sequence[str]) -> Channel:
        """Start ``argv`` (already wrapped) and return its byte streams."""

    @abc.abstractmethod
    async def get(self, remote: str, local: str | Path) -> None:
        """Copy a remote file to ``local`` byte for byte."""

    @abc.abstractmethod
    async def put(self, local: str | Path, remote: str) -> None:
        """Copy ``local`` to a remote path byte for byte."""

    async def open_transfers(self) -> None:  # noqa: B027 - optional hook, nothing by default
        """Open the file-transfer channel now, alongside other work (else the first get/put
        opens it); SSH backends open their SFTP channel here."""

    async def listdir(self, path: str) -> list[RemoteEntry] | None:
        """The entries of a remote directory over the file-transfer channel, without starting
        a shell on the node; None when this transport has no such channel (the caller then
        lists with a command). CommandError when the directory cannot be read."""
        return None

    async def read_into(self, remote: str, sink: Callable[[bytes], None], size: int = -1) -> None:
        """:meth:`read`, its bytes handed to ``sink`` in order, piece by piece as they come
        (SSH backends: each answer to their requests in flight, once the ones before it have
        come), for a caller that uses each piece at once instead of holding the whole file.
        By default one piece. An exception from ``sink`` stops the read and is raised."""
        sink(await self.read(remote, size))

    async def read(self, remote: str, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the start of a remote file, into memory; -1: as many as
        its size when opened (a ``/proc`` file says 0: give a size).

        SSH backends read over SFTP with requests in flight in parallel; this default goes
        through :meth:`get` and a temporary file. CommandError when the file cannot be read.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="netdiag-read-") as tmp:
            local = Path(tmp) / "file"
            await self.get(remote, local)
            with open(local, "rb") as fh:
                return fh.read() if size < 0 else fh.read(size)

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
        """Run to completion. On timeout the remote process is killed and CommandTimeout raised.

        ``sudo`` None means the node's setting. ``check`` raises CommandError on a non-zero exit.
        A cancelled caller leaves nothing behind: the remote process is killed by PID and no
        task reads its output once this returns; cancelled while the session was still
        opening, what the session starts is killed as soon as it has started.
        """
        started = time.monotonic()
        proc = await self.start(argv, netns=netns, sudo=sudo, input=input)
        try:
            status = await proc.wait(timeout=timeout, kill_on_timeout=True)
        except BaseException:  # cancelled by our caller, above all: nothing may run on
            await _unless_cancelled_again(proc.abandon())
            raise
        out, err, took = proc.stdout_text(), proc.stderr_text(), time.monotonic() - started
        result = CommandResult(self.name, tuple(argv), status, out, err, took)
        if check and status != 0:
            detail = result.stderr.strip().splitlines()[-1:] or ["no error output"]
            raise CommandError(
                f"{self.name}: `{' '.join(argv)}` exited with status {status}: {detail[0]}",
                exit_status=status,
                stderr=result.stderr,
            )
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
        """Start a long-running process; its output is read continuously (a full SSH window
        would stall the remote writer: a stalled tcpdump makes the kernel drop packets).

        ``keep_stdin`` leaves stdin open for :meth:`RemoteProcess.write` (a dialog), else it is
        closed after ``input`` so commands reading stdin do not wait forever.
        """
        use_sudo = self.node.sudo if sudo is None else sudo
        full = [*PID_WRAPPER, *wrap_argv(argv, netns=netns, sudo=False)]
        if use_sudo:
            full = ["sudo", "-n", *full]
        spawning = asyncio.ensure_future(self._spawn(full))
        try:
            channel = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # A backend may go on opening the channel (paramiko does, in a thread): stop what
            # it starts, or the command would run on with nobody reading. In the background:
            # on a dead link the channel never opens, and a cancel must not wait for it.
            late = asyncio.ensure_future(self._stop_late(spawning, argv, use_sudo))
            _LATE.add(late)
            late.add_done_callback(_LATE.discard)
            raise
        proc = RemoteProcess(self, tuple(argv), channel, sudo=use_sudo, on_line=on_line)
        try:
            await proc.begin(input, keep_stdin=keep_stdin)
        except BaseException:
            await _unless_cancelled_again(proc.abandon())
            raise
        return proc

    async def _stop_late(
        self, spawning: asyncio.Future[Channel], argv: Sequence[str], sudo: bool
    ) -> None:
        """The channel a cancelled start was still opening: kill its process, if it has one."""
        try:
            channel = await bounded(spawning, max(10.0, self.node.connect_timeout * 3))
        except (TransportError, TimeoutError):
            return
        await RemoteProcess(self, tuple(argv), channel, sudo=sudo, on_line=None).abandon()

    async def run_batch(
        self, commands: Sequence[Sequence[str]], *, timeout: float = 60.0
    ) -> list[CommandResult]:
        """Short commands in one session, one result each (see batch.py for why)."""
        from netdiag.transport.batch import run_batch

        return await run_batch(self, commands, timeout=timeout)


async def _unless_cancelled_again(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even if our caller is cancelled once more meanwhile.

    Clean-up runs while a cancellation propagates; a second cancel (a second Ctrl-C) must not
    cut it short and leave a remote process running: it goes on in its own task, bounded by
    its own timeouts.
    """
    await asyncio.shield(asyncio.ensure_future(cleanup))
