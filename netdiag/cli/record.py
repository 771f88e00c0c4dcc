"""``netdiag record start | status | list | snapshot | watch | stop``: the flight recorder.

Thin: parse, call :mod:`netdiag.record`, print. Tables and progress go to stderr, results to
stdout; ``--json`` prints one document (schema ``netdiag.record.<command>/1``) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode

__all__ = ["register"]

DEFAULT_NAME = "default"
#: a listed recorder without a live supervisor that the listing did not sweep: one that has
#: not written its PID yet, or one that ended between the listing's two passes
NOT_RUNNING = "not running"


def register(subparsers: Any) -> None:
    """Add ``record`` and its sub-commands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "record",
        help="flight recorder: an always-on tcpdump ring on every node, snapshotted on demand",
        description="Keep a rotating tcpdump ring running on every capture point of a plan, "
        "after netdiag exits and without an SSH session, each under a hard lease; snapshot "
        "a time window of it into an ordinary run bundle when an incident recurs.",
        epilog="examples:\n"
        "  netdiag record start --inventory inv.yaml --plan probes/fip-ingress.yaml "
        "--ring 10x20M --max-duration 24h\n"
        "  netdiag record status --inventory inv.yaml\n"
        "  netdiag record snapshot --inventory inv.yaml --last 60s --out incident1\n"
        "  netdiag record watch --inventory inv.yaml --probe tcp:172.19.0.11:80 --from client "
        "--every 1s --out incidents\n"
        "  netdiag record stop --inventory inv.yaml\n",
    )
    sub = parser.add_subparsers(dest="record_command", metavar="SUBCOMMAND", required=True)

    start = sub.add_parser(
        "start", help="start a recorder on every capture point of a plan",
        description="Start a rotating tcpdump ring (tcpdump -C/-W: the disk bound holds by "
        "construction) on every capture point of the plan. Each node's free space is checked "
        "first. Every recorder stops and removes its files when its lease ends, even if "
        "netdiag never comes back.",
    )  # fmt: skip
    _common(start)
    start.add_argument(
        "--plan",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to record (capture points, filter, snaplen; probes/*.yaml)",
    )
    start.add_argument(
        "--ring",
        default="200M",
        metavar="SIZE",
        help="ring per capture point: FILESxSIZE (10x20M) or a total (200M, "
        "split into 8 files); M = 1,000,000 bytes (default 200M)",
    )
    start.add_argument(
        "--max-duration",
        default="24h",
        metavar="DURATION",
        help="the lease: every recorder stops and removes itself after this "
        "(90s, 30m, 24h; default 24h, at most 30d)",
    )
    start.add_argument(
        "--probe-every",
        default=None,
        metavar="DURATION",
        help="also run the plan's probes on their nodes every DURATION, their "
        "results logged there with timestamps (snapshots include them)",
    )
    start.set_defaults(func=run_start)

    status = sub.add_parser(
        "status", help="per capture point: ring files, bytes, oldest/newest packet, drops, lease",
        description="Reconnect to every node and show the recorder's state, found by its "
        "marker directory (works from another machine, without local state).",
    )  # fmt: skip
    _common(status)
    status.set_defaults(func=run_status)

    lst = sub.add_parser("list", help="every recorder on the nodes, whatever its name")
    _common(lst, name=False)
    lst.set_defaults(func=run_list)

    snap = sub.add_parser(
        "snapshot", help="fetch a time window of the rings into a run bundle",
        description="Fetch from every node at once only the ring files that overlap the "
        "window, cut them to it, sample the clocks and write a run bundle that analyze, "
        "report, tui and export read. The recorder keeps running.",
    )  # fmt: skip
    _common(snap)
    _window_options(snap)
    snap.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="bundle directory to create (default ./netdiag-snap-<time>)",
    )
    snap.add_argument(
        "--no-analysis",
        action="store_true",
        help="only write the bundle; run `netdiag analyze DIR` later",
    )
    snap.set_defaults(func=run_snapshot)

    watch = sub.add_parser(
        "watch", help="probe every N seconds; snapshot the window around each failure",
        description="Run a probe every --every; when it fails, wait --after, then snapshot "
        "[failure - --before, failure + --after] into OUT/<time>/ (rate limited by "
        "--min-gap), printing where each snapshot went. Ends on Ctrl-C or --max-snapshots.",
    )  # fmt: skip
    _common(watch)
    watch.add_argument(
        "--probe",
        required=True,
        metavar="tcp:HOST:PORT|ping:IP",
        help="what to probe: a TCP connect or one ping",
    )
    watch.add_argument(
        "--from",
        dest="source",
        metavar="NODE",
        help="run the probe on this inventory node (default: on this machine)",
    )
    watch.add_argument("--every", default="1s", metavar="DURATION", help="default 1s")
    watch.add_argument(
        "--timeout",
        default="1s",
        metavar="DURATION",
        help="a probe that takes longer has failed (default 1s)",
    )
    watch.add_argument(
        "--after",
        default="10s",
        metavar="DURATION",
        help="record this long after a failure before the snapshot (default 10s)",
    )
    watch.add_argument(
        "--before",
        default="60s",
        metavar="DURATION",
        help="window before the failure (default 60s)",
    )
    watch.add_argument(
        "--min-gap",
        default="60s",
        metavar="DURATION",
        help="at most one snapshot per this long (default 60s)",
    )
    watch.add_argument(
        "--max-snapshots",
        type=int,
        default=0,
        metavar="N",
        help="stop after N snapshots (default: run until Ctrl-C)",
    )
    watch.add_argument(
        "--out",
        type=Path,
        default=Path("netdiag-incidents"),
        metavar="DIR",
        help="snapshots go to DIR/<time>/ (default ./netdiag-incidents)",
    )
    watch.add_argument("--no-analysis", action="store_true", help="only write the bundles")
    watch.set_defaults(func=run_watch)

    stop = sub.add_parser("stop", help="stop a recorder and remove its files on every node")
    _common(stop)
    stop.add_argument("--all", action="store_true", help="every recorder, whatever its name")
    stop.set_defaults(func=run_stop)


def _common(parser: argparse.ArgumentParser, *, name: bool = True) -> None:
    parser.add_argument("--inventory", type=Path, required=True, metavar="FILE",
                        help="nodes and how to reach them (inventory/*.yaml)")  # fmt: skip
    if name:
        parser.add_argument("--name", default=DEFAULT_NAME, metavar="NAME",
                            help=f"the recorder's name (default {DEFAULT_NAME!r})")  # fmt: skip
    parser.add_argument(
        "--transport", default="asyncssh", choices=("asyncssh", "paramiko", "local"),
        help="how to reach the nodes (default asyncssh)",
    )  # fmt: skip
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema netdiag.record.<command>/1)",
    )


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--last", metavar="DURATION", help="the last DURATION (60s, 5m)")
    parser.add_argument("--from", dest="start", metavar="TIME",
                        help="window start: ISO 8601 (local time unless it has a zone), "
                        "HH:MM[:SS] today, or Unix seconds")  # fmt: skip
    parser.add_argument("--to", dest="end", metavar="TIME", help="window end (default: now)")


# -- helpers -------------------------------------------------------------------------------


def _inventory(args: argparse.Namespace) -> Any:
    from netdiag.inventory import load_inventory

    return load_inventory(args.inventory)


def _name(args: argparse.Namespace) -> str:
    from netdiag.record.ring import validate_name

    return validate_name(args.name)


def _code(statuses: Sequence[str]) -> int:
    """ok everywhere -> 0; some nodes failed -> 4 (partial); every node failed -> 2."""
    bad = [s for s in statuses if s != "ok"]
    if not bad:
        return ExitCode.OK
    return ExitCode.FAILURE if len(bad) == len(statuses) else ExitCode.PARTIAL


def _size(n: int) -> str:
    """Bytes as a person reads them: 41 kB, 3.2 MB (M = 1,000,000, as --ring counts)."""
    return f"{n / 1e3:.0f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ns / 1e9)) + f".{ns % 10**9 // 10**6:03d}"


def parse_time(text: str, now: float) -> float:
    """``--from``/``--to``: ISO 8601 (local unless zoned), HH:MM[:SS] today, Unix seconds."""
    import datetime as dt

    from netdiag.errors import InputError

    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    try:
        if len(s) <= 8 and ":" in s:
            t = dt.time.fromisoformat(s)
            today = dt.datetime.fromtimestamp(now).date()
            return dt.datetime.combine(today, t).timestamp()
        return dt.datetime.fromisoformat(s).timestamp()
    except ValueError:
        raise InputError(
            f"time {text!r}: give ISO 8601 (2026-12-01T14:05:00, local unless it has a zone), "
            "HH:MM[:SS] today, or Unix seconds"
        ) from None


def window_of(args: argparse.Namespace, now: float) -> tuple[int, int]:
    """The snapshot window in UTC ns from --last or --from/--to."""
    from netdiag.errors import InputError
    from netdiag.record.ring import parse_duration

    if args.last is not None and (args.start is not None or args.end is not None):
        raise InputError("give either --last DURATION or --from TIME [--to TIME], not both")
    if args.last is None and args.start is None:
        raise InputError("say which window: --last 60s, or --from TIME [--to TIME]")
    if args.last is not None:
        span = parse_duration(args.last, what="--last")
        lo, hi = now - span, now
    else:
        lo = parse_time(args.start, now)
        hi = parse_time(args.end, now) if args.end is not None else now
    if hi <= lo:
        raise InputError("the window ends before it starts; check --from and --to")
    return int(lo * 1e9), int(hi * 1e9)


def _warn_outcomes(env: Env, outcomes: Sequence[Any]) -> None:
    for o in outcomes:
        if o.status != "ok":
            env.warn(o.detail or f"{o.node}: {o.status}")


# -- start ---------------------------------------------------------------------------------


def run_start(args: argparse.Namespace, env: Env) -> int:
    from netdiag.errors import InputError
    from netdiag.plan import load_plan, resolve
    from netdiag.record import control
    from netdiag.record.ring import parse_duration, parse_ring

    name = _name(args)
    ring = parse_ring(args.ring)
    lease = parse_duration(args.max_duration)
    if not 1 <= lease <= 30 * 86400:
        raise InputError(f"--max-duration {args.max_duration}: give 1s to 30d")
    every = None
    if args.probe_every is not None:
        every = parse_duration(args.probe_every, what="--probe-every")
        if every < 0.1:
            raise InputError(f"--probe-every {args.probe_every}: give at least 0.1s")
    inventory = _inventory(args)
    plan = load_plan(args.plan)
    resolved = resolve(plan, inventory)
    items = control.start_items(resolved, inventory, name=name, ring=ring, lease_s=lease,
                                probe_every=every)  # fmt: skip
    progress = env.progress()
    count = sum(len(v) for v in items.values())
    with progress.step(f"starting recorder {name!r}: {count} recorder(s) on {len(items)} node(s)"):
        done = asyncio.run(control.start(inventory, items, name=name, transport=args.transport))
    _warn_outcomes(env, [d.outcome for d in done])
    launches = [la for d in done for la in d.launches]
    snaplen = resolved.plan.capture.snaplen
    bound = ring.bound_bytes(snaplen)
    code = _code([d.outcome.status for d in done])
    if args.json:
        env.print_json({
            "schema": "netdiag.record.start/1", "name": name, "exit_code": int(code),
            "ring": {"files": ring.files, "file_mb": ring.file_mb, "bound_bytes": bound},
            "lease_s": lease, "expires_ns": time.time_ns() + int(lease * 1e9),
            "nodes": [{"node": d.outcome.node, "status": d.outcome.status,
                       "detail": d.outcome.detail} for d in done],
            "recorders": [{"node": d.outcome.node, "label": la.item.label, "kind": la.item.kind,
                           "status": la.status, "detail": la.detail,
                           "directory": la.item.directory}
                          for d in done for la in d.launches],
        })  # fmt: skip
        return code
    started = [la for la in launches if la.status == "started"]
    for d in done:
        for la in d.launches:
            mark = "recording" if la.status == "started" else la.status
            print(f"{d.outcome.node}/{la.item.label}: {mark}", file=env.stdout)
    ends = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + lease))
    print(
        f"recorder {name!r}: {len(started)} of {len(launches)} recording, ring {ring} per point "
        f"(at most {bound / 1e6:.1f} MB on disk each), lease {args.max_duration} (stops and "
        f"removes itself at {ends}); "
        f"`netdiag record status --inventory {args.inventory} --name {name}`",
        file=env.stdout,
    )
    if code == ExitCode.FAILURE:
        env.error(f"recorder {name!r} started nowhere; see the warnings above")
    return code


# -- status / list -------------------------------------------------------------------------


def _recorder_json(rec: Any, now_ns: int | None) -> dict[str, Any]:
    left = None
    if rec.expires_s is not None and now_ns is not None:
        left = rec.expires_s - now_ns / 1e9
    stats = rec.stats
    return {
        "name": rec.name, "node": rec.node, "point": rec.point, "kind": rec.kind,
        "alive": rec.alive, "directory": rec.directory, "files": len(rec.files),
        "max_files": int(rec.meta.get("files", "0") or 0),
        "bytes": rec.bytes, "bound_bytes": int(rec.meta.get("bound", "0") or 0),
        "oldest_ns": rec.oldest_ns, "newest_ns": rec.newest_ns,
        "captured": stats.captured if stats else None,
        "kernel_dropped": stats.dropped if stats else None,
        "expires_s": rec.expires_s, "lease_left_s": left, "last_probe": rec.last_probe or None,
    }  # fmt: skip


def _survey(args: argparse.Namespace, env: Env, name: str, counts: bool) -> list[Any]:
    from netdiag.record import control

    inventory = _inventory(args)
    with env.progress().step("asking every node for its recorders"):
        return asyncio.run(
            control.survey(inventory.nodes, name=name, counts=counts, transport=args.transport)
        )


def run_status(args: argparse.Namespace, env: Env) -> int:
    from netdiag.record.ring import human_seconds

    name = _name(args)
    done = _survey(args, env, name, counts=True)
    _warn_outcomes(env, [d.outcome for d in done])
    rows = [
        (rec, d.listing.now_ns)
        for d in done if d.listing is not None
        for rec in d.listing.recorders
    ]  # fmt: skip
    code = _code([d.outcome.status for d in done])
    if not rows and code != ExitCode.FAILURE:
        code = ExitCode.FAILURE
        if not args.json:
            env.error(
                f"no recorder {name!r} on any reachable node; `netdiag record list` shows "
                "what runs, `netdiag record start` starts one"
            )
    if args.json:
        env.print_json({
            "schema": "netdiag.record.status/1", "name": name, "exit_code": int(code),
            "nodes": [{"node": d.outcome.node, "status": d.outcome.status,
                       "detail": d.outcome.detail,
                       "swept": list(d.listing.swept) if d.listing else []} for d in done],
            "recorders": [_recorder_json(rec, now) for rec, now in rows],
        })  # fmt: skip
        return code
    from rich.table import Table

    table = Table(title=f"recorder {name!r}", title_justify="left")
    numbers = ("files", "bytes", "kernel drops")
    for col in ("point", "state", "files", "bytes", "oldest", "newest", "kernel drops",
                "lease left"):  # fmt: skip
        table.add_column(col, justify="right" if col in numbers else "left")
    for rec, now in rows:
        j = _recorder_json(rec, now)
        left = "-" if j["lease_left_s"] is None else human_seconds(j["lease_left_s"])
        if rec.kind == "probe":
            last = rec.last_probe.split(" ", 3)
            state = "probing" if rec.alive else NOT_RUNNING
            result = f"exit {last[2]}" if len(last) >= 3 else "no result yet"
            table.add_row(rec.point + " (probe)", state, "-", "-", "-", result, "-", left)
            continue
        files = f"{j['files']}/{j['max_files']}"
        size = f"{rec.bytes / 1e6:.1f}/{j['bound_bytes'] / 1e6:.1f} MB"
        drops = "-" if j["kernel_dropped"] is None else str(j["kernel_dropped"])
        table.add_row(rec.point, "recording" if rec.alive else NOT_RUNNING, files, size,
                      _when(rec.oldest_ns), _when(rec.newest_ns), drops, left)  # fmt: skip
    env.console().print(table)
    if any(not rec.alive for rec, _ in rows):
        env.warn(f"{NOT_RUNNING}: a recorder still starting, or whose lease just ended")
    _warn_swept(env, done)
    return code


def _warn_swept(env: Env, done: Sequence[Any]) -> None:
    """Say which dead recorders' files the listing removed (their supervisor was gone)."""
    for d in done:
        for directory in d.listing.swept if d.listing else ():
            base = directory.rsplit("/", 1)[-1].removeprefix("netdiag-rec-")
            env.warn(
                f"{d.outcome.node}: removed the leftovers of recorder {base.split('.', 1)[0]!r} "
                f"(its supervisor was gone: node rebooted or process killed): {directory}"
            )


def run_list(args: argparse.Namespace, env: Env) -> int:
    from netdiag.record.ring import human_seconds

    done = _survey(args, env, "", counts=False)
    _warn_outcomes(env, [d.outcome for d in done])
    _warn_swept(env, done)
    by_name: dict[str, dict[str, Any]] = {}
    for d in done:
        for rec in d.listing.recorders if d.listing else ():
            entry = by_name.setdefault(
                rec.name, {"name": rec.name, "nodes": [], "points": 0, "probes": 0,
                           "bytes": 0, "lease_left_s": None},
            )  # fmt: skip
            if rec.node not in entry["nodes"]:
                entry["nodes"].append(rec.node)
            entry["points" if rec.kind == "cap" else "probes"] += 1
            entry["bytes"] += rec.bytes
            if rec.expires_s is not None and d.listing and d.listing.now_ns:
                left = rec.expires_s - d.listing.now_ns / 1e9
                old = entry["lease_left_s"]
                entry["lease_left_s"] = left if old is None else max(old, left)
    code = _code([d.outcome.status for d in done])
    if args.json:
        env.print_json({"schema": "netdiag.record.list/1", "exit_code": int(code),
                        "nodes": [{"node": d.outcome.node, "status": d.outcome.status,
                                   "detail": d.outcome.detail} for d in done],
                        "recorders": list(by_name.values())})  # fmt: skip
        return code
    if not by_name:
        print("no recorders on the reachable nodes", file=env.stdout)
    for e in by_name.values():
        left = "-" if e["lease_left_s"] is None else human_seconds(e["lease_left_s"])
        print(
            f"{e['name']}: {e['points']} point(s), {e['probes']} probe(s) on "
            f"{', '.join(e['nodes'])}; {_size(e['bytes'])}; lease left {left}",
            file=env.stdout,
        )
    return code


# -- snapshot ------------------------------------------------------------------------------


def run_snapshot(args: argparse.Namespace, env: Env) -> int:
    from netdiag.record.snapshot import Window

    name = _name(args)
    lo, hi = window_of(args, time.time())
    out = args.out or Path(time.strftime("netdiag-snap-%Y%m%dT%H%M%S"))
    inventory = _inventory(args)
    return snapshot_and_report(
        inventory, name=name, window=Window(lo, hi), out=out, env=env,
        transport=args.transport, analysis=not args.no_analysis, as_json=args.json,
    )  # fmt: skip


def snapshot_and_report(
    inventory: Any,
    *,
    name: str,
    window: Any,
    out: Path,
    env: Env,
    transport: str,
    analysis: bool,
    as_json: bool,
    doc: dict[str, Any] | None = None,
) -> int:
    """Take one snapshot, analyse it, print where it went; returns the exit code."""
    with env.progress().step(f"snapshot of recorder {name!r} into {out}"):
        snap = asyncio.run(
            _snapshot_saying_waits(
                inventory, name=name, window=window, out=out, transport=transport, env=env
            )
        )
    return report_snapshot(snap, env, name=name, analysis=analysis, as_json=as_json, doc=doc)


async def _snapshot_saying_waits(
    inventory: Any, *, name: str, window: Any, out: Path, transport: str, env: Env
) -> Any:
    """The snapshot, saying every 5 s which node it has waited 3 s or more for, and for what
    (a node that stopped answering mid-fetch: its file, how long)."""
    from netdiag.capture.watch import Activity, WatchedTransport
    from netdiag.cli._progress import say_waits
    from netdiag.record.snapshot import take_snapshot
    from netdiag.transport import Transport, open_transport
    from netdiag.transport.aio import cancel_and_wait

    activity = Activity()

    def factory(node: Any, kind: str) -> Transport:
        return WatchedTransport(open_transport(node, kind), activity)

    waiter = asyncio.create_task(
        say_waits(lambda now: activity.lines(now, after=3.0), env.progress())
    )
    try:
        return await take_snapshot(
            inventory, name=name, window=window, out=out, transport=transport, factory=factory
        )
    finally:
        await cancel_and_wait(waiter)


def report_snapshot(
    snap: Any,
    env: Env,
    *,
    name: str,
    analysis: bool,
    as_json: bool,
    doc: dict[str, Any] | None = None,
) -> int:
    from netdiag.capture.analysis import AnalysisOutcome, analyse_bundle

    out = snap.out
    relevant = [o for o in snap.outcomes if o.status != "ok" or o.node in snap.record.nodes]
    _warn_outcomes(env, relevant)
    for p in snap.points:
        for problem in p.problems:
            env.warn(f"{p.point}: {problem}")
    code = _code([o.status for o in relevant]) if relevant else ExitCode.FAILURE
    if not snap.points:
        code = ExitCode.FAILURE
        env.error(
            f"no running recorder {name!r} on any reachable node; nothing to snapshot "
            "(`netdiag record list` shows what runs)"
        )
    outcome = AnalysisOutcome()
    if analysis and snap.points:
        with env.progress().step(f"analysing {out}"):
            outcome = analyse_bundle(out)
        for problem in outcome.problems:
            env.warn(problem)
    document = {
        "schema": "netdiag.record.snapshot/1", "name": name, "exit_code": int(code),
        "bundle": str(out) if snap.points else None,
        "manifest": str(out / "manifest.json") if snap.points else None,
        "window": {"from_ns": snap.window.from_ns, "to_ns": snap.window.to_ns},
        "seconds": round(snap.seconds, 3), "bytes_fetched": snap.bytes_fetched,
        "analysis": None if outcome.json_path is None else str(outcome.json_path),
        "report": None if outcome.html_path is None else str(outcome.html_path),
        "nodes": [{"node": o.node, "status": o.status, "detail": o.detail} for o in relevant],
        "points": [p.to_json() for p in snap.points],
    }  # fmt: skip
    if doc is not None:
        doc.update(document)
    elif as_json:
        env.print_json(document)
    elif snap.points:
        packets = sum(p.packets for p in snap.points)
        files = sum(len(p.files_fetched) for p in snap.points)
        print(
            f"snapshot: {out} (window {_when(snap.window.from_ns)} .. {_when(snap.window.to_ns)}"
            f"; {len(snap.points)} point(s), {packets} packets, {files} ring file(s), "
            f"{_size(snap.bytes_fetched)} fetched in {snap.seconds:.1f} s)",
            file=env.stdout,
        )
        if outcome.json_path is not None:
            print(f"report: {outcome.html_path or outcome.json_path}", file=env.stdout)
    return code


# -- watch ---------------------------------------------------------------------------------


def run_watch(args: argparse.Namespace, env: Env) -> int:
    from netdiag.record.watch import run_watch as watch

    return watch(args, env, _name(args), _inventory(args))


# -- stop ----------------------------------------------------------------------------------


def run_stop(args: argparse.Namespace, env: Env) -> int:
    from netdiag.record import control

    name = "" if args.all else _name(args)
    inventory = _inventory(args)
    what = "every recorder" if args.all else f"recorder {name!r}"
    with env.progress().step(f"stopping {what} on {len(inventory.nodes)} node(s)"):
        done = asyncio.run(control.stop(inventory.nodes, name=name, transport=args.transport))
    _warn_outcomes(env, [d.outcome for d in done])
    code = _code([d.outcome.status for d in done])
    if code != ExitCode.OK:
        env.warn("a node that could not be reached stops its recorder when its lease ends")
    stopped = [s for d in done for s in d.stopped]
    if args.json:
        env.print_json({"schema": "netdiag.record.stop/1", "name": name or None,
                        "exit_code": int(code),
                        "nodes": [{"node": d.outcome.node, "status": d.outcome.status,
                                   "detail": d.outcome.detail, "stopped": d.stopped}
                                  for d in done]})  # fmt: skip
        return code
    for d in done:
        for s in d.stopped:
            print(f"{d.outcome.node}: stopped and removed {s}", file=env.stdout)
    if not stopped:
        print(f"no {what} was running on the reachable nodes", file=env.stdout)
    return code
