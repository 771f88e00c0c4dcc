"""``netdiag analyze INPUT...``: correlate captures and print (or write) what happened.

INPUT is one run directory (``netdiag capture --out DIR``) or ``[POINT=]PATH`` capture files
named as for ``netdiag packets``; ``--ifmap NODE=ip-link.json`` names the devices of a node's
``tcpdump -i any`` file, which becomes one point per device (a run directory brings its own).
``--save`` (run directories only) stores the result next to the captures as
``DIR/analysis.json`` and ``DIR/packets.parquet`` for ``report`` and ``tui``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netdiag.bundle.layout import Layout
from netdiag.cli._env import Env, ExitCode, write_text_file
from netdiag.cli._ifmap import add_ifmap_option, parse_ifmaps
from netdiag.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``analyze`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "analyze",
        help="follow each packet across capture points: NAT, MAC/TTL rewrites, tunnels, drops",
        description="Recognise the same packet at every capture point and say what happened "
        "between sightings (DNAT/SNAT, MAC rewrite, TTL, encapsulation, latency), pair "
        "requests with replies, estimate node clock offsets and list anomalies.",
        epilog="examples:\n"
        "  netdiag analyze run1/\n"
        "  netdiag analyze client/eth0=c.pcap node1/eth1=n1.pcap node1/dd2b931fc304_h=pod.pcap\n"
        "  netdiag analyze run1/ --json - | jq '.translations'\n",
    )
    parser.add_argument(
        "input", nargs="+", metavar="INPUT", help="run directory, or [POINT=]PATH capture files"
    )
    parser.add_argument(
        "--json", metavar="PATH|-",
        help="write the analysis JSON (schema netdiag.analysis/1) to PATH; '-': on stdout "
        "as the only output",
    )  # fmt: skip
    parser.add_argument(
        "--window", type=float, default=2.0, metavar="SECONDS",
        help="longest time one packet may take between two points (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-node", metavar="NAME",
        help="clock offsets are relative to this node (default: first input with IP packets)",
    )  # fmt: skip
    parser.add_argument(
        "--max-journeys", type=int, default=10_000, metavar="N",
        help="journeys written in the JSON (default 10000); counts stay complete",
    )  # fmt: skip
    add_ifmap_option(parser)
    parser.add_argument(
        "--save", action="store_true",
        help="run directory only: also write DIR/analysis.json and DIR/packets.parquet",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    """Analyse, print the summary and/or write the JSON."""
    from netdiag.bundle import analyse
    from netdiag.correlate import Options
    from netdiag.report.text import render

    if not args.window > 0:
        raise InputError(f"--window {args.window}: must be a positive number of seconds")
    if args.max_journeys < 0:
        raise InputError(f"--max-journeys {args.max_journeys}: must be 0 or more")
    options = Options(window_ns=round(args.window * 1e9), reference_node=args.reference_node)
    with env.progress().step(f"analysing {len(args.input)} input(s)"):
        analysed = analyse(
            args.input, options, ifmaps=parse_ifmaps(args.ifmap), max_journeys=args.max_journeys
        )
    for warning in analysed.input.warnings:  # on stderr: also seen when the JSON goes to stdout
        env.warn(warning)
    document = analysed.json_text() if args.json or args.save else ""
    if args.json == "-":
        env.stdout.write(document + "\n")
    else:
        if args.json:
            write_text_file(Path(args.json), document)
        render(analysed.parsed, env.console())
        if args.json:
            print(f"wrote {args.json}", file=env.stdout)
    if args.save:
        root = analysed.input.root
        if root is None:
            raise InputError("--save needs a run directory as INPUT (it writes into it)")
        layout = Layout(root)
        write_text_file(layout.analysis, document)
        try:
            analysed.input.table.to_parquet(layout.packets)
        except OSError as exc:
            raise InputError(f"{root}: cannot write {layout.packets.name} ({exc})") from exc
        print(f"wrote {layout.analysis} and {layout.packets.name}", file=env.stderr)
    return ExitCode.OK
