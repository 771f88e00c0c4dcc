"""Turning decoded chunks into the packet table (schema.COLUMNS, pandas nullable dtypes).

:class:`TableBuilder` copies every chunk into output arrays sized from an estimate of the file's
packet count (anonymous maps: pages that are never written cost nothing), doubling if the
estimate was short; so a file is assembled without keeping its chunks or concatenating them.
The table takes :data:`ROW_BYTES` per packet; a guess reserves at most a bounded share of memory.
"""

from __future__ import annotations

import mmap
import os
import resource
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from netdiag.pcap.container import Batch
from netdiag.pcap.decode import Decoded
from netdiag.pcap.gather import STORAGE
from netdiag.pcap.info import CaptureInfo
from netdiag.pcap.points import PointSpec, device_name
from netdiag.pcap.schema import COLUMNS, DIRECTIONS, ENCAPS

IfMap = Mapping[int, str]
#: per-packet arrays a chunk contributes, and their dtypes
KEYS: dict[str, type[np.generic]] = {
    "frame": np.int64,
    "ts_ns": np.int64,
    "caplen": np.uint32,
    "wirelen": np.uint32,
    "iface": np.int32,
    "direction": np.int8,
    "encap": np.int8,
    **{name: STORAGE[dtype] for name, dtype, _ in COLUMNS if dtype in STORAGE},
    **{"valid:" + name: np.bool_ for name, dtype, _ in COLUMNS if dtype in STORAGE},
}
for _key in ("frame", "ts_ns", "valid:frame", "valid:ts_ns", "valid:caplen", "valid:wirelen"):
    KEYS.pop(_key, None)
KEYS.update(frame=np.int64, ts_ns=np.int64)


#: The interface name tcpdump records for a capture on all devices.
ANY = "any"


class Naming:
    """point / node / iface categories of one file (iface grows as interfaces appear).

    A file taken on a whole node (its point's iface is ``any`` or empty: ``tcpdump -i any``, a
    multi-interface pcapng) is split into one point per device, ``node/<device>``: the device
    is the SLL2 frame's ifindex through the node's interface map, else the pcapng interface
    name. An index the map does not know is named ``if<N>`` (and listed in :attr:`unnamed`),
    never lumped into one ``node/any`` point.
    """

    def __init__(self, spec: PointSpec, ifmap: IfMap | None) -> None:
        self.spec = spec
        self.ifmap = dict(ifmap or {})
        self.split = spec.iface in ("", ANY)
        self.ifaces: list[str] = []
        self.unnamed: set[int] = set()  # SLL2 indexes without a name (split files only)
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.ifaces)
            self.ifaces.append(name)
        return self._codes[name]

    def _device(self, ifindex: int) -> int:
        """Code of an SLL2 interface index's device name; -1: keep the point's own."""
        if ifindex in self.ifmap:
            return self.code(self.ifmap[ifindex])
        if not self.split:
            return -1
        self.unnamed.add(ifindex)
        return self.code(device_name(ifindex, self.ifmap))

    def iface_codes(self, batch: Batch, dec: Decoded, info: CaptureInfo) -> npt.NDArray[np.int32]:
        """pcapng: the IDB's if_name; else SLL2: ifmap[ifindex]; otherwise the point's iface."""
        per_if = np.array(
            [self.code(i.name or self.spec.iface) for i in info.interfaces], dtype=np.int32
        )
        codes = per_if[batch.iface] if len(per_if) else np.zeros(len(batch), np.int32)
        c = dec.columns
        # an interface block that names one device wins over the frame's index (a merged
        # pcapng keeps each point's SLL2 frames); a capture on "any" has only the index
        named = np.array([i.name not in ("", ANY) for i in info.interfaces] or [False])
        sll2 = c.valid["ifindex"] & (batch.linktype == 276) & ~named[batch.iface]
        if (self.ifmap or self.split) and sll2.any():
            values, inverse = np.unique(c.values["ifindex"][sll2], return_inverse=True)
            mapped = np.array([self._device(v) for v in values.tolist()], dtype=np.int32)
            codes[sll2] = np.where(mapped[inverse] >= 0, mapped[inverse], codes[sll2])
        if info.format == "pcapng":  # the pcapng interface id, unless SLL2 gave an ifindex
            not_sll2 = batch.linktype != 276
            c.set("ifindex", np.flatnonzero(not_sll2), batch.iface[not_sll2])
        return codes

    def points(self) -> list[str]:
        """The point of each iface code: ``node/<device>`` for a split file, else the file's."""
        if not self.split or not self.ifaces:
            return [self.spec.point] * max(len(self.ifaces), 1)
        node = self.spec.node or self.spec.point
        return [f"{node}/{i}" if i else self.spec.point for i in self.ifaces]

    def unnamed_note(self) -> str | None:
        """What to do when devices of a node-wide capture could only be named by index."""
        if not self.unnamed:
            return None
        node = self.spec.node or self.spec.point
        shown = ", ".join(f"if{i}" for i in sorted(self.unnamed))
        return (
            f"{self.spec.path}: devices {shown} of this all-device capture (tcpdump -i any, "
            f"LINUX_SLL2) are named by interface index: no interface map of {node} names them; "
            f"pass --ifmap {node}=FILE with `ip -j link` saved on {node} while it captured"
        )


def fill_frame_level(
    rows: dict[str, npt.NDArray[Any]],
    batch: Batch,
    dec: Decoded,
    iface_codes: npt.NDArray[np.int32],
) -> None:
    """Write the record-level columns of a chunk (frame, time, lengths, names) into ``rows``."""
    rows["frame"][:] = np.arange(batch.first_frame, batch.first_frame + len(batch))
    rows["ts_ns"][:] = batch.ts_ns
    rows["caplen"][:] = batch.caplen
    rows["wirelen"][:] = batch.wirelen
    rows["iface"][:] = iface_codes
    rows["direction"][:] = dec.direction
    rows["encap"][:] = dec.encap


class TableBuilder:
    """Output arrays of a whole file, handed out chunk by chunk (see the module docstring)."""

    def __init__(self) -> None:
        self.n = 0
        self._cap = 0
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    def reserve(self, k: int, expected_total: int) -> dict[str, npt.NDArray[Any]]:
        """Views of the next ``k`` rows of every array, never written before and zeroed
        (decode writes there, see gather.Columns); then commit.

        ``expected_total`` is a guess (extrapolated from the bytes read so far): it can be far
        off, e.g. when a file starts with empty records, so it is trusted only up to
        :func:`rows_ahead_budget`; past that the arrays double as they fill.
        """
        if self.n + k > self._cap:
            guess = min(expected_total, rows_ahead_budget())
            self._grow(max(guess, self.n + k, 2 * self._cap))
        return {key: a[self.n : self.n + k] for key, a in self._arrays.items()}

    def commit(self, k: int) -> None:
        self.n += k

    def _grow(self, cap: int) -> None:
        for key, dtype in KEYS.items():
            new = _untouched(cap, np.dtype(dtype))
            if key in self._arrays:
                new[: self.n] = self._arrays[key][: self.n]
            self._arrays[key] = new
        self._cap = cap

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        if not self._arrays:
            self._grow(0)
        return {key: a[: self.n] for key, a in self._arrays.items()}


#: Bytes one packet takes in the table's arrays (304 today).
ROW_BYTES = sum(np.dtype(dtype).itemsize for dtype in KEYS.values())


def rows_ahead_budget() -> int:
    """Rows the table may reserve on a guess: a quarter of the machine's memory, and at most
    half of what the process' address-space limit (``ulimit -v``) leaves. A larger reservation
    could be refused by the kernel although most of it might never be used."""
    page = os.sysconf("SC_PAGE_SIZE")
    budget = os.sysconf("SC_PHYS_PAGES") * page // 4
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        with open("/proc/self/statm", "rb") as statm:  # first field: address space, in pages
            used = int(statm.read().split()[0]) * page
        budget = min(budget, max(soft - used, 0) // 2)
    return budget // ROW_BYTES


def _untouched(n: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``n`` zeroed items that cost nothing until written: an anonymous map (zero-filled by the
    kernel, so no validity mask needs clearing) with transparent huge pages off.

    ``np.empty`` would do, but numpy asks the kernel for huge pages on large arrays, and then
    every array of the table, written up to row ``n``, holds up to 2 MiB it does not use:
    measured ~34 MiB more peak RSS over the table's ~100 arrays on a 1M-packet read.
    """
    nbytes = n * dtype.itemsize
    if nbytes < mmap.PAGESIZE:
        return np.zeros(n, dtype=dtype)
    try:
        mem = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError as exc:  # ENOMEM: what numpy would raise as MemoryError
        raise MemoryError(f"cannot reserve {nbytes} bytes for the packet table") from exc
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        mem.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(mem, dtype=dtype)


def _points(iface_codes: npt.NDArray[np.int32], naming: Naming) -> pd.Categorical:
    """The point column: one category for the file, or one per device of a split file (the
    same codes as the iface column; devices that saw no frame are not points)."""
    names = naming.points()
    distinct = list(dict.fromkeys(names))
    if len(distinct) == 1:
        return pd.Categorical.from_codes(
            np.zeros(len(iface_codes), np.int8), categories=pd.Index(distinct, dtype=object)
        )
    lookup = np.array([distinct.index(x) for x in names], dtype=np.int32)
    points = pd.Categorical.from_codes(
        lookup[iface_codes], categories=pd.Index(distinct, dtype=object)
    )
    return points.remove_unused_categories()


def to_frame(arrays: dict[str, npt.NDArray[Any]], naming: Naming) -> pd.DataFrame:
    """One DataFrame in schema order from numpy values + validity (no per-row Python).

    Consumes ``arrays``: the DataFrame shares their memory and the ``valid:`` arrays are
    inverted in place into its missing-masks.
    """
    n = len(arrays["frame"])
    out: dict[str, Any] = {}

    def cat(codes: npt.NDArray[Any], categories: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))

    for name, dtype, _ in COLUMNS:
        if name == "point":
            out[name] = _points(arrays["iface"], naming)
        elif name == "node":
            out[name] = cat(np.zeros(n, np.int8), [naming.spec.node])
        elif name == "iface":
            out[name] = cat(arrays["iface"], naming.ifaces or [naming.spec.iface])
        elif name == "direction":
            out[name] = cat(arrays["direction"], list(DIRECTIONS))
        elif name == "encap":
            out[name] = cat(arrays["encap"], list(ENCAPS))
        elif name in ("frame", "ts_ns"):
            out[name] = arrays[name].astype(np.int64, copy=False)
        elif name in ("caplen", "wirelen"):
            values = arrays[name].astype(np.uint32, copy=False)
            out[name] = pd.arrays.IntegerArray(values, np.zeros(n, dtype=np.bool_))
        else:
            values = arrays[name]
            # the validity array becomes the missing-mask in place: a copy would cost one byte
            # per row and column (~50 MB for 1M packets) at the moment memory peaks
            mask = np.logical_not(arrays["valid:" + name], out=arrays["valid:" + name])
            if dtype == "boolean":
                out[name] = pd.arrays.BooleanArray(values.astype(np.bool_, copy=False), mask)
            else:
                out[name] = pd.arrays.IntegerArray(cast(npt.NDArray[np.integer], values), mask)
    return pd.DataFrame(out, copy=False)
