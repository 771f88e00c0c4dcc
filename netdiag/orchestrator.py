"""The coordinated run: connect, preflight, start every capture, probe, stop, fetch, clean up.

Order matters and is the point of this module:

1. connect + preflight every node concurrently (a semaphore bounds the handshakes);
2. start every capture (its supervisor first sweeps what dead runs left) and wait for
   *each* tcpdump's "listening on" — no probe is sent before every capture that could start
   is listening. Every SSH session costs a node a login shell, so where it can (no sudo, a
   host-namespace point, no glob) a node's preflight checks and clock samples run in the
   session of its first capture's supervisor, which arms only once the verdict is in;
3. sample clocks (several round trips per node, minimum RTT) where preflight got none;
4. run the probes, then linger (>= the plan's ``linger``) so the last packets reach the files;
5. SIGINT every capture by PID, fetch the files concurrently, let each supervisor remove its
   directory, sweep our own run marker as a last check, close the connections;
6. write the bundle's manifest (also after every phase, so a run that dies half-way leaves
   one), noting a lab node's simulated clock skew (its transport applied it).

A failing node is a status, not an exception; ``stop`` (Ctrl-C, SIGTERM) skips to step 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from netdiag.bundle.layout import Layout
from netdiag.capture.locate import Unplaced, locate
from netdiag.capture.preflight import assess, preflight_commands
from netdiag.capture.probes import probe_result, run_probe
from netdiag.capture.remote import STEP_TIMEOUT, RemoteCapture
from netdiag.capture.results import (
    CaptureResult,
    NodeResult,
    RunRecord,
    node_status_of,
    plan_json,
    write_manifest,
)
from netdiag.capture.run_steps import (
    capture_file,
    involved,
    lost_check,
    make_run_id,
    placed_probe,
    point_failure,
    point_labels,
    preflight_in_capture,
    prepare_out,
    shown,
)
from netdiag.capture.session import NodeSession
from netdiag.capture.sweep import sweep
from netdiag.capture.watch import WatchedTransport, keep_run_log, log
from netdiag.errors import TransportError
from netdiag.inventory import Inventory, NodeSpec, pod_record
from netdiag.lab.skew import simulated_offset, skew_note, with_simulated_skew
from netdiag.plan import (
    CapturePoint,
    Plan,
    ResolvedPlan,
    ResolvedProbe,
    expand_globs,
    point_filter,
    resolve,
)
from netdiag.transport import Transport, open_transport
from netdiag.transport.aio import cancel_and_wait

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
    grace_s: float = 600.0  # ...and then keeps the files this long for `capture --recover`
    step_s: float = STEP_TIMEOUT  # one step's wait for a node's answer before it is lost
    poll_s: float | None = None  # live packet counts (SIGUSR1) every poll_s; None: off
    min_linger: float = 2.0  # stopping sooner loses the last packets (replies still in flight)
    factory: Factory = open_transport
    run_id: str = ""  # "" -> a fresh make_run_id()

    def __post_init__(self) -> None:
        self.run_id = self.run_id or make_run_id()


class _Run:
    """State of one run; methods are its phases."""

    def __init__(
        self, inventory: Inventory, resolved: ResolvedPlan, opts: RunOptions, stop: asyncio.Event
    ) -> None:
        self.opts, self.resolved, self.stop = opts, resolved, stop
        self.inventory = inventory
        self.placed: Mapping[CapturePoint, tuple[str, ...]] = {}  # discovery commands per point
        self.unplaced: tuple[Unplaced, ...] = ()
        nodes = involved(resolved, inventory)
        self.record = RunRecord(
            run_id=opts.run_id,
            out=opts.out,
            plan=plan_json(resolved.plan, resolved.points, resolved.filter),
            inventory={
                "path": str(inventory.path),
                "nodes": [n.public() for n in nodes],
                "pods": [
                    pod_record(p) for p in inventory.pods if p.node in {n.name for n in nodes}
                ],
            },
            transport=opts.transport,
            nodes={n.name: NodeResult(n.name) for n in nodes},
            heartbeat_s=opts.heartbeat_s,
            grace_s=opts.grace_s,
        )
        # A lab node with a simulated clock skew is seen through its transport as skewed.
        self.sessions = {
            n.name: NodeSession(
                WatchedTransport(with_simulated_skew(opts.factory(n, opts.transport))),
                self.record.nodes[n.name],
            )
            for n in nodes
        }
        for n in nodes:
            self.record.nodes[n.name].simulated_clock_offset_ns = simulated_offset(n.labels)
        self.captures: list[RemoteCapture] = []
        # each probe as it will run, or why it cannot (a pod discovery did not find)
        self.probes: list[tuple[ResolvedProbe, str | None]] = [(p, None) for p in resolved.probes]
        self.hosted = {n.name for n in nodes if preflight_in_capture(n, resolved.points)}

    def save(self, phase: str) -> None:
        if phase != self.record.phase:
            log.info("run %s: %s", self.opts.run_id, phase)
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
                if s.result.name in self.hosted:
                    await s.connect(timeout=timeout)
                else:
                    await s.open(clock_rounds=self.opts.clock_rounds, timeout=timeout)

        await asyncio.gather(*(one(s) for s in self.sessions.values()))

    async def _points(self) -> list[CapturePoint]:
        points: Sequence[CapturePoint] = self.resolved.points
        # pods a probe runs in without a netns in the inventory: placed like `inside` points
        asks = {
            pr: CapturePoint(pr.node, "", None, pr.pod, via="discovery", inside=True)
            for pr in self.resolved.probes
            if pr.unresolved
        }
        if any(p.unresolved for p in points) or asks:  # roles and pods: discovery, once per node
            open_ = {n: s.transport for n, s in self.sessions.items() if s.usable}
            got = await locate([*points, *asks.values()], open_, self.inventory)
            answers = [got.by_input[p] for p in points]
            # one tcpdump per interface: a role and a name (or a pod) may land on the same one
            unique: dict[tuple[str, str, str | None], CapturePoint] = {}
            for a in answers:
                if isinstance(a, CapturePoint):
                    unique.setdefault((a.node, a.iface, a.netns), a)
            points = list(unique.values())
            self.unplaced = tuple(a for a in answers if isinstance(a, Unplaced))
            self.placed = got.commands
            self.probes = [placed_probe(pr, got.by_input[pt]) for pr, pt in asks.items()] + [
                (pr, None) for pr in self.resolved.probes if not pr.unresolved
            ]
            order = {pr.name: i for i, pr in enumerate(self.resolved.probes)}
            self.probes.sort(key=lambda item: order[item[0].name])
            self.record.plan["points"] = plan_json(self.resolved.plan, points, "")["points"]
        links: dict[tuple[str, str | None], list[str]] = {}
        for s in self.sessions.values():
            links[(s.result.name, None)] = s.link_names()
        for p in points:
            s = self.sessions[p.node]
            if p.glob and p.netns and s.usable:
                found = await s.netns_links(p.netns)
                links[(p.node, p.netns)] = [str(i.get("ifname")) for i in found]
        expanded, warnings = expand_globs(points, links)
        self.record.notes.extend(warnings)
        return expanded

    async def start_all(self) -> None:
        points = await self._points()
        for u in self.unplaced:  # a status of its own; the node and the run go on
            res = CaptureResult(u.node, u.label, None, "", "no-device", u.detail)
            res.resolved_from, res.role, res.discovery = "discovery", u.role, list(u.commands)
            self.record.captures.append(res)
        hosts: dict[str, CapturePoint] = {}  # node -> the point whose session hosts preflight
        for p in points:
            if p.node in self.hosted and p.netns is None:
                hosts.setdefault(p.node, p)
        labels = point_labels(points)
        for p in points:
            s = self.sessions[p.node]
            label = labels[p]
            res = CaptureResult(p.node, p.iface, p.netns, capture_file(p.node, label))
            res.label = label if label != p.iface else ""
            res.resolved_from, res.role, res.pod = p.via, p.role, p.pod
            res.discovery = list(self.placed.get(p, ()))
            self.record.captures.append(res)
            if not s.usable:
                res.status, res.detail = "not-started", f"node {s.result.status}"
                continue
            first = not any(c.point.node == p.node for c in self.captures)
            host = hosts.get(p.node) is p
            if p.node not in self.hosted and self._no_interface(p, res):
                continue
            cap = RemoteCapture(
                s.transport,
                p,
                res,
                spec=self.resolved.plan.capture,
                bpf=point_filter(self.resolved, p, self.inventory.node(p.node)),
                run_id=self.opts.run_id,
                heartbeat_s=self.opts.heartbeat_s,
                grace_s=self.opts.grace_s,
                step_s=self.opts.step_s,
                sweep=first,
                preflight=preflight_commands(s.transport.node) if host else (),
                clock_rounds=self.opts.clock_rounds,
            )
            self.captures.append(cap)
        for s in self.sessions.values():
            if s.usable:
                s.result.enter("starting")
        wait = self.opts.listen_timeout
        await asyncio.gather(*(self._arm_node(name) for name in self.sessions))
        await asyncio.gather(*(c.go(wait) for c in self.captures))
        for c in self.captures:
            node = self.record.nodes[c.point.node]
            if c.released:  # never armed (node unfit, or no such interface): nothing ran
                continue
            node.commands.append(shown(c))
            if swept := c.swept():
                self.record.notes.append(f"{node.name}: removed leftovers of dead runs: {swept}")
            if c.result.status != "listening":
                node.fail(node_status_of(c.result.status), point_failure(c.result))
        for r in self.record.captures:
            if r.status == "no-interface":
                self.record.nodes[r.node].fail(r.status, point_failure(r))
        for s in self.sessions.values():
            if s.connected:
                s.result.enter("listening" if s.usable else s.result.status)

    def _no_interface(self, p: CapturePoint, res: CaptureResult) -> bool:
        """A host-namespace interface the node does not have: status, and no capture."""
        names = self.sessions[p.node].link_names()
        if p.netns is not None or p.iface == "any" or p.iface in names:
            return False
        res.status = "no-interface"
        res.detail = (
            f"{p.node} has no interface {p.iface!r} (it has: "
            f"{', '.join(names)}); fix the plan or the inventory's devices"
        )
        return True

    async def _arm_node(self, name: str) -> None:
        """Arm a node's captures; a preflight host first reads the checks, then decides."""
        caps = [c for c in self.captures if c.point.node == name]
        wait = self.opts.listen_timeout
        host = next((c for c in caps if c.checks), None)
        if host is not None:
            s = self.sessions[name]
            try:
                results, clock, why = await host.preflight()
                s.apply(assess(s.transport.node, results, clock, why))
            except (TransportError, TimeoutError) as exc:
                s.apply(lost_check(s.transport.node, exc))
            unfit = not s.usable
            for c in caps:
                if unfit:
                    c.result.status, c.result.detail = "not-started", f"node {s.result.status}"
                if unfit or self._no_interface(c.point, c.result):
                    await c.release()  # the host's supervisor exits; the others never started
            caps = [c for c in caps if not c.released]
        await asyncio.gather(*(c.arm(wait) for c in caps))

    async def probe_all(self) -> None:
        await asyncio.gather(
            *(s.resample_clock(self.opts.clock_rounds) for s in self.sessions.values())
        )
        jobs = []
        for probe, why in self.probes:
            res = probe_result(probe)
            self.record.probes.append(res)
            if why is not None:
                res.detail = f"not run: {why}"
                continue
            s = self.sessions[probe.node]
            if not s.connected:
                res.detail = f"not run: node {s.result.status}"
                continue
            s.result.enter("probing")
            s.result.commands.append(list(probe.argv))
            jobs.append(run_probe(s.transport, probe, res, self.opts.out))
        await self._until_stop(asyncio.gather(*jobs))
        for s in self.sessions.values():
            if s.usable:
                s.result.enter("lingering")
        await self._until_stop(asyncio.sleep(max(self.resolved.plan.linger, self.opts.min_linger)))

    async def _until_stop(self, work: Awaitable[object]) -> None:
        """Run ``work`` unless/until a stop is requested (then it is cancelled)."""
        task: asyncio.Future[object] = asyncio.ensure_future(work)
        stopper: asyncio.Future[object] = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when we are cancelled ourselves: nothing keeps running behind us
            await cancel_and_wait(stopper)
            stopped = not task.done()
            await cancel_and_wait(task)  # stopped: its partial results are in the record
        if not stopped:
            task.result()  # a bug inside ``work`` still surfaces

    async def poll(self) -> None:
        """Live packet counts: SIGUSR1 to every running capture every ``poll_s``."""
        assert self.opts.poll_s is not None
        while True:
            await asyncio.sleep(self.opts.poll_s)
            await asyncio.gather(*(c.poll_count() for c in self.captures))

    async def stop_fetch_clean(self) -> None:
        """Every node at once: stop its captures, fetch and release them, close its session.

        Each node goes through on its own, so one that stopped answering keeps only itself
        (and the progress display names only it) waiting.
        """
        await asyncio.gather(*(self._wind_node(s) for s in self.sessions.values()))

    async def _wind_node(self, s: NodeSession) -> None:
        mine = [c for c in self.captures if c.point.node == s.result.name]
        if s.connected:
            s.result.enter("stopping", limit=self.opts.step_s)
        await asyncio.gather(*(c.stop() for c in mine))
        if mine:
            s.result.enter("fetching")  # bounded by the SSH session

        async def fetch(c: RemoteCapture) -> None:
            await c.fetch(self.opts.out / c.result.file)
            await c.finish()

        await asyncio.gather(*(fetch(c) for c in mine))
        for c in mine:
            c.result.kept = c.kept
            if c.result.status == "lost":
                s.result.fail("lost", point_failure(c.result))
        await self._close(s)

    async def _close(self, s: NodeSession) -> None:
        mine = [c for c in self.captures if c.point.node == s.result.name]
        # Each session costs the node a login shell: sweep only when a supervisor did not
        # confirm that it removed its directory (or never got far enough to say).
        unsure = any(not (c.removed or c.released) for c in mine)
        kept = any(c.kept for c in mine)  # a sweep of our run would remove what is kept
        if s.connected and s.result.status != "lost" and unsure and not kept:
            s.result.enter("cleaning")
            left = await sweep(s.transport, run_id=self.opts.run_id)
            if left:
                self.record.notes.append(f"{s.result.name}: had to sweep {left}")
        await s.close()
        s.result.enter(s.result.status)

    def note_simulated_skew(self) -> None:
        for node in self.record.nodes.values():
            if node.simulated_clock_offset_ns:
                self.record.notes.append(skew_note(node.name, node.simulated_clock_offset_ns))

    def finalize(self, *, abandoned: bool = False) -> None:
        for r in self.record.captures:
            if r.status == "pending":
                r.status = "not-started"
            elif r.status in ("listening", "armed") and abandoned:
                r.status, r.kept = "lost", self.opts.grace_s > 0
                r.detail = r.detail or (
                    "netdiag was stopped before it fetched this file (clean-up abandoned); "
                    f"the node keeps it for {self.opts.grace_s:g} s"
                )
            elif r.status == "listening":
                r.status = "lost"
        for n in self.record.nodes.values():
            if n.status == "pending":
                n.status = "interrupted" if self.record.interrupted else "failed"
            n.enter(n.status)
        self.record.finished_ns = time.time_ns()


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
    prepare_out(opts.out)
    with keep_run_log(Layout(opts.out).run_log):
        log.info(
            "run %s: plan %s, inventory %s, into %s",
            opts.run_id, plan.name or "(unnamed)", inventory.path, opts.out,
        )  # fmt: skip
        return await _run(inventory, resolved, opts, stop, on_start)


async def _run(
    inventory: Inventory,
    resolved: ResolvedPlan,
    opts: RunOptions,
    stop: asyncio.Event | None,
    on_start: Callable[[RunRecord], None] | None,
) -> RunRecord:
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
        await cancel_and_wait(poller)
        await asyncio.shield(_wind_down(run))
    return run.record


async def _wind_down(run: _Run) -> None:
    phase = "done"
    try:
        await run.stop_fetch_clean()
        run.note_simulated_skew()
    except asyncio.CancelledError:  # a second Ctrl-C: the manifest says what was left undone
        phase = "abandoned"
        raise
    finally:
        run.finalize(abandoned=phase == "abandoned")
        run.save(phase)
