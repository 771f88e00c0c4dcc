"""The record walk: the only sequential step of reading a capture.

``walk(buf, start, fmt, big_endian, max_records) -> (records, stop_offset, stop, detail)`` comes
from the C extension ``netdiag.pcap._walk`` (``_walk.c``) or, if that cannot be imported, from
its pure-Python twin ``_pywalk`` (with a warning: its walk is ~15x slower, ~1.3 µs a record).
``records`` holds one :data:`RECORD_DTYPE` struct per packet: where its data starts in ``buf``,
captured and wire length, the raw timestamp (pcap: seconds << 32 | fraction; pcapng: the
64-bit block value), the pcapng interface id and EPB flags. The walk stops at the end of the
buffer, at a record cut by the end of the buffer (``MORE``: read more and resume there), at an
impossible length (``CORRUPT``) or at a pcapng block that Python parses itself (``BLOCK``:
SHB, IDB, ISB).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from netdiag.pcap import _pywalk

if TYPE_CHECKING:
    from typing_extensions import Buffer

    WalkFn = Callable[[Buffer, int, int, bool, int], tuple[bytes, int, int, int]]
    SpanFn = Callable[[Buffer, int, bool, int, int, int], tuple[int, int, int, int, int, int, int]]

RECORD_DTYPE: Final = np.dtype(
    [
        ("off", "<i8"),
        ("ts", "<u8"),
        ("caplen", "<u4"),
        ("wirelen", "<u4"),
        ("iface", "<u4"),
        ("flags", "<u4"),
        ("misc", "<u4"),
        ("pad", "<u4"),
    ]
)
FMT_PCAP: Final = 0
FMT_PCAPNG: Final = 1
STOP_END, STOP_MORE, STOP_CORRUPT, STOP_BLOCK, STOP_LIMIT = range(5)
MAX_BLOCK: Final = _pywalk.MAX_BLOCK
MISC_COMMENT: Final = 1
MISC_NO_TIMESTAMP: Final = 2

_c_walk: WalkFn | None
_c_span: SpanFn | None
try:
    from netdiag.pcap._walk import span as _c_span
    from netdiag.pcap._walk import walk as _c_walk
except ImportError:  # pragma: no cover - exercised only on a broken install
    _c_walk = _c_span = None
C_WALKER: Final = _c_walk is not None


@dataclass(frozen=True)
class WalkResult:
    """One walk over a buffer: the packet records and where and why it stopped."""

    records: npt.NDArray[np.void]
    stop_offset: int
    stop: int
    detail: int


_warned: list[bool] = []


def walk_function() -> WalkFn:
    """The C walker, or the Python one with a one-time warning when the extension is missing."""
    if _c_walk is not None:
        return _c_walk
    if not _warned:
        _warned.append(True)
        warnings.warn(
            "netdiag.pcap._walk (C extension) is not built; reading captures with the slow "
            "pure-Python walker. Reinstall netdiag (pip install -e .) to build it.",
            RuntimeWarning,
            stacklevel=3,
        )
    return _pywalk.walk


def walk(
    buf: Buffer,
    start: int,
    fmt: int,
    big_endian: bool,
    *,
    max_records: int = 1 << 22,
    fn: WalkFn | None = None,
) -> WalkResult:
    """Walk ``buf`` from ``start``; see the module docstring."""
    raw, stop_offset, stop, detail = (fn or walk_function())(
        buf, start, fmt, big_endian, max_records
    )
    records = np.frombuffer(raw, dtype=RECORD_DTYPE)
    return WalkResult(records, stop_offset, stop, detail)


class SpanResult(NamedTuple):
    """pcap records walked without listing them (:func:`span`); a tuple: a cut makes two
    for every piece of every file it fetches."""

    stop_offset: int
    stop: int
    detail: int
    records: int
    inside: int  # of them, with lo_ns <= time <= hi_ns
    first_ns: int  # the earliest and latest time of those inside (0 when none)
    last_ns: int


def span(
    buf: Buffer,
    start: int,
    big_endian: bool,
    *,
    lo_ns: int,
    hi_ns: int,
    units: int,
    fn: SpanFn | None = None,
) -> SpanResult:
    """Walk pcap records of ``buf`` from ``start`` as :func:`walk` does (the same stop), only
    counting them and those inside [lo_ns, hi_ns] (``units``: of the stamps' fraction, a
    second). When all are inside, ``buf[start:stop_offset]`` is all of them, as they lie: no
    record needs listing. Python's twin (with the warning) without the C extension."""
    if fn is None:
        if _c_span is None:
            walk_function()  # the one-time warning
        fn = _c_span or _pywalk.span
    return SpanResult(*fn(buf, start, big_endian, lo_ns, hi_ns, units))
