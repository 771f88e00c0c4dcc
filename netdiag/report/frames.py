"""Raw frames of one capture file, for the packet detail pane and the pcapng export.

The record walk is the reader's (``netdiag.pcap.walk_frames``: every format and link type it
supports, damage reported the same way); this module adds the file's bytes so the views can
slice any frame without walking again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from netdiag.errors import CaptureFormatError
from netdiag.pcap import walk_frames


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

    def find(self, ts_ns: int, tolerance_ns: int = 1_000) -> int | None:
        """Index of the frame nearest ``ts_ns``, if one is within ``tolerance_ns``.

        The tolerance absorbs timestamps an analysis rounded through float64 (256 ns steps).
        """
        if not len(self.ts_ns):
            return None
        distance = np.abs(self.ts_ns - ts_ns)
        best = int(np.argmin(distance))
        return best if int(distance[best]) <= tolerance_ns else None


def read_frames(path: Path) -> FrameTable:
    """All frames of ``path`` (pcap or pcapng); frames before any damage are kept."""
    try:
        index = walk_frames(str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    return FrameTable(
        data,
        index.offset.astype(np.int64),
        index.caplen.astype(np.int64),
        index.wirelen.astype(np.int64),
        index.ts_ns.astype(np.int64),
        index.linktype.astype(np.int64),
    )
