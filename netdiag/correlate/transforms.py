"""What changed between consecutive sightings of a journey, who did it, and the NAT aggregate.

Input is the sightings frame in path order (``journey``, then ``hop``); a hop is a pair of
consecutive on-path rows of one journey (side copies and duplicates are not hops). Address
changes are judged with the port when the packet has ports (TCP/UDP: ``ip:port``), MAC changes
only when both sightings have the MAC and the same encapsulation state (an outer frame's MACs
are a different header), TTL on the inner header.

A change is named for what it does to the connection, as conntrack sees it: on a packet in the
connection's original direction a new source is ``snat`` and a new destination ``dnat``; on a
packet in the reply direction they undo the original's NAT: ``un-dnat`` (source) and
``un-snat`` (destination). ``src_kind`` / ``dst_kind`` hold 0 = unchanged, 1 = snat / dnat,
2 = un-dnat / un-snat.

A change belongs to the node between whose two sightings it happened: inside one node, that
node; across two nodes, the one that is not an endpoint (a node that only sent or only received
the packet never rewrites it); when both or neither are, "between" the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import KeyTable, combine
from netdiag.correlate.frame import Names
from netdiag.correlate.journeys import path_rows
from netdiag.pcap.addr import ip_text, ip_with_port

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 47: "gre", 132: "sctp"}
_TCP_SYN, _TCP_ACK = 0x02, 0x10
_PORTED = (6, 17, 132)
#: Linux's default ephemeral port range starts here (net.ipv4.ip_local_port_range).
_EPHEMERAL = 32768


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a != b)


def compute_hops(s: pd.DataFrame) -> pd.DataFrame:
    """One row per hop: journey, hop, a/b (positions in ``s``), latency, change flags and
    ``order`` (why b comes after a, ``order.ORDER_KINDS`` code)."""
    j = s["journey"].to_numpy()
    columns = ("journey", "hop", "a", "b", "latency_ns", "src_kind", "dst_kind", "mac_src",
               "mac_dst", "ttl", "encap", "decap", "order")  # fmt: skip
    if len(j) < 2:
        empty: dict[str, np.ndarray] = {c: np.zeros(0, dtype="int64") for c in columns}
        for c in ("mac_src", "mac_dst", "ttl", "encap", "decap"):
            empty[c] = np.zeros(0, dtype=bool)
        return pd.DataFrame(empty)
    on_path = s["copy"].to_numpy() == 0 if "copy" in s.columns else np.ones(len(j), dtype=bool)
    pair = (j[1:] == j[:-1]) & on_path[:-1] & on_path[1:]
    a = np.flatnonzero(pair)

    def col(name: str) -> tuple[np.ndarray, np.ndarray]:
        # Views of consecutive rows: comparisons run on whole arrays, only results are masked.
        v = s[name].to_numpy()
        return v[:-1], v[1:]

    src_hi, src_lo, dst_hi, dst_lo = (col(c) for c in ("src_hi", "src_lo", "dst_hi", "dst_lo"))
    sport, dport = col("sport"), col("dport")
    ttl, enc = col("ttl"), col("encap")
    src = _changed(*src_hi) | _changed(*src_lo) | ((sport[0] >= 0) & _changed(*sport))
    dst = _changed(*dst_hi) | _changed(*dst_lo) | ((dport[0] >= 0) & _changed(*dport))
    same_enc = (enc[0] >= 0) == (enc[1] >= 0)
    macs = {}
    for field in ("eth_src", "eth_dst"):
        m = col(field)
        macs[field] = same_enc & (m[0] >= 0) & (m[1] >= 0) & _changed(*m)
    ts = s["ts_corr"].to_numpy()
    how = s["how"].to_numpy() if "how" in s.columns else np.zeros(len(j), dtype="int8")
    return pd.DataFrame(
        {
            "journey": j[a],
            "hop": s["hop"].to_numpy()[a],
            "a": a,
            "b": a + 1,
            "latency_ns": (ts[1:] - ts[:-1])[a],
            "src_kind": src[a].astype("int8"),
            "dst_kind": dst[a].astype("int8"),
            "mac_src": macs["eth_src"][a],
            "mac_dst": macs["eth_dst"][a],
            "ttl": ((ttl[0] >= 0) & (ttl[1] >= 0) & _changed(*ttl))[a],
            "encap": ((enc[0] < 0) & (enc[1] >= 0))[a],
            "decap": ((enc[0] >= 0) & (enc[1] < 0))[a],
            "order": how[a + 1].astype("int8"),
        },
        copy=False,
    )


def _endpoint_key(hi: np.ndarray, lo: np.ndarray, port: np.ndarray) -> np.ndarray:
    return combine(hi, lo, np.maximum(port, -1), seed=31)


def _connection_keys(s: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(undirected, directed) keys of ``rows``: their point, protocol and two endpoints."""
    col = {c: s[c].to_numpy()[rows] for c in ("src_hi", "src_lo", "sport", "dst_hi", "dst_lo",
                                              "dport", "point", "proto")}  # fmt: skip
    a = _endpoint_key(col["src_hi"], col["src_lo"], col["sport"])
    b = _endpoint_key(col["dst_hi"], col["dst_lo"], col["dport"])
    undirected = combine(col["point"], col["proto"], np.minimum(a, b), np.maximum(a, b), seed=32)
    return undirected.astype("int64"), combine(col["point"], col["proto"], a, b, seed=33).astype(
        "int64"
    )


def original_rows(s: pd.DataFrame, asked: np.ndarray) -> np.ndarray:
    """For rows ``asked`` of ``s``: do they travel in their connection's original direction
    (as conntrack would tell)? ICMP echo requests yes, replies and ICMP errors no; a TCP SYN
    yes and its SYN-ACK no; otherwise the direction of the connection's opener at the same
    point: its SYN, else a packet from an ephemeral port to a service port (a capture that
    started mid-connection), else its first packet seen there. Connection keys are computed
    only for the asked rows, the SYNs, and the connections whose ports say nothing."""
    proto, itype = s["proto"].to_numpy(), s["icmp_type"].to_numpy()
    flags, sport, dport = (s[c].to_numpy() for c in ("tcp_flags", "sport", "dport"))
    out = np.ones(len(asked), dtype=bool)
    p, t = proto[asked], itype[asked]
    icmp = (p == 1) | (p == 58)
    out[icmp] = (((p == 1) & (t == 8)) | ((p == 58) & (t == 128)))[icmp]
    ported = np.isin(proto, _PORTED) & (sport >= 0)
    mine = np.flatnonzero(ported[asked])
    if not len(mine):
        return out
    tcp = (proto == 6) & (flags >= 0)
    syn = tcp & ((flags & (_TCP_SYN | _TCP_ACK)) == _TCP_SYN)
    synack = tcp & ((flags & (_TCP_SYN | _TCP_ACK)) == (_TCP_SYN | _TCP_ACK))
    to_service = (dport < _EPHEMERAL) & (sport >= _EPHEMERAL)
    from_service = (sport < _EPHEMERAL) & (dport >= _EPHEMERAL)
    rows = asked[mine]
    undirected, directed = _connection_keys(s, rows)
    syns = np.flatnonzero(syn)
    if len(syns):
        su, sd = _connection_keys(s, syns)
        syn_dir = KeyTable(su, sd).get(undirected, 0)
    else:
        syn_dir = np.zeros(len(rows), dtype="int64")
    orig = np.where(syn_dir != 0, directed == syn_dir, to_service[rows])
    # Neither a SYN nor the ports tell: the connection's first packet seen at that point.
    unsure = (syn_dir == 0) & ~to_service[rows] & ~from_service[rows]
    if unsure.any():
        pool = np.flatnonzero(ported & ~to_service & ~from_service)
        pu, pd_ = _connection_keys(s, pool)
        order = np.lexsort((s["ts"].to_numpy()[pool], pu))
        first = np.r_[True, pu[order][1:] != pu[order][:-1]]
        opener = KeyTable(pu[order][first], pd_[order][first])
        orig[unsure] = directed[unsure] == opener.get(undirected[unsure])
    orig = np.where(syn[rows], True, np.where(synack[rows], False, orig))
    out[mine] = orig
    return out


def journey_original(s: pd.DataFrame, jt: pd.DataFrame) -> np.ndarray:
    """Per journey: original direction, judged where the journey starts (its sender's side)."""
    if jt.empty:
        return np.zeros(0, dtype=bool)
    return original_rows(s, jt["first"].to_numpy())


def name_changes(hops: pd.DataFrame, original: np.ndarray) -> pd.DataFrame:
    """``src_kind`` / ``dst_kind`` 2 (un-dnat / un-snat) on journeys in the reply direction."""
    if hops.empty:
        return hops
    back = ~original[hops["journey"].to_numpy()]
    src_kind = hops["src_kind"].to_numpy().copy()
    dst_kind = hops["dst_kind"].to_numpy().copy()
    src_kind[back & (src_kind == 1)] = 2
    dst_kind[back & (dst_kind == 1)] = 2
    return hops.assign(src_kind=src_kind, dst_kind=dst_kind)


def endpoint_domains(s: pd.DataFrame, names: Names, known: Iterable[str]) -> np.ndarray:
    """Per clock domain: is it an end host (it only ever sends or receives)? The ``known`` ones
    (a run's external clients), and any domain captured at one point whose sightings all start
    or end their journey's path."""
    ndom = len(names.domains)
    out = np.zeros(ndom, dtype=bool)
    lookup = {d: i for i, d in enumerate(names.domains)}
    for name in known:
        if name in lookup:
            out[lookup[name]] = True
    if s.empty:
        return out
    on_path, path_first, path_last = path_rows(s)
    pos = np.arange(len(s))
    j = s["journey"].to_numpy()
    end = (pos == path_first[j]) | (pos == path_last[j])
    dom = names.point_domain[s["point"].to_numpy()]
    middle = np.bincount(dom[on_path & ~end], minlength=ndom) > 0
    points_per_dom = np.bincount(names.point_domain, minlength=ndom)
    return np.asarray(out | (~middle & (points_per_dom == 1)), dtype=bool)


def hop_nodes(
    s: pd.DataFrame, hops: pd.DataFrame, names: Names, endpoint: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per hop: the domain that made its changes (-1: between ``a``'s and ``b``'s domains), and
    the two domains."""
    point = s["point"].to_numpy()
    da = names.point_domain[point[hops["a"].to_numpy()]].astype("int64")
    db = names.point_domain[point[hops["b"].to_numpy()]].astype("int64")
    who = np.where(da == db, da, -1)
    cross = da != db
    who = np.where(cross & endpoint[da] & ~endpoint[db], db, who)
    who = np.where(cross & endpoint[db] & ~endpoint[da], da, who)
    return who, np.stack([da, db], axis=1)


def addr_text(s: pd.DataFrame, pos: np.ndarray, side: str) -> list[str]:
    """Text ``ip`` / ``ip:port`` / ``[v6]:port`` of the src or dst of rows ``pos`` of ``s``."""
    hi = s[f"{side}_hi"].to_numpy()[pos]
    lo = s[f"{side}_lo"].to_numpy()[pos]
    port = s["sport" if side == "src" else "dport"].to_numpy()[pos]
    ver = s["ip_version"].to_numpy()[pos]
    return _texts(hi, lo, port, ver)


def _texts(
    hi: Iterable[Any], lo: Iterable[Any], port: Iterable[Any], ver: Iterable[Any]
) -> list[str]:
    """``ip`` / ``ip:port`` / ``[v6]:port`` per row; a negative port means none."""
    return [
        ip_with_port(ip_text(int(h), int(low), int(v)), int(p) if p >= 0 else None)
        for h, low, p, v in zip(hi, lo, port, ver, strict=True)
    ]


TRANSLATION_COLUMNS = ("kind", "node", "between", "proto", "before", "after", "packets")


def translations(
    s: pd.DataFrame, hops: pd.DataFrame, names: Names, endpoint: np.ndarray
) -> pd.DataFrame:
    """Aggregate NAT changes: kind, node ("" when it happened between two nodes, named in
    ``between`` as "A|B"), proto, before, after, packets (complete, all hops)."""
    frames = []
    if not hops.empty:
        who, pair = hop_nodes(s, hops, names, endpoint)
    for column, side, kinds in (
        ("dst_kind", "dst", {1: "dnat", 2: "un-snat"}),
        ("src_kind", "src", {1: "snat", 2: "un-dnat"}),
    ):
        if hops.empty:
            break
        mask = hops[column].to_numpy() > 0
        sel = hops.loc[mask]
        if sel.empty:
            continue
        a, b = sel["a"].to_numpy(), sel["b"].to_numpy()
        port = "sport" if side == "src" else "dport"
        fields = {
            "kind": sel[column].to_numpy(),
            "who": who[mask],
            "da": pair[mask, 0],
            "db": pair[mask, 1],
            "proto": s["proto"].to_numpy()[b],
            "ver": s["ip_version"].to_numpy()[b],
            "b_hi": s[f"{side}_hi"].to_numpy()[a],
            "b_lo": s[f"{side}_lo"].to_numpy()[a],
            "b_port": s[port].to_numpy()[a],
            "a_hi": s[f"{side}_hi"].to_numpy()[b],
            "a_lo": s[f"{side}_lo"].to_numpy()[b],
            "a_port": s[port].to_numpy()[b],
        }
        # One hash per translation, counted; the fields are read back from one row per hash.
        key = combine(*fields.values(), seed=3)
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        agg = pd.DataFrame({k: v[first] for k, v in fields.items()})
        agg["packets"] = counts
        agg["kind"] = agg["kind"].map(kinds)
        agg["node"] = [names.domains[int(w)] if w >= 0 else "" for w in agg["who"]]
        agg["between"] = [
            "" if w >= 0 else f"{names.domains[int(x)]}|{names.domains[int(y)]}"
            for w, x, y in zip(agg["who"], agg["da"], agg["db"], strict=True)
        ]
        agg["proto"] = [PROTO_NAMES.get(int(p), str(int(p))) for p in agg["proto"]]
        agg["before"] = _texts(agg["b_hi"], agg["b_lo"], agg["b_port"], agg["ver"])
        agg["after"] = _texts(agg["a_hi"], agg["a_lo"], agg["a_port"], agg["ver"])
        frames.append(agg[list(TRANSLATION_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: [] for c in TRANSLATION_COLUMNS}).astype({"packets": "int64"})
    both = pd.concat(frames, ignore_index=True)
    group_cols = [c for c in TRANSLATION_COLUMNS if c != "packets"]
    out: pd.DataFrame = both.groupby(group_cols, sort=False)["packets"].sum().reset_index()
    order = ["packets", "kind", "node", "between", "proto", "before", "after"]
    return out.sort_values(order, ascending=[False, *[True] * 6]).reset_index(drop=True)
