"""``record snapshot``: the ring files that overlap a window, from every node at once, cut to
the window and written as an ordinary run bundle (``manifest.json`` + ``pcaps/``).

Per node (all nodes concurrently): the recorders are listed over SFTP
(:mod:`netdiag.record.browse`); the files the window needs whatever the clock did since
``record start`` measured it are fetched at once, while one shell dialog measures the clock
again (minimum RTT, as a capture does) and asks each tcpdump for its counts; the new
measurement decides the other files and the cut. Each point's files come one after the
other, oldest first, into its :class:`~netdiag.record.cut.StreamCut`, which writes the
records inside the window as the bytes arrive (no file is held whole). tcpdump is never
paused: a fetch reads what is on disk; the file being written may end inside a record, and
the cut keeps whole records only. A ring that wrapped onto a file while it was being
fetched is caught by reading the file's first packet again (it changed) and that file is
left out, saying so. tcpdump's counts are the window's, from the samples around it. The
recorder keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netdiag.capture.preflight import clock_dialog
from netdiag.capture.results import (
    CaptureResult,
    NodeResult,
    NodeStatus,
    ProbeResult,
    RunRecord,
    node_status,
    write_manifest,
)
from netdiag.capture.run_steps import capture_file, make_run_id, prepare_out
from netdiag.clock import Clock
from netdiag.errors import CommandError, TransportError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.record.browse import first_packets_again, list_by_transfer
from netdiag.record.cut import StreamCut
from netdiag.record.listing import (
    HEAD,
    LAG_NS,
    MTIME_SLACK_NS,
    Listing,
    Recorder,
    RingFile,
    counts_in_window,
    first_packet_ns,
    next_file,
    parse_counts,
    select_files,
)
from netdiag.record.nodes import Factory, NodeOutcome, connected, for_each_node, start_clock
from netdiag.record.scripts import dialog_argv
from netdiag.transport import Transport, open_transport
from netdiag.transport.aio import bounded
from netdiag.transport.process import RemoteProcess

__all__ = ["PointSnapshot", "Snapshot", "Window", "take_snapshot"]

STEP = 30.0


@dataclass(frozen=True)
class Window:
    """[from_ns, to_ns] on this machine's clock (UTC ns)."""

    from_ns: int
    to_ns: int


@dataclass
class PointSnapshot:
    """One recorder's part: files listed and fetched, bytes, packets kept in the window."""

    point: str
    files_listed: int = 0
    files_fetched: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    packets: int = 0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "files_listed": self.files_listed,
            "files_fetched": list(self.files_fetched),
            "bytes_fetched": self.bytes_fetched,
            "packets": self.packets,
            "problems": list(self.problems),
        }


@dataclass
class Snapshot:
    """What a snapshot did, for the CLI and ``--json``."""

    out: Path
    window: Window
    record: RunRecord
    outcomes: list[NodeOutcome]
    points: list[PointSnapshot] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_fetched(self) -> int:
        return sum(p.bytes_fetched for p in self.points)


@dataclass
class _NodeWork:
    node: NodeSpec
    outcome: NodeOutcome
    result: NodeResult
    captures: list[CaptureResult] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    points: list[PointSnapshot] = field(default_factory=list)
    found: bool = False


async def take_snapshot(
    inventory: Inventory,
    *,
    name: str,
    window: Window,
    out: Path,
    transport: str = "asyncssh",
    factory: Factory = open_transport,
    concurrency: int = 32,
) -> Snapshot:
    """Fetch, cut and write the bundle; node failures are statuses in the manifest."""
    started = time.monotonic()
    fresh = not out.exists()
    prepare_out(out)
    nodes = list(inventory.nodes)
    record = RunRecord(
        run_id=make_run_id(),
        out=out,
        plan={"name": f"record:{name}", "path": "", "description": "flight recorder snapshot",
              "filter": "", "points": [], "probes": [], "recorder": name,
              "window": {"from_ns": window.from_ns, "to_ns": window.to_ns}},
        inventory={"path": str(inventory.path), "nodes": [n.public() for n in nodes], "pods": []},
        transport=transport,
        nodes={},
    )  # fmt: skip
    from netdiag.inventory import pod_record

    record.inventory["pods"] = [pod_record(p) for p in inventory.pods]
    record.started_ns = window.from_ns

    async def one(node: NodeSpec) -> _NodeWork:
        work = _NodeWork(node, NodeOutcome(node.name), NodeResult(node.name))
        async with connected(node, transport, factory, work.outcome) as t:
            if t is not None:
                await _node_snapshot(t, work, name=name, window=window, out=out)
        return work

    try:
        works = await for_each_node(nodes, one, concurrency)
    except BaseException:  # interrupted: no half-written bundle stays behind
        _clear(out, fresh)
        raise
    snap = Snapshot(out, window, record, [w.outcome for w in works])
    for w in works:
        if not w.found and w.outcome.status == "ok":
            continue  # no recorder of that name on this node: not part of the snapshot
        w.result.status = _node_status(w.outcome.status)
        w.result.detail = w.outcome.detail
        record.nodes[w.node.name] = w.result
        record.captures.extend(w.captures)
        record.probes.extend(w.probes)
        snap.points.extend(w.points)
    record.plan["points"] = [
        {"node": c.node, "iface": c.iface, "netns": c.netns, "pod": c.pod, "role": None,
         "resolved_from": "recorder"}
        for c in record.captures
    ]  # fmt: skip
    record.finished_ns = window.to_ns
    record.phase = "done"
    record.notes.append(
        f"snapshot of recorder {name!r}: window {_iso(window.from_ns)} .. {_iso(window.to_ns)} "
        f"UTC; {sum(len(p.files_fetched) for p in snap.points)} ring file(s), "
        f"{snap.bytes_fetched} bytes fetched"
    )
    for p in snap.points:
        record.notes.extend(f"{p.point}: {problem}" for problem in p.problems)
    if not snap.points:  # no recorder answered: no bundle, not an empty one left behind
        _clear(out, fresh)
        snap.seconds = time.monotonic() - started
        return snap
    write_manifest(record)
    snap.seconds = time.monotonic() - started
    return snap


def _clear(out: Path, fresh: bool) -> None:
    """Undo :func:`prepare_out` and what was written since: the directory was new, or empty."""
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in list(out.iterdir()) if out.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 10**9 // 10**6:03d}"


class _Dialog:
    """The node's one shell session of a snapshot (:data:`~netdiag.record.scripts.DIALOG`):
    the clock, then the tcpdump counts asked for (with the interfaces and the kernel), then,
    after the fetch, the counts and the recorders' liveness."""

    def __init__(self, proc: RemoteProcess) -> None:
        self.proc = proc

    async def ask(self, what: str) -> list[str]:
        await self.proc.write(f"{what}\n")
        lines: list[str] = []
        while (line := await self.proc.next_line(timeout=STEP)) != "@end":
            lines.append(line)
        return lines

    async def clock(self, rounds: int = 5) -> Clock:
        sample, why = await clock_dialog(self.proc, rounds, timeout=STEP)
        if sample is None:
            raise ValueError(why or "no clock samples")
        return sample

    async def close(self) -> None:
        with contextlib.suppress(TransportError, TimeoutError):
            await self.proc.close_stdin()
            await self.proc.wait(timeout=10, kill_on_timeout=True)
        self.proc.close()


def _node_status(word: str) -> NodeStatus:
    """A record command's word for a node as a manifest node status ("failed" for the others)."""
    try:
        return node_status(word)
    except ValueError:
        return "failed"


@dataclass
class _Measured:
    """What the node's shell dialog gave before the fetch ended: the clock (or why not)."""

    dialog: _Dialog | None = None
    clock: Clock | None = None
    why: str = ""
    counting: asyncio.Future[None] | None = None  # "counts" then "stats", after the clock
    stats: Listing | None = None  # what "stats" answered: liveness, tcpdump's counts
    # the window on the node's clock, once the clock is settled: "stats" sends the samples
    # of tcpdump's counts it needs
    window: asyncio.Future[tuple[int, int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


async def _measure(t: Transport, node: NodeSpec, name: str, work: _NodeWork) -> _Measured:
    """Open the dialog, sample the clock, ask tcpdump for its counts; never raises."""
    got = _Measured()
    try:
        proc = await bounded(t.start(dialog_argv(node.capture_dir, name), keep_stdin=True), STEP)
    except (TransportError, TimeoutError) as exc:
        got.why = f"no shell session ({exc})"
        return got
    got.dialog = _Dialog(proc)
    try:
        await _converse(got.dialog, got, work)
    except asyncio.CancelledError:
        await asyncio.shield(got.dialog.close())  # not needed after all (no recorder here)
        raise
    return got


async def _converse(dialog: _Dialog, got: _Measured, work: _NodeWork) -> None:
    try:
        got.clock = await bounded(dialog.clock(5), STEP)
    except (TransportError, CommandError, TimeoutError, ValueError) as exc:
        got.why = str(exc) or "no answer"
    got.counting = asyncio.ensure_future(_counts_and_stats(dialog, got, work))


async def _counts_and_stats(dialog: _Dialog, got: _Measured, work: _NodeWork) -> None:
    await _counts(dialog, work, got.clock)
    lo, hi = await got.window
    try:
        answer = await bounded(dialog.ask(f"stats {max(0, lo)} {max(0, hi)}"), STEP)
    except (TransportError, TimeoutError):
        return
    got.stats = parse_counts(work.node.name, "\n".join(answer))


async def _counts(dialog: _Dialog, work: _NodeWork, clock: Clock | None) -> None:
    """Ask tcpdump for its counts (the sample marked with the node's time by ``clock``, just
    measured; by the node's own clock without one), with the interfaces and the kernel."""
    now = "" if clock is None else f" {time.time_ns() + clock.offset_ns}"
    try:
        extra = await bounded(dialog.ask(f"counts{now}"), STEP)
    except (TransportError, TimeoutError):
        return
    iplink, kernel = _iplink_and_kernel(extra)
    with contextlib.suppress(ValueError):
        work.result.interfaces = json.loads(iplink or "[]")
    work.result.kernel = kernel


def _iplink_and_kernel(lines: Sequence[str]) -> tuple[str, str | None]:
    """The "counts" answer's ``@iplink JSON`` (every line up to ``@uname``: an ``ip`` that
    prints its JSON on several lines is read whole) and ``@uname RELEASE``."""
    iplink: list[str] = []
    kernel = None
    inside = False
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "@iplink":
            iplink, inside = [rest], True
        elif tag == "@uname":
            kernel, inside = rest.strip() or None, False
        elif inside:
            iplink.append(line)
    return "\n".join(iplink).strip(), kernel


async def _node_snapshot(
    t: Transport, work: _NodeWork, *, name: str, window: Window, out: Path
) -> None:
    """One node. The rings are listed over SFTP (no shell: :mod:`netdiag.record.browse`) and
    the files the window surely needs start coming at once, judged on the clock ``record start``
    measured from this machine widened by how far it may have drifted; meanwhile one shell
    dialog measures the clock again and asks tcpdump for its counts. The new measurement
    decides the rest: the files it adds are fetched then, and the cut uses it. Each file is
    walked and windowed as it arrives; the first packets are read again after the fetch (a
    ring that wrapped onto a file meanwhile is caught); the counts are read last."""
    node = work.node
    transfers = asyncio.ensure_future(t.open_transfers())
    measuring = asyncio.ensure_future(_measure(t, node, name, work))
    try:
        await _with_listing(t, work, transfers, measuring, name=name, window=window, out=out)
    finally:
        transfers.cancel()
        if not measuring.done():
            measuring.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            got = await measuring
            if got.counting is not None:
                got.counting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await got.counting
            if got.dialog is not None:
                await got.dialog.close()


def _fail(work: _NodeWork, what: str, exc: BaseException | str) -> None:
    work.outcome.status = "failed"
    work.outcome.detail = f"{work.node.name}: {what} failed: {exc or 'no answer'}"
    work.found = True


async def _with_listing(
    t: Transport,
    work: _NodeWork,
    transfers: asyncio.Future[None],
    measuring: asyncio.Future[_Measured],
    *,
    name: str,
    window: Window,
    out: Path,
) -> None:
    node = work.node
    try:
        await transfers
        listing = await bounded(list_by_transfer(t, node.capture_dir, name), STEP)
    except (TransportError, CommandError, TimeoutError) as exc:
        _fail(work, "listing", exc)
        return
    if listing is None:
        _fail(
            work, "listing", f"the {t.kind} transport cannot list files; use asyncssh or paramiko"
        )
        return
    recorders = list(listing.recorders)  # alive or not: the dialog's "stats" tells
    if not recorders:
        return
    work.found = True
    caps = [r for r in recorders if r.kind == "cap"]
    fetch = _Fetch(t, node.name, out)
    early = start_clock(recorders[0].meta, now_ns=time.time_ns())
    sure: dict[str, list[RingFile]] = {r.directory: [] for r in caps}
    tasks: dict[str, asyncio.Future[None]] = {}
    if early is not None:
        # the files needed whatever the clock did within its drift: fetched at once
        clock0, drift = early
        earliest = window.from_ns + clock0.offset_ns - drift
        for rec in caps:
            sure[rec.directory] = select_files(
                rec.files, earliest + 2 * drift, window.to_ns + clock0.offset_ns - drift
            )
            for f in sure[rec.directory]:
                path = f"{rec.directory}/{f.name}"
                tasks[path] = asyncio.ensure_future(fetch.get(rec, f, earliest))
    try:
        got = await measuring
        clock = got.clock
        if clock is not None:
            slack = (clock.error_ns or 0) + 1_000_000
        elif early is not None:
            clock = replace(early[0], error_ns=early[1])  # what it may have drifted, its error
            slack = early[1] + 1_000_000
            work.result.detail = (
                f"clock not measured again ({got.why}); the window is cut on the clock measured "
                "at `record start`, its error widened by how far it may have drifted since"
            )
        else:
            slack = 1_000_000_000
            work.result.detail = (
                f"clock not sampled ({got.why}); the window is cut on the node's clock"
            )
        work.result.clock = clock
        offset = clock.offset_ns if clock else 0
        lo, hi = window.from_ns + offset, window.to_ns + offset  # the node's clock
        fetch.window(lo - slack, hi + slack)
        got.window.set_result((lo, hi))
        jobs = [(rec, select_files(rec.files, lo, hi, slack_ns=slack)) for rec in caps]
        for rec, files in jobs:
            for f in files:
                path = f"{rec.directory}/{f.name}"
                if path not in tasks:
                    tasks[path] = asyncio.ensure_future(fetch.get(rec, f, lo - slack))

        async def point(
            rec: Recorder, files: Sequence[RingFile]
        ) -> tuple[CaptureResult, PointSnapshot]:
            """The point's files in (cut as they came), their first packets read again, its cut
            finished (while the other points' files are still coming)."""
            paths = [p for p in tasks if p.startswith(f"{rec.directory}/")]  # every one asked
            await asyncio.gather(*(tasks[p] for p in paths))
            now_first = await first_packets_again(
                t, {p: fetch.firsts[p] for p in paths if p in fetch.firsts}
            )
            # finished here, not in a thread: fetch.close() may run on an interruption, and
            # a point's cut is only ever touched from this loop (finishing is a close; moving
            # byte ranges only when files came out of ring order or one is left out)
            return _cut_point(
                work, rec, files=files, fetch=fetch, now_first=now_first, out=out, lo=lo - slack
            )

        results, stats, _ = await asyncio.gather(
            asyncio.gather(*(point(rec, files) for rec, files in jobs)),
            _read_stats(got),
            asyncio.gather(*tasks.values()),
        )
    finally:
        for task in tasks.values():
            task.cancel()
        fetch.close()
    if fetch.lost is not None and work.outcome.status == "ok":
        work.outcome.status = "lost"
        work.outcome.detail = (
            f"{fetch.lost}; what was fetched before is in the bundle, the points it cut short "
            "say which files are missing"
        )
    # the rings ran at least until the last listing that found them alive (less tcpdump's
    # lag in writing what it captured, LAG_NS): the analysis may call a packet missing at a
    # quiet point before then dropped (its last frame alone would end the point earlier)
    until = None if stats is None or stats.now_ns is None else min(hi, stats.now_ns - LAG_NS)
    for (rec, _), (res, snap) in zip(jobs, results, strict=True):
        fresh = _same_recorder(stats, rec)
        if fresh is not None:
            _window_counts(rec, res, fresh, lo=lo, hi=hi)
        if until is not None and fresh is not None and fresh.alive:
            res.until_ns = until
        if fresh is not None and not fresh.alive:
            snap.problems.append("its recorder is no longer running (its supervisor is gone)")
            res.detail = "; ".join(x for x in (res.detail, snap.problems[-1]) if x)
        last = None if fresh is None or not fresh.alive else _unanswered(fresh, hi)
        if last is not None:
            # its ring may have stopped growing: it covers no later than its last answer
            res.until_ns = min(res.until_ns or hi, last) if last else None
            snap.problems.append(
                "its tcpdump did not answer when asked for its counts "
                + (
                    f"(its last answer: {_iso(last)} UTC, node clock): it may have stopped "
                    "capturing then, so packets after that can be missing here"
                    if last
                    else "and never has: it may not be capturing, so packets can be missing here"
                )
                + " without having been dropped"
            )
            res.detail = "; ".join(x for x in (res.detail, snap.problems[-1]) if x)
        work.captures.append(res)
        work.points.append(snap)
    for rec in recorders:
        if rec.kind == "probe":
            await _probe_log(t, work, rec=rec, lo=lo - slack, hi=hi + slack, out=out)


class _Fetch:
    """A node's ring files coming in over SFTP (requests in parallel), each point's files one
    after the other, oldest first, straight into the point's :class:`StreamCut`: each piece
    is walked and its records in the window written as soon as it comes, so no file is held
    in memory. Pieces that come before the window's bounds on the node's clock are known
    (:meth:`window`) wait for them."""

    def __init__(self, t: Transport, node: str, out: Path) -> None:
        self.t = t
        self.node = node
        self.out = out
        self.bounds: tuple[int, int] | None = None
        self.cuts: dict[str, StreamCut] = {}  # recorder directory -> its point's cut
        self._turns: dict[str, asyncio.Lock] = {}  # one file of a point at a time, in order
        self.firsts: dict[str, int | None] = {}  # first packet of the bytes fetched
        self.failures: dict[str, str] = {}
        self.lost: str | None = None  # the connection was lost during the fetch: why

    def cut(self, rec: Recorder) -> StreamCut:
        cut = self.cuts.get(rec.directory)
        if cut is None:
            cut = self.cuts[rec.directory] = StreamCut(
                self.out / capture_file(self.node, rec.label)
            )
            self._turns[rec.directory] = asyncio.Lock()
            if self.bounds is not None:
                cut.window(*self.bounds)
        return cut

    def window(self, lo: int, hi: int) -> None:
        """The window on the node's clock, with its slack: what waited is cut now."""
        self.bounds = (lo, hi)
        for cut in self.cuts.values():
            cut.window(lo, hi)

    def close(self) -> None:
        for cut in self.cuts.values():
            cut.close()

    async def get(self, rec: Recorder, f: RingFile, lo: int) -> None:
        """Fetch ``f`` into its point's cut, unless the file written after it started before
        ``lo`` (node clock): then ``f`` ended before it (asked only when ``f``'s mtime, in
        whole seconds, cannot tell). The point's files are fetched in the order asked."""
        path = f"{rec.directory}/{f.name}"
        cut = self.cut(rec)
        async with self._turns[rec.directory]:
            after = next_file(rec.files, f, lo)
            # a file closed before the newest was written is as long as listed (unless the
            # ring wraps onto it meanwhile: its first packet read again says so); the newest
            # may grow
            closed = f.mtime_ns < max(g.mtime_ns for g in rec.files)
            try:
                if after is not None:
                    head = await self.t.read(f"{rec.directory}/{after.name}", HEAD)
                    first = first_packet_ns(head)
                    if first is not None and first + MTIME_SLACK_NS < lo:
                        return
                cut.begin(f.name)
                try:
                    await self.t.read_into(path, cut.feed, f.size if closed else -1)
                finally:
                    cut.end()
            except TransportError as exc:
                self.lost = self.lost or str(exc)
                self.failures[path] = "the connection was lost"
                cut.leave_out(f.name)
                return
            except CommandError as exc:
                self.failures[path] = str(exc)
                cut.leave_out(f.name)
                return
            self.firsts[path] = cut.files[f.name].first_ns


async def _read_stats(got: _Measured) -> Listing | None:
    """The counts asked for before the fetch, and which recorders are still alive."""
    if got.counting is not None:
        await got.counting
    return got.stats


def _window_counts(rec: Recorder, res: CaptureResult, fresh: Recorder, *, lo: int, hi: int) -> None:
    """tcpdump's counts inside the window (node clock), from the samples the recorder keeps
    in its ``tcpdump.err`` (every 10 s, and one at the snapshot) that the dialog sent: the
    kernel's drops of the incident, not of the recorder's whole life (those only when it kept
    no samples). A window that the samples do not enclose says how far they reach."""
    counts = counts_in_window(fresh.samples, lo, hi)
    if counts is None:
        res.stats = res.stats or fresh.stats
        return
    res.stats = counts.stats
    notes = []
    started = (rec.started_s or 0) * 1_000_000_000
    if counts.from_ns is None and started < lo:
        notes.append("tcpdump's counts are from the recorder's start (no sample before the window)")
    if counts.to_ns < hi:
        notes.append(f"tcpdump's counts reach only {_iso(counts.to_ns)} UTC (node clock)")
    if notes:
        res.detail = "; ".join([*([res.detail] if res.detail else []), *notes])


def _unanswered(fresh: Recorder, hi: int) -> int | None:
    """When tcpdump was asked for its counts after the window (SIGUSR1: the snapshot's own
    sample) and has given none since the window ended: the time of its last counts (node
    clock; 0 for none at all). None when it answered, or was not asked."""
    if fresh.unanswered_ns is None or fresh.unanswered_ns < hi:
        return None
    if any(at >= hi for at, _ in fresh.samples):
        return None  # it answered the supervisor after the window: alive, only slow for ours
    return max((at for at, _ in fresh.samples), default=0)


def _same_recorder(listing: Listing | None, rec: Recorder) -> Recorder | None:
    if listing is None:
        return None
    return next((r for r in listing.recorders if r.directory == rec.directory), None)


def _cut_point(
    work: _NodeWork,
    rec: Recorder,
    *,
    files: Sequence[RingFile],
    fetch: _Fetch,
    now_first: dict[str, int | None],
    out: Path,
    lo: int,
) -> tuple[CaptureResult, PointSnapshot]:
    """Finish one point's cut, ``pcaps/<node>__<point>.pcap``, leaving out the files the ring
    wrapped onto while they were fetched (their first packet read again after the fetch,
    ``now_first``, is not the first packet of the bytes fetched). ``files``: those the
    window needs; the cut may hold more (fetched on the clock measured at ``record start``,
    before the new measurement said they were not needed), all counted as fetched."""
    label = rec.label
    iface = rec.meta.get("iface", label)
    res = CaptureResult(work.node.name, iface, rec.meta.get("netns") or None,
                        capture_file(work.node.name, label))  # fmt: skip
    res.label = label if label != iface else ""
    res.pod = rec.meta.get("pod") or None
    res.resolved_from = "recorder"
    res.stats = rec.stats
    res.remote_dir = rec.directory
    snap = PointSnapshot(res.point, files_listed=len(rec.files))
    cut = fetch.cuts.get(rec.directory)
    firsts: list[int] = []
    failed: dict[str, list[str]] = {}  # why -> files (a lost connection fails them all)
    kept = 0
    names = [f.name for f in files]
    names += [n for n in (cut.files if cut else {}) if n not in names]
    for name in names:
        path = f"{rec.directory}/{name}"
        if path in fetch.failures:
            failed.setdefault(fetch.failures[path], []).append(name)
            continue
        got = cut.files.get(name) if cut else None
        if got is None:
            continue  # the file after it started before the window: not fetched
        snap.bytes_fetched += got.size
        snap.files_fetched.append(name)
        was = fetch.firsts.get(path)
        if now_first.get(path, was) != was:
            snap.problems.append(
                f"{name}: the ring wrapped onto it while it was fetched; its packets are "
                "left out (give a larger --ring)"
            )
            if cut is not None:
                cut.leave_out(name)
            continue
        if was is not None:
            firsts.append(was)
        kept += 1
    for why, failed_names in failed.items():
        snap.problems.append(f"{', '.join(failed_names)}: not fetched: {why}")
    done = cut.finish() if cut is not None else None
    if done is not None:
        snap.problems.extend(done.problems)
    if done is None or not done.head:
        (out / res.file).write_bytes(_empty_pcap(rec))
    snap.packets = done.packets if done is not None else 0
    res.frames = snap.packets
    res.status = "ok"
    if not kept:
        res.detail = "the ring holds no packets in the window"
    # the oldest packet fetched is the ring's oldest unless a file before it overlaps the
    # window too, and that file would have been fetched: so when it is after the window's
    # start in a ring that has wrapped, the packets before it were overwritten
    started_ns = (rec.started_s or 0) * 1_000_000_000
    wrapped = len(rec.files) >= int(rec.meta.get("files", "0") or 0) > 0
    if wrapped and firsts and min(firsts) > lo and started_ns < lo:
        oldest = time.strftime("%H:%M:%S", time.localtime(min(firsts) / 1e9))
        snap.problems.append(
            f"the ring reaches back only to {oldest} (its oldest packet, the node's clock), "
            "after the window's start: earlier packets were overwritten (give a larger --ring)"
        )
    res.detail = "; ".join([*([res.detail] if res.detail else []), *snap.problems])
    return res, snap


def _empty_pcap(rec: Recorder) -> bytes:
    """A header-only pcap (the point recorded nothing in the window), EN10MB unless known."""
    import struct

    snaplen = int(rec.meta.get("snaplen", "262144") or 262144)
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)


async def _probe_log(
    t: Transport,
    work: _NodeWork,
    *,
    rec: Recorder,
    lo: int,
    hi: int,
    out: Path,
) -> None:
    """A continuous probe's results in the window: ``start_ns end_ns exit output`` lines."""
    label = rec.label
    res = ProbeResult(
        node=work.node.name, name=label, kind=rec.meta.get("probe_kind", "probe"),
        argv=rec.meta.get("argv", "").split(), output=f"probes/{work.node.name}__{label}.txt",
        netns=rec.meta.get("netns") or None,
    )  # fmt: skip
    lines: list[str] = []
    for log in ("probe.log.1", "probe.log"):
        try:
            data = await t.read(f"{rec.directory}/{log}")
        except (TransportError, CommandError):
            continue
        lines += data.decode("utf-8", errors="replace").splitlines()
    kept = []
    failures = 0
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0].isdigit() and lo <= int(parts[0]) <= hi:
            kept.append(line)
            failures += parts[2] != "0"
    res.exit_status = 0 if not failures else 1
    res.detail = f"{len(kept)} run(s) in the window, {failures} failed"
    text = (
        f"# continuous probe {label} every {rec.meta.get('every_s', '?')} s: "
        f"{rec.meta.get('argv', '')}\n# start_ns end_ns exit_status output (node clock)\n"
    )
    path = out / res.output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "".join(f"{ln}\n" for ln in kept), encoding="utf-8")
    work.probes.append(res)
