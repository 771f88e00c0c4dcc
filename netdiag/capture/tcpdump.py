"""tcpdump's own words: the command line a capture runs, its counts, its failure messages.

The capture runs under the supervisor of :mod:`netdiag.capture.protocol` (``supervisor.sh``),
which bounds it remotely and stops it when netdiag goes silent; this module knows only tcpdump.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netdiag.capture.protocol import FILE_PLACEHOLDER, own_line

if TYPE_CHECKING:
    from netdiag.capture.results import CaptureStatus

__all__ = [
    "CaptureStats",
    "classify_failure",
    "parse_live_count",
    "parse_stats",
    "tcpdump_argv",
]


@dataclass(frozen=True)
class CaptureStats:
    """tcpdump's own counts, printed on a clean exit (INT/TERM) or on SIGUSR1."""

    captured: int
    received: int
    dropped: int

    def to_json(self) -> dict[str, int]:
        return {"captured": self.captured, "received": self.received, "dropped": self.dropped}


def tcpdump_argv(
    *,
    tcpdump: str,
    iface: str,
    duration: float,
    snaplen: int,
    max_packets: int,
    max_file_mb: int,
    bpf: str,
) -> list[str]:
    """The capture command; ``-w`` names :data:`FILE_PLACEHOLDER` (the supervisor fills it in).

    ``timeout -s INT``: tcpdump has no time limit of its own (``-G``/``-W`` act only when
    packets arrive), and INT lets it flush and print its counts; ``-k 10`` kills it if not.
    ``-U --immediate-mode``: packets reach the file as they arrive (libpcap on Linux delivers
    in blocks: a SIGINT 0.1 s after the last packet wrote none of them without these);
    ``-C MB -W 1``: one file that never grows past the cap; ``-Z root``: Debian's tcpdump
    would otherwise drop to user tcpdump, which cannot write our 0700 directory.
    The filter goes after ``--`` as separate words: no shell ever parses it.
    """
    return [
        "timeout",
        "-s",
        "INT",
        "-k",
        "10",
        f"{duration:g}",
        tcpdump,
        "-i",
        iface,
        "-U",
        "--immediate-mode",
        "-s",
        str(snaplen),
        "-c",
        str(max_packets),
        "-C",
        str(max_file_mb),
        "-W",
        "1",
        "-Z",
        "root",
        "-w",
        FILE_PLACEHOLDER,
        "--",
        *bpf.split(),
    ]


_STAT_RX = {
    "captured": re.compile(r"(\d+) packets? captured"),
    "received": re.compile(r"(\d+) packets? received by filter"),
    "dropped": re.compile(r"(\d+) packets? dropped by kernel"),
}


def parse_stats(lines: Sequence[str]) -> CaptureStats | None:
    """The last complete set of counts in tcpdump's stderr, or None (SIGKILL prints none)."""
    found: dict[str, int] = {}
    best: CaptureStats | None = None
    for line in lines:
        for key, rx in _STAT_RX.items():
            m = rx.search(line)
            if m:
                found[key] = int(m.group(1))
        if len(found) == 3:
            best = CaptureStats(found["captured"], found["received"], found["dropped"])
            found = {}
    return best


def parse_live_count(line: str) -> int | None:
    """Packets captured so far from one SIGUSR1 line (``tcpdump: 6 packets captured, ...``)."""
    m = _STAT_RX["captured"].search(line)
    return int(m.group(1)) if m else None


# (status, what it means, what to do) keyed by a piece of tcpdump / shell error output.
_FAILURES: tuple[tuple[str, CaptureStatus, str], ...] = (
    ("No such device", "no-interface", "check the interface name (ip link) or the plan"),
    ("doesn't exist", "no-interface", "check the interface name (ip link) or the plan"),
    ("You don't have permission", "no-permission", "log in as root or set sudo: true"),
    ("Operation not permitted", "no-permission", "log in as root or set sudo: true"),
    ("Permission denied", "no-permission", "make capture_dir writable or log in as root"),
    ("No space left on device", "disk-full", "free space in capture_dir or lower max_file_mb"),
    ("Disk quota exceeded", "disk-full", "free space in capture_dir or lower max_file_mb"),
    ("not found", "no-tcpdump", "install tcpdump or set tcpdump: PATH in the inventory"),
    ("syntax error", "bad-filter", "fix capture.filter in the plan (BPF syntax, man pcap-filter)"),
    ("can't parse filter", "bad-filter", "fix capture.filter in the plan (man pcap-filter)"),
)


def classify_failure(stderr: str, exit_status: int | None) -> tuple[CaptureStatus, str]:
    """A capture that failed -> (status, one-line message saying what to do)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not own_line(ln)]  # the supervisor's own
    tail = lines[-1] if lines else f"exit status {exit_status}"
    for needle, status, todo in _FAILURES:
        if any(needle in ln for ln in lines):
            detail = next(ln for ln in lines if needle in ln)
            return status, f"{detail}; {todo}"
    if exit_status == 127:
        return "no-tcpdump", f"{tail}; install tcpdump or set tcpdump: PATH in the inventory"
    if exit_status == 70:
        return "failed", f"{tail}; cannot create a directory in capture_dir: check it exists"
    return "failed", f"{tail}; see the capture's stderr in the manifest"
