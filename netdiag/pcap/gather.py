"""The two tools of the vectorized decoder: fixed-width byte windows and masked columns.

A *window* is, for a set of packets, the ``width`` bytes starting at a per-packet offset, as one
2-D uint8 array (rows = packets), gathered without a Python loop through a strided view of the
chunk. Whether a field is real is decided separately: its end must not pass the packet's caplen.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from netdiag.pcap.schema import COLUMNS

Idx = npt.NDArray[np.int64]
Bytes2D = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: numpy storage dtype of each nullable schema dtype
STORAGE: Final[dict[str, type[np.generic]]] = {
    "UInt8": np.uint8,
    "UInt16": np.uint16,
    "UInt32": np.uint32,
    "UInt64": np.uint64,
    "boolean": np.bool_,
    "int64": np.int64,
}
MAX_WINDOW: Final = 512


class Packets:
    """The packets of one chunk: their bytes (``data``, zero-padded), start offsets, caplens."""

    def __init__(
        self,
        data: npt.NDArray[np.uint8],
        start: Idx,
        caplen: Idx,
        wirelen: Idx,
        valid_len: int,
    ) -> None:
        self.data = data
        self.start = start
        self.caplen = caplen
        self.wirelen = wirelen
        self._limit = valid_len
        self._views: dict[int, npt.NDArray[np.uint8]] = {}

    def __len__(self) -> int:
        return len(self.start)

    def window(self, idx: Idx, rel: Idx | int, width: int) -> Bytes2D:
        """``width`` bytes at ``start[idx] + rel`` for each packet of ``idx``.

        Offsets beyond the chunk are clamped into the zero padding: the bytes are then garbage
        or zeros, which the caller's ``has(...)`` check (field end <= caplen) rejects.
        """
        assert width <= MAX_WINDOW
        view = self._views.get(width)
        if view is None:
            view = sliding_window_view(self.data, width)
            self._views[width] = view
        pos = self.start[idx] + rel
        np.clip(pos, 0, self._limit, out=pos)
        out: Bytes2D = view[pos]
        return out

    def has(self, idx: Idx, end: Idx | int) -> Mask:
        """True where the first ``end`` bytes of the packet were captured."""
        result: Mask = self.caplen[idx] >= end
        return result


def be16(w: Bytes2D, i: int) -> npt.NDArray[np.uint32]:
    """Big-endian 16-bit field at byte ``i`` of every row."""
    hi = w[:, i].astype(np.uint32)
    hi <<= np.uint32(8)
    hi |= w[:, i + 1]
    return hi


def be32(w: Bytes2D, i: int) -> npt.NDArray[np.uint32]:
    return np.ascontiguousarray(w[:, i : i + 4]).view(">u4")[:, 0].astype(np.uint32)


def be64(w: Bytes2D, i: int) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(w[:, i : i + 8]).view(">u8")[:, 0].astype(np.uint64)


def be48(w: Bytes2D, i: int) -> npt.NDArray[np.uint64]:
    """A MAC address as a 48-bit integer."""
    return (be16(w, i).astype(np.uint64) << np.uint64(32)) | be32(w, i + 2).astype(np.uint64)


def be24(w: Bytes2D, i: int) -> npt.NDArray[np.uint32]:
    hi = w[:, i].astype(np.uint32)
    hi <<= np.uint32(16)
    hi |= be16(w, i + 1)
    return hi


class Columns:
    """The table's columns for one chunk as numpy values + validity masks (absent = False)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, npt.NDArray[np.generic]] = {}
        self.valid: dict[str, Mask] = {}
        for name, dtype, _ in COLUMNS:
            if dtype in STORAGE:
                self.values[name] = np.zeros(n, dtype=STORAGE[dtype])
                self.valid[name] = np.zeros(n, dtype=np.bool_)

    def set(
        self,
        name: str,
        idx: Idx,
        values: npt.ArrayLike,
        ok: Mask | bool = True,
    ) -> None:
        """values[idx] = values; present where ``ok``."""
        self.values[name][idx] = values
        self.valid[name][idx] = ok

    def clear(self, names: tuple[str, ...], idx: Idx) -> None:
        for name in names:
            self.valid[name][idx] = False

    def get(self, name: str, idx: Idx) -> tuple[npt.NDArray[np.generic], Mask]:
        return self.values[name][idx], self.valid[name][idx]
