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
    "ip_id": "int32",
    "ip_len": "int32",
    "frag_offset": "int32",
    "ttl": "int16",
    "tcp_seq": "int64",
    "tcp_ack": "int64",
    "tcp_flags": "int16",
    "icmp_type": "int16",
    "icmp_code": "int16",
    "icmp_id": "int32",
    "icmp_seq": "int32",
    "payload_len": "int32",
    "payload_hashed": "int16",
    "eth_src": "int64",
    "eth_dst": "int64",
    "vni": "int32",
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


def _numeric(series: pd.Series, dtype: str, na: int | bool) -> np.ndarray:
    return series.to_numpy(dtype=dtype, na_value=na)


def _lookup(series: pd.Series, mapping: dict[str, int], default: int) -> np.ndarray:
    """Map a (categorical) text column to small codes through its categories, not per row."""
    cat = series.astype("category") if series.dtype.name != "category" else series
    lut = np.array([mapping.get(str(c), default) for c in cat.cat.categories] + [default])
    codes = cat.cat.codes.to_numpy(dtype="int64")
    return lut[np.where(codes >= 0, codes, len(lut) - 1)].astype("int8")


_FF = np.uint64(0xFF00_0000_0000_0000)
_FE80 = np.uint64(0xFE80_0000_0000_0000)
_FFC0 = np.uint64(0xFFC0_0000_0000_0000)
_V4 = np.uint64(0xFFFF_0000_0000)
#: ICMPv6 router/neighbour discovery and MLD: link-local housekeeping, never forwarded.
_ND_MLD = (130, 131, 132, 133, 134, 135, 136, 137, 143)


def routable(table: pd.DataFrame) -> np.ndarray:
    """Rows worth following across hops: not IPv6 link-local / multicast, not IPv4 multicast or
    limited broadcast, not neighbour discovery or MLD (they never leave their link, and their
    identical contents from many hosts would only make ambiguous groups)."""
    n = len(table)
    if "dst_hi" not in table.columns:
        return np.ones(n, dtype=bool)
    src_hi = table["src_hi"].to_numpy(dtype="uint64", na_value=0)
    dst_hi = table["dst_hi"].to_numpy(dtype="uint64", na_value=0)
    dst_lo = table["dst_lo"].to_numpy(dtype="uint64", na_value=0)
    v4 = (dst_hi == 0) & ((dst_lo >> np.uint64(32)) == np.uint64(0xFFFF))
    v4_dst = dst_lo & np.uint64(0xFFFF_FFFF)
    v4_local = v4 & (
        ((v4_dst >> np.uint64(28)) == np.uint64(0xE)) | (v4_dst == np.uint64(0xFFFF_FFFF))
    )
    v6_local = ~v4 & (
        ((dst_hi & _FF) == _FF) | ((dst_hi & _FFC0) == _FE80) | ((src_hi & _FFC0) == _FE80)
    )
    proto = table["proto"].to_numpy(dtype="int64", na_value=-1) if "proto" in table else None
    itype = (
        table["icmp_type"].to_numpy(dtype="int64", na_value=-1) if "icmp_type" in table else None
    )
    nd = (
        (proto == 58) & np.isin(itype, _ND_MLD)
        if proto is not None and itype is not None
        else False
    )
    return np.asarray(~(v4_local | v6_local | nd))


def effective_points(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``point`` = node/iface where the reader left a node-wide name.

    A ``tcpdump -i any`` capture is one file for a whole node: the reader names every frame
    after the file (``point`` = node) and tells the devices apart in ``iface`` (SLL2 ifindex
    through the interface map). Each device is its own capture point for correlation.
    """
    if "iface" not in table.columns or table.empty:
        return table
    point = table["point"].astype("category")
    if all("/" in str(c) for c in point.cat.categories):
        return table
    iface = table["iface"].astype("category")
    node = table["node"].astype("category")
    pc = point.cat.codes.to_numpy().astype("int64")
    ic = iface.cat.codes.to_numpy().astype("int64")
    nc = node.cat.codes.to_numpy().astype("int64")
    ni, nn = len(iface.cat.categories) + 1, len(node.cat.categories) + 1
    codes, uniq = pd.factorize((pc * nn + nc) * ni + ic)
    names = []
    for u in uniq:
        p_, rest = divmod(int(u), nn * ni)
        n_, i_ = divmod(rest, ni)
        pname = str(point.cat.categories[p_]) if p_ >= 0 else ""
        iname = str(iface.cat.categories[i_]) if 0 <= i_ < ni - 1 else ""
        nname = str(node.cat.categories[n_]) if 0 <= n_ < nn - 1 else ""
        if "/" in pname or not iname:
            names.append(pname)
        else:
            names.append(f"{nname or pname}/{iname}")
    cats = list(dict.fromkeys(names))
    lookup = np.array([cats.index(x) for x in names], dtype="int64")
    fixed = pd.Categorical.from_codes(lookup[codes], categories=pd.Index(cats))
    return table.assign(point=fixed)


def point_names(table: pd.DataFrame) -> Names:
    """Point, node and clock-domain tables; a point without a node is its own clock domain."""
    point_codes, points = _codes(table["point"])
    # First row of each point, found on the integer codes (no per-row strings).
    _, first_rows = np.unique(point_codes, return_index=True)
    present = np.unique(point_codes)
    firsts = table.iloc[first_rows[present >= 0]] if len(first_rows) else table.iloc[:0]
    pairs = zip(
        present[present >= 0], firsts["node"].astype(str), firsts["iface"].astype(str), strict=True
    )
    node_of, iface_of = {}, {}
    for c, node, iface in pairs:
        node_of[points[c]], iface_of[points[c]] = node, iface
    # A point that captured nothing has no row to say its node: its name does (node/iface).
    nodes = tuple(node_of.get(p, p.rpartition("/")[0]) for p in points)
    ifaces = tuple(iface_of.get(p, p.rpartition("/")[2] or p) for p in points)
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
    is_ip = table["ip_version"].notna().to_numpy(dtype=bool) & routable(table)
    keep: slice | np.ndarray = slice(None) if is_ip.all() else is_ip
    n = int(is_ip.sum())
    # Column by column, masking numpy arrays: never a row take of the whole table.
    point_codes = _codes(table["point"].astype(pd.CategoricalDtype(list(names.points))))[0][keep]
    cols: dict[str, np.ndarray] = {
        "row": np.flatnonzero(is_ip).astype("int64"),
        "point": point_codes,
        "dom": names.point_domain[point_codes] if n else point_codes,
        "ts": table["ts_ns"].to_numpy(dtype="int64")[keep],
    }
    for name, dtype in _SIGNED.items():
        present = name in table.columns
        cols[name] = _numeric(table[name], dtype, -1)[keep] if present else np.full(n, -1, dtype)
    for name in _UNSIGNED:
        present = name in table.columns
        cols[name] = _numeric(table[name], "uint64", 0)[keep] if present else np.zeros(n, "uint64")
    for name in ("mf", "df"):
        present = name in table.columns
        cols[name] = (
            _numeric(table[name], "bool", False)[keep] if present else np.zeros(n, dtype=bool)
        )
    for name, mapping, default in (("direction", DIRECTION_CODES, 4), ("encap", ENCAP_CODES, -1)):
        key = "dir" if name == "direction" else name
        if name in table.columns:
            cols[key] = _lookup(table[name], mapping, default)[keep]
        else:
            cols[key] = np.full(n, default, dtype="int8")
    return pd.DataFrame(cols, copy=False)
