"""``record watch``: probe every N seconds; when a probe fails, snapshot the window around it.

The probe runs on this machine, or with ``--from NODE`` on a node, as one remote loop in one
SSH session (a session per probe would cost the node a login shell every second). That loop
dies with its session: when netdiag goes away its next line meets a closed channel (SIGPIPE).
After a failure the recorder keeps recording for ``--after`` seconds, then the window
[failure - before, failure + after] is snapshotted; :class:`Trigger` rate-limits snapshots.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdiag.capture.preflight import sample_clock
from netdiag.cli._env import Env, ExitCode
from netdiag.clock import Clock
from netdiag.errors import CommandError, InputError, TransportError
from netdiag.plan.model import TARGET_RE
from netdiag.record.ring import parse_duration
from netdiag.transport import Transport

__all__ = ["ProbeSpec", "Trigger", "parse_probe", "probe_started", "run_watch"]

# $1 seconds between probes; then the probe. One line per probe: "@ START_NS STATUS".
REMOTE_LOOP = r"""every=$1
shift
while :; do
  s=$(date +%s%N)
  "$@" >/dev/null 2>&1 </dev/null
  echo "@ $s $?"
  sleep "$every"
done
"""


@dataclass(frozen=True)
class ProbeSpec:
    """``tcp:HOST:PORT`` or ``ping:IP``."""

    kind: str
    host: str
    port: int | None = None

    def __str__(self) -> str:
        return f"tcp:{self.host}:{self.port}" if self.kind == "tcp" else f"ping:{self.host}"

    def argv(self, timeout_s: float) -> list[str]:
        """The command a node runs (bash's /dev/tcp as the plan's tcp probe; host and port are
        arguments, never shell text)."""
        t = f"{max(timeout_s, 0.1):g}"
        if self.kind == "tcp":
            script = 'exec 3<>"/dev/tcp/$0/$1"'
            return ["timeout", t, "bash", "-c", script, self.host, str(self.port)]
        return ["ping", "-n", "-c", "1", "-W", f"{max(round(timeout_s), 1)}", self.host]


def parse_probe(text: str) -> ProbeSpec:
    """``tcp:HOST:PORT`` / ``ping:IP`` -> ProbeSpec (``[v6]`` in brackets for tcp)."""
    kind, _, rest = text.partition(":")
    err = InputError(f"--probe {text!r}: give tcp:HOST:PORT (tcp:10.0.0.5:443) or ping:IP")
    if kind == "ping":
        host, port = rest, None
    elif kind == "tcp":
        host, _, port_text = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise err
        port = int(port_text)
    else:
        raise err
    if not host or not TARGET_RE.match(host):
        raise err
    return ProbeSpec(kind, host, port)


@dataclass
class Trigger:
    """Which failures start a snapshot: the first one, then none within ``min_gap_s`` of the
    last snapshot's failure (later failures in the same incident are in its window anyway)."""

    min_gap_s: float
    last: float | None = None

    def fire(self, at: float) -> bool:
        if self.last is not None and at - self.last < self.min_gap_s:
            return False
        self.last = at
        return True


@dataclass
class _Result:
    at: float  # this machine's clock, seconds
    ok: bool
    detail: str = ""


async def _local_probes(
    spec: ProbeSpec, every: float, timeout: float
) -> AsyncGenerator[_Result, None]:
    while True:
        at = time.time()
        ok, detail = await _local_once(spec, timeout)
        yield _Result(at, ok, detail)
        await asyncio.sleep(max(0.0, every - (time.time() - at)))


async def _local_once(spec: ProbeSpec, timeout: float) -> tuple[bool, str]:
    if spec.kind == "tcp":
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(spec.host, spec.port)
        except TimeoutError:
            return False, f"no answer within {timeout:g} s"
        except OSError as exc:
            return False, exc.strerror or str(exc)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, ""
    proc = await asyncio.create_subprocess_exec(
        *spec.argv(timeout), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    status = await proc.wait()
    return status == 0, "" if status == 0 else f"no reply (ping exit {status})"


async def _remote_probes(
    transport: Transport, spec: ProbeSpec, every: float, timeout: float
) -> AsyncGenerator[_Result, None]:
    """The node's probes, each placed on this machine's clock by when the node started it:
    the node's clock is measured once, before the loop starts (if it cannot be, a failure is
    placed by when its line arrived, up to ``timeout`` after the probe started, and says so)."""
    try:
        clock: Clock | None = await sample_clock(transport)
    except (CommandError, TransportError, TimeoutError, ValueError):
        clock = None
    argv = ["sh", "-c", REMOTE_LOOP, "netdiag-watch", f"{every:g}", *spec.argv(timeout)]
    proc = await transport.start(argv, sudo=False)
    try:
        while True:
            line = await proc.next_line(timeout=every + timeout + 30)
            parts = line.split()
            if len(parts) != 3 or parts[0] != "@":
                continue
            ok = parts[2] == "0"
            detail = "" if ok else f"exit status {parts[2]} on the node"
            yield _Result(probe_started(transport, clock, parts[1]), ok, detail)
    finally:
        with contextlib.suppress(TransportError, TimeoutError, OSError):
            await proc.abandon()


def probe_started(transport: Transport, clock: Clock | None, stamp: str) -> float:
    """A node's ``date +%s%N`` when it started a probe -> this machine's clock (seconds);
    without a clock or a stamp, now (the line's arrival)."""
    if clock is None or not stamp.isdigit():
        return time.time()
    return (transport.node_time_ns(int(stamp)) - clock.offset_ns) / 1e9


@dataclass
class _Watch:
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    probes: int = 0
    failures: int = 0


def run_watch(args: argparse.Namespace, env: Env, name: str, inventory: Any) -> int:
    """The ``record watch`` command (arguments as cli/record.py defines them)."""
    spec = parse_probe(args.probe)
    every = parse_duration(args.every, what="--every")
    timeout = parse_duration(args.timeout, what="--timeout")
    after = parse_duration(args.after, what="--after")
    before = parse_duration(args.before, what="--before")
    gap = parse_duration(args.min_gap, what="--min-gap")
    if every < 0.1 or timeout <= 0:
        raise InputError("--every must be at least 0.1s and --timeout more than 0")
    source = None
    if args.source is not None:
        try:
            source = inventory.node(args.source)
        except KeyError:
            known = ", ".join(n.name for n in inventory.nodes)
            raise InputError(f"--from {args.source!r}: not in the inventory ({known})") from None
    state = _Watch()
    try:
        asyncio.run(
            _watch(args, env, name, inventory, spec=spec, source=source, state=state,
                   every=every, timeout=timeout, after=after, before=before, gap=gap)
        )  # fmt: skip
        code: int = ExitCode.OK
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except TransportError as exc:
        env.error(f"{exc}; the probe cannot run from {args.source or 'this machine'}")
        code = ExitCode.FAILURE
    if any(s["exit_code"] not in (0,) for s in state.snapshots) and code == ExitCode.OK:
        code = ExitCode.PARTIAL
    if args.json:
        env.print_json({
            "schema": "netdiag.record.watch/1", "name": name, "probe": str(spec),
            "from": args.source, "exit_code": int(code), "probes": state.probes,
            "failures": state.failures, "snapshots": state.snapshots,
        })  # fmt: skip
    return code


async def _watch(
    args: argparse.Namespace,
    env: Env,
    name: str,
    inventory: Any,
    *,
    spec: ProbeSpec,
    source: Any,
    state: _Watch,
    every: float,
    timeout: float,
    after: float,
    before: float,
    gap: float,
) -> None:
    from netdiag.cli.record import report_snapshot
    from netdiag.record.snapshot import Window, take_snapshot
    from netdiag.transport import open_transport

    progress = env.progress()
    trigger = Trigger(gap)
    where = f"from {source.name}" if source is not None else "from this machine"
    progress.say(f"watching {spec} {where} every {every:g} s; snapshots go to {args.out}/")
    async with contextlib.AsyncExitStack() as stack:
        if source is not None:
            transport = await stack.enter_async_context(open_transport(source, args.transport))
            results = _remote_probes(transport, spec, every, timeout)
        else:
            results = _local_probes(spec, every, timeout)
        pending: list[asyncio.Task[None]] = []
        await stack.enter_async_context(contextlib.aclosing(results))
        in_a_row = 0
        async for r in results:
            state.probes += 1
            if r.ok:
                if in_a_row:
                    when = time.strftime("%H:%M:%S", time.localtime(r.at))
                    progress.say(f"{spec} answers again at {when}, after {in_a_row} failed "
                                 "probe(s)")  # fmt: skip
                in_a_row = 0
                continue
            state.failures += 1
            in_a_row += 1
            if not trigger.fire(r.at):
                if in_a_row == 1:  # a new failure, within --min-gap of the last snapshot
                    when = time.strftime("%H:%M:%S", time.localtime(r.at))
                    progress.say(f"{spec} failed at {when} ({r.detail}); no new snapshot: "
                                 f"within --min-gap {gap:g} s of the last one")  # fmt: skip
                continue
            when = time.strftime("%H:%M:%S", time.localtime(r.at))
            progress.say(f"{spec} failed at {when} ({r.detail}); snapshot in {after:g} s")

            async def snap(at: float = r.at, detail: str = r.detail) -> None:
                await asyncio.sleep(max(0.0, at + after - time.time()))
                stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(at))
                out = Path(args.out) / f"{stamp}-{name}"
                window = Window(int((at - before) * 1e9), int((at + after) * 1e9))
                snapshot = await take_snapshot(
                    inventory, name=name, window=window, out=out, transport=args.transport
                )
                doc: dict[str, Any] = {}
                report_snapshot(snapshot, env, name=name, analysis=not args.no_analysis,
                                as_json=True, doc=doc)  # fmt: skip
                doc["failure"] = {"at_ns": int(at * 1e9), "detail": detail}
                state.snapshots.append(doc)
                if not args.json:
                    shown = time.strftime("%H:%M:%S", time.localtime(at))
                    packets = sum(p["packets"] for p in doc["points"])
                    report = doc["report"] or doc["analysis"]
                    what = f"{packets} packets from {len(doc['points'])} point(s)" + (
                        f"; report: {report}" if report else ""
                    )
                    if doc["exit_code"] != 0:
                        what += "; incomplete, see the warnings above"
                    print(f"snapshot: {out} (failure at {shown}: {detail}; {what})",
                          file=env.stdout, flush=True)  # fmt: skip

            pending.append(asyncio.create_task(snap()))
            if args.max_snapshots and len(pending) >= args.max_snapshots:
                break
        await asyncio.gather(*pending)
