"""``netdiag export INPUT --pcapng PATH``: every capture point merged into one commented pcapng."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode


def register(subparsers: Any) -> None:
    """Add the ``export`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="merge all capture points into one pcapng for Wireshark",
        description="One interface per capture point (node/iface), packets in clock-corrected "
        "order, each packet commented with its journey and what changed at that hop.",
    )
    parser.add_argument("input", nargs="+", type=Path, help="run directory or analysis.json")
    parser.add_argument(
        "--pcapng", type=Path, metavar="PATH", required=True, help="pcapng file to write"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    """Open the run, write the merged capture, say what was written."""
    from netdiag.report.bundle import open_input
    from netdiag.report.pcapng import export_pcapng

    view = open_input(args.input)
    for warning in view.warnings:
        env.warn(warning)
    stats = export_pcapng(view, args.pcapng)
    print(
        f"wrote {args.pcapng}: {stats.packets} packets from {stats.interfaces} capture points, "
        f"{stats.commented} commented with their journey",
        file=env.stdout,
    )
    return ExitCode.OK
