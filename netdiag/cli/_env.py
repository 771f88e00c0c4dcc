"""What the CLI touches of its environment, as one object the tests can replace."""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from netdiag.errors import InputError

#: Set to 1 to get the traceback of an internal error instead of its one-line summary.
DEBUG_ENV = "NETDIAG_DEBUG"


class ExitCode(enum.IntEnum):
    """Process exit codes of every netdiag command."""

    OK = 0
    INPUT = 1  # the input was unusable (bad file, bad argument): fix the input
    FAILURE = 2  # something failed while running (a node, the lab): see the message
    PRIVILEGE = 3  # needs root
    PARTIAL = 4  # the run finished but some nodes failed; results of the others are kept
    INTERNAL = 70  # a bug in netdiag (EX_SOFTWARE of sysexits.h): please report it
    INTERRUPTED = 130


@dataclass
class Env:
    """stdout/stderr and whether stdout is a terminal."""

    stdout: TextIO
    stderr: TextIO
    stdout_isatty: bool = False
    environ: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_process(cls) -> Env:
        return cls(sys.stdout, sys.stderr, sys.stdout.isatty(), dict(os.environ))

    def error(self, message: str) -> None:
        """One line on stderr, prefixed so the user knows who speaks."""
        print(f"netdiag: error: {one_line(message)}", file=self.stderr)

    def warn(self, message: str) -> None:
        print(f"netdiag: warning: {one_line(message)}", file=self.stderr)


def one_line(message: str) -> str:
    """``message`` with control characters escaped: a file name may hold a newline or a CR, and
    a message is one line (scripts read them line by line); a lone surrogate (a non-UTF-8 byte
    of a file name) is escaped too, so stderr can always encode it."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def write_text_file(path: Path, text: str) -> None:
    """Write an output file the user named; a failure is their input to fix, not a traceback."""
    try:
        # a name from a non-UTF-8 file name holds lone surrogates: written as \udcff escapes
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror}); choose a writable path") from exc
