"""``netdiag report INPUT --html PATH [--json PATH]``: the self-contained incident report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netdiag.bundle.layout import Layout
from netdiag.cli._env import Env, ExitCode, write_text_file
from netdiag.cli._ifmap import add_ifmap_option, parse_ifmaps
from netdiag.errors import InputError
from netdiag.files import is_directory


def register(subparsers: Any) -> None:
    """Add the ``report`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write the HTML incident report (and/or the analysis JSON) of a run",
        description="Write one self-contained HTML file (no network access, strict CSP) with the "
        "verdict, translations, every flow's path, anomalies and capture stats; and/or the same "
        "story as Markdown for a ticket or a chat.",
        epilog="examples:\n"
        "  netdiag report run1/                                 # run1/report.html\n"
        "  netdiag report run1/ --html incident.html --markdown incident.md\n"
        "  netdiag report run1/ --markdown - | xclip -selection clipboard\n"
        "  netdiag report client/eth0=c.pcap node1/eth1=n1.pcap --html incident.html\n",
    )
    parser.add_argument(
        "input", nargs="+", type=Path, metavar="INPUT",
        help="run directory, analysis.json, or [POINT=]PATH capture files",
    )  # fmt: skip
    parser.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="HTML report to write (default: DIR/report.html for a run directory)",
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="PATH|-",
        help="the verdict, translations, anomalies and paths as Markdown, to paste into a "
        "ticket or a chat ('-': on stdout)",
    )  # fmt: skip
    parser.add_argument(
        "--json", type=Path, metavar="PATH|-",
        help="analysis JSON (schema netdiag.analysis/1) to write; '-': on stdout as the only "
        "output",
    )  # fmt: skip
    add_ifmap_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    """Open the input once, write the requested files, print where they are."""
    from netdiag.bundle import open_run
    from netdiag.report.html import render_html

    html_path: Path | None = args.html
    if str(args.json) == "-" and str(args.markdown) == "-":
        raise InputError("--json - and --markdown -: only one of them can go to stdout")
    if html_path is None and args.json is None and args.markdown is None:
        if len(args.input) == 1 and is_directory(args.input[0]):
            html_path = Layout(args.input[0]).report
        else:
            raise InputError(
                "nothing to write; give --html PATH, --markdown PATH and/or --json PATH"
            )
    progress = env.progress()
    with progress.step(f"opening {args.input[0]}"):
        view = open_run(args.input, ifmaps=parse_ifmaps(args.ifmap))
    for warning in view.warnings:
        env.warn(warning)
    # with a document on stdout, the sentences saying what was written go to stderr
    said = env.stderr if "-" in (str(args.json), str(args.markdown)) else env.stdout
    if html_path is not None:
        with progress.step(f"writing {html_path}"):
            write_text_file(html_path, render_html(view))
        print(f"wrote {html_path}", file=said)
    if args.markdown is not None:
        from netdiag.report.markdown import render_markdown

        text = render_markdown(view)
        if str(args.markdown) == "-":
            env.stdout.write(text)
        else:
            write_text_file(args.markdown, text)
            print(f"wrote {args.markdown}", file=said)
    if args.json is not None and str(args.json) == "-":
        text = view.analysis_json()
        env.stdout.write(text if text.endswith("\n") else text + "\n")
    elif args.json is not None:
        write_text_file(args.json, view.analysis_json())
        print(f"wrote {args.json}", file=said)
    return ExitCode.OK
