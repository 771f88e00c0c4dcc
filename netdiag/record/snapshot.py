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

from netdiag.capture.preflight import ClockSample, sample_clock
from netdiag.capture.results import (
    CaptureResult,
    ClockInfo,
    NodeResult,
    ProbeResult,
    RunRecord,
    write_manifest,
)
from netdiag.capture.run_steps import capture_file, make_run_id, prepare_out
from netdiag.errors import CommandError, TransportError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.record.cut import cut_to_window
from netdiag.record.listing import Listing, Recorder, RingFile, parse_listing, select_files
from netdiag.record.nodes import Factory, NodeOutcome, connected, for_each_node
from netdiag.record.scripts import list_argv
from netdiag.transport import Transport, open_transport
from netdiag.transport.aio import bounded

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
        w.result.status = w.outcome.status
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


async def _node_snapshot(
    t: Transport, work: _NodeWork, *, name: str, window: Window, out: Path, fetch_dir: Path
) -> None:
    node = work.node
    try:
        first = await bounded(
            t.run_batch(
                [list_argv(node.capture_dir, name, counts=True), ["ip", "-j", "link"],
                 ["uname", "-r"]],
                timeout=STEP,
            ),
            STEP + 5,
        )  # fmt: skip
    except (TransportError, TimeoutError) as exc:
        work.outcome.status, work.outcome.detail = "failed", f"{node.name}: listing failed: {exc}"
        work.found = True
        return
    listing = parse_listing(node.name, first[0].stdout)
    recorders = [r for r in listing.recorders if r.alive]
    if not recorders:
        return
    work.found = True
    with contextlib.suppress(ValueError):
        work.result.interfaces = json.loads(first[1].stdout or "[]")
    work.result.kernel = first[2].stdout.strip() or None
    clock: ClockSample | None = None
    try:
        clock = await bounded(sample_clock(t, 5), STEP)
    except (TransportError, CommandError, TimeoutError, ValueError) as exc:
        work.result.detail = f"clock not sampled ({exc}); the window is cut on the node's clock"
    offset = clock.offset_ns if clock else 0
    slack = clock.error_ns + 1_000_000 if clock else 1_000_000_000
    if clock is not None:
        work.result.clock = ClockInfo(clock.offset_ns, clock.error_ns, clock.rtt_ns, clock.rounds)
    lo, hi = window.from_ns + offset, window.to_ns + offset  # the node's clock
    fetch_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[Recorder, list[RingFile]]] = []
    for rec in recorders:
        if rec.kind == "cap":
            jobs.append((rec, select_files(rec.files, lo, hi, slack_ns=slack)))
    # every selected file of the node at once (SFTP requests pipeline over one connection)
    fetched: dict[tuple[str, str], Path] = {}
    failures: dict[tuple[str, str], str] = {}

    async def get(rec: Recorder, f: RingFile) -> None:
        local = fetch_dir / f"{Path(rec.directory).name}__{f.name}"
        try:
            await t.get(f"{rec.directory}/{f.name}", local)
            fetched[(rec.directory, f.name)] = local
        except TransportError as exc:
            failures[(rec.directory, f.name)] = str(exc)

    await asyncio.gather(*(get(rec, f) for rec, files in jobs for f in files))
    recheck = await _relist(t, node, name) if fetched else None
    for rec, files in jobs:
        _cut_point(
            work, rec, files=files, fetched=fetched, failures=failures, recheck=recheck,
            lo=lo - slack, hi=hi + slack, out=out,
        )  # fmt: skip
    for rec in recorders:
        if rec.kind == "probe":
            await _probe_log(
                t, work, rec=rec, lo=lo - slack, hi=hi + slack, out=out, fetch_dir=fetch_dir
            )


async def _relist(t: Transport, node: NodeSpec, name: str) -> Listing | None:
    """A second listing after the fetch: a file whose first packet changed was overwritten
    (the ring wrapped onto it) while we read it."""
    try:
        res = await bounded(
            t.run(list_argv(node.capture_dir, name, counts=False), check=False), STEP
        )
    except (TransportError, TimeoutError):
        return None
    return parse_listing(node.name, res.stdout)


def _cut_point(
    work: _NodeWork,
    rec: Recorder,
    *,
    files: Sequence[RingFile],
    fetched: dict[tuple[str, str], Path],
    failures: dict[tuple[str, str], str],
    recheck: Listing | None,
    lo: int,
    hi: int,
    out: Path,
) -> None:
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
    now_first = {}
    if recheck is not None:
        for r in recheck.recorders:
            if r.directory == rec.directory:
                now_first = {f.name: f.first_ns for f in r.files}
    buffers: list[bytes] = []
    names: list[str] = []
    for f in files:
        key = (rec.directory, f.name)
        if key in failures:
            snap.problems.append(f"{f.name}: fetch failed: {failures[key]}")
            continue
        path = fetched.get(key)
        if path is None:
            continue
        data = path.read_bytes()
        snap.bytes_fetched += len(data)
        snap.files_fetched.append(f.name)
        if recheck is not None and now_first.get(f.name, f.first_ns) != f.first_ns:
            snap.problems.append(
                f"{f.name}: the ring wrapped onto it while it was fetched; its packets are "
                "left out (give a larger --ring)"
            )
            continue
        buffers.append(data)
        names.append(f.name)
    cut = cut_to_window(buffers, lo, hi, names)
    snap.problems.extend(cut.problems)
    if cut.data:
        (out / res.file).write_bytes(cut.data)
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
        snap.problems.append(
            "the ring's oldest packet is later than the window's start: the ring does not "
            "reach back that far (give a larger --ring)"
        )
    res.detail = "; ".join([*([res.detail] if res.detail else []), *snap.problems])
    work.captures.append(res)
    work.points.append(snap)


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
