"""The ``netdiag`` command line: parse, call, print. No analysis logic lives here.

Each sub-command is a module in this package exposing ``register(subparsers)``, which adds its
parser and sets ``func`` to a ``run(args, env) -> int`` callable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netdiag import __version__
from netdiag.cli._env import DEBUG_ENV, Env, ExitCode
from netdiag.errors import InputError, NetdiagError, PrivilegeError, internal_error

__all__ = ["DEBUG_ENV", "Env", "ExitCode", "build_parser", "internal_error", "main"]


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
        trace,
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
    commands = (packets, analyze, capture, trace, demo, lab, inventory, discover, report, tui)
    for module in (*commands, export):
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
