"""Group sightings into journeys (one packet's path) and order each journey.

Grouping: sort by (key, corrected time); a new group starts where the key changes or the gap to
the previous sighting of the same key exceeds the window. A group that holds the same key twice
at one capture point is not one packet (IP ID wrap, Linux's ID-0 SYN-ACKs, an IPv6 segment
retransmitted, a duplicate at ``-i any``): it is split by occurrence at each point (first with
first, second with second) and every part is flagged ambiguous with a lower confidence.

Order: TTL never increases along a path, so higher TTL first; within a TTL tier, clock-corrected
time. Because the clock estimate lies inside the bounds that causal pairs impose (see
clocks.py), corrected time respects the order of every pair that fed the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Grouping:
    """Journey id per work-frame row and per-journey flags (ids are dense, 0..n-1)."""

    journey: np.ndarray
    ambiguous: np.ndarray  # per journey
    count: int


def _runs(sorted_values: np.ndarray) -> np.ndarray:
    """Boolean array: True where a run of equal values starts."""
    start = np.ones(len(sorted_values), dtype=bool)
    if len(sorted_values) > 1:
        start[1:] = sorted_values[1:] != sorted_values[:-1]
    return start


def group(  # noqa: PLR0917
    key: np.ndarray,
    ts: np.ndarray,
    point: np.ndarray,
    window_ns: int,
    src: np.ndarray,
    dst: np.ndarray,
) -> Grouping:
    """Journey ids for rows with the given key / corrected time / point code.

    ``src`` / ``dst`` (address keys) only break ties inside ambiguous groups: of two sightings
    at one point, the one sharing addresses with more of the group's other sightings pairs with
    them first (NAT rewrites one side at a time, a colliding stranger shares neither).
    """
    n = len(key)
    if n == 0:
        return Grouping(np.zeros(0, dtype="int64"), np.zeros(0, dtype=bool), 0)
    order = np.lexsort((ts, key))
    k, t = key[order], ts[order]
    new = _runs(k)
    new[1:] |= (t[1:] - t[:-1]) > window_ns
    grp = np.cumsum(new) - 1
    npoints = int(point.max()) + 1
    combo = grp * npoints + point[order]
    s = np.argsort(combo, kind="stable")
    run = _runs(combo[s])
    idx = np.arange(n)
    rank_s = idx - np.maximum.accumulate(np.where(run, idx, 0))
    rank = np.empty(n, dtype="int64")
    rank[s] = rank_s
    group_starts = np.flatnonzero(new)
    group_max = np.maximum.reduceat(rank, group_starts)
    amb_group = group_max > 0
    if amb_group.any():
        _rerank(rank, np.flatnonzero(amb_group[grp]), grp, point[order], src[order], dst[order], t)
    journey = np.empty(n, dtype="int64")
    width = int(rank.max()) + 1
    if width == 1:  # the common case: every group is one packet
        journey[order] = grp
        return Grouping(journey, amb_group, len(group_starts))
    codes, uniques = pd.factorize(grp * width + rank)
    journey[order] = codes
    ambiguous = amb_group[uniques // width]
    return Grouping(journey, np.asarray(ambiguous, dtype=bool), len(uniques))


def _rerank(  # noqa: PLR0917
    rank: np.ndarray,
    rows: np.ndarray,
    grp: np.ndarray,
    point: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    ts: np.ndarray,
) -> None:
    """Recompute ``rank`` (in place) for the rows of ambiguous groups by address affinity."""
    df = pd.DataFrame(
        {"g": grp[rows], "p": point[rows], "src": src[rows], "dst": dst[rows], "t": ts[rows]}
    )
    affinity = df.groupby(["g", "src"])["t"].transform("size") + df.groupby(["g", "dst"])[
        "t"
    ].transform("size")
    df = df.assign(aff=-affinity).sort_values(["g", "p", "aff", "t"], kind="stable")
    rank[rows[df.index.to_numpy()]] = df.groupby(["g", "p"]).cumcount().to_numpy()


def flow_gap_key(  # noqa: PLR0917
    journey: np.ndarray,
    point: np.ndarray,
    ts: np.ndarray,
    ts_corr: np.ndarray,
    flows: pd.DataFrame,
    count: int,
) -> np.ndarray:
    """Within-tier sort key: clock-free for journeys of a request/reply pair, else ts_corr.

    At every point both halves of a flow passed, ``gap = t_reply - t_request`` is measured on
    one clock; it shrinks along the request path (the server end has the smallest gap). So a
    request is ordered by decreasing gap and its reply by increasing gap: exact even when the
    hop takes less time than the clock error (two ends of one veth). Journeys with a point the
    partner lacks keep corrected time.
    """
    key = ts_corr.copy()
    if flows.empty:
        return key
    npoints = int(point.max()) + 1
    dense = count * npoints <= 64_000_000
    if dense:  # ts by (journey, point) in a matrix: O(n), no hashing
        at = np.full((count, npoints), np.iinfo("int64").min, dtype="int64")
        at[journey, point] = ts
    else:
        lookup = pd.Index(journey * npoints + point)
        if not lookup.is_unique:  # rank splitting makes (journey, point) unique; be safe
            return key
    for own, other, sign in (("request", "reply", -1), ("reply", "request", 1)):
        partner = np.full(count, -1, dtype="int64")
        partner[flows[own].to_numpy()] = flows[other].to_numpy()
        rows = np.flatnonzero(partner[journey] >= 0)
        mate = partner[journey[rows]]
        if dense:
            mate_ts = at[mate, point[rows]]
            found = mate_ts != np.iinfo("int64").min
        else:
            pos = lookup.get_indexer(mate * npoints + point[rows])
            found = pos >= 0
            mate_ts = ts[np.maximum(pos, 0)]
        gap = (mate_ts - ts[rows]) if own == "request" else (ts[rows] - mate_ts)
        # Use the gap only when every sighting of the journey found its partner.
        missing = np.bincount(journey[rows][~found], minlength=count) > 0
        use = found & ~missing[journey[rows]]
        key[rows[use]] = sign * gap[use]
    return key


def causal_order(journey: np.ndarray, ttl: np.ndarray, ts_corr: np.ndarray) -> np.ndarray:
    """Row order: by journey, TTL descending, then ``ts_corr`` (corrected time or gap key)."""
    by_time = np.argsort(ts_corr, kind="stable")
    tier = 255 - np.clip(ttl, 0, 255).astype("int64")
    composite = journey * 256 + tier
    return by_time[np.argsort(composite[by_time], kind="stable")]


def hop_index(journey_sorted: np.ndarray) -> np.ndarray:
    """0-based position of each row within its journey, for rows already sorted by journey."""
    n = len(journey_sorted)
    idx = np.arange(n)
    start = _runs(journey_sorted)
    return idx - np.maximum.accumulate(np.where(start, idx, 0))


def side_copies(w: pd.DataFrame, order: np.ndarray, journey: np.ndarray) -> np.ndarray:
    """Sightings off the path, in causal order: X(node A) -> Y(node B) -> Z(node A) where Y is
    unchanged from X. Such a Y is a copy (an L2 flood reaching a neighbour's NIC, a mirror
    port), not a hop: the packet went on from A. Returned per row of ``order``."""
    n = len(order)
    side = np.zeros(n, dtype=bool)
    if n < 3:
        return side
    dom = w["dom"].to_numpy()[order]
    mid = (journey[1:-1] == journey[:-2]) & (journey[1:-1] == journey[2:])
    mid &= (dom[1:-1] != dom[:-2]) & (dom[2:] == dom[:-2])
    if not mid.any():
        return side
    rows = np.flatnonzero(mid) + 1
    same = np.ones(len(rows), dtype=bool)
    for c in ("src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "ttl", "encap"):
        v = w[c].to_numpy()
        same &= v[order[rows]] == v[order[rows - 1]]
    side[rows[same]] = True
    return side
