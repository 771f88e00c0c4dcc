"""``netdiag capture --inventory FILE --plan FILE [--out DIR] [--transport NAME]``.

Runs the coordinated capture (:mod:`netdiag.orchestrator`) with a live progress table, then
prints every node's status, the captures' counts and the analysis summary. One Ctrl-C (or
SIGTERM) stops cleanly: captures are stopped, what exists is fetched, remote files removed.
A second Ctrl-C abandons the clean-up; the nodes' watchdogs then remove everything on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode

WAIT_FIRST = 3.0  # seconds of a silent wait before the user is told what it is waiting for

__all__ = ["add_run_options", "check_run_options", "execute", "print_summary", "register"]


def register(subparsers: Any) -> None:
    """Add the ``capture`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "capture",
        help="coordinated tcpdump on many nodes over SSH, probes, fetch, then the analysis",
        description="Start tcpdump on every capture point of the plan, send the probes once "
        "every capture listens, stop, fetch the files into a run directory and analyse it. "
        "Progress goes to stderr (timestamped lines when it is not a terminal); the run "
        "directory keeps run.log, every command sent to every node.",
        epilog="examples:\n"
        "  netdiag capture --inventory inventory/lab.yaml --plan probes/fip-ingress.yaml "
        "--out run1\n"
        "  netdiag capture --inventory inv.yaml --plan plan.yaml --json | jq .outcome\n"
        "  netdiag capture --recover run1        # fetch what the nodes kept of run1\n",
    )
    parser.add_argument(
        "--inventory", type=Path, metavar="FILE",
        help="nodes and how to reach them (inventory/*.yaml); required, except with --recover "
        "(default there: the run's own)",
    )  # fmt: skip
    parser.add_argument(
        "--plan", type=Path, metavar="FILE",
        help="where to capture and what to send (probes/*.yaml); required, except with --recover",
    )  # fmt: skip
    parser.add_argument(
        "--recover", type=Path, metavar="RUN_DIR",
        help="continue a run that did not finish (netdiag killed, a node's link or sshd lost): "
        "fetch what its nodes kept for the grace period into RUN_DIR and analyse it",
    )  # fmt: skip
    add_run_options(parser)
    parser.add_argument(
        "--no-analysis", action="store_true", help="only capture; run `netdiag analyze` later"
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document (schema netdiag.capture/1) on stdout: the run's outcome, "
        "every node, capture and probe, and where the bundle and report are",
    )  # fmt: skip
    parser.set_defaults(func=run)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--transport``, ``--concurrency``, ``--grace``: how a run is made, the same
    for ``capture`` and ``trace`` (checked by :func:`check_run_options`)."""
    parser.add_argument(
        "--out", type=Path, metavar="DIR",
        help="run directory to create (default: ./netdiag-run-<run id>)",
    )  # fmt: skip
    parser.add_argument(
        "--transport", default="asyncssh", choices=("asyncssh", "paramiko", "local"),
        help="how to reach the nodes (default asyncssh)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=int, default=32, metavar="N",
        help="SSH handshakes at the same time (default 32)",
    )  # fmt: skip
    parser.add_argument(
        "--grace", type=float, default=600.0, metavar="SECONDS",
        help="how long a node keeps the files netdiag could not fetch (it was killed, the "
        "link or sshd died) for `netdiag capture --recover`; 0 removes them at once "
        "(default 600)",
    )  # fmt: skip


def check_run_options(args: argparse.Namespace) -> None:
    """InputError for a ``--concurrency`` or ``--grace`` no run can use."""
    from netdiag.errors import InputError

    if args.concurrency < 1:
        raise InputError(f"--concurrency {args.concurrency}: must be 1 or more")
    if not 0 <= args.grace <= 7 * 86400:
        raise InputError(f"--grace {args.grace:g}: give seconds from 0 to 604800 (a week)")


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.errors import InputError
    from netdiag.inventory import load_inventory
    from netdiag.plan import load_plan

    if args.recover is not None:
        from netdiag.cli.recover import recover_run

        if args.plan is not None or args.out is not None:
            raise InputError("--recover RUN_DIR continues that run: leave out --plan and --out")
        return recover_run(
            args.recover, args.inventory, transport=args.transport, env=env,
            analysis=not args.no_analysis, as_json=args.json,
        )  # fmt: skip
    if args.inventory is None or args.plan is None:
        raise InputError(
            "capture needs --inventory FILE and --plan FILE (or --recover RUN_DIR to continue "
            "a run that did not finish)"
        )
    check_run_options(args)
    inventory = load_inventory(args.inventory)
    plan = load_plan(args.plan)
    return execute(
        inventory,
        plan,
        out=args.out,
        transport=args.transport,
        env=env,
        concurrency=args.concurrency,
        analysis=not args.no_analysis,
        grace_s=args.grace,
        as_json=args.json,
    )


def execute(
    inventory: Any,
    plan: Any,
    *,
    out: Path | None,
    transport: str,
    env: Env,
    concurrency: int = 32,
    analysis: bool = True,
    grace_s: float = 600.0,
    run_id: str = "",
    headline: Callable[[Any], None] | None = None,
    as_json: bool = False,
    doc: dict[str, Any] | None = None,
) -> int:
    """Run, show progress and results; the exit code says whether every node succeeded.

    With ``as_json`` stdout gets one JSON document (:func:`capture_document`) and nothing
    else; ``doc``, when given, receives that document instead (``demo --json`` and
    ``trace --json`` embed it). ``headline`` is given the analysis outcome first, before the
    summary (``netdiag trace``'s verdict); ``run_id`` names the run when the caller already has.
    """
    from netdiag.capture.progress import final_tables
    from netdiag.orchestrator import RunOptions, make_run_id

    run_id = run_id or make_run_id()
    out = out or Path(f"netdiag-run-{run_id}")
    console = env.console(stderr=True, width=None if env.stderr_isatty else 140)
    opts = RunOptions(
        out=out,
        transport=transport,
        concurrency=concurrency,
        run_id=run_id,
        poll_s=2.0 if console.is_terminal else None,
        grace_s=grace_s,
    )
    record, interrupted = asyncio.run(_run(inventory, plan, opts, console, env.progress()))
    if record is None:
        env.error(
            "interrupted again: clean-up abandoned; each node's watchdog stops its capture and "
            f"keeps the files for {grace_s:g} s: `netdiag capture --recover {out}` fetches them"
        )
        return ExitCode.INTERRUPTED
    console.print(final_tables(record))
    if not (as_json or doc is not None):
        print(f"run directory: {out} (manifest.json, run.log, pcaps/, probes/)", file=env.stdout)
    return conclude(
        record, out, env, analysis=analysis, interrupted=interrupted, headline=headline,
        as_json=as_json, doc=doc,
    )  # fmt: skip


def conclude(
    record: Any,
    out: Path,
    env: Env,
    *,
    analysis: bool,
    interrupted: bool,
    headline: Callable[[Any], None] | None = None,
    as_json: bool = False,
    doc: dict[str, Any] | None = None,
) -> int:
    """Analyse what was captured, say what the run amounts to, and return the exit code."""
    from netdiag.capture.analysis import AnalysisOutcome, analyse_bundle
    from netdiag.capture.verdict import usable, verdict

    human = not as_json and doc is None
    outcome = AnalysisOutcome()
    if analysis and usable(record):
        with env.progress().step(f"analysing {out}"):
            outcome = analyse_bundle(out)
        for problem in outcome.problems:
            env.warn(problem)
        if outcome.analysis is not None and headline is not None:
            headline(outcome)
        if outcome.analysis is not None and human:
            print_summary(outcome, env)
            shown = outcome.html_path or outcome.json_path
            print(f"report: {shown}", file=env.stdout)
    result = verdict(record, out)
    code: int = ExitCode.PARTIAL if result.outcome == "partial" else ExitCode.OK
    if interrupted:
        for message in result.messages:
            if "--recover" in message:
                env.warn(message)
        env.error("interrupted: captures stopped, what existed was fetched, remote files removed")
        code = ExitCode.INTERRUPTED
    elif result.outcome == "failed":
        env.error(result.messages[0])
        for message in result.messages[1:]:
            env.warn(message)
        code = ExitCode.FAILURE
    else:
        for message in result.messages:
            env.warn(message)
    if not human:
        found = capture_document(
            record, out, outcome, status="interrupted" if interrupted else result.outcome,
            messages=result.messages, code=code,
        )  # fmt: skip
        if doc is not None:
            doc.update(found)
        else:
            env.print_json(found)
    return code


def capture_document(
    record: Any,
    out: Path,
    outcome: Any,
    *,
    status: str,
    messages: tuple[str, ...],
    code: int,
) -> dict[str, Any]:
    """``capture --json`` (schema ``netdiag.capture/1``): what a script needs to go on."""
    from netdiag.bundle import Layout
    from netdiag.capture.results import manifest

    man = manifest(record).to_json()
    layout = Layout(out)
    return {
        "schema": "netdiag.capture/1",
        "run_id": record.run_id,
        "outcome": status,
        "exit_code": int(code),
        "messages": list(messages),
        "bundle": str(out),
        "manifest": str(layout.manifest),
        "run_log": str(layout.run_log),
        "analysis": None if outcome.json_path is None else str(outcome.json_path),
        "report": None if outcome.html_path is None else str(outcome.html_path),
        "started_ns": man["started_ns"],
        "finished_ns": man["finished_ns"],
        "plan": {k: man["plan"].get(k) for k in ("name", "path", "description")},
        "nodes": [
            {"name": name, "status": n["status"], "detail": n["detail"],
             "clock_vs_host": n["clock"]}
            for name, n in man["nodes"].items()
        ],
        "captures": [
            {k: c[k] for k in ("point", "status", "detail", "file", "stats", "frames", "kept")}
            for c in man["captures"]
        ],
        "probes": [
            {k: p[k] for k in ("name", "node", "kind", "argv", "exit_status", "output", "detail")}
            for p in man["probes"]
        ],
        "notes": man["notes"],
    }  # fmt: skip


def print_summary(outcome: Any, env: Env) -> None:
    """The analysis summary (same text as ``netdiag analyze``) on stdout."""
    from netdiag.report.text import render

    for warning in outcome.warnings:
        env.warn(warning)
    render(outcome.analysis.parsed, env.console())


async def _run(
    inventory: Any, plan: Any, opts: Any, console: Any, progress: Any
) -> tuple[Any, bool]:
    """The run under our own SIGINT/SIGTERM handling (first: clean stop, second: abandon)."""
    from rich.live import Live

    from netdiag.capture.progress import ProgressTable
    from netdiag.orchestrator import run_capture
    from netdiag.transport.aio import cancel_and_wait

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None

    def on_signal(signame: str) -> None:
        if not stop.is_set():
            stop.set()
            console.print(
                f"[yellow]{signame}: stopping captures, fetching what exists, removing remote "
                "files (again to abandon)[/]"
            )
        else:
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    views: list[ProgressTable] = []
    waiter: asyncio.Task[None] | None = None
    live = Live(console=console, refresh_per_second=4, transient=True)
    try:
        with live if console.is_terminal else _Null():

            def on_start(record: Any) -> None:
                nonlocal waiter
                views.append(ProgressTable(record))
                live.update(views[0])
                if console.is_terminal:  # the live table shows phases and waits
                    console.print(f"run {record.run_id} -> {record.out}")
                else:
                    progress.say(
                        f"run {record.run_id} -> {record.out}: {len(record.nodes)} node(s), "
                        f"plan {record.plan.get('name') or '-'}"
                    )
                    waiter = asyncio.create_task(_say_progress(record, progress))

            record = await run_capture(inventory, plan, opts, stop=stop, on_start=on_start)
    except asyncio.CancelledError:
        return None, True
    finally:
        await cancel_and_wait(waiter)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return record, stop.is_set()


async def _say_progress(record: Any, progress: Any, every: float = 5.0) -> None:
    """Plain progress lines: each phase as the run enters it, and which node the run is
    waiting for, how long so far and at most (once it has waited WAIT_FIRST seconds, then
    every ``every`` seconds while the wait goes on)."""
    from netdiag.capture.progress import phase_line, waiting_lines

    said: dict[str, float] = {}
    phase = ""
    while True:
        await asyncio.sleep(0.5)
        if record.phase != phase:
            phase = record.phase
            progress.say(phase_line(record))
        now = time.monotonic()
        for node, line in waiting_lines(record, now, after=WAIT_FIRST).items():
            if now - said.get(node, -every) >= every:
                said[node] = now
                progress.say(line)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
