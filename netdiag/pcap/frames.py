"""Raw frames without decoding: where each frame is in the file, and one frame's bytes.

For ``netdiag export`` (copying raw frames into a merged pcapng) and the detail pane of the
viewers. Both use the record walker, never a per-packet Python loop over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netdiag.errors import InputError
from netdiag.pcap.container import DEFAULT_CHUNK_BYTES, CaptureFile
from netdiag.pcap.info import Interface, ReadWarning


@dataclass(frozen=True)
class RawFrame:
    """One frame as captured: its link type, timestamp, lengths and bytes."""

    linktype: int
    ts_ns: int
    caplen: int
    wirelen: int
    data: bytes
    interface: str  # pcapng if_name, '' for pcap


@dataclass(frozen=True)
class FrameIndex:
    """Per frame (index i = frame i + 1): absolute file offset of its data, and its facts."""

    offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int64]
    wirelen: npt.NDArray[np.int64]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int64]
    interface: npt.NDArray[np.int64]  # index into ``interfaces``
    interfaces: tuple[Interface, ...]
    format: str
    warnings: tuple[ReadWarning, ...]

    def __len__(self) -> int:
        return len(self.offset)


def walk_frames(path: str, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> FrameIndex:
    """Index every frame of ``path`` (damage ends the index with a warning, as in read_capture)."""
    cf = CaptureFile(str(path), chunk_bytes)
    parts: dict[str, list[npt.NDArray[np.int64]]] = {k: [] for k in _FIELDS}
    for b in cf.batches():
        parts["offset"].append(b.off + b.file_base)
        parts["caplen"].append(b.caplen)
        parts["wirelen"].append(b.wirelen)
        parts["ts_ns"].append(b.ts_ns)
        parts["linktype"].append(b.linktype)
        parts["interface"].append(b.iface)
    cols = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in parts.items()}
    return FrameIndex(
        **cols,
        interfaces=tuple(cf.info.interfaces),
        format=cf.info.format,
        warnings=tuple(cf.info.warnings),
    )


_FIELDS = ("offset", "caplen", "wirelen", "ts_ns", "linktype", "interface")


def _from_index(path: str, frame: int, index: FrameIndex) -> RawFrame:
    if frame > len(index):
        raise InputError(f"{path}: has no frame {frame} (it has {len(index)} readable frames)")
    i = frame - 1
    caplen = int(index.caplen[i])
    try:
        with open(path, "rb") as fh:
            fh.seek(int(index.offset[i]))
            data = fh.read(caplen)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(data) != caplen:
        raise InputError(f"{path}: changed since it was indexed; index it again")
    return RawFrame(
        linktype=int(index.linktype[i]),
        ts_ns=int(index.ts_ns[i]),
        caplen=caplen,
        wirelen=int(index.wirelen[i]),
        data=data,
        interface=index.interfaces[int(index.interface[i])].name,
    )


def read_frame(
    path: str,
    frame: int,
    *,
    index: FrameIndex | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> RawFrame:
    """Frame number ``frame`` (1-based, as in the packet table) of ``path``.

    With the file's ``index`` (from :func:`walk_frames`) this is one seek and one read;
    without, the file is walked up to the frame.
    """
    if frame < 1:
        raise InputError(f"{path}: frame numbers start at 1, got {frame}")
    if index is not None:
        return _from_index(path, frame, index)
    cf = CaptureFile(str(path), chunk_bytes)
    for b in cf.batches():
        i = frame - b.first_frame
        if 0 <= i < len(b):
            start, caplen = int(b.off[i]), int(b.caplen[i])
            iface = cf.info.interfaces[int(b.iface[i])]
            return RawFrame(
                linktype=int(b.linktype[i]),
                ts_ns=int(b.ts_ns[i]),
                caplen=caplen,
                wirelen=int(b.wirelen[i]),
                data=b.data[start : start + caplen].tobytes(),
                interface=iface.name,
            )
    raise InputError(f"{path}: has no frame {frame} (it has {cf.info.packets} readable frames)")
