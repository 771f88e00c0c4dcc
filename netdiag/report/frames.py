"""Raw frames of one capture file, for the packet detail pane and the pcapng export.

Uses ``netdiag.pcap.walk_frames`` / ``read_frame`` when the reader provides them; until then (and
for files the reader refuses) a small walker of its own reads classic pcap (us/ns, both byte
orders) and pcapng (SHB/IDB/EPB/SPB). Bulk numbers stay numpy arrays; bytes are sliced lazily.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from netdiag.errors import CaptureFormatError

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_SHB, _IDB, _EPB, _SPB = 0x0A0D0D0A, 1, 6, 3


@dataclass(frozen=True)
class FrameTable:
    """Every frame of one file: where its bytes are and its timestamp (ns, file clock)."""

    data: bytes
    offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int64]
    wirelen: npt.NDArray[np.int64]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.offset)

    def frame_bytes(self, index: int) -> bytes:
        """The captured bytes of frame ``index`` (0-based)."""
        start = int(self.offset[index])
        return self.data[start : start + int(self.caplen[index])]

    def find(self, ts_ns: int) -> int | None:
        """Index of the first frame stamped exactly ``ts_ns``, if any (files are time-ordered)."""
        hits = np.flatnonzero(self.ts_ns == ts_ns)
        return int(hits[0]) if len(hits) else None


def _pcap(data: bytes, path: Path) -> FrameTable:
    endian, scale = _PCAP_MAGICS[data[:4]]
    if len(data) < 24:
        raise CaptureFormatError(f"{path}: pcap header cut short; the file is damaged")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    rows: list[tuple[int, int, int, int]] = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack_from(endian + "IIII", data, pos)
        if pos + 16 + caplen > len(data):
            break  # a record cut by the end of the file: keep the frames before it
        rows.append((pos + 16, caplen, wirelen, sec * 1_000_000_000 + frac * scale))
        pos += 16 + caplen
    return _table(data, rows, [linktype] * len(rows))


def _pcapng(data: bytes, path: Path) -> FrameTable:
    rows: list[tuple[int, int, int, int]] = []
    links: list[int] = []
    ifaces: list[tuple[int, int]] = []  # (linktype, ns per tick)
    endian, pos = "<", 0
    while pos + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, pos)[0]
        if btype == _SHB:
            endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
        if blen < 12 or pos + blen > len(data):
            break
        if btype == _IDB:
            ifaces.append(
                (
                    struct.unpack_from(endian + "H", data, pos + 8)[0],
                    _tsres(data, pos, blen, endian),
                )
            )
        elif btype == _EPB and blen >= 32:
            iface, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", data, pos + 8)
            link, tick = ifaces[iface] if iface < len(ifaces) else (1, 1_000)
            rows.append((pos + 28, caplen, wirelen, ((hi << 32) | lo) * tick))
            links.append(link)
        elif btype == _SPB and ifaces:
            wirelen = struct.unpack_from(endian + "I", data, pos + 8)[0]
            rows.append((pos + 12, min(wirelen, blen - 16), wirelen, 0))
            links.append(ifaces[0][0])
        pos += blen
    if not ifaces and not rows:
        raise CaptureFormatError(f"{path}: pcapng without interface blocks; the file is damaged")
    return _table(data, rows, links)


def _tsres(data: bytes, pos: int, blen: int, endian: str) -> int:
    """ns per timestamp tick from the IDB's if_tsresol option (default microseconds)."""
    opt, end = pos + 16, pos + blen - 4
    while opt + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", data, opt)
        if code == 0:
            break
        if code == 9 and length >= 1:
            res = int(data[opt + 4])
            ticks_per_s = 2 ** (res & 0x7F) if res & 0x80 else 10 ** (res & 0x7F)
            return max(1, 1_000_000_000 // int(ticks_per_s))
        opt += 4 + (length + 3) // 4 * 4
    return 1_000


def _table(data: bytes, rows: list[tuple[int, int, int, int]], links: list[int]) -> FrameTable:
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return FrameTable(
        data, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], np.array(links, dtype=np.int64)
    )


def read_frames(path: Path) -> FrameTable:
    """All frames of ``path`` (pcap or pcapng); a clear error for anything else."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    if data[:4] in _PCAP_MAGICS:
        return _pcap(data, path)
    if len(data) >= 12 and struct.unpack_from("<I", data)[0] == _SHB:
        return _pcapng(data, path)
    raise CaptureFormatError(f"{path}: not a pcap or pcapng file (magic {data[:4].hex()})")
