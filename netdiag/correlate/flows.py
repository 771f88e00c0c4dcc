"""Pair requests with replies through whatever NAT happened in between.

At one capture point a reply carries the reversed tuple of its request *as seen at that same
point* (NAT changes addresses between points, never within one). So each request-side sighting
gets a token hash(point, proto, src, dst, ids...) and each reply-side sighting the token of the
reversed tuple; ``merge_asof`` finds the first reply after the request at that point within the
window. A request journey pairs with the reply journey that matches at the most points.

- ICMP echo: request (8 / 128) <-> reply (0 / 129), same echo id and seq at that point.
- TCP: a segment that needs acknowledging (SYN, FIN or payload) <-> the reverse segment whose
  ACK number is seq + payload length (+1 for SYN and for FIN).
- UDP: client -> server is the direction with the higher source port (ephemeral ports are high).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine
from netdiag.correlate.frame import Names
from netdiag.correlate.journeys import path_rows

TCP_FIN, TCP_SYN, TCP_ACK = 0x01, 0x02, 0x10
FLOW_KINDS = ("icmp-echo", "tcp", "udp")


def _roles(w: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is_request, is_reply, kind code) per row."""
    proto = w["proto"].to_numpy()
    itype = w["icmp_type"].to_numpy()
    flags = w["tcp_flags"].to_numpy()
    sport, dport = w["sport"].to_numpy(), w["dport"].to_numpy()
    echo_req = ((proto == 1) & (itype == 8)) | ((proto == 58) & (itype == 128))
    echo_rep = ((proto == 1) & (itype == 0)) | ((proto == 58) & (itype == 129))
    tcp = (proto == 6) & (flags >= 0)
    tcp_req = tcp & (((flags & (TCP_SYN | TCP_FIN)) != 0) | (w["payload_len"].to_numpy() > 0))
    tcp_rep = tcp & ((flags & TCP_ACK) != 0)
    udp = (proto == 17) & (sport >= 0)
    kind = np.where(echo_req | echo_rep, 0, np.where(tcp, 1, 2)).astype("int8")
    return (
        echo_req | tcp_req | (udp & (sport > dport)),
        echo_rep | tcp_rep | (udp & (sport < dport)),
        kind,
    )


def _tokens(w: pd.DataFrame, mask: np.ndarray, *, reverse: bool, v6: bool) -> np.ndarray:
    """Match tokens of the rows selected by ``mask`` (see module docstring)."""

    def c(name: str) -> np.ndarray:
        return np.asarray(w[name].to_numpy()[mask])

    proto = c("proto")
    icmp = (proto == 1) | (proto == 58)
    flags = np.maximum(c("tcp_flags"), 0)
    src, dst = ("dst", "src") if reverse else ("src", "dst")
    p1, p2 = c("dport" if reverse else "sport"), c("sport" if reverse else "dport")
    if reverse:
        third = np.where(proto == 6, c("tcp_ack"), 0)
    else:
        seg = np.maximum(c("payload_len"), 0)
        bump = ((flags & TCP_SYN) != 0).astype("int64") + ((flags & TCP_FIN) != 0)
        third = np.where(proto == 6, (c("tcp_seq") + seg + bump) % (1 << 32), 0)
    p1 = np.where(icmp, c("icmp_id"), p1).astype("uint64") & np.uint64(0x1FFFF)
    p2 = np.where(icmp, c("icmp_seq"), p2).astype("uint64") & np.uint64(0x1FFFF)
    head = (
        c("point").astype("uint64") << np.uint64(42)
        | proto.astype("uint64") << np.uint64(34)
        | p1 << np.uint64(17)
        | p2
    )
    lo = c(f"{src}_lo") ^ (c(f"{dst}_lo") << np.uint64(1))
    if v6:
        hi = c(f"{src}_hi") ^ (c(f"{dst}_hi") << np.uint64(1))
        return combine(head, lo, hi, third.astype("uint64"), seed=7)
    return combine(head, lo, third.astype("uint64"), seed=7)  # IPv4 only: high halves are 0


def pair(
    w: pd.DataFrame, journey: np.ndarray, window_ns: int, duplicate: np.ndarray | None = None
) -> pd.DataFrame:
    """Flows: request, reply (journey ids), kind, points (number of points that matched).

    ``duplicate`` rows (a frame recorded twice at its point) are left out: a second recording
    must not make its packet look matched at more points than another."""
    is_req, is_rep, kind = _roles(w)
    if duplicate is not None:
        is_req, is_rep = is_req & ~duplicate, is_rep & ~duplicate
    v6 = bool((w["ip_version"].to_numpy() == 6).any())
    ts = w["ts"].to_numpy()
    left = pd.DataFrame(
        {
            "ts": ts[is_req],
            "tok": _tokens(w, is_req, reverse=False, v6=v6),
            "request": journey[is_req],
        }
    ).sort_values("ts", kind="stable")
    right = pd.DataFrame(
        {"ts": ts[is_rep], "tok": _tokens(w, is_rep, reverse=True, v6=v6), "reply": journey[is_rep]}
    ).sort_values("ts", kind="stable")
    empty = pd.DataFrame(
        {"request": [], "reply": [], "kind": [], "points": []}, dtype="int64"
    ).astype({"kind": "object"})
    if left.empty or right.empty:
        return empty
    matched = pd.merge_asof(
        left, right, on="ts", by="tok", direction="forward", tolerance=window_ns
    ).dropna(subset=["reply"])
    matched = matched.loc[matched["request"] != matched["reply"]]
    if matched.empty:
        return empty
    width = int(journey.max()) + 1
    pair_key = matched["request"].to_numpy().astype("int64") * width + matched[
        "reply"
    ].to_numpy().astype("int64")
    uniq, n_points = np.unique(pair_key, return_counts=True)
    counts = pd.DataFrame(
        {"request": uniq // width, "reply": uniq % width, "points": n_points}
    ).sort_values(["points", "request"], ascending=[False, True], kind="stable")
    flows = counts.drop_duplicates("request").drop_duplicates("reply")
    kind_of = np.zeros(int(journey.max()) + 1, dtype="int8")
    kind_of[journey] = kind  # every sighting of a journey has the same protocol and type
    codes = kind_of[flows["request"].to_numpy()]
    kinds = pd.Categorical.from_codes(
        np.asarray(codes, dtype="int64"), categories=pd.Index(list(FLOW_KINDS))
    )
    flows = flows.assign(kind=kinds)
    return flows.sort_values("request").reset_index(drop=True)


def _path_domain_sets(
    s: pd.DataFrame, names: Names, count: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unique (journey, dom) and (journey, point) pairs of on-path sightings."""
    on_path = s["copy"].to_numpy() == 0
    j = s["journey"].to_numpy()[on_path]
    point = s["point"].to_numpy()[on_path]
    dom = names.point_domain[point]
    doms = pd.DataFrame({"j": j, "x": dom}).drop_duplicates()
    points = pd.DataFrame({"j": j, "x": point}).drop_duplicates()
    return doms, points


def _missing(sets: pd.DataFrame, have: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Per flow: how many members of journey ``want``'s set are absent from ``have``'s."""
    flows = pd.DataFrame({"f": np.arange(len(have)), "have": have, "want": want})
    wanted = flows.merge(sets, left_on="want", right_on="j")[["f", "have", "x"]]
    present = wanted.merge(sets, left_on=["have", "x"], right_on=["j", "x"], how="left")["j"]
    absent = wanted.loc[present.isna().to_numpy(), "f"].to_numpy()
    return np.bincount(absent, minlength=len(have))


def describe(  # noqa: PLR0917 - the engine's one call
    flows: pd.DataFrame,
    s: pd.DataFrame,
    jt: pd.DataFrame,
    hops: pd.DataFrame,
    names: Names,
    original: np.ndarray,
) -> pd.DataFrame:
    """Where each flow entered and left, whether the reply retraced the request, where it was
    un-NATed, and whether it came back to the sender with the addresses the sender used.

    Asymmetric: the reply passed a point the request did not, or it reached the request's
    sender without passing a node the request passed. A reply that stops early is a drop
    (reported as such), not an asymmetry.
    """
    req = flows["request"].to_numpy()
    rep = flows["reply"].to_numpy()
    point = s["point"].to_numpy()
    _, first, last = path_rows(s)
    origin_dom = names.point_domain[point[first[req]]]
    back_dom = names.point_domain[point[last[rep]]]
    reached = origin_dom == back_dom
    if len(names.points) <= 64:  # point and node sets as 64-bit masks, one OR per journey
        on_path = s["copy"].to_numpy() == 0
        one = np.uint64(1)
        p_bits = np.where(on_path, one << point.astype("uint64"), np.uint64(0))
        d_bits = np.where(on_path, one << names.point_domain[point].astype("uint64"), 0)
        p_mask = np.bitwise_or.reduceat(p_bits, first) if len(first) else p_bits[:0]
        d_mask = np.bitwise_or.reduceat(d_bits.astype("uint64"), first) if len(first) else p_mask
        extra_points = (p_mask[rep] & ~p_mask[req]) != 0  # reply points the request lacks
        skipped = (d_mask[req] & ~d_mask[rep]) != 0  # request nodes the reply lacks
    else:
        doms, points = _path_domain_sets(s, names, len(jt))
        extra_points = _missing(points, req, rep) > 0
        skipped = _missing(doms, rep, req) > 0
    symmetric = ~extra_points & ~(reached & skipped)
    unnat = hops.loc[(hops["src_kind"] == 2) | (hops["dst_kind"] == 2)] if len(hops) else hops
    where = unnat.drop_duplicates("journey").set_index("journey")["b"]
    at = where.reindex(rep).to_numpy()
    cats = pd.Index(list(names.points))
    unnat_point = np.where(np.isnan(at), -1, point[np.nan_to_num(at).astype("int64")])

    def same(side_a: str, row_a: np.ndarray, side_b: str, row_b: np.ndarray) -> np.ndarray:
        port_a = "sport" if side_a == "src" else "dport"
        port_b = "sport" if side_b == "src" else "dport"
        return np.asarray(
            (s[f"{side_a}_hi"].to_numpy()[row_a] == s[f"{side_b}_hi"].to_numpy()[row_b])
            & (s[f"{side_a}_lo"].to_numpy()[row_a] == s[f"{side_b}_lo"].to_numpy()[row_b])
            & (s[port_a].to_numpy()[row_a] == s[port_b].to_numpy()[row_b])
        )

    # Back at the sender, the reply must come from where the request went and go to its source.
    undnat_missing = reached & ~same("src", last[rep], "dst", first[req])
    unsnat_missing = reached & ~same("dst", last[rep], "src", first[req])

    def category(codes: np.ndarray) -> pd.Categorical[str]:
        return pd.Categorical.from_codes(np.asarray(codes, dtype="int64"), categories=cats)

    return flows.assign(
        symmetric=symmetric,
        enter_point=category(point[first[req]]),
        leave_point=category(point[last[rep]]),
        reverse_nat_point=category(unnat_point),
        from_client=original[req],
        reached_sender=reached,
        undnat_missing=undnat_missing,
        unsnat_missing=unsnat_missing,
    )
