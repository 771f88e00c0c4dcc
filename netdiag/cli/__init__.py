"""The ``netdiag`` command line: parse, call, print. No analysis logic lives here.

Each sub-command is a module in this package exposing ``register(subparsers)``, which adds its
parser and sets ``func`` to a ``run(args, env) -> int`` callable.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from netdiag import __version__
from netdiag.cli._env import Env, ExitCode
from netdiag.errors import InputError, NetdiagError, PrivilegeError

__all__ = ["DEBUG_ENV", "Env", "ExitCode", "build_parser", "internal_error", "main"]

#: Set to 1 to get the traceback of an internal error instead of its one-line summary.
DEBUG_ENV = "NETDIAG_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per command module."""
    from netdiag.cli import (
        analyze,
        capture,
        demo,
        discover,
        export,
        inventory,
        lab,
        packets,
        report,
        tui,
    )

    parser = argparse.ArgumentParser(
        prog="netdiag",
        description="Capture packets on many nodes over SSH and follow each packet across them.",
    )
    parser.add_argument("--version", action="version", version=f"netdiag {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an internal error (or set {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (packets, analyze, capture, demo, lab, inventory, discover, report, tui, export):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    env = env or Env.from_process()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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


def internal_error(exc: BaseException) -> str:
    """One line naming an unexpected exception and where in netdiag it was raised.

    It always starts with ``internal error``, so a user (and the tests) can tell a bug from a
    problem with the input; the place lets a maintainer find it without the traceback.
    """
    where = ""
    package = Path(__file__).resolve().parent.parent
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(package):
            where = f" at {path.relative_to(package.parent)}:{frame.lineno} in {frame.name}"
            break
    detail = " ".join(str(exc).split())[:300]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (
        f"internal error ({what}){where}; this is a bug in netdiag {__version__}: please "
        f"report it with the command you ran (run it again with --debug for the traceback)"
    )
