"""Cut a ring's files to a time window into one pcap, while they arrive (pure logic and the
output file: bytes in, a file out).

A ring's files come from one tcpdump: they share one pcap header and follow each other. The
cut is the file tcpdump would have written had it not rotated, less the records outside the
window: the files in ring order (by their first packets), each file's records as tcpdump
wrote them (its stamps may be a little out of order across CPUs: kept as they are, as in any
capture). A file that tcpdump was still writing when it was fetched may end inside a record:
only whole records are kept.

:class:`StreamCut` takes each file's bytes piece by piece, as they come off the network, and
never holds a whole file: each piece is walked by the C walker (:mod:`netdiag.pcap.walker`)
while it is still in the CPU's cache, and the byte ranges of its records inside the window
are written at once. Nothing here loops over packets in Python.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from netdiag.errors import InputError
from netdiag.pcap.blocks import PCAP_MAGIC
from netdiag.pcap.walker import (
    FMT_PCAP,
    STOP_CORRUPT,
    STOP_LIMIT,
    STOP_MORE,
    SpanResult,
    span,
    walk,
)
from netdiag.record.listing import HEAD, first_packet_ns

__all__ = ["Cut", "StreamCut"]

NS = 1_000_000_000
FILE_HEADER = 24  # pcap file header
RECORD_HEADER = 16  # pcap record header: ts_sec, ts_frac, caplen, wirelen

Buffer = bytes | memoryview
Records = npt.NDArray[np.void]


@dataclass(frozen=True)
class Cut:
    """What a :class:`StreamCut` wrote."""

    head: bytes  # the pcap file header; b"" when no file had one (nothing written)
    packets: int
    first_ns: int | None
    last_ns: int | None
    cut_tails: int  # files that ended inside a record (still being written): tail dropped
    problems: tuple[str, ...] = ()
    rewritten: bool = False  # the files came out of ring order, or one was left out after


@dataclass
class _File:
    """One file of a :class:`StreamCut`: what came of it, and where its records went."""

    name: str
    order: int  # when it began
    size: int = 0  # bytes fed
    first: list[Buffer] = field(default_factory=list)  # pieces until HEAD bytes have come
    decided: bool = False  # header read (or the file ended first)
    first_ns: int | None = None  # its first packet (of the bytes fed)
    walker: _PieceWalker | None = None  # None: not walked (not pcap, another header)
    units: int = 0
    start: int | None = None  # its records' byte range in the output
    end: int = 0
    packets: int = 0
    lowest: int | None = None  # its earliest and latest record kept
    highest: int | None = None
    problem: str | None = None
    torn: bool = False  # ended inside a record


class StreamCut:
    """One point's cut, written to ``path`` while its files arrive: each file's bytes piece by
    piece in order (:meth:`begin`, :meth:`feed`, :meth:`end`), the files one after the other,
    in ring order as far as the caller knows it.

    Pieces fed before the window is known (:meth:`window`) wait for it. When the files came
    out of ring order (their first packets tell: a listing's whole-second mtimes cannot
    always), or a file already written is left out (:meth:`leave_out`: the ring wrapped onto
    it while it was fetched), :meth:`finish` puts the output's byte ranges in order again,
    from the output itself. The first file with a pcap header sets the output's; a file with
    another is left out, and named in the problems."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, _File] = {}  # in the order they began
        self._window: tuple[int, int] | None = None
        self._waiting: list[tuple[_File, Buffer | None]] = []  # before the window
        self._current: _File | None = None
        self._header: tuple[bool, int, int] | None = None
        self._head = b""  # the output's pcap header, once a file has one
        self._out: int | None = None  # the output's file descriptor
        self._size = 0  # bytes written
        self._left_out: set[str] = set()

    def window(self, from_ns: int, to_ns: int) -> None:
        """Keep records with from_ns <= time <= to_ns; what waited is cut now."""
        self._window = (from_ns, to_ns)
        waiting, self._waiting = self._waiting, []
        with self._disk():
            for f, piece in waiting:
                self._take(f, piece)

    def begin(self, name: str) -> None:
        """The next file (the one before ends, if it did not)."""
        self.end()
        if name in self.files:
            raise ValueError(f"{name}: begun twice")
        self._current = self.files[name] = _File(name, len(self.files))

    def feed(self, piece: Buffer) -> None:
        """The current file's next bytes."""
        f = self._current
        if f is None:
            raise ValueError("bytes fed before any file began")
        f.size += len(piece)
        try:  # not self._disk(): a context manager for every piece costs more than the rest
            if f.decided:
                self._pass(f, piece)
                return
            f.first.append(piece)
            if f.size >= HEAD:
                self._decide(f)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def end(self) -> None:
        """The current file has no more bytes."""
        f, self._current = self._current, None
        if f is None:
            return
        with self._disk():
            if not f.decided:
                self._decide(f)
            self._pass(f, None)

    def leave_out(self, name: str) -> None:
        """Leave file ``name`` out of the cut: what was written of it, and its problems."""
        if name in self.files:
            self._left_out.add(name)

    def close(self) -> None:
        if self._out is not None:
            fd, self._out = self._out, None
            os.close(fd)

    def finish(self) -> Cut:
        """Every file has come: the cut, on disk at ``path`` when a file left in had a pcap
        header (else nothing is there)."""
        self.end()
        if self._window is None:
            raise ValueError("the window was never given")
        kept = [f for f in self.files.values() if f.name not in self._left_out]
        problems = tuple(f.problem for f in kept if f.problem)
        cut_tails = sum(f.torn for f in kept)
        with self._disk():
            if self._header is not None and self._out is None:
                self._open()  # a header-only capture: the point had no packet in the window
            self.close()
            if not any(f.walker for f in kept):  # no file with a pcap header (left in)
                self.path.unlink(missing_ok=True)
                return Cut(b"", 0, None, None, cut_tails, problems)
            written = [f for f in self.files.values() if f.start is not None]
            ring = sorted((f for f in written if f.name not in self._left_out), key=_ring_order)
            rewritten = [f.name for f in ring] != [f.name for f in written]
            if rewritten:
                self._rewrite(ring)
        lows = [f.lowest for f in ring if f.lowest is not None]
        highs = [f.highest for f in ring if f.highest is not None]
        return Cut(self._head, sum(f.packets for f in ring), min(lows, default=None),
                   max(highs, default=None), cut_tails, problems, rewritten)  # fmt: skip

    # -- inside --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _disk(self) -> Iterator[None]:
        """A failure to write the output (a full disk) as the user's to fix, the file closed."""
        try:
            yield
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def _cannot_write(self, exc: OSError) -> InputError:
        """The output closed; what to tell the user."""
        self.close()
        return InputError(
            f"{self.path}: cannot write ({exc.strerror or exc}); free space there, or give "
            "another output directory"
        )

    def _decide(self, f: _File) -> None:
        """The file's first bytes are whole (or all it has): its header, its first packet."""
        f.decided = True
        first, f.first = f.first, []
        if first and len(first[0]) < HEAD:
            first = [b"".join(first)]  # tiny pieces (a server's short reads): small
        lead = bytes(first[0][:HEAD]) if first else b""
        f.first_ns = first_packet_ns(lead)
        header = _header(lead)
        if header is None:
            if f.size >= FILE_HEADER:
                f.problem = f"{f.name}: not a pcap file; left out"
            return
        if self._header is None:
            self._header, self._head = header, lead[:FILE_HEADER]
        elif header != self._header:
            f.problem = f"{f.name}: another link type or time precision; left out"
            return
        f.walker = _PieceWalker(header[0])
        f.units = header[1]
        for piece in first:
            self._pass(f, piece)

    def _pass(self, f: _File, piece: Buffer | None) -> None:
        if f.walker is None:
            return
        if self._window is None:
            self._waiting.append((f, piece))
        else:
            self._take(f, piece)

    def _take(self, f: _File, piece: Buffer | None) -> None:
        walker, window = f.walker, self._window
        assert walker is not None
        assert window is not None
        if piece is None:  # the file ended
            f.torn = walker.carried > 0
            f.problem = walker.problem(f.name)
            return
        whole: list[Buffer] = []  # runs all inside, written together as they lie
        size = 0
        for run in walker.feed(piece, window, f.units):
            counted = run.span
            if not counted.inside:
                continue
            if counted.inside == counted.records:
                whole += run.parts
                size += run.stop - run.start
                self._count(f, counted.inside, counted.first_ns, counted.last_ns)
                continue
            if whole:
                self._put(f, whole, size)
                whole, size = [], 0
            self._write_some(f, run, window)
        if whole:
            self._put(f, whole, size)

    def _write_some(self, f: _File, run: _Run, window: tuple[int, int]) -> None:
        """The records of a run that are inside the window, as whole byte ranges."""
        records = _records(run.segment, run.start, f.walker.big_endian if f.walker else False)
        raw = records["ts"]  # seconds << 32 | fraction
        seconds = (raw >> np.uint64(32)).astype(np.int64)
        fraction = (raw & np.uint64(0xFFFFFFFF)).astype(np.int64)
        times = seconds * NS + fraction * (NS // f.units)
        inside = np.flatnonzero((times >= window[0]) & (times <= window[1]))
        starts = records["off"][inside].astype(np.int64) - RECORD_HEADER
        ends = starts + RECORD_HEADER + records["caplen"][inside].astype(np.int64)
        # records that follow each other in the segment are one range
        new = np.ones(len(inside), dtype=bool)
        new[1:] = starts[1:] != ends[:-1]
        firsts = np.flatnonzero(new)
        lasts = np.append(firsts[1:], len(inside)) - 1
        view = memoryview(run.segment)
        ranges = zip(starts[firsts].tolist(), ends[lasts].tolist(), strict=True)
        self._put(f, [view[a:b] for a, b in ranges], int((ends - starts).sum()))
        kept = times[inside]
        self._count(f, len(inside), int(kept.min()), int(kept.max()))

    def _put(self, f: _File, data: list[Buffer], size: int) -> None:
        out = self._open() if self._out is None else self._out
        if f.start is None:
            f.start = self._size
        _write_all(out, data)
        self._size += size
        f.end = self._size

    @staticmethod
    def _count(f: _File, packets: int, low: int, high: int) -> None:
        f.packets += packets
        f.lowest = low if f.lowest is None else min(f.lowest, low)
        f.highest = high if f.highest is None else max(f.highest, high)

    def _open(self) -> int:
        """The output, created with the pcap header (a descriptor: each run of pieces goes out
        in one ``writev``, the pieces as they lie)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._out = fd
        _write_all(fd, [self._head])
        self._size = len(self._head)
        return fd

    def _rewrite(self, ring: list[_File]) -> None:
        """The output again, its files' byte ranges in ``ring`` order (read back from the
        output: the window's bytes, not the files')."""
        data = memoryview(self.path.read_bytes())
        part = self.path.with_name(self.path.name + ".part")
        with open(part, "wb") as fh:
            fh.write(self._head)
            fh.writelines(data[f.start : f.end] for f in ring if f.start is not None)
        os.replace(part, self.path)


IOV_MAX = 1024  # buffers one writev takes (Linux)


def _write_all(fd: int, buffers: list[Buffer]) -> None:
    """Write ``buffers`` in as few system calls as the kernel takes: one ``writev`` unless
    there are more than :data:`IOV_MAX` of them or it writes less than asked."""
    views = [memoryview(b) for b in buffers if len(b)]
    while views:
        done = os.writev(fd, views[:IOV_MAX])
        kept = 0
        while kept < len(views) and done >= len(views[kept]):
            done -= len(views[kept])
            kept += 1
        views = views[kept:]
        if done:
            views[0] = views[0][done:]


def _ring_order(f: _File) -> tuple[int, int]:
    """A ring's files follow each other: by first packet, then as they came."""
    return (f.first_ns if f.first_ns is not None else f.lowest or 0), f.order


def _header(buf: Buffer) -> tuple[bool, int, int] | None:
    """(big_endian, units per second, linktype) of a pcap file, or None."""
    if len(buf) < FILE_HEADER:
        return None
    (magic,) = struct.unpack_from("<I", buf)
    if magic not in PCAP_MAGIC:
        return None
    big_endian, units = PCAP_MAGIC[magic]
    (linktype,) = struct.unpack_from(">I" if big_endian else "<I", buf, 20)
    return big_endian, units, linktype


class _Run(NamedTuple):
    """Whole records walked in one buffer: ``segment[start:stop]``, which are ``parts`` as they
    lie in the pieces (a record completed across pieces: its bytes in each), counted."""

    segment: Buffer
    start: int
    stop: int
    parts: tuple[Buffer, ...]
    span: SpanResult


def _records(buf: Buffer, start: int, big_endian: bool) -> Records:
    """The records of ``buf`` from ``start``, listed (millions in one buffer too)."""
    result = walk(buf, start, FMT_PCAP, big_endian)
    records = [result.records]
    while result.stop == STOP_LIMIT:
        result = walk(buf, result.stop_offset, FMT_PCAP, big_endian)
        records.append(result.records)
    return records[0] if len(records) == 1 else np.concatenate(records)


class _PieceWalker:
    """The C walker over the consecutive pieces of one pcap file, fed one at a time (the first
    starts with the file header), counting each piece's records inside the window without
    listing them (:func:`~netdiag.pcap.walker.span`). A record that a piece ends inside is
    carried over: its bytes so far, completed from the next pieces, are counted as a small
    buffer of their own. After an impossible length nothing more is walked (``corrupt_at``)."""

    def __init__(self, big_endian: bool) -> None:
        self.big_endian = big_endian
        self.at = 0  # the file offset of the next piece
        self.carry: list[Buffer] = []  # the beginning of a record cut by the end of a piece
        self.carried = 0  # its length
        self.carry_at = 0  # its file offset
        self.corrupt_at: int | None = None

    def problem(self, name: str) -> str | None:
        if self.corrupt_at is None:
            return None
        return f"{name}: damaged at byte {self.corrupt_at}; records before kept"

    def feed(self, piece: Buffer, window: tuple[int, int], units: int) -> list[_Run]:
        """The runs of whole records that ``piece`` completes (a record carried from the
        pieces before, then the piece's own), counted inside ``window``."""
        runs: list[_Run] = []
        if self.corrupt_at is not None:
            return runs
        view = memoryview(piece)
        start = FILE_HEADER if self.at == 0 else 0
        at, self.at = self.at, self.at + len(piece)
        if self.carried:
            # how long is the carried record? its header may itself be split
            header = b"".join([*self.carry, view[: max(0, RECORD_HEADER - self.carried)]])
            probe = span(header, 0, self.big_endian, lo_ns=0, hi_ns=0, units=units)  # its length
            if probe.stop == STOP_CORRUPT:
                self.corrupt_at, self.carry, self.carried = self.carry_at, [], 0
                return runs
            need = (probe.detail if probe.stop == STOP_MORE else len(header)) - self.carried
            if need > len(piece):  # the record goes on past this piece too
                self.carry.append(view)
                self.carried += len(piece)
                return runs
            parts = (*self.carry, view[:need])
            whole = b"".join(parts)
            counted = span(whole, 0, self.big_endian, lo_ns=window[0], hi_ns=window[1],
                           units=units)  # fmt: skip
            runs.append(_Run(whole, 0, len(whole), parts, counted))
            self.carry, self.carried, start = [], 0, need
        counted = span(piece, start, self.big_endian, lo_ns=window[0], hi_ns=window[1],
                       units=units)  # fmt: skip
        stop = counted.stop_offset
        runs.append(_Run(piece, start, stop, (view[start:stop],), counted))
        if counted.stop == STOP_CORRUPT:
            self.corrupt_at = at + stop
        elif counted.stop == STOP_MORE:
            self.carry, self.carry_at, self.carried = [view[stop:]], at + stop, len(piece) - stop
        return runs
