"""Where a packet stopped, and which requests went unanswered.

A journey is *dropped* when it stopped at a point while others of its class (same first point,
protocol, destination and port where first seen, direction) went on from there, or while its
destination lives behind a captured point it never reached. A request got *no reply* when it
arrived and nothing answered it where the capture ran long enough to see an answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.anomalies import anomaly_frame, empty
from netdiag.correlate.fingerprint import KeyTable, combine, count_keys, mix
from netdiag.correlate.flows import TCP_ACK, TCP_SYN
from netdiag.correlate.frame import Names
from netdiag.correlate.journeys import path_rows


def journey_classes(s: pd.DataFrame, first: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Per journey (given its first row and direction): packets that should take one path —
    the same first point, protocol, destination (and port, ICMP type) where first seen, and
    direction."""

    def at(name: str) -> np.ndarray:
        return np.asarray(s[name].to_numpy()[first])

    return combine(
        at("point"), at("proto"), at("dst_hi"), at("dst_lo"), at("dport"), at("icmp_type"),
        original.astype("int64"), seed=41,
    )  # fmt: skip


def _prefix_hashes(s: pd.DataFrame, on_path: np.ndarray) -> np.ndarray:
    """Per on-path row: a hash of the points from its journey's start up to it (0 elsewhere)."""
    hop = s["hop"].to_numpy()
    point = s["point"].to_numpy().astype("uint64")
    out = np.zeros(len(s), dtype="uint64")
    rows = np.flatnonzero(on_path & (hop == 0))
    out[rows] = mix(point[rows] + np.uint64(1))
    k = 1
    while True:
        rows = np.flatnonzero(on_path & (hop == k))
        if not len(rows):
            return out
        with np.errstate(over="ignore"):
            out[rows] = mix(out[rows - 1] ^ (point[rows] + np.uint64(1)) * _GOLDEN)
        k += 1


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def address_homes(
    s: pd.DataFrame, first: np.ndarray, wanted: np.ndarray, given: Mapping[int, int]
) -> KeyTable:
    """Address key -> the capture point where that address lives, for the ``wanted`` address
    keys: given (a run's pod points), else where the packets it sent were first seen (the
    most common such point)."""
    src = address_key(s["src_hi"].to_numpy()[first], s["src_lo"].to_numpy()[first])
    mine = pd.Series(src).isin(pd.Series(wanted).unique()).to_numpy()
    src, point = src[mine], s["point"].to_numpy().astype("int64")[first][mine]
    # One row per (address, point) with its count; keep each address's most common point.
    pair = combine(src, point, seed=43).astype("int64")
    _, one, n = np.unique(pair, return_index=True, return_counts=True)
    addr, pt = src[one], point[one]
    order = np.lexsort((-n, addr))
    addr, pt = addr[order], pt[order]
    keep = np.r_[True, addr[1:] != addr[:-1]] if len(addr) else np.zeros(0, dtype=bool)
    learned = dict(zip(addr[keep].tolist(), pt[keep].tolist(), strict=True))
    return KeyTable.of({**learned, **given})


def address_key(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """The key :func:`address_homes` uses for an address."""
    return combine(hi, lo, seed=42).astype("int64")


def _best_next(
    cls: np.ndarray, prefix: np.ndarray, s: pd.DataFrame, on_path: np.ndarray
) -> tuple[KeyTable, KeyTable, KeyTable]:
    """For each (class, path so far): the point most packets went to next, how many did, and
    how many reached that far (tables keyed by ``combine(class, prefix)``), over the rows of
    ``on_path``."""
    j = s["journey"].to_numpy()
    point = s["point"].to_numpy().astype("int64")
    nxt = np.flatnonzero(np.r_[j[1:] == j[:-1], False] & on_path & np.r_[on_path[1:], False])
    here = combine(cls[j[nxt]], prefix[nxt], seed=44).astype("int64")
    transition = combine(here, point[nxt + 1], seed=45).astype("int64")
    _, one, went_n = np.unique(transition, return_index=True, return_counts=True)
    t_here, t_y = here[one], point[nxt + 1][one]
    order = np.lexsort((t_y, -went_n, t_here))
    t_here, t_y, t_n = t_here[order], t_y[order], went_n[order]
    best = np.r_[True, t_here[1:] != t_here[:-1]] if len(t_here) else np.zeros(0, dtype=bool)
    seen_keys, seen_n = count_keys(combine(cls[j[on_path]], prefix[on_path], seed=44))
    return (
        KeyTable(t_here[best], t_y[best]),
        KeyTable(t_here[best], t_n[best]),
        KeyTable(seen_keys, seen_n),
    )


def dropped(  # noqa: PLR0917 - the engine's one call
    s: pd.DataFrame,
    jt: pd.DataFrame,
    names: Names,
    point_end: np.ndarray,
    original: np.ndarray,
    complete: np.ndarray,
    given_homes: Mapping[int, int],
) -> pd.DataFrame:
    """Journeys that stopped at a point L while they were expected at Y next: because other
    packets of their class that reached L went on to Y, or because Y is where their destination
    address lives (``given_homes``: address key -> point, else learned from what each address
    sent). Y's capture must have run past the packet's time. ``complete`` journeys (requests
    that were answered, replies back at their sender) were not dropped."""
    wanted = np.flatnonzero(~complete)
    if s.empty or not len(wanted):
        return empty()
    on_path, first, last = path_rows(s)
    cls = journey_classes(s, first, original)
    members = pd.Series(cls).isin(pd.Series(cls[wanted]).unique()).to_numpy()
    on_path &= members[s["journey"].to_numpy()]
    prefix = _prefix_hashes(s, on_path)
    next_point, went, reached = _best_next(cls, prefix, s, on_path)
    end_rows = last[wanted]
    lp = s["point"].to_numpy().astype("int64")[end_rows]
    ts_last = s["ts_corr"].to_numpy()[end_rows]
    end = combine(cls[wanted], prefix[end_rows], seed=44)
    y = next_point.get(end)
    by_class = y >= 0
    # Else: where the destination lives, if another point than where the packet stopped.
    dst = address_key(s["dst_hi"].to_numpy()[end_rows], s["dst_lo"].to_numpy()[end_rows])
    ask = ~by_class
    home = np.full(len(wanted), -1, dtype="int64")
    if ask.any():
        homes = address_homes(s, first, dst[ask], given_homes)
        home[ask] = homes.get(dst[ask])
    by_home = ~by_class & (home >= 0) & (home != lp)
    y = np.where(by_home, home, y)
    hit = (by_class | by_home) & (point_end[np.maximum(y, 0)] > ts_last)
    idx = np.flatnonzero(hit)
    if len(idx) == 0:
        return empty()
    pts = [names.points[p] for p in lp[idx]]
    exp = [names.points[p] for p in y[idx]]
    n_went, n_seen = went.get(end[idx], 0), reached.get(end[idx], 0)
    detail = [
        f"last seen at {p}; {c} of {n} similar packets went on to {e}"
        if cl
        else f"last seen at {p}; its destination lives behind {e}, where it never arrived"
        for p, e, c, n, cl in zip(pts, exp, n_went, n_seen, by_class[idx], strict=True)
    ]
    return anomaly_frame("dropped", jt.index.to_numpy()[wanted[idx]], pts, exp, detail)


def no_reply(  # noqa: PLR0917 - the engine's one call
    s: pd.DataFrame,
    jt: pd.DataFrame,
    names: Names,
    window_ns: int,
    point_end: np.ndarray,
    original: np.ndarray,
    answered: np.ndarray,
) -> pd.DataFrame:
    """Requests that arrived and got no answer where the capture ran long enough to see one:
    echo requests and TCP SYNs always expect one; a UDP datagram only when others of its class
    (same first point, destination and port) were answered."""
    if s.empty:
        return empty()
    _, first, last = path_rows(s)
    proto, itype = s["proto"].to_numpy()[first], s["icmp_type"].to_numpy()[first]
    flags = s["tcp_flags"].to_numpy()[first]
    echo = ((proto == 1) & (itype == 8)) | ((proto == 58) & (itype == 128))
    syn = (proto == 6) & (flags >= 0) & ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
    udp = (proto == 17) & original
    ask = np.flatnonzero((echo | syn | udp) & ~answered)
    if not len(ask):
        return empty()
    # Classes of the unanswered and of the answered ones that may vouch for them.
    mates = np.flatnonzero(answered & (echo | syn | udp))
    cls_ask = journey_classes(s, first[ask], original[ask])
    cls_mate = journey_classes(s, first[mates], original[mates])
    ts_first = s["ts_corr"].to_numpy()[first]
    order = np.lexsort((ts_first[mates], cls_mate))
    c_sorted = cls_mate[order].astype("int64")
    last_of = np.r_[c_sorted[1:] != c_sorted[:-1], True] if len(c_sorted) else c_sorted.astype(bool)
    latest = KeyTable(c_sorted[last_of], ts_first[mates][order][last_of])
    later = latest.get(cls_ask, np.iinfo("int64").min)
    ts_last = s["ts_corr"].to_numpy()[last[ask]]
    lp = s["point"].to_numpy()[last[ask]]
    # UDP needs an answered sibling; all need the capture to have run a window longer, or a
    # later request of the class answered (replies do not overtake each other by much).
    keep = ~udp[ask] | (later > np.iinfo("int64").min)
    keep &= (point_end[lp] >= ts_last + window_ns) | (later > ts_last)
    idx = np.flatnonzero(keep)
    pts = [names.points[p] for p in lp[idx]]
    p = proto[ask][idx]
    what = np.where(p == 6, "TCP SYN", np.where(p == 17, "UDP datagram", "echo request"))
    detail = [
        f"{w} got no reply within the window; last seen at {pt}"
        for w, pt in zip(what, pts, strict=True)
    ]
    return anomaly_frame("no-reply", jt.index.to_numpy()[ask[idx]], pts, [""] * len(idx), detail)
