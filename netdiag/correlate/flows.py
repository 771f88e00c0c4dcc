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


def pair(w: pd.DataFrame, journey: np.ndarray, window_ns: int) -> pd.DataFrame:
    """Flows: request, reply (journey ids), kind, points (number of points that matched)."""
    is_req, is_rep, kind = _roles(w)
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
