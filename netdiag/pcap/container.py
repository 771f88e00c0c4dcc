"""Reading a capture file in bounded chunks: headers, blocks, and per-chunk packet records.

The file is read ``chunk_bytes`` at a time; each chunk is walked (C walker) and handed on as a
:class:`Batch` together with the bytes it points into, then the unfinished tail is carried into the
next chunk. Only one chunk is resident at a time (source.py), so peak memory is the decoded table
plus one chunk plus the decode temporaries of one chunk, whatever the file size. Damage (a cut or
impossible record) ends the read with a :class:`ReadWarning`; the frames before it are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from netdiag.errors import CaptureFormatError
from netdiag.pcap import blocks, walker
from netdiag.pcap.info import CaptureInfo, Interface, ReadWarning
from netdiag.pcap.source import ALIGN, Source, Window, open_source

#: Measured (benchmarks/ingest.py, 1M packets, 61 columns, one core, best of 3, quiet machine):
#: 8 MiB 1.12M packets/s, 16 MiB 1.13M, 32 MiB 1.16M, 64 MiB 1.01M (its decode temporaries
#: leave the CPU caches); peak RSS vs table + chunk + import baseline: 16 MiB 352 of 412 MiB,
#: 32 MiB 402 of 429, 64 MiB 459 of 460 (benchmarks/README.md).
DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024
I64_MAX = np.iinfo(np.int64).max
U64_MAX = np.iinfo(np.uint64).max


@dataclass(frozen=True)
class Batch:
    """Packets of one chunk: where their bytes are in ``data`` and their per-frame facts."""

    #: the window of the file the offsets point into; valid only until the next batch
    data: npt.NDArray[np.uint8]
    file_base: int  # file offset of data[0]
    first_frame: int  # frame number (1-based) of the first record
    off: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int64]
    wirelen: npt.NDArray[np.int64]
    ts_ns: npt.NDArray[np.int64]
    iface: npt.NDArray[np.int64]  # index into CaptureInfo.interfaces
    linktype: npt.NDArray[np.int64]
    epb_flags: npt.NDArray[np.uint32]

    def __len__(self) -> int:
        return len(self.off)


def _to_ns(raw: npt.NDArray[np.uint64], units: int, pcap: bool) -> npt.NDArray[np.int64]:
    """Raw timestamps -> ns. pcap: seconds << 32 | fraction; pcapng: a count of 1/units s."""
    if pcap:
        sec = (raw >> np.uint64(32)).astype(np.int64)
        frac = (raw & np.uint64(0xFFFFFFFF)).astype(np.int64)
        result: npt.NDArray[np.int64] = sec * 1_000_000_000 + frac * (1_000_000_000 // units)
        return result
    if units > U64_MAX:  # if_tsresol up to 2^-127 s: no 64-bit count reaches a nanosecond
        tiny: npt.NDArray[np.int64] = (raw.astype(np.float64) * (1e9 / units)).astype(np.int64)
        return tiny
    if 1_000_000_000 % units == 0:
        mult = 1_000_000_000 // units
        limit = np.uint64(I64_MAX // mult)
        clipped: npt.NDArray[np.int64] = np.minimum(raw, limit).astype(np.int64)
        return clipped * mult
    whole = raw // np.uint64(units)
    part = (raw % np.uint64(units)).astype(np.float64)
    sec_i = np.minimum(whole, np.uint64(I64_MAX // 1_000_000_000 - 1)).astype(np.int64)
    ns: npt.NDArray[np.int64] = sec_i * 1_000_000_000 + (part * (1e9 / units)).astype(np.int64)
    return ns


def _shifted(ns: npt.NDArray[np.int64], offset_s: int) -> npt.NDArray[np.int64]:
    """``ns`` + an if_tsoffset of ``offset_s`` seconds (a signed 64-bit field, so up to ~2.9e11
    years), saturating at the int64 limits (years -292 and 2262) instead of wrapping around."""
    offset = max(-I64_MAX, min(I64_MAX, offset_s * 1_000_000_000))
    if offset >= 0:
        return np.where(ns > I64_MAX - offset, I64_MAX, ns + offset)
    return np.where(ns < -I64_MAX - offset, -I64_MAX, ns + offset)


class CaptureFile:
    """One capture being read; iterate :meth:`batches`, then look at :attr:`info`."""

    def __init__(self, path: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.path = path
        self.chunk_bytes = max(int(chunk_bytes), 4096)
        self.info = CaptureInfo(path=path)
        # walked records not yet handed on: (records, first interface of their section,
        # byte order of their section)
        self._segments: list[tuple[npt.NDArray[np.void], int, bool]] = []
        self._frames = 0
        self._section_base = 0
        self._section = 0
        self._units = 1_000_000
        self._size: int | None = None

    def estimate_packets(self, batch: Batch) -> int:
        """Packets the whole file probably holds, extrapolated from the bytes read so far."""
        if not len(batch) or self._size is None:
            return 2 * self.info.packets + 1024
        read_to = batch.file_base + int(batch.off[-1] + batch.caplen[-1])
        return int(self.info.packets * (self._size / max(read_to, 1)) * 1.05) + 1024

    def batches(self) -> Iterator[Batch]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed in finally, generator scope
        except OSError as exc:
            raise CaptureFormatError(f"{self.path}: cannot open ({exc.strerror})") from exc
        try:
            yield from self._read(fh)
        finally:
            fh.close()

    # -- reading ---------------------------------------------------------------------------

    def _read(self, fh: BinaryIO) -> Iterator[Batch]:
        src = open_source(fh)
        try:
            yield from self._read_source(src)
        finally:
            src.release()

    def _read_source(self, src: Source) -> Iterator[Batch]:
        self._size = src.size
        data, eof = src.window(0, self.chunk_bytes)
        self.info.format = blocks.sniff(self.path, bytes(data[:4]))
        pcap = self.info.format == "pcap"
        if pcap:
            hdr = blocks.parse_pcap_header(self.path, bytes(data[:24]))
            big_endian, pos = hdr.big_endian, 24
            self._units = hdr.units
            self.info.interfaces.append(Interface(hdr.linktype, hdr.snaplen, tsresol=hdr.units))
        else:
            big_endian, pos, data, eof = self._first_section(src, data, eof)
        self.info.byte_order = "big" if big_endian else "little"
        base = 0
        fmt = walker.FMT_PCAP if pcap else walker.FMT_PCAPNG
        while True:
            res = walker.walk(data, pos, fmt, big_endian)
            if len(res.records):
                self._segments.append((res.records, self._section_base, big_endian))
            pos = res.stop_offset
            if res.stop == walker.STOP_LIMIT:
                continue
            if res.stop == walker.STOP_BLOCK:
                done = self._block(data, pos, base, big_endian)
                if done is not None:
                    big_endian, pos = done
                    continue
                if self.info.warnings:
                    break
                # a section header cut by the end of the window: read it whole
                head = blocks.parse_shb_head(data, pos)
                need = head[1] if head is not None else 12
                if need > walker.MAX_BLOCK:
                    self._warn(base + pos, f"impossible section header length {need}")
                    break
            elif res.stop == walker.STOP_CORRUPT:
                self._warn(base + pos, f"impossible record length {res.detail}; file damaged")
                break
            else:
                need = int(res.detail) if res.stop == walker.STOP_MORE else 0
            if eof:
                if pos < len(data):
                    self._warn(
                        base + pos,
                        f"file ends inside a record ({len(data) - pos} of "
                        f"{need or 'at least 12'} bytes); the capture was cut short",
                    )
                break
            yield from self._flush(data, base)
            if self.info.warnings:
                return
            here = base + pos
            base = here - here % ALIGN
            pos = here - base
            data, eof = src.window(base, max(self.chunk_bytes, pos + need + 4096))
            if pos > len(data):  # shorter than what was already read: truncated under us
                self._warn(
                    here,
                    f"the file shrank to {base + len(data)} bytes while being read (a capture "
                    "still being written or rotated?); kept the packets before this offset",
                )
                return
        yield from self._flush(data, base)

    def _first_section(
        self, src: Source, data: Window, eof: bool
    ) -> tuple[bool, int, Window, bool]:
        try:
            head = blocks.parse_shb_head(data, 0)
            if head is None:
                raise ValueError("file shorter than a section header block")
            big_endian, length = head
            if length > len(data) and not eof and length <= walker.MAX_BLOCK:
                data, eof = src.window(0, length + self.chunk_bytes)
            if length > len(data):
                raise ValueError(f"section header block of {length} bytes is cut short")
            shb = blocks.parse_shb(data, 0, big_endian, length)
        except ValueError as exc:
            raise CaptureFormatError(
                f"{self.path}: unreadable pcapng section header ({exc}); the file is damaged"
            ) from exc
        self.info.section_comments.extend(shb.comments)
        return big_endian, shb.length, data, eof

    def _block(
        self, data: Window, pos: int, base: int, big_endian: bool
    ) -> tuple[bool, int] | None:
        """Parse the SHB/IDB/ISB at ``pos``: (byte order, next position); None = need more."""
        try:
            head = blocks.parse_shb_head(data, pos) if _is_shb(data, pos) else None
            if _is_shb(data, pos):
                if head is None or head[1] > len(data) - pos:
                    return None
                shb = blocks.parse_shb(data, pos, head[0], head[1])
                self.info.section_comments.extend(shb.comments)
                self._section_base = len(self.info.interfaces)
                self._section += 1
                return shb.big_endian, pos + shb.length
            e = ">" if big_endian else "<"
            btype, length = np.frombuffer(data, dtype=e + "u4", count=2, offset=pos).tolist()
            if btype == 1:
                iface = blocks.parse_idb(data, pos, length, big_endian, self._section)
                self.info.interfaces.append(iface)
            else:
                iface_id, ifdrop, osdrop = blocks.parse_isb(data, pos, length, big_endian)
                gid = self._section_base + iface_id
                if gid < len(self.info.interfaces):
                    if ifdrop is not None:
                        self.info.interfaces[gid].kernel_dropped = ifdrop
                    if osdrop is not None:
                        self.info.interfaces[gid].os_dropped = osdrop
            return big_endian, pos + int(length)
        except ValueError as exc:
            self._warn(base + pos, str(exc))
            return None

    def _warn(self, offset: int, message: str) -> None:
        frame = self._frames + sum(len(seg[0]) for seg in self._segments) + 1
        self.info.warnings.append(ReadWarning(self.path, frame, offset, message))

    # -- turning records into a batch -------------------------------------------------------

    def _flush(self, data: Window, base: int) -> Iterator[Batch]:
        if not self._segments:
            return
        recs = np.concatenate([seg[0] for seg in self._segments])
        gid = np.concatenate([r["iface"].astype(np.int64) + sb for r, sb, _ in self._segments])
        orders = np.concatenate([np.full(len(r), be) for r, _, be in self._segments])
        self._segments = []
        n_if = len(self.info.interfaces)
        bad = np.flatnonzero(gid >= n_if)
        if len(bad):
            first = int(bad[0])
            damage = ReadWarning(
                self.path,
                self._frames + first + 1,
                base + int(recs["off"][first]),
                f"packet refers to interface {int(recs['iface'][first])}, which no "
                "interface description block defined; file damaged",
            )
            # The walk may have gone on to later damage before this check ran; the read ends
            # here, so this is the damage to report, and any found after it is moot.
            kept = [w for w in self.info.warnings if w.offset < damage.offset]
            self.info.warnings[:] = [*kept, damage]
            recs, gid = recs[:first], gid[:first]
        if not len(recs):
            return
        yield self._batch(data, base, recs, gid, orders)

    def _batch(
        self,
        data: Window,
        base: int,
        recs: npt.NDArray[np.void],
        gid: npt.NDArray[np.int64],
        big_endian: npt.NDArray[np.bool_],
    ) -> Batch:
        ifaces = self.info.interfaces
        caplen = recs["caplen"].astype(np.int64)
        snap = np.array([i.snaplen for i in ifaces], dtype=np.int64)[gid]
        spb = (recs["misc"] & walker.MISC_NO_TIMESTAMP) != 0
        if spb.any():  # a simple packet block is cut to the snaplen of its interface
            caplen = np.where(spb & (snap > 0), np.minimum(caplen, snap), caplen)
        raw = recs["ts"]
        pcap = self.info.format == "pcap"
        if pcap:
            ts = _to_ns(raw, self._units, True)
        else:
            ts = np.zeros(len(recs), dtype=np.int64)
            for g in np.unique(gid).tolist():
                sel = gid == g
                iface = ifaces[g]
                ts[sel] = _shifted(_to_ns(raw[sel], iface.tsresol, False), iface.tsoffset)
            ts[spb] = 0
        linktype = np.array([i.linktype for i in ifaces], dtype=np.int64)[gid]
        batch = Batch(
            data=np.frombuffer(data, dtype=np.uint8),
            file_base=base,
            first_frame=self._frames + 1,
            off=recs["off"].astype(np.int64),
            caplen=caplen,
            wirelen=recs["wirelen"].astype(np.int64),
            ts_ns=ts,
            iface=gid,
            linktype=linktype,
            epb_flags=recs["flags"].copy(),
        )
        commented = np.flatnonzero(recs["misc"] & walker.MISC_COMMENT)
        for i in commented.tolist():
            off, length = int(recs["off"][i]), int(recs["caplen"][i])
            texts = blocks.epb_comments(data, off, length, bool(big_endian[i]))
            if texts:
                self.info.packet_comments[self._frames + 1 + i] = texts
        self._frames += len(recs)
        self.info.packets = self._frames
        return batch


def _is_shb(data: Window, pos: int) -> bool:
    return bytes(data[pos : pos + 4]) == b"\x0a\x0d\x0d\x0a"
