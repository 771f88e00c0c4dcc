"""Ring sizes, durations, leases and recorder names: the arithmetic of a recorder (pure).

The disk bound holds by construction: tcpdump's own rotation (``-C MB -W FILES``) keeps at
most FILES files, and a file grows past ``MB`` million bytes by at most one record (tcpdump
checks the size *before* each write; measured: 1,000,056 bytes for ``-C 1`` at snaplen 512).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from netdiag.errors import InputError

__all__ = [
    "DEFAULT_FILES",
    "MB",
    "RingSpec",
    "check_space",
    "parse_duration",
    "parse_ring",
    "parse_size",
    "validate_name",
]

MB = 1_000_000  # tcpdump's -C unit: millions of bytes, whole numbers only (4.99.3)
DEFAULT_FILES = 8
PCAP_HEADER = 24
RECORD_HEADER = 16
#: keep at least this much free on a node's capture file system besides the ring
MIN_MARGIN = 256 * 2**20
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_IUNITS = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}


def parse_size(text: str, *, what: str = "--ring") -> int:
    """``200M``, ``1.5G``, ``512MiB``, ``4000000`` -> bytes (k/M/G/T are powers of 1000)."""
    m = _SIZE_RE.match(text)
    if not m:
        raise InputError(f"{what} {text!r}: give a size such as 200M, 2G or 512MiB")
    unit = (m.group(2) or "").lower()
    factor = _IUNITS.get(unit) or _UNITS[unit]
    return int(float(m.group(1)) * factor)


def parse_duration(text: str, *, what: str = "--max-duration") -> float:
    """``24h``, ``90s``, ``1h30m``, ``250ms``, ``45`` (seconds) -> seconds."""
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos or not m.group(0):
            break
        total += float(m.group(1)) * _SECONDS[(m.group(2) or "").lower()]
        pos = m.end()
    if not s or pos != len(s):
        raise InputError(f"{what} {text!r}: give a duration such as 90s, 10m, 24h or 1h30m")
    return total


def validate_name(name: str) -> str:
    """A recorder name becomes part of remote directory names: letters, digits, _ and -."""
    if not NAME_RE.match(name):
        raise InputError(
            f"--name {name!r}: use 1-40 letters, digits, '_' or '-' (it names remote directories)"
        )
    return name


@dataclass(frozen=True)
class RingSpec:
    """``files`` files of ``file_mb`` million bytes each, per capture point."""

    files: int
    file_mb: int

    def bound_bytes(self, snaplen: int) -> int:
        """The most one point's ring can ever hold on disk (header + one record of overshoot
        per file)."""
        return self.files * (self.file_mb * MB + RECORD_HEADER + snaplen + PCAP_HEADER)

    @property
    def nominal(self) -> int:
        return self.files * self.file_mb * MB

    def __str__(self) -> str:
        return f"{self.files}x{self.file_mb}M"


def parse_ring(text: str) -> RingSpec:
    """``FILESxSIZE`` (``10x20M``) or a total (``200M``: split into :data:`DEFAULT_FILES` files).

    tcpdump rotates in whole millions of bytes, so each file is at least 1M; a total too small
    for that uses fewer files (at least 2: a ring of one file would lose everything it holds
    at each rotation).
    """
    files_text, sep, size_text = text.lower().partition("x")
    if sep:
        if not files_text.strip().isdigit():
            raise InputError(f"--ring {text!r}: give FILESxSIZE such as 10x20M, or a total")
        files = int(files_text)
        per_file = parse_size(size_text)
    else:
        total = parse_size(text)
        files = max(2, min(DEFAULT_FILES, total // MB))
        per_file = total // files
    file_mb = max(1, math.floor(per_file / MB))
    if per_file < MB:
        raise InputError(
            f"--ring {text!r}: tcpdump rotates in whole megabytes (1M = 1,000,000 bytes): "
            "give at least 1M per file (e.g. 2x1M)"
        )
    if not 2 <= files <= 1000:
        raise InputError(f"--ring {text!r}: use 2 to 1000 files")
    return RingSpec(files, file_mb)


def check_space(*, node: str, where: str, needed: int, free: int) -> str | None:
    """None when ``needed`` bytes fit in ``free`` with a margin, else what to do.

    The margin is the larger of :data:`MIN_MARGIN` and a tenth of the free space: a recorder
    must never be what fills a node's disk.
    """
    margin = max(MIN_MARGIN, free // 10)
    if needed + margin <= free:
        return None
    return (
        f"{node}: the ring needs {_mb(needed)} in {where}, which has {_mb(free)} free "
        f"(and {_mb(margin)} must stay free); give a smaller --ring or free space"
    )


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB" if n < 10 * MB else f"{n // MB} MB"


def human_seconds(s: float) -> str:
    """``3725`` -> ``1h02m05s``; for leases and ages in status tables."""
    if s < 0:
        return "-" + human_seconds(-s)
    s = round(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{sec:02d}s"
    if m:
        return f"{m}m{sec:02d}s"
    return f"{sec}s"
