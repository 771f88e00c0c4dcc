"""A transport that runs nothing: a handler decides every command's outcome (unit tests).

Like httpx's ``MockTransport(handler)``: the orchestrator, preflight and the TUI are tested
against scripted nodes. It goes through the same ``start()`` / ``run()`` code as the real
backends (PID wrapper, sudo, netns), unwraps the command line again, asks the handler, and
plays the answer back as byte streams. ``kill`` by PID reaches the scripted process.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.errors import CommandError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.transport.base import CommandResult, Transport
from netdiag.transport.batch import batch_output, parse_batch_script
from netdiag.transport.process import KILL_ONE, KILL_TREE, PID_WRAPPER

__all__ = ["MockCall", "MockScript", "MockTransport"]

_pids = itertools.count(40000)


@dataclass(frozen=True)
class MockCall:
    """One command as the caller asked for it (before wrapping)."""

    argv: tuple[str, ...]
    netns: str | None = None
    sudo: bool = False


@dataclass(frozen=True)
class MockScript:
    """A scripted process: lines with a delay between them, optionally running until signalled.

    With ``until_signal`` it blocks after its lines until INT/TERM (then prints
    ``after_signal`` and exits with ``exit_status``) or KILL (exits -9, prints nothing).
    With ``until_eof`` it then waits for its stdin to close (a dialog like the capture
    supervisor's) and prints ``after_eof`` on stdout before it exits. ``respond`` answers each
    line written to its stdin with one stdout line, computed when the line arrives (a clock).
    """

    stdout: Sequence[str] = ()
    stderr: Sequence[str] = ()
    exit_status: int = 0
    delay: float = 0.0
    until_signal: bool = False
    after_signal: Sequence[str] = ()  # stderr lines printed on INT/TERM, like tcpdump's counts
    until_eof: bool = False
    after_eof: Sequence[str] = ()
    respond: Callable[[str], str] | None = None


Handler = Callable[[MockCall], CommandResult | MockScript]


@dataclass
class _MockChannel:
    script: MockScript
    pid: int
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    err: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    signalled: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    status: int | None = None
    task: asyncio.Task[None] | None = None
    stdin: bytearray = field(default_factory=bytearray)  # what the caller wrote
    eof: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self) -> None:
        self.task = asyncio.create_task(self._play())

    async def _play(self) -> None:
        s = self.script
        self.out.put_nowait(f"{self.pid}\n".encode())
        for line in s.stdout:
            self.out.put_nowait(f"{line}\n".encode())
        for line in s.stderr:
            if s.delay:
                await asyncio.sleep(s.delay)
            self.err.put_nowait(f"{line}\n".encode())
        status = s.exit_status
        if s.until_signal:
            sig = await self.signalled.get()
            if sig == "KILL":
                status = -9
            else:
                for line in s.after_signal:
                    self.err.put_nowait(f"{line}\n".encode())
        if s.until_eof and status != -9:
            await self.eof.wait()
            for line in s.after_eof:
                self.out.put_nowait(f"{line}\n".encode())
        self.status = status
        self.out.put_nowait(b"")
        self.err.put_nowait(b"")

    async def read_stdout(self) -> bytes:
        return await self.out.get()

    async def read_stderr(self) -> bytes:
        return await self.err.get()

    async def write_stdin(self, data: bytes) -> None:
        self.stdin += data
        respond = self.script.respond
        while respond is not None and b"\n" in self.stdin:
            line, _, rest = bytes(self.stdin).partition(b"\n")
            self.stdin = bytearray(rest)
            self.out.put_nowait(f"{respond(line.decode())}\n".encode())

    async def close_stdin(self) -> None:
        self.eof.set()

    async def wait(self) -> int:
        if self.task is not None:
            await self.task
        assert self.status is not None
        return self.status

    def abort(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            self.status = -1


class MockTransport(Transport):
    """``MockTransport(handler, node)``; ``calls`` records every command, ``files`` is the disk."""

    kind = "mock"

    def __init__(
        self,
        handler: Handler,
        node: NodeSpec | None = None,
        *,
        connect_error: TransportError | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__(node or NodeSpec(name="mock", host="mock.invalid"))
        self.handler = handler
        self.connect_error = connect_error
        self.calls: list[MockCall] = []
        self.files: dict[str, bytes] = files if files is not None else {}
        self.connected = False
        self._procs: dict[int, _MockChannel] = {}

    async def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error
        self.connected = True

    async def close(self) -> None:
        for chan in self._procs.values():
            chan.abort()
        self.connected = False

    async def _spawn(self, argv: Sequence[str]) -> _MockChannel:
        if not self.connected:
            raise TransportError(f"{self.name}: not connected; call connect() first")
        call = _unwrap(argv)
        batch = parse_batch_script(call.argv[2]) if call.argv[:2] == ("sh", "-c") else None
        if batch is not None:  # run_batch(): the handler answers command by command
            return self._start(self._batch(call, *batch))
        self.calls.append(call)
        if call.argv[:2] == ("sh", "-c") and call.argv[2] in (KILL_ONE, KILL_TREE):
            return self._deliver(call.argv[3], int(call.argv[4]))
        answer = self.handler(call)
        if isinstance(answer, CommandResult):
            answer = MockScript(
                stdout=answer.stdout.splitlines(),
                stderr=answer.stderr.splitlines(),
                exit_status=answer.exit_status,
            )
        return self._start(answer)

    def _start(self, script: MockScript) -> _MockChannel:
        chan = _MockChannel(script, next(_pids))
        self._procs[chan.pid] = chan
        chan.begin()
        return chan

    def _batch(self, call: MockCall, token: str, commands: list[list[str]]) -> MockScript:
        results = []
        for argv in commands:
            sub = MockCall(tuple(argv), call.netns, call.sudo)
            self.calls.append(sub)
            answer = self.handler(sub)
            if isinstance(answer, MockScript):
                out, err = (
                    "".join(f"{x}\n" for x in answer.stdout),
                    "".join(f"{x}\n" for x in answer.stderr),
                )
                results.append((answer.exit_status, out, err))
            else:
                results.append((answer.exit_status, answer.stdout, answer.stderr))
        stdout, stderr = batch_output(token, results)
        return MockScript(stdout=stdout.split("\n")[:-1], stderr=stderr.split("\n")[:-1])

    def _deliver(self, sig: str, pid: int) -> _MockChannel:
        target = self._procs.get(pid)
        alive = target is not None and target.status is None
        if target is not None and alive:
            target.signalled.put_nowait(sig)
        err = () if alive else (f"kill: ({pid}) - No such process",)
        chan = _MockChannel(MockScript(stderr=err, exit_status=0 if alive else 1), next(_pids))
        chan.begin()
        return chan

    async def get(self, remote: str, local: str | Path) -> None:
        if remote not in self.files:
            raise CommandError(f"{self.name}: cannot fetch {remote}: no such file; check the path")
        Path(local).write_bytes(self.files[remote])

    async def put(self, local: str | Path, remote: str) -> None:
        self.files[remote] = Path(local).read_bytes()


def _unwrap(argv: Sequence[str]) -> MockCall:
    """Undo base.start()'s wrapping: [sudo -n] PID_WRAPPER [ip netns exec NS | nsenter] argv."""
    rest = list(argv)
    sudo = rest[:2] == ["sudo", "-n"]
    if sudo:
        rest = rest[2:]
    assert tuple(rest[: len(PID_WRAPPER)]) == PID_WRAPPER, rest
    rest = rest[len(PID_WRAPPER) :]
    netns = None
    if rest[:3] == ["ip", "netns", "exec"]:
        netns, rest = rest[3], rest[4:]
    elif rest and rest[0] == "nsenter" and len(rest) > 1 and rest[1].startswith("--net="):
        netns, rest = rest[1].removeprefix("--net="), rest[2:]
    return MockCall(tuple(rest), netns, sudo)
