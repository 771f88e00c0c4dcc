"""The coordinated run: connect, preflight, start every capture, probe, stop, fetch, clean up.

Order matters and is the point of this module (issue 5, CAPTURE_RULES):

1. connect + preflight every node concurrently (a semaphore bounds the handshakes);
2. start every capture (its supervisor first sweeps what dead runs left) and wait for
   *each* tcpdump's "listening on" — no probe is sent before every capture that could start
   is listening;
3. sample clocks (several round trips per node, minimum RTT);
4. run the probes, then linger (>= the plan's ``linger``) so the last packets reach the files;
5. SIGINT every capture by PID, fetch the files concurrently, let each supervisor remove its
   directory, sweep our own run marker as a last check, close the connections;
6. write the bundle's manifest (also after every phase, so a run that dies half-way leaves
   one) and shift simulated lab clock skew into the pcaps.

A failing node is a status, not an exception; ``stop`` (Ctrl-C, SIGTERM) skips to step 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from netdiag.capture.probes import probe_result, run_probe
from netdiag.capture.remote import RemoteCapture
from netdiag.capture.results import CaptureResult, NodeResult, RunRecord, plan_json, write_manifest
from netdiag.capture.session import NodeSession
from netdiag.capture.skew import shift_pcap, simulated_offset
from netdiag.capture.sweep import sweep
from netdiag.errors import InputError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.plan import CapturePoint, Plan, ResolvedPlan, expand_globs, resolve
from netdiag.transport import Transport, open_transport

__all__ = ["RunOptions", "make_run_id", "run_capture"]

Factory = Callable[[NodeSpec, str], Transport]


@dataclass
class RunOptions:
    """How to run (the plan says what to capture)."""

    out: Path
    transport: str = "asyncssh"
    concurrency: int = 32  # simultaneous SSH handshakes (CPU-bound on both ends)
    listen_timeout: float = 15.0
    clock_rounds: int = 7
    heartbeat_s: float = 15.0  # remote watchdog fires this long after netdiag went silent
    poll_s: float | None = None  # live packet counts (SIGUSR1) every poll_s; None: off
    min_linger: float = 2.0  # CAPTURE_RULES 5: stopping sooner loses the last packets
    factory: Factory = open_transport
    run_id: str = ""  # "" -> a fresh make_run_id()

    def __post_init__(self) -> None:
        self.run_id = self.run_id or make_run_id()


def make_run_id() -> str:
    """Unique and file-name safe: UTC time + random, e.g. ``20261121T150102Z-3f9a1c``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: exists and is not empty; choose a new --out directory")
    try:
        (out / "pcaps").mkdir(parents=True, exist_ok=True)
        (out / "probes").mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the run directory ({exc.strerror})") from exc


def _involved(resolved: ResolvedPlan, inventory: Inventory) -> list[NodeSpec]:
    names = {p.node for p in resolved.points} | {p.node for p in resolved.probes}
    return [n for n in inventory.nodes if n.name in names]


class _Run:
    """State of one run; methods are its phases."""

    def __init__(
        self, inventory: Inventory, resolved: ResolvedPlan, opts: RunOptions, stop: asyncio.Event
    ) -> None:
        self.opts, self.resolved, self.stop = opts, resolved, stop
        nodes = _involved(resolved, inventory)
        self.record = RunRecord(
            run_id=opts.run_id,
            out=opts.out,
            plan=plan_json(resolved.plan, resolved.points, resolved.filter),
            inventory={"path": str(inventory.path), "nodes": [n.public() for n in nodes]},
            transport=opts.transport,
            nodes={n.name: NodeResult(n.name) for n in nodes},
        )
        self.sessions = {
            n.name: NodeSession(opts.factory(n, opts.transport), self.record.nodes[n.name])
            for n in nodes
        }
        for n in nodes:
            self.record.nodes[n.name].simulated_clock_offset_ns = simulated_offset(n.labels)
        self.captures: list[RemoteCapture] = []

    def save(self, phase: str) -> None:
        self.record.phase = phase
        with contextlib.suppress(OSError):
            write_manifest(self.record)

    async def connect_all(self) -> None:
        gate = asyncio.Semaphore(self.opts.concurrency)

        async def one(s: NodeSession) -> None:
            async with gate:
                if self.stop.is_set():
                    s.result.fail("not-started", "the run was interrupted before connecting")
                    return
                timeout = s.transport.node.connect_timeout * 4 + 30
                await s.open(clock_rounds=3, timeout=timeout)

        await asyncio.gather(*(one(s) for s in self.sessions.values()))

    async def _points(self) -> list[CapturePoint]:
        links: dict[tuple[str, str | None], list[str]] = {}
        for s in self.sessions.values():
            links[(s.result.name, None)] = s.link_names()
        for p in self.resolved.points:
            s = self.sessions[p.node]
            if p.glob and p.netns and s.usable:
                found = await s.netns_links(p.netns)
                links[(p.node, p.netns)] = [str(i.get("ifname")) for i in found]
        points, warnings = expand_globs(self.resolved.points, links)
        self.record.notes.extend(warnings)
        return points

    async def start_all(self) -> None:
        points = await self._points()
        for p in points:
            s = self.sessions[p.node]
            res = CaptureResult(p.node, p.iface, p.netns, f"pcaps/{p.name}.pcap")
            self.record.captures.append(res)
            if not s.usable:
                res.status, res.detail = "not-started", f"node {s.result.status}"
                continue
            if p.netns is None and p.iface != "any" and p.iface not in s.link_names():
                res.status = "no-interface"
                res.detail = (
                    f"{p.node} has no interface {p.iface!r} (it has: "
                    f"{', '.join(s.link_names())}); fix the plan or the inventory's devices"
                )
                continue
            cap = RemoteCapture(
                s.transport,
                p,
                res,
                spec=self.resolved.plan.capture,
                bpf=self.resolved.filter,
                run_id=self.opts.run_id,
                heartbeat_s=self.opts.heartbeat_s,
                sweep=not any(c.point.node == p.node for c in self.captures),
            )
            self.captures.append(cap)
        for s in self.sessions.values():
            if s.usable:
                s.result.state = "starting"
        wait = self.opts.listen_timeout
        await asyncio.gather(*(c.arm(wait) for c in self.captures))
        await asyncio.gather(*(c.go(wait) for c in self.captures))
        for c in self.captures:
            node = self.record.nodes[c.point.node]
            node.commands.append(_shown(c))
            if swept := c.swept():
                self.record.notes.append(f"{node.name}: removed leftovers of dead runs: {swept}")
            if c.result.status != "listening":
                node.fail(c.result.status, f"{c.result.point}: {c.result.detail}")
        for r in self.record.captures:
            if r.status == "no-interface":
                self.record.nodes[r.node].fail(r.status, f"{r.point}: {r.detail}")
        for s in self.sessions.values():
            if s.connected:
                s.result.state = "listening" if s.usable else s.result.status

    async def probe_all(self) -> None:
        await asyncio.gather(
            *(s.resample_clock(self.opts.clock_rounds) for s in self.sessions.values())
        )
        jobs = []
        for probe in self.resolved.probes:
            res = probe_result(probe)
            self.record.probes.append(res)
            s = self.sessions[probe.node]
            if not s.connected:
                res.detail = f"not run: node {s.result.status}"
                continue
            s.result.state = "probing"
            s.result.commands.append(list(probe.argv))
            jobs.append(run_probe(s.transport, probe, res, self.opts.out))
        await self._until_stop(asyncio.gather(*jobs))
        for s in self.sessions.values():
            if s.usable:
                s.result.state = "lingering"
        await self._until_stop(asyncio.sleep(max(self.resolved.plan.linger, self.opts.min_linger)))

    async def _until_stop(self, work: Awaitable[object]) -> None:
        """Run ``work`` unless/until a stop is requested (then it is cancelled)."""
        task: asyncio.Future[object] = asyncio.ensure_future(work)
        stopper: asyncio.Future[object] = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # a bug inside ``work`` still surfaces

    async def poll(self) -> None:
        """Live packet counts: SIGUSR1 to every running capture every ``poll_s``."""
        assert self.opts.poll_s is not None
        while True:
            await asyncio.sleep(self.opts.poll_s)
            await asyncio.gather(*(c.poll_count() for c in self.captures))

    async def stop_fetch_clean(self) -> None:
        for s in self.sessions.values():
            if s.connected:
                s.result.state = "stopping"
        await asyncio.gather(*(c.stop() for c in self.captures))

        async def fetch(c: RemoteCapture) -> None:
            self.record.nodes[c.point.node].state = "fetching"
            await c.fetch(self.opts.out / c.result.file)
            await c.finish()

        await asyncio.gather(*(fetch(c) for c in self.captures))
        for c in self.captures:
            if c.result.status == "lost":
                self.record.nodes[c.point.node].fail("lost", f"{c.result.point}: {c.result.detail}")
        await asyncio.gather(*(self._close(s) for s in self.sessions.values()))

    async def _close(self, s: NodeSession) -> None:
        mine = [c for c in self.captures if c.point.node == s.result.name]
        # Each session costs the node a login shell: sweep only when a supervisor did not
        # confirm that it removed its directory (or never got far enough to say).
        unsure = any(not c.removed for c in mine)
        if s.connected and s.result.status != "lost" and unsure:
            s.result.state = "cleaning"
            left = await sweep(s.transport, run_id=self.opts.run_id)
            if left:
                self.record.notes.append(f"{s.result.name}: had to sweep {left}")
        await s.close()
        s.result.state = s.result.status

    def apply_simulated_skew(self) -> None:
        for r in self.record.captures:
            node = self.record.nodes[r.node]
            path = self.opts.out / r.file
            if node.simulated_clock_offset_ns and path.is_file():
                shift_pcap(path, node.simulated_clock_offset_ns)
        for node in self.record.nodes.values():
            off = node.simulated_clock_offset_ns
            if off and node.clock is not None:
                c = node.clock
                node.clock = type(c)(c.offset_ns + off, c.error_ns, c.rtt_ns, c.samples)
            if off:
                self.record.notes.append(
                    f"{node.name}: clock skew of {off} ns is SIMULATED (lab): its pcap timestamps "
                    "and clock offset were shifted by netdiag after the fetch"
                )

    def finalize(self) -> None:
        for r in self.record.captures:
            if r.status == "pending":
                r.status = "not-started"
            elif r.status == "listening":
                r.status = "lost"
        for n in self.record.nodes.values():
            if n.status == "pending":
                n.status = "interrupted" if self.record.interrupted else "failed"
            n.state = n.status
        self.record.finished_ns = time.time_ns()


def _shown(c: RemoteCapture) -> list[str]:
    """The capture command as it ran (the placeholder replaced by the real remote path)."""
    path = c.remote_file or "<not created>"
    return [path if a == "@NETDIAG_FILE@" else a for a in c.capture_argv]


async def run_capture(
    inventory: Inventory,
    plan: Plan,
    opts: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Run ``plan`` on ``inventory``; the bundle lands in ``opts.out``. Never raises for a node."""
    resolved = resolve(plan, inventory)
    _prepare_out(opts.out)
    run = _Run(inventory, resolved, opts, stop or asyncio.Event())
    if on_start is not None:
        on_start(run.record)
    run.save("connecting")
    poller: asyncio.Task[None] | None = None
    try:
        await run._until_stop(run.connect_all())
        run.save("starting")
        if not run.stop.is_set():
            await run.start_all()  # not cancelled by a stop: each start is bounded by itself
            run.save("capturing")
        if opts.poll_s:
            poller = asyncio.create_task(run.poll())
        if not run.stop.is_set() and any(c.result.status == "listening" for c in run.captures):
            await run.probe_all()
    finally:
        run.record.interrupted = run.stop.is_set()
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await asyncio.shield(_wind_down(run))
    return run.record


async def _wind_down(run: _Run) -> None:
    try:
        await run.stop_fetch_clean()
        run.apply_simulated_skew()
    finally:
        run.finalize()
        run.save("done")
