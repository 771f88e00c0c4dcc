"""read_capture / iter_capture / read_captures: capture files -> the packet table."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import union_categoricals

from netdiag.errors import CaptureFormatError
from netdiag.pcap.container import DEFAULT_CHUNK_BYTES, Batch, CaptureFile
from netdiag.pcap.decode import Decoded, decode
from netdiag.pcap.gather import STORAGE
from netdiag.pcap.info import CaptureInfo, linktype_name
from netdiag.pcap.link import SUPPORTED
from netdiag.pcap.points import PointSpec, parse_point_spec
from netdiag.pcap.schema import COLUMNS, DIRECTIONS, ENCAPS

IfMap = Mapping[int, str]
_NO_DATA: npt.NDArray[np.uint8] = np.zeros(0, dtype=np.uint8)
#: storage dtype of each column for an empty table
_EMPTY_DTYPES: dict[str, type[np.generic]] = {
    **{name: STORAGE[dtype] for name, dtype, _ in COLUMNS if dtype in STORAGE},
    **{"valid:" + name: np.bool_ for name, _, _ in COLUMNS},
    "iface": np.int32,
    "direction": np.int8,
    "encap": np.int8,
}


@dataclass
class Capture:
    """A capture file read into the packet table (``table``) plus what the file said (``info``)."""

    table: pd.DataFrame
    info: CaptureInfo


class _Chunk:
    """Numeric columns of one chunk plus the per-file naming, ready to become a DataFrame."""

    def __init__(self, batch: Batch, dec: Decoded, iface_codes: npt.NDArray[np.int32]) -> None:
        # drop the file window: a kept chunk must not pin the mapped bytes (bounded memory)
        self.batch = dataclasses.replace(batch, data=_NO_DATA)
        self.dec = dec
        self.iface_codes = iface_codes


class _Naming:
    """point / node / iface categories of one file (iface grows as interfaces appear)."""

    def __init__(self, spec: PointSpec, ifmap: IfMap | None) -> None:
        self.spec = spec
        self.ifmap = dict(ifmap or {})
        self.ifaces: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.ifaces)
            self.ifaces.append(name)
        return self._codes[name]

    def iface_codes(self, batch: Batch, dec: Decoded, info: CaptureInfo) -> npt.NDArray[np.int32]:
        """pcapng: the IDB's if_name; SLL2: ifmap[ifindex]; otherwise the point's iface."""
        per_if = np.array(
            [self.code(i.name or self.spec.iface) for i in info.interfaces], dtype=np.int32
        )
        codes = per_if[batch.iface] if len(per_if) else np.zeros(len(batch), np.int32)
        c = dec.columns
        sll2 = c.valid["ifindex"] & (batch.linktype == 276)
        if self.ifmap and sll2.any():
            values, inverse = np.unique(c.values["ifindex"][sll2], return_inverse=True)
            mapped = np.array(
                [self.code(self.ifmap[v]) if v in self.ifmap else -1 for v in values.tolist()],
                dtype=np.int32,
            )
            codes[sll2] = np.where(mapped[inverse] >= 0, mapped[inverse], codes[sll2])
        if info.format == "pcapng":  # the pcapng interface id, unless SLL2 gave an ifindex
            not_sll2 = batch.linktype != 276
            c.set("ifindex", np.flatnonzero(not_sll2), batch.iface[not_sll2])
        return codes


def _check_linktypes(batch: Batch, info: CaptureInfo) -> None:
    unknown = ~np.isin(batch.linktype, list(SUPPORTED))
    if unknown.any() and not any(i.linktype in SUPPORTED for i in info.interfaces):
        _unsupported(info.path, int(batch.linktype[np.argmax(unknown)]))


def _unsupported(path: str, linktype: int) -> None:
    raise CaptureFormatError(
        f"{path}: link type {linktype} ({linktype_name(linktype)}) is not supported; "
        "capture on an Ethernet interface, or on all with `tcpdump -i any` (LINUX_SLL2)"
    )


def _frame(chunks: list[_Chunk], naming: _Naming) -> pd.DataFrame:
    """One DataFrame in schema order from numpy values + masks (no per-row Python)."""
    n = sum(len(ch.batch) for ch in chunks)
    out: dict[str, pd.api.extensions.ExtensionArray | npt.NDArray[np.int64]] = {}

    def cat(codes: npt.NDArray[Any], categories: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))

    def stack(get: str) -> npt.NDArray[np.generic]:
        parts = [_get(ch, get) for ch in chunks]
        if len(parts) == 1:
            return parts[0]
        if parts:
            return np.concatenate(parts)
        return np.zeros(0, dtype=_EMPTY_DTYPES.get(get, np.int64))

    for name, dtype, _ in COLUMNS:
        if name == "point":
            out[name] = cat(np.zeros(n, np.int8), [naming.spec.point])
        elif name == "node":
            out[name] = cat(np.zeros(n, np.int8), [naming.spec.node])
        elif name == "iface":
            out[name] = cat(stack("iface"), naming.ifaces or [naming.spec.iface])
        elif name == "direction":
            out[name] = cat(stack("direction"), list(DIRECTIONS))
        elif name == "encap":
            out[name] = cat(stack("encap"), list(ENCAPS))
        elif name in ("frame", "ts_ns"):
            out[name] = stack(name).astype(np.int64)
        elif name in ("caplen", "wirelen"):
            out[name] = pd.arrays.IntegerArray(
                stack(name).astype(np.uint32), np.zeros(n, dtype=np.bool_)
            )
        else:
            values = stack(name)
            mask = ~stack("valid:" + name).astype(np.bool_)
            if dtype == "boolean":
                out[name] = pd.arrays.BooleanArray(values.astype(np.bool_), mask)
            else:
                out[name] = pd.arrays.IntegerArray(cast(npt.NDArray[np.integer], values), mask)
    return pd.DataFrame(out, copy=False)


def _get(ch: _Chunk, what: str) -> npt.NDArray[np.generic]:
    b, d = ch.batch, ch.dec
    if what == "iface":
        return ch.iface_codes
    if what in ("direction", "encap"):
        result: npt.NDArray[np.generic] = getattr(d, what)
        return result
    if what == "frame":
        return np.arange(b.first_frame, b.first_frame + len(b), dtype=np.int64)
    if what in ("ts_ns", "caplen", "wirelen"):
        return getattr(b, what)  # type: ignore[no-any-return]
    if what.startswith("valid:"):
        return d.columns.valid[what[6:]]
    return d.columns.values[what]


def _chunks(
    path: str, spec: PointSpec, ifmap: IfMap | None, chunk_bytes: int, info_out: list[CaptureInfo]
) -> Iterator[tuple[_Chunk, _Naming]]:
    cf = CaptureFile(path, chunk_bytes)
    info_out.append(cf.info)
    naming = _Naming(spec, ifmap)
    for batch in cf.batches():
        _check_linktypes(batch, cf.info)
        dec = decode(batch)
        yield _Chunk(batch, dec, naming.iface_codes(batch, dec, cf.info)), naming
    if cf.info.format == "pcap" and cf.info.interfaces[0].linktype not in SUPPORTED:
        _unsupported(path, cf.info.interfaces[0].linktype)


def _spec(path: str | Path, point: str | None) -> PointSpec:
    if point is None:
        return parse_point_spec(str(path))
    return parse_point_spec(f"{point}={path}")


def iter_capture(
    path: str | Path,
    *,
    point: str | None = None,
    ifmap: IfMap | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    info: list[CaptureInfo] | None = None,
) -> Iterator[pd.DataFrame]:
    """The packet table of ``path`` one chunk at a time (bounded memory for any file size).

    Pass a list as ``info`` to receive the file's :class:`CaptureInfo` (complete once the
    iterator is exhausted).
    """
    spec = _spec(path, point)
    for chunk, naming in _chunks(
        str(path), spec, ifmap, chunk_bytes, info if info is not None else []
    ):
        yield _frame([chunk], naming)


def read_capture(
    path: str | Path,
    *,
    point: str | None = None,
    ifmap: IfMap | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Capture:
    """Read a pcap/pcapng file into the packet table (columns: schema.COLUMNS, in order).

    Damage ends the read with a warning in ``info.warnings`` (every frame before it is kept);
    a file that is not a capture, or has an unsupported link type, raises CaptureFormatError.
    """
    return _read(_spec(path, point), ifmap, chunk_bytes)


def _read(spec: PointSpec, ifmap: IfMap | None, chunk_bytes: int) -> Capture:
    infos: list[CaptureInfo] = []
    chunks: list[_Chunk] = []
    naming = _Naming(spec, ifmap)
    for chunk, naming in _chunks(spec.path, spec, ifmap, chunk_bytes, infos):  # noqa: B007
        chunks.append(chunk)
    return Capture(_frame(chunks, naming), infos[0])


def read_captures(
    specs: Iterable[str | PointSpec],
    *,
    ifmaps: Mapping[str, IfMap] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[pd.DataFrame, list[CaptureInfo]]:
    """Several ``[POINT=]PATH`` files into one table; ``ifmaps`` maps a node to its ifmap."""
    tables: list[pd.DataFrame] = []
    infos: list[CaptureInfo] = []
    for item in specs:
        spec = item if isinstance(item, PointSpec) else parse_point_spec(item)
        ifmap = (ifmaps or {}).get(spec.node)
        cap = _read(spec, ifmap, chunk_bytes)
        tables.append(cap.table)
        infos.append(cap.info)
    return concat_tables(tables), infos


def concat_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate packet tables, unioning the categories of the categorical columns."""
    if not tables:
        return _frame([], _Naming(PointSpec("", "", "", ""), None)).iloc[:0]
    if len(tables) == 1:
        return tables[0]
    cats = [name for name, dtype, _ in COLUMNS if dtype == "category"]
    out = {}
    for name, _, _ in COLUMNS:
        cols = [t[name] for t in tables]
        if name in cats:
            out[name] = pd.Series(union_categoricals([c.array for c in cols]))
        else:
            out[name] = pd.concat(cols, ignore_index=True)
    return pd.DataFrame(out)
