"""Cut ring files to a time window and merge them into one pcap (pure: bytes in, bytes out).

Ring files of one point come from one tcpdump, so they share one pcap header. A file that
tcpdump was still writing when it was fetched may end inside a record: the walk
(:mod:`netdiag.pcap.walker`) stops before it, so only whole records are kept. Records are
ordered by time (stable), so the same packets in any file order give the same cut.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netdiag.pcap.blocks import PCAP_MAGIC
from netdiag.pcap.walker import FMT_PCAP, STOP_CORRUPT, STOP_MORE, walk

__all__ = ["Cut", "cut_to_window"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Cut:
    """The merged, windowed capture and what was noticed on the way."""

    data: bytes  # a pcap file; b"" when no file had a usable header
    packets: int
    first_ns: int | None
    last_ns: int | None
    cut_tails: int  # files that ended inside a record (still being written): tail dropped
    problems: tuple[str, ...] = ()


def _header(buf: bytes) -> tuple[bool, int, int] | None:
    """(big_endian, units per second, linktype) of a pcap file, or None."""
    if len(buf) < 24:
        return None
    (magic,) = struct.unpack_from("<I", buf)
    if magic not in PCAP_MAGIC:
        return None
    big_endian, units = PCAP_MAGIC[magic]
    (linktype,) = struct.unpack_from(">I" if big_endian else "<I", buf, 20)
    return big_endian, units, linktype


def cut_to_window(
    buffers: Sequence[bytes], from_ns: int, to_ns: int, names: Sequence[str] = ()
) -> Cut:
    """The records of ``buffers`` with from_ns <= time <= to_ns, merged in time order.

    Files whose header disagrees with the first usable one (another link type or precision)
    are left out and named in ``problems``.
    """
    names = list(names) or [f"file {i}" for i in range(len(buffers))]
    problems: list[str] = []
    reference: tuple[bool, int, int] | None = None
    head = b""
    times: list[np.ndarray] = []
    pieces: list[tuple[bytes, np.ndarray, np.ndarray]] = []
    cut_tails = 0
    for name, buf in zip(names, buffers, strict=True):
        hdr = _header(buf)
        if hdr is None:
            if len(buf) >= 24:
                problems.append(f"{name}: not a pcap file; left out")
            continue
        if reference is None:
            reference, head = hdr, bytes(buf[:24])
        elif hdr != reference:
            problems.append(f"{name}: another link type or time precision; left out")
            continue
        big_endian, units, _ = hdr
        result = walk(buf, 24, FMT_PCAP, big_endian)
        if result.stop == STOP_MORE:
            cut_tails += 1
        elif result.stop == STOP_CORRUPT:
            problems.append(f"{name}: damaged at byte {result.stop_offset}; records before kept")
        rec = result.records
        raw = rec["ts"].astype(np.uint64)
        ts = (raw >> np.uint64(32)).astype(np.int64) * NS + (raw & np.uint64(0xFFFFFFFF)).astype(
            np.int64
        ) * (NS // units)
        keep = (ts >= from_ns) & (ts <= to_ns)
        starts = rec["off"][keep].astype(np.int64) - 16
        ends = rec["off"][keep].astype(np.int64) + rec["caplen"][keep].astype(np.int64)
        times.append(ts[keep])
        pieces.append((buf, starts, ends))
    if reference is None:
        return Cut(b"", 0, None, None, cut_tails, tuple(problems))
    # (time, record bytes), sorted: ties in time are broken by content, so the cut does not
    # depend on the order the files came in
    records = sorted(
        (int(t), bytes(buf[int(s) : int(e)]))
        for (buf, starts, ends), ts in zip(pieces, times, strict=True)
        for t, s, e in zip(ts, starts, ends, strict=True)
    )
    data = head + b"".join(r for _, r in records)
    first = records[0][0] if records else None
    last = records[-1][0] if records else None
    return Cut(data, len(records), first, last, cut_tails, tuple(problems))
