"""``record snapshot``: the ring files that overlap a window, from every node at once, cut to
the window and written as an ordinary run bundle (``manifest.json`` + ``pcaps/``).

Per node (all nodes concurrently): one batch lists the recorders (and asks each tcpdump for
its counts, SIGUSR1), the interfaces and the kernel; one dialog samples the clock (minimum
RTT, as a capture does); then only the files whose [first packet, mtime] overlaps the window
(converted to the node's clock, widened by the clock error) are fetched over SFTP, all at
once. tcpdump is never paused: a fetch reads what is on disk; the file being written may end
inside a record, and the cut keeps whole records only. A ring that wrapped onto a file while
it was being fetched is caught by a second listing (its first packet changed) and that file
is left out, saying so. The recorder keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from netdiag.record.cut import FileScan, merge_scans, scan_file
from netdiag.record.listing import Listing, Recorder, RingFile, parse_listing, select_files
from netdiag.record.nodes import Factory, NodeOutcome, connected, for_each_node
from netdiag.record.scripts import dialog_argv
from netdiag.transport import Transport, open_transport
from netdiag.transport.aio import bounded
from netdiag.transport.process import RemoteProcess

__all__ = ["PointSnapshot", "Snapshot", "Window", "take_snapshot"]

STEP = 30.0
LAG_NS = 1_000_000_000  # a packet reaches its ring file well within this (-U, immediate mode)


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
    fetch_dir = out / ".fetch"

    async def one(node: NodeSpec) -> _NodeWork:
        work = _NodeWork(node, NodeOutcome(node.name), NodeResult(node.name))
        async with connected(node, transport, factory, work.outcome) as t:
            if t is not None:
                await _node_snapshot(
                    t, work, name=name, window=window, out=out, fetch_dir=fetch_dir / node.name
                )
        return work

    works = await for_each_node(nodes, one, concurrency)
    shutil.rmtree(fetch_dir, ignore_errors=True)
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
    write_manifest(record)
    snap.seconds = time.monotonic() - started
    return snap


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 10**9 // 10**6:03d}"


class _Dialog:
    """The node's one shell session of a snapshot (:data:`~netdiag.record.scripts.DIALOG`):
    listing, clock samples, and the listing again after the fetch."""

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


async def _node_snapshot(
    t: Transport, work: _NodeWork, *, name: str, window: Window, out: Path, fetch_dir: Path
) -> None:
    """One node: one shell dialog (listing, clock, re-listing) while SFTP opens alongside;
    each file is walked and windowed as soon as it has arrived; the cut points are written
    while the re-listing runs."""
    node = work.node
    transfers = asyncio.ensure_future(t.open_transfers())
    try:
        proc = await bounded(t.start(dialog_argv(node.capture_dir, name), keep_stdin=True), STEP)
        dialog = _Dialog(proc)
    except (TransportError, TimeoutError) as exc:
        transfers.cancel()
        work.outcome.status, work.outcome.detail = "failed", f"{node.name}: listing failed: {exc}"
        work.found = True
        return
    try:
        await _with_dialog(t, dialog, transfers, work, name=name, window=window, out=out,
                           fetch_dir=fetch_dir)  # fmt: skip
    finally:
        transfers.cancel()
        await dialog.close()


async def _with_dialog(
    t: Transport,
    dialog: _Dialog,
    transfers: asyncio.Future[None],
    work: _NodeWork,
    *,
    name: str,
    window: Window,
    out: Path,
    fetch_dir: Path,
) -> None:
    node = work.node
    try:
        first = await bounded(dialog.ask("list"), STEP + 5)
    except (TransportError, TimeoutError) as exc:
        work.outcome.status, work.outcome.detail = "failed", f"{node.name}: listing failed: {exc}"
        work.found = True
        return
    listing = parse_listing(node.name, "\n".join(first))
    recorders = [r for r in listing.recorders if r.alive]
    if not recorders:
        return
    work.found = True
    extra = {ln.split(" ", 1)[0]: ln.partition(" ")[2] for ln in first if ln[:2] in ("@i", "@u")}
    with contextlib.suppress(ValueError):
        work.result.interfaces = json.loads(extra.get("@iplink") or "[]")
    work.result.kernel = extra.get("@uname", "").strip() or None
    clock: Clock | None = None
    try:
        clock = await bounded(dialog.clock(5), STEP)
    except (TransportError, CommandError, TimeoutError, ValueError) as exc:
        work.result.detail = f"clock not sampled ({exc}); the window is cut on the node's clock"
    offset = clock.offset_ns if clock else 0
    slack = (clock.error_ns or 0) + 1_000_000 if clock else 1_000_000_000
    work.result.clock = clock
    lo, hi = window.from_ns + offset, window.to_ns + offset  # the node's clock
    fetch_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(rec, select_files(rec.files, lo, hi, slack_ns=slack))
            for rec in recorders if rec.kind == "cap"]  # fmt: skip
    # every selected file of the node at once (SFTP requests pipeline over one channel);
    # each is walked and cut to the window as soon as it is in, while the others arrive
    scans: dict[tuple[str, str], FileScan] = {}
    failures: dict[tuple[str, str], str] = {}

    async def get(rec: Recorder, f: RingFile) -> None:
        local = fetch_dir / f"{Path(rec.directory).name}__{f.name}"
        try:
            await t.get(f"{rec.directory}/{f.name}", local)
        except TransportError as exc:
            failures[(rec.directory, f.name)] = str(exc)
            return
        scans[(rec.directory, f.name)] = scan_file(f.name, local.read_bytes(), lo - slack,
                                                   hi + slack)  # fmt: skip

    with contextlib.suppress(TransportError):
        await transfers  # a failure here is each get's failure, said per file below
    await asyncio.gather(*(get(rec, f) for rec, files in jobs for f in files))
    # the re-listing (a file whose first packet changed was overwritten while we read it)
    # runs while the points are merged and written; a point with such a file is redone
    relist = asyncio.ensure_future(_relist(dialog, node.name)) if scans else None
    results = await asyncio.to_thread(
        lambda: [_cut_point(work, rec, files=files, scans=scans, failures=failures,
                            now_first=None, out=out, lo=lo - slack) for rec, files in jobs]
    )  # fmt: skip
    recheck = await relist if relist is not None else None
    # the rings ran at least until the last listing that found them alive (less tcpdump's
    # lag in writing what it captured, LAG_NS): the analysis may call a packet missing at a
    # quiet point before then dropped (its last frame alone would end the point earlier)
    listed_ns = (recheck or listing).now_ns
    until = None if listed_ns is None else min(hi, listed_ns - LAG_NS)
    for (rec, files), first_cut in zip(jobs, results, strict=True):
        res, snap = first_cut
        now_first = _first_packets(recheck, rec)
        if now_first is not None and any(
            now_first.get(f.name, f.first_ns) != f.first_ns for f in files
        ):
            res, snap = _cut_point(work, rec, files=files, scans=scans, failures=failures,
                                   now_first=now_first, out=out, lo=lo - slack)  # fmt: skip
        fresh = _same_recorder(recheck, rec)
        if fresh is not None and fresh.stats is not None:
            res.stats = fresh.stats  # the counts asked for at the first listing
        if until is not None and (recheck is None or (fresh is not None and fresh.alive)):
            res.until_ns = until
        work.captures.append(res)
        work.points.append(snap)
    for rec in recorders:
        if rec.kind == "probe":
            await _probe_log(
                t, work, rec=rec, lo=lo - slack, hi=hi + slack, out=out, fetch_dir=fetch_dir
            )


async def _relist(dialog: _Dialog, node: str) -> Listing | None:
    try:
        return parse_listing(node, "\n".join(await bounded(dialog.ask("relist"), STEP)))
    except (TransportError, TimeoutError):
        return None


def _same_recorder(recheck: Listing | None, rec: Recorder) -> Recorder | None:
    if recheck is None:
        return None
    return next((r for r in recheck.recorders if r.directory == rec.directory), None)


def _first_packets(recheck: Listing | None, rec: Recorder) -> dict[str, int | None] | None:
    """Each ring file's first packet at the re-listing (None: no re-listing)."""
    if recheck is None:
        return None
    fresh = _same_recorder(recheck, rec)
    return {} if fresh is None else {f.name: f.first_ns for f in fresh.files}


def _cut_point(
    work: _NodeWork,
    rec: Recorder,
    *,
    files: Sequence[RingFile],
    scans: dict[tuple[str, str], FileScan],
    failures: dict[tuple[str, str], str],
    now_first: dict[str, int | None] | None,
    out: Path,
    lo: int,
) -> tuple[CaptureResult, PointSnapshot]:
    """Merge one point's scanned files into ``pcaps/<node>__<point>.pcap``, leaving out the
    files the ring wrapped onto while they were fetched (``now_first``: first packets at the
    re-listing)."""
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
    kept: list[FileScan] = []
    for f in files:
        key = (rec.directory, f.name)
        if key in failures:
            snap.problems.append(f"{f.name}: fetch failed: {failures[key]}")
            continue
        scan = scans.get(key)
        if scan is None:
            continue
        snap.bytes_fetched += len(scan.data)
        snap.files_fetched.append(f.name)
        if now_first is not None and now_first.get(f.name, f.first_ns) != f.first_ns:
            snap.problems.append(
                f"{f.name}: the ring wrapped onto it while it was fetched; its packets are "
                "left out (give a larger --ring)"
            )
            continue
        kept.append(scan)
    cut = merge_scans(kept)
    snap.problems.extend(cut.problems)
    if cut.head:
        cut.write(out / res.file)
    else:
        (out / res.file).write_bytes(_empty_pcap(rec))
    snap.packets = cut.packets
    res.frames = cut.packets
    res.status = "ok"
    if not files:
        res.detail = "the ring holds no packets in the window"
    started_ns = (rec.started_s or 0) * 1_000_000_000
    wrapped = len(rec.files) >= int(rec.meta.get("files", "0") or 0) > 0
    if wrapped and rec.oldest_ns is not None and rec.oldest_ns > lo and started_ns < lo:
        oldest = time.strftime("%H:%M:%S", time.localtime(rec.oldest_ns / 1e9))
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
    fetch_dir: Path,
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
        local = fetch_dir / f"{Path(rec.directory).name}__{log}"
        try:
            await t.get(f"{rec.directory}/{log}", local)
        except TransportError:
            continue
        lines += local.read_text(encoding="utf-8", errors="replace").splitlines()
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
