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


def _tokens(w: pd.DataFrame, *, reverse: bool) -> np.ndarray:
    proto = w["proto"].to_numpy()
    icmp = (proto == 1) | (proto == 58)
    flags = np.maximum(w["tcp_flags"].to_numpy(), 0)
    if reverse:
        a_hi, a_lo, b_hi, b_lo = (w[c].to_numpy() for c in ("dst_hi", "dst_lo", "src_hi", "src_lo"))
        p1, p2 = w["dport"].to_numpy(), w["sport"].to_numpy()
        third = np.where(proto == 6, w["tcp_ack"].to_numpy(), 0)
    else:
        a_hi, a_lo, b_hi, b_lo = (w[c].to_numpy() for c in ("src_hi", "src_lo", "dst_hi", "dst_lo"))
        p1, p2 = w["sport"].to_numpy(), w["dport"].to_numpy()
        seg = np.maximum(w["payload_len"].to_numpy(), 0)
        bump = ((flags & TCP_SYN) != 0).astype("int64") + ((flags & TCP_FIN) != 0)
        third = np.where(proto == 6, (w["tcp_seq"].to_numpy() + seg + bump) % (1 << 32), 0)
    p1 = np.where(icmp, w["icmp_id"].to_numpy(), p1)
    p2 = np.where(icmp, w["icmp_seq"].to_numpy(), p2)
    return combine(w["point"].to_numpy(), proto, a_hi, a_lo, b_hi, b_lo, p1, p2, third, seed=7)


def pair(w: pd.DataFrame, journey: np.ndarray, window_ns: int) -> pd.DataFrame:
    """Flows: request, reply (journey ids), kind, points (number of points that matched)."""
    is_req, is_rep, kind = _roles(w)
    ts = w["ts"].to_numpy()
    left = pd.DataFrame(
        {"ts": ts[is_req], "tok": _tokens(w.loc[is_req], reverse=False), "request": journey[is_req]}
    ).sort_values("ts", kind="stable")
    right = pd.DataFrame(
        {"ts": ts[is_rep], "tok": _tokens(w.loc[is_rep], reverse=True), "reply": journey[is_rep]}
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
    counts = (
        matched.groupby(["request", "reply"], sort=False)
        .size()
        .rename("points")
        .reset_index()
        .astype("int64")
        .sort_values(["points", "request"], ascending=[False, True], kind="stable")
    )
    flows = counts.drop_duplicates("request").drop_duplicates("reply")
    req_kind = pd.Series(kind, index=journey).groupby(level=0).first()
    names = np.array(FLOW_KINDS, dtype=object)
    flows = flows.assign(kind=names[req_kind.reindex(flows["request"]).to_numpy()])
    return flows.sort_values("request").reset_index(drop=True)
