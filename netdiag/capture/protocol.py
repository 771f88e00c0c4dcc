"""How netdiag talks to the capture supervisor on a node: its argv, its messages, one parser.

The supervisor (``supervisor.sh``, shipped next to this module) runs one tcpdump so that it can
never outlive netdiag; its header comment tells the whole dialog. Every word of that dialog is
named here once: :mod:`netdiag.capture.remote` speaks it, the test fake
(``tests/unit/capture/fake_cluster.py``) answers it, and a unit test runs the real script and
reads what it prints with :func:`parse`.

The dialog, in the order a capture goes through it::

    client writes            supervisor prints
    (started)                checks' output (preflight host only)
    CLOCK_REQUEST x ROUNDS   one `date +%s%N` line each              (stdout)
    ARM                      ``dir DIR``: its private directory      (stdout) -> DirMade
    GO                       tcpdump's ``listening on ...``          (stderr) -> Listening
    HEARTBEAT ...            (SIGUSR1: counts, ``netdiag: df ...``)  (stderr) -> FreeSpace
    (SIGINT by PID)          counts, ``netdiag: df ...``,
                             ``netdiag: capture exit N``             (stderr) -> CaptureExit
    RELEASE, EOF             ``removed DIR``                         (stdout) -> DirRemoved
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

__all__ = [
    "ARM",
    "CLOCK_LOOP",
    "CLOCK_REQUEST",
    "EXITED",
    "FILE_PLACEHOLDER",
    "GO",
    "HEARTBEAT",
    "MARKER_PREFIX",
    "RELEASE",
    "STARTED",
    "SUPERVISOR",
    "CaptureExit",
    "DirMade",
    "DirRemoved",
    "Event",
    "FreeSpace",
    "Keeping",
    "Listening",
    "SupervisorArgs",
    "Swept",
    "capture_exit",
    "exit_line",
    "free_bytes",
    "own_line",
    "parse",
    "supervisor_argv",
]

SUPERVISOR = (files(__package__) / "supervisor.sh").read_text(encoding="utf-8")
NAME = "netdiag-capture"  # the script's $0: a sweep tells a live supervisor by it
MARKER_PREFIX = "netdiag-cap-"  # remote dirs are <capture_dir>/netdiag-cap-<run_id>.XXXXXX
FILE_PLACEHOLDER = "@NETDIAG_FILE@"  # in the capture argv; becomes DIR/<file> once DIR exists

# What the client writes on the supervisor's stdin.
CLOCK_REQUEST = b"\n"  # one clock sample: answered with one `date +%s%N` line
ARM = b"arm\n"  # a preflight host's checks were read: make the directory
GO = b"go\n"  # start the capture
HEARTBEAT = b"."  # netdiag is alive; silence for heartbeat_s stops the capture
RELEASE = b"x"  # fetched: remove the directory now (EOF without it keeps it for grace_s)

# The same clock dialog outside a supervisor (a node whose preflight has a session of its own).
CLOCK_LOOP = "while read -r _; do date +%s%N; done"

_OWN = "netdiag: "  # the supervisor's own stderr lines start so; the rest is tcpdump's
_DIR, _REMOVED = "dir ", "removed "
EXITED = re.compile(r"^netdiag: capture exit (\d+)$")  # tcpdump has ended
# ``df -P -k`` row: filesystem, 1024-blocks, used, available, capacity, mount point
_DF = re.compile(r"^netdiag: df .*\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s")
_KEEPING = re.compile(r"^netdiag: keeping (.+) for (\S+) s$")
# tcpdump listens, or it already ended (the supervisor's exit line): either ends a start
STARTED = re.compile(r"listening on |^netdiag: capture exit \d+$")


@dataclass(frozen=True)
class _About:
    """An event about one directory (``path``) or one line of output (``line``)."""

    path: str = ""
    line: str = ""


class DirMade(_About):
    """The private capture directory exists (``dir DIR``); the supervisor waits for GO."""


class DirRemoved(_About):
    """The supervisor removed its directory (``removed DIR``, its last line)."""


class Listening(_About):
    """tcpdump opened its device (its ``listening on IF, link-type ...`` line)."""


class Swept(_About):
    """The supervisor's sweep removed what a dead run left (``swept DIR ...``)."""


@dataclass(frozen=True)
class CaptureExit:
    """tcpdump (under ``timeout``) has exited with ``status``: 0 stopped, 124 duration hit."""

    status: int


@dataclass(frozen=True)
class FreeSpace:
    """Free bytes in the capture directory's file system (``netdiag: df ROW``)."""

    free_bytes: int


@dataclass(frozen=True)
class Keeping:
    """The client left without RELEASE: the directory stays for ``seconds`` (recoverable)."""

    path: str
    seconds: float


Event = DirMade | DirRemoved | Listening | CaptureExit | FreeSpace | Keeping | Swept
Stream = Literal["stdout", "stderr"]


def parse(stream: Stream, line: str) -> Event | None:
    """One line the supervisor printed -> its event; None for anything else (tcpdump's counts,
    the preflight checks' output, a login shell's chatter)."""
    if stream == "stdout":
        if line.startswith(_DIR):
            return DirMade(path=line[len(_DIR) :])
        if line.startswith(_REMOVED):
            return DirRemoved(path=line[len(_REMOVED) :])
        return None
    if line.startswith("swept "):
        return Swept(line=line)
    if not line.startswith(_OWN):
        return Listening(line=line) if "listening on " in line else None
    if m := EXITED.match(line):
        return CaptureExit(int(m.group(1)))
    if m := _DF.match(line + " "):
        return FreeSpace(int(m.group(3)) * 1024)
    if m := _KEEPING.match(line):
        return Keeping(m.group(1), float(m.group(2)))
    return None


def own_line(line: str) -> bool:
    """A stderr line of the supervisor itself (not tcpdump's, not a check's)."""
    return line.startswith(_OWN)


def capture_exit(lines: Sequence[str]) -> int | None:
    """The capture's exit status as the supervisor reported it on stderr, or None."""
    for line in reversed(lines):
        if isinstance(event := parse("stderr", line), CaptureExit):
            return event.status
    return None


def free_bytes(lines: Sequence[str]) -> int | None:
    """Free bytes in the capture directory's file system, as the supervisor last reported."""
    for line in reversed(lines):
        if isinstance(event := parse("stderr", line), FreeSpace):
            return event.free_bytes
    return None


# How the supervisor says each thing; the test fake prints the same words.
def dir_line(path: str) -> str:
    return f"{_DIR}{path}"


def removed_line(path: str) -> str:
    return f"{_REMOVED}{path}"


def exit_line(status: int) -> str:
    return f"{_OWN}capture exit {status}"


def df_line(row: str) -> str:
    """``row`` as ``df -P -k`` prints it: filesystem, blocks, used, available, capacity, mount."""
    return f"{_OWN}df {row}"


@dataclass(frozen=True)
class SupervisorArgs:
    """The supervisor's positional arguments (``$1``..``$8``, then the capture's argv).

    ``sweep`` is a script (:data:`netdiag.capture.sweep.SWEEP`) that first removes what dead
    runs left in capture_dir; ``preflight`` (a batch script) checks the node first and is
    followed by ``clock_rounds`` clock samples, in this same session: every session costs the
    node a login shell.
    """

    capture_dir: str
    run_id: str
    file_name: str
    heartbeat_s: float
    sweep: str
    preflight: str
    clock_rounds: int
    grace_s: float
    capture: tuple[str, ...]

    @classmethod
    def of(cls, argv: Sequence[str]) -> SupervisorArgs | None:
        """The arguments of a :func:`supervisor_argv` command line; None for any other."""
        if len(argv) < 12 or tuple(argv[:4]) != ("sh", "-c", SUPERVISOR, NAME):
            return None
        capdir, run, fname, hb, sweep, pre, rounds, grace = argv[4:12]
        capture = tuple(argv[12:])
        return cls(capdir, run, fname, float(hb), sweep, pre, int(rounds), float(grace), capture)


def supervisor_argv(
    *,
    capture_dir: str,
    run_id: str,
    file_name: str,
    heartbeat_s: float,
    capture: Sequence[str],
    sweep: str = "",
    preflight: str = "",
    clock_rounds: int = 0,
    grace_s: float = 0,
) -> list[str]:
    """``sh -c SUPERVISOR netdiag-capture CAPDIR RUN FILE HB SWEEP PRE ROUNDS GRACE CAPTURE...``
    (see :class:`SupervisorArgs`)."""
    return [
        "sh",
        "-c",
        SUPERVISOR,
        NAME,
        capture_dir,
        run_id,
        file_name,
        f"{heartbeat_s:g}",
        sweep,
        preflight,
        str(clock_rounds),
        f"{grace_s:g}",
        *capture,
    ]
