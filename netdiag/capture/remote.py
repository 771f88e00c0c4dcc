"""Drive one capture point through start -> listening -> stop -> fetch -> cleanup.

Each step is bounded by a timeout of its own: an SSH channel on a connection whose link went
down never answers, and a stuck step must turn into status ``lost`` for that point, not a hung
run. Failures are recorded on the :class:`CaptureResult` (status + what to do), never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from netdiag.capture.complete import count_frames, incomplete
from netdiag.capture.preflight import clock_dialog
from netdiag.capture.protocol import (
    ARM,
    EXITED,
    GO,
    HEARTBEAT,
    RELEASE,
    STARTED,
    CaptureExit,
    DirMade,
    DirRemoved,
    FreeSpace,
    Swept,
    capture_exit,
    free_bytes,
    parse,
    supervisor_argv,
)
from netdiag.capture.results import CaptureResult
from netdiag.capture.sweep import SWEEP
from netdiag.capture.tcpdump import classify_failure, parse_live_count, parse_stats, tcpdump_argv
from netdiag.capture.watch import log
from netdiag.clock import Clock
from netdiag.errors import CommandError, TransportError
from netdiag.plan import CapturePoint, CaptureSpec
from netdiag.transport import RemoteProcess, Transport
from netdiag.transport.aio import bounded, cancel_and_wait
from netdiag.transport.batch import batch_script, end_marker, is_status_line, parse_batch_output

__all__ = ["RemoteCapture"]

STEP_TIMEOUT = 15.0  # one SSH round trip on a healthy node is milliseconds


def _why(exc: BaseException, waited: float) -> str:
    """The exception's text; a bare timeout (empty str()) says how long we waited."""
    if str(exc):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {waited:g} s"
    return type(exc).__name__


class RemoteCapture:
    """One tcpdump on one node, under the supervisor of :mod:`netdiag.capture.protocol`."""

    def __init__(
        self,
        transport: Transport,
        point: CapturePoint,
        result: CaptureResult,
        *,
        spec: CaptureSpec,
        bpf: str,
        run_id: str,
        heartbeat_s: float = 15.0,
        sweep: bool = False,
        preflight: Sequence[Sequence[str]] = (),
        clock_rounds: int = 0,
        grace_s: float = 0,
        step_s: float = STEP_TIMEOUT,
    ) -> None:
        self.transport = transport
        self._token = secrets.token_hex(8)
        self.point = point
        self.result = result
        self.capture_argv = tcpdump_argv(
            tcpdump=transport.node.tcpdump,
            iface=point.iface,
            duration=spec.duration,
            snaplen=spec.snaplen,
            max_packets=spec.max_packets,
            max_file_mb=spec.max_file_mb,
            bpf=bpf,
        )
        self.argv = supervisor_argv(
            capture_dir=transport.node.capture_dir,
            run_id=run_id,
            file_name=Path(result.file).name,
            heartbeat_s=heartbeat_s,
            capture=self.capture_argv,
            sweep=SWEEP if sweep else "",
            preflight=batch_script(preflight, self._token) if preflight else "",
            clock_rounds=clock_rounds if preflight else 0,
            grace_s=grace_s,
        )
        self.max_file_mb = spec.max_file_mb
        self.grace_s = grace_s
        self.step_s = step_s  # how long one step may wait for the node before it is lost
        self.kept = False  # left to the node's grace period (a fetch failed, or the node was lost)
        self.checks = len(preflight)
        self.released = False  # a preflight host let go before arming: nothing was made
        self._skip_err = 0  # stderr lines that were the preflight's, not the capture's
        self.clock_rounds = clock_rounds if preflight else 0
        self.heartbeat_s = heartbeat_s
        self.proc: RemoteProcess | None = None
        self.listened = False  # tcpdump said "listening on": there is a file to fetch
        self._beats: asyncio.Task[None] | None = None

    @property
    def remote_file(self) -> str | None:
        d = self.result.remote_dir
        return f"{d}/{Path(self.result.file).name}" if d else None

    def swept(self) -> list[str]:
        """What the supervisor's sweep of dead runs removed before this capture started."""
        return [ln for ln in self._err_lines() if isinstance(parse("stderr", ln), Swept)]

    @property
    def removed(self) -> bool:
        """The supervisor said it removed its directory (its last line, ``removed DIR``)."""
        p, d = self.proc, self.result.remote_dir
        if p is None or d is None:
            return False
        return DirRemoved(d) in (parse("stdout", ln) for ln in p.lines("stdout"))

    @property
    def ended(self) -> bool:
        """tcpdump has exited (the supervisor said so) or the whole process is gone."""
        p = self.proc
        return p is None or not p.running or capture_exit(self._err_lines()) is not None

    def _err_lines(self) -> list[str]:
        return self.proc.lines("stderr")[self._skip_err :] if self.proc else []

    def _err_text(self) -> str:
        return "".join(f"{ln}\n" for ln in self._err_lines())

    def _on_line(self, stream: str, line: str) -> None:
        if stream != "stderr":
            return
        if line.startswith("tcpdump:") and "captured," in line:  # tcpdump's SIGUSR1 line
            count = parse_live_count(line)
            if count is not None:
                self.result.packets = count
        elif isinstance(event := parse("stderr", line), FreeSpace):
            self.result.free_bytes = event.free_bytes  # live, with each count (SIGUSR1)

    async def _open(self) -> RemoteProcess:
        if self.proc is None:
            self.proc = await bounded(
                self.transport.start(
                    self.argv, netns=self.point.netns, keep_stdin=True, on_line=self._on_line
                ),
                self.step_s,
            )
        return self.proc

    async def preflight(self) -> tuple[list[tuple[int, str, str]], Clock | None, str]:
        """Open the session and read the node's checks and clock samples (a preflight host).

        Returns (exit, stdout, stderr) per check, the lowest-RTT clock sample (or None and why).
        The supervisor then waits for :meth:`arm` (or :meth:`release` when the node is unfit).
        Raises TransportError / TimeoutError when the session fails.
        """
        proc = await self._open()
        last = self.checks - 1
        out: list[str] = []
        while not (out and is_status_line(self._token, last, out[-1])):
            out.append(await proc.next_line(timeout=self.step_s))
        end = await proc.expect(re.escape(end_marker(self._token, last)) + "$", timeout=self.step_s)
        self._skip_err = proc.lines("stderr").index(end) + 1  # the capture's lines follow
        results = parse_batch_output(self._token, out, proc.lines("stderr")[: self._skip_err])
        if len(results) != self.checks:
            raise CommandError(
                "the preflight checks printed no complete result; check the node's shell"
            )
        clock, why = await clock_dialog(proc, self.clock_rounds, timeout=self.step_s)
        return results, clock, why

    async def release(self) -> None:
        """A preflight host on an unfit node: EOF, the supervisor exits having made nothing."""
        if self.proc is not None:
            with contextlib.suppress(TransportError, TimeoutError):
                await bounded(self.proc.close_stdin(), self.step_s)
                await self.proc.wait(timeout=self.step_s)
            self.proc.close()
            self.proc = None
        self.released = True

    async def arm(self, listen_timeout: float) -> bool:
        """Open the session and let the supervisor make its directory; tcpdump waits for go().

        Arming every node first, then sending every "go" at once, keeps the capture start
        spread small: the costly part of a start (session, login shell) is already done.
        """
        r = self.result
        try:
            proc = await self._open()
            if self.checks:  # a preflight host: its checks were read, now let it go on
                await bounded(proc.write(ARM), self.step_s)
            line = await proc.next_line(timeout=self.step_s)
            made = parse("stdout", line)
            if not (isinstance(made, DirMade) and made.path.startswith("/")):
                raise CommandError(f"{self.transport.name}: unexpected output {line!r}")
            r.remote_dir = made.path
        except (TransportError, TimeoutError) as exc:
            await self._record_start_failure(exc, listen_timeout)
            return False
        r.status = "armed"
        return True

    async def go(self, listen_timeout: float) -> bool:
        """Start tcpdump and wait for its "listening on"; False (status set) when it did not."""
        r = self.result
        proc = self.proc
        if proc is None or r.status != "armed":
            return False
        try:
            log.info("%s go: start tcpdump on %s", self.transport.name, r.point)
            await bounded(proc.write(GO), self.step_s)
            self._beats = asyncio.create_task(self._heartbeat())
            # A tcpdump that cannot open its device (no CAP_NET_RAW, no such interface) exits
            # right after it started, and the supervisor says so: that ends the wait at once.
            line = await proc.expect(STARTED, timeout=listen_timeout)
        except (TransportError, TimeoutError) as exc:
            await self._record_start_failure(exc, listen_timeout)
            return False
        if isinstance(parse("stderr", line), CaptureExit):
            await self._record_start_failure(None, listen_timeout)
            return False
        self.listened = True
        r.status = "listening"
        return True

    async def start(self, listen_timeout: float) -> bool:
        """arm() then go(): one capture on its own."""
        return await self.arm(listen_timeout) and await self.go(listen_timeout)

    async def _record_start_failure(self, exc: BaseException | None, listen_timeout: float) -> None:
        """Why the capture did not start, from the supervisor's report; then let it go."""
        r = self.result
        proc = self.proc
        if proc is None:
            why = _why(exc, self.step_s) if exc is not None else "no session"
            r.status, r.detail = "lost", f"{why}; the node stopped answering"
            return
        if capture_exit(self._err_lines()) is None:
            with contextlib.suppress(TransportError, TimeoutError):
                await proc.wait(timeout=2)  # a session that is ending: its exit status
        r.stderr = self._err_text()
        status = capture_exit(self._err_lines())
        if status is None and proc.running:
            r.status = "not-listening"
            r.detail = (
                f"tcpdump on {self.point.iface} printed no 'listening on' within "
                f"{listen_timeout:g} s; check the node's load and the tcpdump binary"
            )
            await self.finish()
            return
        if status is None:
            status = proc.exit_status
        r.status, r.detail = classify_failure(r.stderr or proc.stdout_text(), status)
        await self.finish()

    async def _heartbeat(self) -> None:
        """Keep the remote watchdog from firing; it does when these stop (netdiag died)."""
        period = max(self.heartbeat_s / 4, 0.05)
        proc = self.proc
        assert proc is not None
        while proc.running:
            try:
                await bounded(proc.write(HEARTBEAT), self.step_s)
            except (TransportError, OSError, TimeoutError):
                return
            await asyncio.sleep(period)

    async def poll_count(self) -> None:
        """Ask tcpdump for its counts (SIGUSR1): they arrive on stderr and update ``packets``."""
        if self.proc is not None and not self.ended:
            with contextlib.suppress(TransportError, TimeoutError):
                await bounded(self.proc.signal("USR1"), self.step_s)

    async def stop(self) -> None:
        """SIGINT so tcpdump flushes and prints its counts; wait for the supervisor's report."""
        proc, r = self.proc, self.result
        if proc is None or r.status != "listening":
            return
        try:
            if not self.ended:
                log.info("%s stop %s: SIGINT to tcpdump", self.transport.name, r.point)
                await bounded(proc.signal("INT"), self.step_s)
            await proc.expect(EXITED, timeout=self.step_s)
        except (TransportError, TimeoutError) as exc:
            r.status, r.detail = (
                "lost",
                f"{_why(exc, self.step_s)}; the node stopped answering mid-capture",
            )
        lines = self._err_lines()
        r.stderr = self._err_text()
        r.stats = parse_stats(lines)
        r.free_bytes = free_bytes(lines)
        if r.stats is not None:
            r.packets = r.stats.captured
        if r.status == "listening":
            status = capture_exit(lines)
            # 0: stopped by us or by -c; 124: the remote `timeout` hit the plan's duration.
            if status in (0, 124):
                r.status = "ok"
                if status == 124:
                    r.detail = "stopped by the plan's duration limit before netdiag stopped it"
            else:
                r.status, r.detail = classify_failure(r.stderr, status)

    async def fetch(self, local: Path) -> None:
        """Copy the capture file home (SFTP); a missing or failed copy marks the point."""
        r = self.result
        remote = self.remote_file
        if remote is None or not self.listened or r.status == "lost":
            return  # a tcpdump that never listened wrote nothing
        try:
            await self.transport.get(remote, local)
        except TransportError as exc:
            if r.status == "ok":
                r.status = "fetch-failed"
                r.detail = f"{exc}"
            return
        count = count_frames(local)
        r.frames = count.frames
        if r.status == "ok" and r.stats is not None:
            why = incomplete(
                where=f"{self.transport.name}:{self.transport.node.capture_dir}",
                count=count,
                captured=r.stats.captured,
                free_bytes=r.free_bytes,
                max_file_mb=self.max_file_mb,
            )
            if why is not None:
                r.status, r.detail = "incomplete", why

    async def finish(self) -> None:
        """Let the supervisor go: it removes its directory and exits, and we wait for that.

        A file we could not bring home (the node was lost, the fetch failed) is left to the
        node's grace period instead: the supervisor keeps it for ``grace_s`` after our stdin
        closes without the release byte, for ``netdiag capture --recover``.
        """
        await cancel_and_wait(self._beats)
        self._beats = None
        proc = self.proc
        if proc is None:
            return
        r = self.result
        ran = self.listened
        if r.status == "lost" or (ran and r.status == "fetch-failed"):
            self.kept = ran and self.grace_s > 0
            if self.kept:
                log.info(
                    "%s keep %s for %g s (not fetched)", self.transport.name, r.point, self.grace_s
                )
            with contextlib.suppress(TransportError, TimeoutError):
                await bounded(proc.close_stdin(), 2)  # EOF, no release byte: keep it
            proc.close()  # no answer expected; the watchdog takes over
            return
        try:
            log.info("%s release %s: remove its capture directory", self.transport.name, r.point)
            await bounded(proc.write(RELEASE), self.step_s)
            await bounded(proc.close_stdin(), self.step_s)
            await proc.wait(timeout=self.step_s)
        except (TransportError, TimeoutError):
            # The watchdog still stops everything once our heartbeats stop (and keeps the
            # files for the grace period: we cannot tell whether the release byte arrived).
            proc.close()
