"""``netdiag tui INPUT``: the terminal UI over a run (the app itself lives in netdiag.tui)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netdiag.cli._env import DEBUG_ENV, Env, ExitCode
from netdiag.cli._ifmap import add_ifmap_option, parse_ifmaps
from netdiag.errors import InputError
from netdiag.files import stat_mode


def register(subparsers: Any) -> None:
    """Add the ``tui`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tui",
        help="browse a run in the terminal: flows, hop-by-hop paths, translations, anomalies",
        description="Open a run directory, an analysis.json or pcap files in a terminal UI.",
    )
    parser.add_argument(
        "input", nargs="+", type=Path, metavar="INPUT",
        help="run directory, analysis.json, or [POINT=]PATH capture files",
    )  # fmt: skip
    add_ifmap_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    """Check the input exists, then hand the terminal to the app until the user quits."""
    from netdiag.tui.app import make_app

    for path in args.input:
        if stat_mode(path) is None and "=" not in str(path):  # [POINT=]PATH: checked later
            raise InputError(f"{path}: no such file or directory; check the path")
    ifmaps = parse_ifmaps(args.ifmap)
    if not env.stdout_isatty:
        raise InputError("netdiag tui needs a terminal; use `netdiag report` for a file")
    debug = bool(getattr(args, "debug", False)) or env.environ.get(DEBUG_ENV, "") not in ("", "0")
    app = make_app(args.input, ifmaps=ifmaps, debug=debug)
    app.run()
    if app.load_error is not None:
        env.error(app.load_error)
        return ExitCode.INTERNAL if app.load_error_internal else ExitCode.INPUT
    return ExitCode.OK
