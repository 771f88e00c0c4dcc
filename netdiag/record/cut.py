"""Cut ring files to a time window and merge them into one pcap (pure: bytes in, bytes out).

Ring files of one point come from one tcpdump, so they share one pcap header. A file that
tcpdump was still writing when it was fetched may end inside a record: the walk
(:mod:`netdiag.pcap.walker`, the C walker) stops before it, so only whole records are kept.

Nothing here loops over packets in Python. Each file is scanned once (:func:`scan_file`: the
walker's record offsets and timestamps, and a mask of the window), as soon as it has arrived;
the merge (:func:`merge_scans`) puts the kept records in time order — the files of one ring
follow each other, so that order is usually the order they are already in and the result is a
few whole byte ranges per file — and the output is those ranges, written without copying them
into one buffer (:meth:`Cut.write`). Records with equal times keep tcpdump's order (within a
file; across files, the order of the files' first packets), so the same files given in any
order give the same cut.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from netdiag.pcap.blocks import PCAP_MAGIC
from netdiag.pcap.walker import FMT_PCAP, STOP_CORRUPT, STOP_MORE, walk

__all__ = ["Cut", "FileScan", "cut_to_window", "merge_scans", "scan_file"]

NS = 1_000_000_000
RECORD_HEADER = 16  # pcap record header: ts_sec, ts_frac, caplen, wirelen

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FileScan:
    """One ring file, walked: the header it declares and its records inside the window."""

    name: str
    data: bytes | memoryview
    header: tuple[bool, int, int] | None  # (big endian, units per second, link type)
    times: Int64s  # ns, of the records kept (in file order)
    starts: Int64s  # byte offset of each kept record's header
    ends: Int64s  # byte offset just past each kept record's data
    cut_tail: bool = False  # the file ended inside a record (still being written)
    problem: str | None = None

    @property
    def first_ns(self) -> int | None:
        return int(self.times.min()) if len(self.times) else None


@dataclass(frozen=True)
class Cut:
    """The merged, windowed capture: a pcap header and byte ranges of the scanned files."""

    head: bytes  # the pcap file header; b"" when no file had a usable one
    chunks: tuple[memoryview, ...]
    packets: int
    first_ns: int | None
    last_ns: int | None
    cut_tails: int  # files that ended inside a record (still being written): tail dropped
    problems: tuple[str, ...] = ()
    ranges: int = field(default=0)  # byte ranges copied (1 per file when nothing interleaves)

    @property
    def size(self) -> int:
        return len(self.head) + sum(len(c) for c in self.chunks)

    @property
    def data(self) -> bytes:
        """The whole pcap file in memory (tests, small cuts); :meth:`write` avoids the copy."""
        return self.head + b"".join(self.chunks) if self.head else b""

    def write(self, path: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(self.head)
            fh.writelines(self.chunks)


def _header(buf: bytes | memoryview) -> tuple[bool, int, int] | None:
    """(big_endian, units per second, linktype) of a pcap file, or None."""
    if len(buf) < 24:
        return None
    (magic,) = struct.unpack_from("<I", buf)
    if magic not in PCAP_MAGIC:
        return None
    big_endian, units = PCAP_MAGIC[magic]
    (linktype,) = struct.unpack_from(">I" if big_endian else "<I", buf, 20)
    return big_endian, units, linktype


_EMPTY = np.zeros(0, dtype=np.int64)


def scan_file(name: str, data: bytes | memoryview, from_ns: int, to_ns: int) -> FileScan:
    """Walk one file and keep the records with from_ns <= time <= to_ns (vectorised)."""
    hdr = _header(data)
    if hdr is None:
        why = f"{name}: not a pcap file; left out" if len(data) >= 24 else None
        return FileScan(name, data, None, _EMPTY, _EMPTY, _EMPTY, problem=why)
    big_endian, units, _ = hdr
    result = walk(data, 24, FMT_PCAP, big_endian)
    problem = None
    if result.stop == STOP_CORRUPT:
        problem = f"{name}: damaged at byte {result.stop_offset}; records before kept"
    rec = result.records
    raw = rec["ts"].astype(np.uint64)
    seconds = (raw >> np.uint64(32)).astype(np.int64)
    fraction = (raw & np.uint64(0xFFFFFFFF)).astype(np.int64)
    times = seconds * NS + fraction * (NS // units)
    in_window = (times >= from_ns) & (times <= to_ns)
    data_offsets = rec["off"][in_window].astype(np.int64)
    return FileScan(
        name, data, hdr, times[in_window], data_offsets - RECORD_HEADER,
        data_offsets + rec["caplen"][in_window].astype(np.int64),
        cut_tail=result.stop == STOP_MORE, problem=problem,
    )  # fmt: skip


def merge_scans(scans: Iterable[FileScan]) -> Cut:
    """The kept records of ``scans`` in time order, as byte ranges of their files.

    Files whose header disagrees with the first usable one (another link type or precision)
    are left out and named in ``problems``.
    """
    problems: list[str] = []
    usable: list[FileScan] = []
    reference: FileScan | None = None
    cut_tails = 0
    for scan in scans:
        if scan.problem:
            problems.append(scan.problem)
        if scan.header is None:
            continue
        if reference is None:
            reference = scan
        elif scan.header != reference.header:
            problems.append(f"{scan.name}: another link type or time precision; left out")
            continue
        cut_tails += scan.cut_tail
        usable.append(scan)
    if reference is None:
        return Cut(b"", (), 0, None, None, cut_tails, tuple(problems))
    head = bytes(reference.data[:24])
    # files in ring order (first packet, then size and name: only files without packets tie)
    usable.sort(key=lambda s: (s.first_ns is None, s.first_ns or 0, len(s.data), s.name))
    kept = [s for s in usable if len(s.times)]
    if not kept:
        return Cut(head, (), 0, None, None, cut_tails, tuple(problems))
    times = np.concatenate([s.times for s in kept])
    starts = np.concatenate([s.starts for s in kept])
    ends = np.concatenate([s.ends for s in kept])
    file_of = np.repeat(np.arange(len(kept)), [len(s.times) for s in kept])
    # a ring's files follow each other: already in time order, unless packets interleave
    # (files of two rings, or the kernel's stamps a little out of order across CPUs)
    in_order = bool(np.all(times[1:] >= times[:-1]))
    order = np.arange(len(times)) if in_order else np.argsort(times, kind="stable")
    times, starts, ends, file_of = times[order], starts[order], ends[order], file_of[order]
    # consecutive records that are adjacent in one file make one byte range
    new_range = np.ones(len(times), dtype=bool)
    new_range[1:] = (file_of[1:] != file_of[:-1]) | (starts[1:] != ends[:-1])
    first_of_range = np.flatnonzero(new_range)
    last_of_range = np.append(first_of_range[1:], len(times)) - 1
    views = [memoryview(s.data) for s in kept]
    chunks = tuple(
        views[f][a:b]
        for f, a, b in zip(
            file_of[first_of_range].tolist(),
            starts[first_of_range].tolist(),
            ends[last_of_range].tolist(),
            strict=True,
        )
    )
    return Cut(head, chunks, len(times), int(times[0]), int(times[-1]), cut_tails,
               tuple(problems), ranges=len(chunks))  # fmt: skip


def cut_to_window(
    buffers: Sequence[bytes], from_ns: int, to_ns: int, names: Sequence[str] = ()
) -> Cut:
    """The records of ``buffers`` with from_ns <= time <= to_ns, merged in time order."""
    names = list(names) or [f"file {i}" for i in range(len(buffers))]
    return merge_scans(scan_file(n, b, from_ns, to_ns) for n, b in zip(names, buffers, strict=True))
