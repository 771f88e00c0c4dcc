"""Write one pcapng that merges every capture point, so Wireshark shows the journey story too.

One interface block per point, named ``node/iface`` with the node in its description (an
all-device ``-i any`` file is split by the interface index of each frame); packets in
clock-corrected order (ts - node offset); each packet commented with its journey, its flow and
what changed on the way to that hop. The writer is a few ``struct.pack`` calls (pcapng spec,
draft-ietf-opsawg-pcapng: SHB, IDB with if_tsresol=9 for nanoseconds, EPB with opt_comment).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from netdiag import __version__
from netdiag.bundle.manifest import split_point
from netdiag.bundle.open import OpenedRun
from netdiag.errors import AnalysisInputError
from netdiag.files import is_regular
from netdiag.pcap import device_name
from netdiag.report.describe import COPY_TEXT, arrivals, describe_change
from netdiag.report.frames import FrameTable, read_frames

_OPT_COMMENT, _IF_NAME, _IF_DESCRIPTION, _IF_TSRESOL, _SHB_USERAPPL = 1, 2, 3, 9, 4
_IF_TSOFFSET = 14
_I64 = np.iinfo(np.int64)


def _option(code: int, value: bytes) -> bytes:
    pad = -len(value) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def section_header() -> bytes:
    """SHB: little-endian, version 1.0, unknown section length, naming netdiag as the writer."""
    opts = _option(_SHB_USERAPPL, f"netdiag {__version__}".encode()) + _option(0, b"")
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def _text(value: str) -> bytes:
    """UTF-8 for an option; a name from a non-UTF-8 file name keeps its bytes (surrogateescape
    is how Python carries them in a ``str``)."""
    return value.encode("utf-8", "surrogateescape")


def interface_block(
    name: str, description: str, linktype: int, snaplen: int = 0, tsoffset_s: int = 0
) -> bytes:
    """IDB with if_name, if_description, nanosecond timestamps and, when not 0, if_tsoffset
    (seconds added to every timestamp: how a pcapng holds times before 1970)."""
    opts = (
        _option(_IF_NAME, _text(name))
        + _option(_IF_DESCRIPTION, _text(description))
        + _option(_IF_TSRESOL, b"\x09")
        + (_option(_IF_TSOFFSET, struct.pack("<q", tsoffset_s)) if tsoffset_s else b"")
        + _option(0, b"")
    )
    return _block(1, struct.pack("<HHI", linktype, 0, snaplen) + opts)


def packet_block(iface: int, ts_ns: int, wirelen: int, data: bytes, comment: str = "") -> bytes:
    """EPB with an optional opt_comment; ``ts_ns`` counts from its interface's if_tsoffset."""
    wirelen = min(max(wirelen, 0), 0xFFFFFFFF)
    pad = -len(data) % 4
    body = struct.pack("<IIIII", iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), wirelen)
    opts = _option(_OPT_COMMENT, _text(comment)) + _option(0, b"") if comment else b""
    return _block(6, body + data + b"\0" * pad + opts)


#: Sightings are matched to frames by timestamp; an analysis may carry timestamps rounded
#: through float64 (256 ns steps at today's epoch), so the nearest frame within 1 µs is taken.
MATCH_TOLERANCE_NS = 1_000


Located = tuple[int, int | None, str]  # (ts_ns, frame number if known, comment)


def hop_comments(view: OpenedRun) -> dict[str, list[Located]]:
    """Point -> [(ts_ns, frame, "journey j1 (flow f1) hop 3/3 out: DNAT a -> b; TTL 64 -> 63")]."""
    flow_of = view.analysis.flow_by_journey
    comments: dict[str, list[Located]] = {}
    for journey in view.analysis.journeys.values():
        total = len(journey.sightings)
        head = f"journey {journey.id}"
        if journey.id in flow_of:
            head += f" (flow {flow_of[journey.id]})"
        for hop, (sighting, transform) in enumerate(
            zip(journey.sightings, arrivals(journey), strict=True), 1
        ):
            if sighting.copy:
                change = COPY_TEXT.get(sighting.copy, sighting.copy)
            elif transform is None:
                change = "first sighting" if hop == 1 else "unchanged"
            else:
                change = "; ".join(describe_change(c) for c in transform.changes) or "unchanged"
            text = f"{head} hop {hop}/{total} {sighting.direction}: {change}"
            if journey.summary:
                text += f" | {journey.summary}"
            located = (sighting.ts_ns, view.frame_of(sighting), text)
            comments.setdefault(sighting.point, []).append(located)
    return comments


def match_frames(
    ts_ns: npt.NDArray[np.int64],
    located: list[Located],
    among: npt.NDArray[np.int64] | None = None,
) -> dict[int, str]:
    """Frame index -> comment: by frame number when known, else the frame nearest in time.

    ``among`` restricts the time match to those frame indexes (one device of an all-device
    file: the same packet on another device a microsecond later must not take its comment).
    """
    among = np.arange(len(ts_ns), dtype=np.int64) if among is None else among
    allowed = set(among.tolist()) if len(among) != len(ts_ns) else None

    def known(f: int | None) -> bool:
        return f is not None and 0 < f <= len(ts_ns) and (allowed is None or f - 1 in allowed)

    found = {f - 1: text for _, f, text in located if f is not None and known(f)}
    sightings = [(t, text) for t, f, text in located if not known(f)]
    if not sightings or not len(among):
        return found
    order = among[np.argsort(ts_ns[among], kind="stable")]
    sorted_ts = ts_ns[order]
    wanted = np.array([t for t, _ in sightings], dtype=np.int64)
    right = np.clip(np.searchsorted(sorted_ts, wanted), 0, len(sorted_ts) - 1)
    left = np.clip(right - 1, 0, len(sorted_ts) - 1)
    pick = np.where(
        np.abs(sorted_ts[left] - wanted) <= np.abs(sorted_ts[right] - wanted), left, right
    )
    close = np.abs(sorted_ts[pick] - wanted) <= MATCH_TOLERANCE_NS
    for p, ok, (_, text) in zip(pick.tolist(), close.tolist(), sightings, strict=True):
        if ok:
            found[int(order[p])] = text
    return found


@dataclass(frozen=True)
class ExportStats:
    """What the export wrote: interfaces and packets, and how many packets got a comment."""

    interfaces: int
    packets: int
    commented: int


def _offset(view: OpenedRun, point: str) -> int:
    known = view.analysis.point(point)
    if known is not None:
        return known.clock_offset_ns
    node = split_point(point)[0]
    if view.manifest is not None and node in view.manifest.nodes:
        clock = view.manifest.nodes[node].clock
        return clock.offset_ns if clock is not None else 0
    return 0


@dataclass(frozen=True)
class _Source:
    """One capture file and the point each of its frames belongs to."""

    table: FrameTable
    points: npt.NDArray[np.object_]


def _frame_points(table: FrameTable, own: str, ifmap: Mapping[int, str]) -> npt.NDArray[np.object_]:
    """Per frame: ``node/<device>`` from an SLL2 frame's interface index, else ``own``."""
    node = split_point(own)[0]
    points = np.full(len(table), own, dtype=object)
    sll2 = np.flatnonzero((table.linktype == 276) & (table.caplen >= 8))
    if len(sll2):
        raw = np.frombuffer(table.data, dtype=np.uint8)
        at = table.offset[sll2, None] + np.arange(4, 8)
        index = (raw[at].astype(np.uint32) << np.array([24, 16, 8, 0], np.uint32)).sum(axis=1)
        for value in np.unique(index).tolist():
            points[sll2[index == value]] = f"{node}/{device_name(value, ifmap)}"
    return points


def _sources(view: OpenedRun) -> list[_Source]:
    """Each file once: an all-device file (several points, or one ``node/any``) is split by
    device; the others belong to their one point."""
    by_file: dict[Path, list[str]] = {}
    for point, path in sorted(view.pcaps.items()):
        if is_regular(path):
            by_file.setdefault(path, []).append(point)
    sources = []
    for path, points in by_file.items():
        table = read_frames(path)
        wide = [p for p in points if split_point(p)[1] in ("", "any")]
        if len(points) == 1 and not wide:
            sources.append(_Source(table, np.full(len(table), points[0], dtype=object)))
        else:
            own = (wide or points)[0]
            ifmap = view.ifmaps.get(split_point(own)[0], {})
            sources.append(_Source(table, _frame_points(table, own, ifmap)))
    return sources


def export_pcapng(view: OpenedRun, out: Path) -> ExportStats:
    """Merge every capture point of ``view`` into the pcapng ``out``."""
    sources = _sources(view)
    if not sources:
        raise AnalysisInputError(
            f"{view.source}: no capture files found to export; give a run directory with pcaps/"
        )
    iface_ids: dict[tuple[str, int], int] = {}
    for src in sources:
        pairs = zip(src.points.tolist(), src.table.linktype.tolist(), strict=True)
        for point, link in dict.fromkeys(pairs):
            iface_ids.setdefault((str(point), int(link)), len(iface_ids))
    offsets = {p: _offset(view, p) for p, _ in iface_ids}
    # One entry per packet: (source index, frame index, corrected ts); sorted in one argsort.
    which = np.concatenate(
        [np.full(len(s.table), i, dtype=np.int64) for i, s in enumerate(sources)]
    )
    index = np.concatenate([np.arange(len(s.table), dtype=np.int64) for s in sources])
    corrected = np.concatenate(
        [_minus(s.table.ts_ns, np.array([offsets[p] for p in s.points], dtype=np.int64))
         for s in sources]
    )  # fmt: skip
    # An EPB timestamp is unsigned: times before 1970 (an old capture, or one that a clock
    # correction moved there) count from a negative if_tsoffset instead of being cut off.
    epoch_s = min(0, int(corrected.min()) // 1_000_000_000) if len(corrected) else 0
    epoch_ns = epoch_s * 1_000_000_000
    order = np.argsort(corrected, kind="stable")
    by_point = hop_comments(view)
    comments: list[dict[int, str]] = []
    for src in sources:
        found: dict[int, str] = {}
        for point in dict.fromkeys(src.points.tolist()):
            among = np.flatnonzero(src.points == point)
            found |= match_frames(src.table.ts_ns, by_point.get(str(point), []), among)
        comments.append(found)
    commented = 0
    try:
        with out.open("wb") as fh:
            _write(fh, iface_ids, offsets, epoch_s)
            for k in order.tolist():
                src = sources[which[k]]
                i = int(index[k])
                comment = comments[which[k]].get(i, "")
                commented += bool(comment)
                iface = iface_ids[(str(src.points[i]), int(src.table.linktype[i]))]
                fh.write(
                    packet_block(
                        iface,
                        int(corrected[k]) - epoch_ns,
                        int(src.table.wirelen[i]),
                        src.table.frame_bytes(i),
                        comment,
                    )
                )
    except OSError as exc:
        raise AnalysisInputError(f"{out}: cannot write ({exc.strerror}); check the path") from exc
    return ExportStats(len(iface_ids), len(order), commented)


def _minus(ts_ns: npt.NDArray[np.int64], offset: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``ts_ns - offset``, saturating at the int64 limits instead of wrapping around."""
    offset = np.clip(offset, -_I64.max, _I64.max)
    low = np.where(offset >= 0, ts_ns < -_I64.max + offset, False)
    high = np.where(offset < 0, ts_ns > _I64.max + offset, False)
    with np.errstate(over="ignore"):
        out = ts_ns - offset
    return np.where(low, -_I64.max, np.where(high, _I64.max, out))


def _write(
    fh: BinaryIO, iface_ids: dict[tuple[str, int], int], offsets: dict[str, int], epoch_s: int
) -> None:
    fh.write(section_header())
    for point, link in iface_ids:
        node = split_point(point)[0]
        offset = offsets[point]
        description = f"node {node}; timestamps corrected by {-offset:+d} ns to the reference clock"
        fh.write(interface_block(point, description, link, tsoffset_s=epoch_s))
