"""The ``netdiag`` command line: parse, call, print. No analysis logic lives here.

Each sub-command is a module in this package exposing ``register(subparsers)``, which adds its
parser and sets ``func`` to a ``run(args, env) -> int`` callable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from netdiag import __version__
from netdiag.cli._env import DEBUG_ENV, Env, ExitCode
from netdiag.errors import InputError, NetdiagError, PrivilegeError, internal_error

__all__ = ["DEBUG_ENV", "Env", "ExitCode", "build_parser", "internal_error", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per command module."""
    from netdiag.cli import (
        analyze,
        capture,
        completion,
        demo,
        discover,
        export,
        inventory,
        lab,
        packets,
        record,
        report,
        trace,
        tui,
    )

    parser = argparse.ArgumentParser(
        prog="netdiag",
        description="Capture packets on many nodes over SSH and follow each packet across them.",
        epilog=EXAMPLES + EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"netdiag {__version__}")
    add_common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        packets,
        analyze,
        capture,
        trace,
        record,
        demo,
        lab,
        inventory,
        discover,
        report,
        tui,
        export,
        completion,
    ):
        module.register(sub)
    for leaf in leaf_parsers(parser):
        add_common_options(leaf, top=False)
        leaf.formatter_class = HelpFormatter
        if leaf.epilog is None or "exit codes" not in leaf.epilog:
            leaf.epilog = (leaf.epilog or "") + EXIT_CODES
    return parser


EXAMPLES = """examples:
  netdiag demo                                   the lab (root) or a recorded run, analysed
  netdiag capture --inventory inv.yaml --plan probes/fip-ingress.yaml --out run1
  netdiag analyze run1/                          what happened to each packet
  netdiag report run1/ --html incident.html      the report to mail
  netdiag completion bash > ~/.local/share/bash-completion/completions/netdiag
"""

EXIT_CODES = """
exit codes:
  0    ok
  1    unusable input (a file, an argument): fix it as the error line says
  2    failure while running (a node, the lab)
  3    needs root
  4    partial: some nodes, captures or probes failed; the others' results are kept
  70   internal error (a bug in netdiag; --debug shows the traceback)
  130  interrupted
"""


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; examples and exit codes (text with its own line
    breaks) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``, ``--debug`` and ``--no-color``, accepted before or after the command name."""
    # On a sub-command the defaults are suppressed, so `netdiag -v analyze` keeps its -v.
    keep = argparse.SUPPRESS
    parser.add_argument(
        "-v", "--verbose", action="count", default=0 if top else keep,
        help="log what netdiag does on stderr (-v: each command sent to a node; -vv: debug)",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true", default=False if top else keep,
        help=f"debug logging, and the traceback of an internal error (or set {DEBUG_ENV}=1)",
    )  # fmt: skip
    parser.add_argument(
        "--no-color", action="store_true", default=False if top else keep,
        help="no colours in the output (as does a non-empty NO_COLOR)",
    )  # fmt: skip


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` that has no sub-commands of its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
                    yield from leaf_parsers(child)
                else:
                    yield child


@contextmanager
def _logging(args: argparse.Namespace, env: Env) -> Iterator[None]:
    """Python logging of the ``netdiag`` loggers to stderr at the level -v/--debug ask for."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    level = logging.WARNING
    if args.debug or verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    logger = logging.getLogger("netdiag")
    handler = logging.StreamHandler(env.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    env = env or Env.from_process()
    try:
        parser = build_parser()  # imports every sub-command: most of a start's half second
    except KeyboardInterrupt:  # Ctrl-C right after Enter
        env.error("interrupted")
        return ExitCode.INTERRUPTED
    args = parser.parse_args(argv)
    env.no_color = env.no_color or args.no_color
    try:
        with _logging(args, env):
            code: int = args.func(args, env)
    except PrivilegeError as exc:
        env.error(str(exc))
        return ExitCode.PRIVILEGE
    except InputError as exc:
        env.error(str(exc))
        return ExitCode.INPUT
    except NetdiagError as exc:
        env.error(str(exc))
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        env.error("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `netdiag packets x.pcap | head`: the reader went away; that is not an error.
        sys.stderr.close()
        return ExitCode.OK
    except MemoryError:
        env.error(
            "out of memory; analyse fewer or smaller capture files at once, "
            "or raise the memory limit (ulimit -v)"
        )
        return ExitCode.FAILURE
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if args.debug or env.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        env.error(internal_error(exc))
        return ExitCode.INTERNAL
    return code
