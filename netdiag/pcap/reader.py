"""read_capture / iter_capture / read_captures: capture files -> the packet table."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from netdiag.errors import CaptureFormatError
from netdiag.pcap.container import DEFAULT_CHUNK_BYTES, Batch, CaptureFile
from netdiag.pcap.decode import decode
from netdiag.pcap.gather import Columns
from netdiag.pcap.info import CaptureInfo, linktype_name
from netdiag.pcap.link import SUPPORTED
from netdiag.pcap.points import PointSpec, parse_point_spec
from netdiag.pcap.schema import COLUMNS
from netdiag.pcap.table import IfMap, Naming, TableBuilder, fill_frame_level, to_frame


@dataclass
class Capture:
    """A capture file read into the packet table (``table``) plus what the file said (``info``)."""

    table: pd.DataFrame
    info: CaptureInfo


def _check_linktypes(batch: Batch, info: CaptureInfo) -> None:
    unknown = ~np.isin(batch.linktype, list(SUPPORTED))
    if unknown.any() and not any(i.linktype in SUPPORTED for i in info.interfaces):
        _unsupported(info.path, int(batch.linktype[np.argmax(unknown)]))


def _unsupported(path: str, linktype: int) -> None:
    raise CaptureFormatError(
        f"{path}: link type {linktype} ({linktype_name(linktype)}) is not supported; "
        "capture on an Ethernet interface, or on all with `tcpdump -i any` (LINUX_SLL2)"
    )


def _decode_into(
    path: str,
    spec: PointSpec,
    ifmap: IfMap | None,
    chunk_bytes: int,
    info_out: list[CaptureInfo],
    *,
    builder: TableBuilder | None = None,
) -> Iterator[tuple[TableBuilder, Naming]]:
    """Decode chunk after chunk into ``builder`` (one for the whole file), or, without one,
    into a fresh builder per chunk; yields after each chunk."""
    cf = CaptureFile(path, chunk_bytes)
    info_out.append(cf.info)
    naming = Naming(spec, ifmap)
    for batch in cf.batches():
        _check_linktypes(batch, cf.info)
        target = builder if builder is not None else TableBuilder()
        rows = target.reserve(len(batch), cf.estimate_packets(batch))
        dec = decode(batch, Columns(len(batch), rows))
        fill_frame_level(rows, batch, dec, naming.iface_codes(batch, dec, cf.info))
        target.commit(len(batch))
        yield target, naming
    if cf.info.format == "pcap" and cf.info.interfaces[0].linktype not in SUPPORTED:
        _unsupported(path, cf.info.interfaces[0].linktype)
    if note := naming.unnamed_note():
        cf.info.notes.append(note)


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
    infos = info if info is not None else []
    for builder, naming in _decode_into(str(path), spec, ifmap, chunk_bytes, infos):
        yield to_frame(builder.arrays(), naming)


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
    builder = TableBuilder()
    naming = Naming(spec, ifmap)
    for _, naming in _decode_into(spec.path, spec, ifmap, chunk_bytes, infos, builder=builder):  # noqa: B007
        pass
    return Capture(to_frame(builder.arrays(), naming), infos[0])


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
        return to_frame(TableBuilder().arrays(), Naming(PointSpec("", "", "", ""), None))
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
