"""Raw frames without decoding: where each frame is in the file, with its facts.

For ``netdiag export`` (copying raw frames into a merged pcapng), the detail pane of the
viewers and the capture's completeness check. All use the record walker, never a per-packet
Python loop over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netdiag.pcap.container import DEFAULT_CHUNK_BYTES, CaptureFile
from netdiag.pcap.info import Interface, ReadWarning


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
