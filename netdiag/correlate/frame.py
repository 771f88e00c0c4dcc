"""The numeric work frame: the IP rows of the packet table as plain numpy columns.

Nullable pandas columns are slow to compare and group; the engine converts each column it needs
once, with a sentinel for "absent" (-1 for small integers, 0 for address halves), and works on
those. ``row`` keeps the position in the input table so reports can go back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from netdiag.errors import AnalysisInputError

#: direction text -> code (schema.DIRECTIONS order).
DIRECTION_CODES = {"in": 0, "out": 1, "other": 2, "host": 3, "unknown": 4}
ENCAP_CODES = {"vxlan": 0, "geneve": 1, "gre": 2, "ipip": 3}
ENCAP_NAMES = tuple(ENCAP_CODES)

_SIGNED = {
    "ip_version": "int8",
    "proto": "int16",
    "sport": "int32",
    "dport": "int32",
    "ip_id": "int64",
    "ip_len": "int64",
    "frag_offset": "int32",
    "ttl": "int16",
    "tcp_seq": "int64",
    "tcp_ack": "int64",
    "tcp_flags": "int32",
    "icmp_type": "int16",
    "icmp_code": "int16",
    "icmp_id": "int32",
    "icmp_seq": "int32",
    "payload_len": "int64",
    "payload_hashed": "int32",
    "eth_src": "int64",
    "eth_dst": "int64",
    "vni": "int64",
    "outer_ttl": "int16",
}
_UNSIGNED = (
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "payload_hash",
    "outer_src_hi",
    "outer_src_lo",
    "outer_dst_hi",
    "outer_dst_lo",
)


@dataclass(frozen=True)
class Names:
    """Code -> name tables for the categorical columns."""

    points: tuple[str, ...]
    point_node: tuple[str, ...]
    point_iface: tuple[str, ...]
    domains: tuple[str, ...]
    point_domain: np.ndarray  # point code -> clock-domain code


def _codes(series: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    cat = series.astype("category") if series.dtype.name != "category" else series
    values = cat.cat.codes.to_numpy(dtype="int32")
    return values, tuple(str(c) for c in cat.cat.categories)


def _numeric(series: pd.Series, dtype: str, na: int) -> np.ndarray:
    return series.to_numpy(dtype=dtype, na_value=na)


def _lookup(series: pd.Series, mapping: dict[str, int], default: int) -> np.ndarray:
    """Map a (categorical) text column to small codes through its categories, not per row."""
    cat = series.astype("category") if series.dtype.name != "category" else series
    lut = np.array([mapping.get(str(c), default) for c in cat.cat.categories] + [default])
    codes = cat.cat.codes.to_numpy(dtype="int64")
    return lut[np.where(codes >= 0, codes, len(lut) - 1)].astype("int8")


def point_names(table: pd.DataFrame) -> Names:
    """Point, node and clock-domain tables; a point without a node is its own clock domain."""
    _, points = _codes(table["point"])
    first = table.groupby(table["point"].astype(str), observed=True, sort=False).head(1)
    node_of = dict(zip(first["point"].astype(str), first["node"].astype(str), strict=True))
    iface_of = dict(zip(first["point"].astype(str), first["iface"].astype(str), strict=True))
    nodes = tuple(node_of.get(p, "") for p in points)
    ifaces = tuple(iface_of.get(p, p) for p in points)
    domain_names = tuple(dict.fromkeys(n or p for n, p in zip(nodes, points, strict=True)))
    lookup = {d: i for i, d in enumerate(domain_names)}
    point_domain = np.array(
        [lookup[n or p] for n, p in zip(nodes, points, strict=True)], dtype="int32"
    )
    return Names(points, nodes, ifaces, domain_names, point_domain)


def work_frame(table: pd.DataFrame, names: Names) -> pd.DataFrame:
    """IP rows of ``table`` as numpy columns (see module docstring), in input order."""
    missing = [c for c in ("point", "node", "ts_ns", "ip_version") if c not in table.columns]
    if missing:
        raise AnalysisInputError(
            f"the packet table lacks column(s) {', '.join(missing)}; "
            "build it with netdiag.pcap.read_capture"
        )
    is_ip = table["ip_version"].notna().to_numpy(dtype=bool)
    ip = table.loc[is_ip]
    point_codes, _ = _codes(ip["point"].astype(pd.CategoricalDtype(list(names.points))))
    cols: dict[str, np.ndarray] = {
        "row": np.flatnonzero(is_ip).astype("int64"),
        "point": point_codes,
        "dom": names.point_domain[point_codes] if len(point_codes) else point_codes,
        "ts": ip["ts_ns"].to_numpy(dtype="int64"),
    }
    for name, dtype in _SIGNED.items():
        if name in ip.columns:
            cols[name] = _numeric(ip[name], dtype, -1)
        else:
            cols[name] = np.full(len(ip), -1, dtype=dtype)
    for name in _UNSIGNED:
        if name in ip.columns:
            cols[name] = _numeric(ip[name], "uint64", 0)
        else:
            cols[name] = np.zeros(len(ip), dtype="uint64")
    for name in ("mf", "df"):
        cols[name] = (
            ip[name].fillna(False).to_numpy(dtype=bool)
            if name in ip.columns
            else np.zeros(len(ip), dtype=bool)
        )
    for name, mapping, default in (("direction", DIRECTION_CODES, 4), ("encap", ENCAP_CODES, -1)):
        key = "dir" if name == "direction" else name
        if name in ip.columns:
            cols[key] = _lookup(ip[name], mapping, default)
        else:
            cols[key] = np.full(len(ip), default, dtype="int8")
    return pd.DataFrame(cols, copy=False)
