"""What changed between consecutive sightings of a journey, and the NAT aggregate.

Input is the work frame sorted in causal order (``journey`` then ``hop``). A hop is a pair of
consecutive rows of one journey. Address changes are judged with the port when the packet has
ports (TCP/UDP: ``ip:port``), MAC changes only when both sightings have the MAC and the same
encapsulation state (an outer frame's MACs are a different header), TTL on the inner header.

Address changes on packets travelling in the reply direction (server -> client) undo the
request's NAT and are labelled ``un-dnat`` / ``un-snat`` (see ``model.CHANGE_KINDS``);
``src_kind`` / ``dst_kind`` hold 0 = unchanged, 1 = snat / dnat, 2 = un-dnat / un-snat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine, is_icmp_error
from netdiag.correlate.frame import Names
from netdiag.pcap.addr import ip_text, ip_with_port

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 47: "gre", 132: "sctp"}


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a != b)


def compute_hops(s: pd.DataFrame) -> pd.DataFrame:
    """One row per hop: journey, hop, a/b (positions in ``s``), latency and change flags."""
    j = s["journey"].to_numpy()
    if len(j) < 2:
        return pd.DataFrame(
            {c: np.zeros(0, dtype="int64") for c in ("journey", "hop", "a", "b", "latency_ns")}
        )
    pair = j[1:] == j[:-1]
    if "side" in s.columns:  # off-path copies sit at the end of their journey: not hops
        side = s["side"].to_numpy()
        pair &= ~side[:-1] & ~side[1:]
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
        },
        copy=False,
    )


def reply_direction(s: pd.DataFrame) -> np.ndarray:
    """Rows travelling server -> client: echo replies, ICMP errors (they go back to the
    sender), SYN-ACKs, and TCP/UDP from the lower port to the higher one (a SYN alone always
    goes client -> server)."""
    proto = s["proto"].to_numpy()
    itype = s["icmp_type"].to_numpy()
    flags = s["tcp_flags"].to_numpy()
    sport, dport = s["sport"].to_numpy(), s["dport"].to_numpy()
    echo_reply = ((proto == 1) & (itype == 0)) | ((proto == 58) & (itype == 129))
    syn = (proto == 6) & (flags >= 0) & ((flags & 0x12) == 0x02)
    synack = (proto == 6) & (flags >= 0) & ((flags & 0x12) == 0x12)
    ports = ((proto == 6) | (proto == 17)) & (sport >= 0) & (sport < dport)
    return np.asarray(echo_reply | is_icmp_error(s) | synack | (ports & ~syn))


def relabel_reverse_nat(s: pd.DataFrame, hops: pd.DataFrame) -> pd.DataFrame:
    """On reply-direction packets a source change undoes a DNAT, a destination change an SNAT."""
    if hops.empty:
        return hops
    back = reply_direction(s)[hops["a"].to_numpy()]
    src_kind = hops["src_kind"].to_numpy().copy()
    dst_kind = hops["dst_kind"].to_numpy().copy()
    src_kind[back & (src_kind == 1)] = 2
    dst_kind[back & (dst_kind == 1)] = 2
    return hops.assign(src_kind=src_kind, dst_kind=dst_kind)


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


def translations(s: pd.DataFrame, hops: pd.DataFrame, names: Names) -> pd.DataFrame:
    """Aggregate NAT changes: kind, node, proto, before, after, packets (complete, all hops)."""
    frames = []
    for column, side, kinds in (
        ("dst_kind", "dst", {1: "dnat", 2: "un-snat"}),
        ("src_kind", "src", {1: "snat", 2: "un-dnat"}),
    ):
        sel = hops.loc[hops[column].to_numpy() > 0]
        if sel.empty:
            continue
        a, b = sel["a"].to_numpy(), sel["b"].to_numpy()
        port = "sport" if side == "src" else "dport"
        fields = {
            "kind": sel[column].to_numpy(),
            "point": s["point"].to_numpy()[b],
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
        agg["node"] = [names.point_node[p] or names.points[p] for p in agg["point"]]
        agg["proto"] = [PROTO_NAMES.get(int(p), str(int(p))) for p in agg["proto"]]
        agg["before"] = _texts(agg["b_hi"], agg["b_lo"], agg["b_port"], agg["ver"])
        agg["after"] = _texts(agg["a_hi"], agg["a_lo"], agg["a_port"], agg["ver"])
        frames.append(agg[["kind", "node", "proto", "before", "after", "packets"]])
    if not frames:
        return pd.DataFrame(
            {"kind": [], "node": [], "proto": [], "before": [], "after": [], "packets": []}
        ).astype({"packets": "int64"})
    both = pd.concat(frames, ignore_index=True)
    group_cols = ["kind", "node", "proto", "before", "after"]
    out: pd.DataFrame = both.groupby(group_cols, sort=False)["packets"].sum().reset_index()
    return out.sort_values(["packets", "kind"], ascending=[False, True]).reset_index(drop=True)
