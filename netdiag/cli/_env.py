"""What the CLI touches of its environment, as one object the tests can replace."""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from netdiag.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from netdiag.cli._progress import Progress

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
    """stdout/stderr, whether they are terminals, and whether colour is wanted."""

    stdout: TextIO
    stderr: TextIO
    stdout_isatty: bool = False
    environ: dict[str, str] = field(default_factory=dict)
    stderr_isatty: bool = False
    #: ``--no-color``; a non-empty ``NO_COLOR`` in ``environ`` means the same (no-color.org)
    no_color: bool = False

    @classmethod
    def from_process(cls) -> Env:
        return cls(
            sys.stdout, sys.stderr, sys.stdout.isatty(), dict(os.environ), sys.stderr.isatty()
        )

    @property
    def color(self) -> bool:
        return not self.no_color and not self.environ.get("NO_COLOR")

    def console(self, *, stderr: bool = False, width: int | None = None) -> Console:
        """A rich console on stdout (or stderr) that honours ``--no-color`` / ``NO_COLOR``."""
        from rich.console import Console

        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return Console(
            file=self.stderr if stderr else self.stdout,
            width=width if width is not None else (None if tty else 160),
            force_terminal=tty,
            no_color=not self.color,
            emoji=False,
        )

    def progress(self) -> Progress:
        """Progress lines on stderr (timestamped when stderr is not a terminal)."""
        from netdiag.cli._progress import Progress

        return Progress(self.stderr, isatty=self.stderr_isatty)

    def print_json(self, document: object) -> None:
        """The one JSON document of ``--json`` on stdout."""
        import json

        self.stdout.write(json.dumps(document, indent=2) + "\n")

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
