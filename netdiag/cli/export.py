"""``netdiag export INPUT --pcapng PATH``: every capture point merged into one commented pcapng."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode
from netdiag.cli._ifmap import add_ifmap_option, parse_ifmaps


def register(subparsers: Any) -> None:
    """Add the ``export`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="merge all capture points into one pcapng for Wireshark",
        description="One interface per capture point (node/iface), packets in clock-corrected "
        "order, each packet commented with its journey and what changed at that hop.",
        epilog="examples:\n"
        "  netdiag export run1/ --pcapng merged.pcapng && wireshark merged.pcapng\n"
        "  netdiag export client/eth0=c.pcap node1/eth1=n1.pcap --pcapng merged.pcapng --json\n",
    )
    parser.add_argument(
        "input", nargs="+", type=Path, metavar="INPUT",
        help="run directory, analysis.json, or [POINT=]PATH capture files",
    )  # fmt: skip
    parser.add_argument(
        "--pcapng", type=Path, metavar="PATH", required=True, help="pcapng file to write"
    )
    add_ifmap_option(parser)
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document (schema netdiag.export/1) on stdout instead of the sentence",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    """Open the run, write the merged capture, say what was written."""
    from netdiag.bundle import open_run
    from netdiag.report.pcapng import export_pcapng

    progress = env.progress()
    with progress.step(f"opening {args.input[0]}"):
        view = open_run(args.input, ifmaps=parse_ifmaps(args.ifmap))
    for warning in view.warnings:
        env.warn(warning)
    with progress.step(f"writing {args.pcapng}"):
        stats = export_pcapng(view, args.pcapng)
    if args.json:
        env.print_json(
            {
                "schema": "netdiag.export/1",
                "pcapng": str(args.pcapng),
                "packets": stats.packets,
                "interfaces": stats.interfaces,
                "commented": stats.commented,
            }
        )
        return ExitCode.OK
    print(
        f"wrote {args.pcapng}: {stats.packets} packets from {stats.interfaces} capture points, "
        f"{stats.commented} commented with their journey",
        file=env.stdout,
    )
    return ExitCode.OK
