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
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode

__all__ = ["execute", "print_summary", "register"]


def register(subparsers: Any) -> None:
    """Add the ``capture`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "capture",
        help="coordinated tcpdump on many nodes over SSH, probes, fetch, then the analysis",
        description="Start tcpdump on every capture point of the plan, send the probes once "
        "every capture listens, stop, fetch the files into a run directory and analyse it.",
    )
    parser.add_argument(
        "--inventory", required=True, type=Path, metavar="FILE",
        help="nodes and how to reach them (inventory/*.yaml)",
    )  # fmt: skip
    parser.add_argument(
        "--plan", required=True, type=Path, metavar="FILE",
        help="where to capture and what to send (probes/*.yaml)",
    )  # fmt: skip
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
        "--no-analysis", action="store_true", help="only capture; run `netdiag analyze` later"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.errors import InputError
    from netdiag.inventory import load_inventory
    from netdiag.plan import load_plan

    if args.concurrency < 1:
        raise InputError(f"--concurrency {args.concurrency}: must be 1 or more")
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
) -> int:
    """Run, show progress and results; the exit code says whether every node succeeded."""
    from rich.console import Console

    from netdiag.capture.analysis import analyse_bundle
    from netdiag.capture.progress import final_tables
    from netdiag.orchestrator import RunOptions, make_run_id

    run_id = make_run_id()
    out = out or Path(f"netdiag-run-{run_id}")
    console = Console(file=env.stderr, width=None if env.stdout_isatty else 140)
    opts = RunOptions(
        out=out,
        transport=transport,
        concurrency=concurrency,
        run_id=run_id,
        poll_s=2.0 if console.is_terminal else None,
    )
    record, interrupted = asyncio.run(_run(inventory, plan, opts, console))
    if record is None:
        env.error("interrupted again: clean-up abandoned; the nodes' watchdogs remove the rest")
        return ExitCode.INTERRUPTED
    console.print(final_tables(record))
    print(f"run directory: {out} (manifest.json, pcaps/, probes/)", file=env.stdout)
    ok = [c for c in record.captures if c.status == "ok"]
    if analysis and ok:
        outcome = analyse_bundle(out)
        for problem in outcome.problems:
            env.warn(problem)
        if outcome.analysis is not None:
            print_summary(outcome, env)
            shown = outcome.html_path or outcome.json_path
            print(f"report: {shown}", file=env.stdout)
    if interrupted:
        env.error("interrupted: captures stopped, what existed was fetched, remote files removed")
        return ExitCode.INTERRUPTED
    if not ok:
        env.error("no capture succeeded; see the node statuses above")
        return ExitCode.FAILURE
    bad = [n for n in record.nodes.values() if n.status != "ok"]
    if bad or len(ok) < len(record.captures):
        env.warn(f"{len(bad)} node(s) failed; results of the others are kept")
        return ExitCode.PARTIAL
    unrun = [p.name for p in record.probes if p.detail.startswith("not run")]
    if unrun:  # e.g. its pod was found on no node: the run lacks the traffic it was for
        env.warn(f"probe(s) {', '.join(unrun)} did not run (see the probes table)")
        return ExitCode.PARTIAL
    return ExitCode.OK


def print_summary(outcome: Any, env: Env) -> None:
    """The analysis summary (same text as ``netdiag analyze``) on stdout."""
    from rich.console import Console

    from netdiag.report.text import render

    for warning in outcome.warnings:
        env.warn(warning)
    console = Console(file=env.stdout, width=None if env.stdout_isatty else 160)
    render(outcome.analysis, console)


async def _run(inventory: Any, plan: Any, opts: Any, console: Any) -> tuple[Any, bool]:
    """The run under our own SIGINT/SIGTERM handling (first: clean stop, second: abandon)."""
    from rich.live import Live

    from netdiag.capture.progress import RunView
    from netdiag.orchestrator import run_capture

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
    views: list[RunView] = []
    live = Live(console=console, refresh_per_second=4, transient=True)
    try:
        with live if console.is_terminal else _Null():

            def on_start(record: Any) -> None:
                views.append(RunView(record))
                live.update(views[0])
                console.print(f"run {record.run_id} -> {record.out}")

            record = await run_capture(inventory, plan, opts, stop=stop, on_start=on_start)
    except asyncio.CancelledError:
        return None, True
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return record, stop.is_set()


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
