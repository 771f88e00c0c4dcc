"""Group sightings into journeys: one packet's sightings at every capture point.

Candidates are the sightings of one fingerprint within the window (sorted by key and roughly
corrected time; a gap longer than the window starts a new candidate).

A packet may pass one capture point more than once: an underlay NIC carries it in plain and
again encapsulated, a hairpinned packet leaves its pod's veth and comes back routed, a router
on a stick receives and sends it on one device. Such *visits* differ in what the path changes:
encapsulation, TTL or direction. Two sightings at one point that agree on all of those are
- the same frame recorded twice (identical headers within ``DUPLICATE_NS``, and no other point
  saw as many of them): a duplicate, kept in the journey but never a hop; or
- two packets with one fingerprint (an IP ID reused, identical IPv6 segments, a stranger that
  collided). Only then is the candidate split: the (point, visit) cell seen most often gives one
  anchor per packet, and every other sighting joins the anchor that shares an address with it
  (NAT rewrites one side at a time; a colliding stranger shares neither), nearest in time.
  Packets whose anchor is closer than ``AMBIGUOUS_NS`` to another's could still be mixed up:
  they (and only they) are flagged ambiguous.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine, repeated_within

#: Identical headers at one point closer than this are one frame recorded twice.
DUPLICATE_NS = 100_000
#: Packets with one fingerprint whose anchors are closer than this may have been mixed up.
AMBIGUOUS_NS = 10_000_000


@dataclass(frozen=True)
class Grouping:
    """Journey id per work-frame row, duplicate flags, per-journey ambiguity (ids 0..count-1)."""

    journey: np.ndarray
    duplicate: np.ndarray  # per row: a second recording of a frame already in the journey
    ambiguous: np.ndarray  # per journey
    count: int


def _runs(sorted_values: np.ndarray) -> np.ndarray:
    """Boolean array: True where a run of equal values starts."""
    start = np.ones(len(sorted_values), dtype=bool)
    if len(sorted_values) > 1:
        start[1:] = sorted_values[1:] != sorted_values[:-1]
    return start


def _cell_ranks(
    group: np.ndarray, cell: np.ndarray, header: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row (rows in time order inside each cell): is it a duplicate of the previous row of
    its cell, and its rank among its cell's non-duplicate rows. Only rows of cells that repeat
    are sorted: the common cell holds one row. ``group``: candidate ids, contiguous."""
    n = len(cell)
    duplicate = np.zeros(n, dtype=bool)
    rank = np.zeros(n, dtype="int64")
    rows = np.flatnonzero(repeated_within(group, cell))
    if not len(rows):
        return duplicate, rank
    by_cell = rows[np.argsort(cell[rows], kind="stable")]  # keeps time order inside a cell
    c, h, ts = cell[by_cell], header[by_cell], t[by_cell]
    m = len(by_cell)
    first = _runs(c)
    dup = np.zeros(m, dtype=bool)
    dup[1:] = ~first[1:] & (h[1:] == h[:-1]) & ((ts[1:] - ts[:-1]) <= DUPLICATE_NS)
    if dup.any():
        gap = np.zeros(m, dtype="int64")
        gap[1:] = ts[1:] - ts[:-1]
        _packets_seen_elsewhere(dup, first, group[by_cell], gap)
    counted = (~dup).astype("int64")
    csum = np.cumsum(counted)
    starts = np.flatnonzero(first)
    base = np.repeat(csum[starts] - counted[starts], np.diff(np.r_[starts, m]))
    duplicate[by_cell] = dup
    rank[by_cell] = csum - base - 1
    return duplicate, rank


def _packets_seen_elsewhere(
    dup: np.ndarray, first: np.ndarray, group: np.ndarray, gap: np.ndarray
) -> None:
    """Clear, in place, the duplicate flags that another cell of the candidate contradicts.

    Two identical frames close together at one point are one frame recorded twice only if no
    other point saw more than one of them: a sender that emits the same segment twice in a row
    (a retransmitted SYN-ACK, both with IP ID 0) is seen twice everywhere on its way. A cell
    keeps as many packets as the most any other cell of its candidate saw; the duplicates
    furthest in time from the row before them become packets first (a frame recorded twice
    is recorded again within microseconds; the next packet comes later, and taking the
    earliest instead made the copy a packet and the packet a copy). Arrays are per row of the
    repeating cells, sorted by cell, rows in time order; ``first`` marks each cell's first
    row, ``gap`` is each row's time after the row before it."""
    starts = np.flatnonzero(first)
    size = np.diff(np.r_[starts, len(dup)])
    run = np.repeat(np.arange(len(starts)), size)
    kept = np.bincount(run, weights=~dup, minlength=len(starts)).astype("int64")
    grp = group[starts]
    # the most rows any other cell of the same candidate holds: the group's largest, or for
    # the cell that is that largest, the second largest
    order = np.lexsort((-size, grp))
    g_sorted, s_sorted = grp[order], size[order]
    lead = _runs(g_sorted)
    lead_idx = np.flatnonzero(lead)
    largest = np.repeat(s_sorted[lead_idx], np.diff(np.r_[lead_idx, len(order)]))
    second = np.zeros(len(order), dtype="int64")
    has_second = np.r_[~lead[1:], False] & lead
    second[has_second] = s_sorted[np.flatnonzero(has_second) + 1]
    second = np.repeat(second[lead_idx], np.diff(np.r_[lead_idx, len(order)]))
    other = np.where(lead, second, largest)
    elsewhere = np.empty(len(order), dtype="int64")
    elsewhere[order] = other
    quota = np.minimum(size, elsewhere) - kept  # duplicates that are packets after all
    if not (quota > 0).any():
        return
    cand = np.flatnonzero(dup & (quota[run] > 0))
    by_gap = cand[np.lexsort((cand, -gap[cand], run[cand]))]  # per cell, widest gap first
    r = run[by_gap]
    lead = np.flatnonzero(_runs(r))
    nth = np.arange(len(by_gap)) - np.repeat(lead, np.diff(np.r_[lead, len(by_gap)]))
    dup[by_gap[nth < quota[r]]] = False


def visit_keys(w: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(visit, header) hashes per row: what tells two visits of one point apart, and the whole
    header (what two recordings of one frame share). Small fields are packed into one word
    before mixing (-1 "absent" values masked to their width)."""
    u = {c: w[c].to_numpy().astype("uint64") for c in ("encap", "vni", "ttl", "dir", "sport",
                                                       "dport", "icmp_id")}  # fmt: skip
    with np.errstate(over="ignore"):
        small = (
            (u["encap"] & _M4)
            | (u["ttl"] & _M9) << _U(4)
            | (u["dir"] & _M4) << _U(13)
            | (u["vni"] & _M25) << _U(17)
        )
        ports = (
            (u["sport"] & _M17) | (u["dport"] & _M17) << _U(17) | (u["icmp_id"] & _M17) << _U(34)
        )
        visit = combine(small, w["outer_dst_lo"].to_numpy(), seed=21)
        src = w["src_lo"].to_numpy() ^ (w["src_hi"].to_numpy() * _GOLDEN)
        dst = w["dst_lo"].to_numpy() ^ (w["dst_hi"].to_numpy() * _GOLDEN)
    header = combine(visit, src, dst, ports, w["eth_src"].to_numpy(), w["eth_dst"].to_numpy(),
                     seed=22)  # fmt: skip
    return visit, header


def twin_keys(w: pd.DataFrame) -> np.ndarray:
    """Per row, what two captures of one device agree on when they record the same frame:
    the visit without its direction (an all-device capture knows it, a one-device capture does
    not) and the header without the link layer (an all-device capture has no destination
    MAC). With the point and the exact timestamp (one skb, one kernel timestamp) it tells such
    twins apart from a packet that passed the device twice."""
    u = {c: w[c].to_numpy().astype("uint64") for c in ("encap", "vni", "ttl", "sport", "dport",
                                                       "icmp_id")}  # fmt: skip
    with np.errstate(over="ignore"):
        small = (u["encap"] & _M4) | (u["ttl"] & _M9) << _U(4) | (u["vni"] & _M25) << _U(17)
        ports = (
            (u["sport"] & _M17) | (u["dport"] & _M17) << _U(17) | (u["icmp_id"] & _M17) << _U(34)
        )
        src = w["src_lo"].to_numpy() ^ (w["src_hi"].to_numpy() * _GOLDEN)
        dst = w["dst_lo"].to_numpy() ^ (w["dst_hi"].to_numpy() * _GOLDEN)
    return combine(small, w["outer_dst_lo"].to_numpy(), src, dst, ports, seed=24)


_U = np.uint64
_M4, _M9, _M17, _M25 = (_U((1 << n) - 1) for n in (4, 9, 17, 25))
_GOLDEN = _U(0x9E3779B97F4A7C15)


def group(  # noqa: PLR0917 - the engine's one call, arrays of the work frame
    key: np.ndarray,
    ts: np.ndarray,
    point: np.ndarray,
    window_ns: int,
    visit: np.ndarray,
    header: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    twin: np.ndarray | None = None,
    fuller: np.ndarray | None = None,
) -> Grouping:
    """Journeys for rows with the given key, roughly corrected time, point code and visit /
    header hashes (:func:`visit_keys`); ``src`` / ``dst`` address keys break ties in splits.
    ``twin`` (:func:`twin_keys`): rows at one point with the same time to the nanosecond and
    the same twin key are one frame recorded by two captures of that device (``-i any`` beside
    ``-i eth0``): all but one are duplicates, the one kept being a ``fuller`` row (its
    destination MAC known) where there is one."""
    n = len(key)
    if n == 0:
        return Grouping(np.zeros(0, "int64"), np.zeros(0, bool), np.zeros(0, bool), 0)
    order = np.lexsort((ts, key))
    k, t = key[order], ts[order]
    new = _runs(k)
    new[1:] |= (t[1:] - t[:-1]) > window_ns
    grp = np.cumsum(new) - 1
    ngroups = int(grp[-1]) + 1
    # Cells (group, point, visit): repeats inside one are duplicates or several packets.
    cell = combine(cell_point(grp, point[order]), visit[order], seed=23).astype("int64")
    twins = np.zeros(n, dtype=bool)
    if twin is not None:
        same = combine(cell_point(grp, point[order]), t.astype("uint64"), twin[order], seed=25)
        full = np.ones(n, dtype=bool) if fuller is None else fuller[order]
        pick = np.lexsort((~full, same))  # per twin set, a fuller row first
        twins = np.empty(n, dtype=bool)
        twins[pick] = pd.Series(same[pick]).duplicated().to_numpy()
        # a twin is no packet of its cell: give it a cell of its own there
        cell = np.where(twins, combine(cell.astype("uint64"), np.arange(n), seed=26), cell)
    duplicate, rank = _cell_ranks(grp, cell, header[order], t)
    duplicate |= twins
    packets = np.ones(ngroups, dtype="int64")
    several = np.flatnonzero(rank > 0)
    np.maximum.at(packets, grp[several], rank[several] + 1)
    sub = np.zeros(n, dtype="int64")
    split = np.flatnonzero(packets[grp] > 1)
    journey = np.empty(n, dtype="int64")
    dup_out = np.empty(n, dtype=bool)
    dup_out[order] = duplicate
    if not len(split):  # the common case: every candidate is one packet
        journey[order] = grp
        return Grouping(journey, dup_out, np.zeros(ngroups, dtype=bool), ngroups)
    sub_split, amb = _split(
        grp[split], point[order][split], visit[order][split], rank[split],
        duplicate[split], t[split], src[order][split], dst[order][split], window_ns,
    )  # fmt: skip
    sub[split] = sub_split
    width = int(packets.max())
    codes, uniques = pd.factorize(grp * width + sub, sort=True)
    journey[order] = codes
    ambiguous = np.zeros(len(uniques), dtype=bool)
    ambiguous[codes[split][amb]] = True
    return Grouping(journey, dup_out, ambiguous, len(uniques))


def cell_point(grp: np.ndarray, point: np.ndarray) -> np.ndarray:
    """A candidate and a point code as one word (points fit in 16 bits)."""
    out: np.ndarray = grp.astype("uint64") << _U(16) ^ point.astype("uint64")
    return out


def _split(  # noqa: PLR0917 - one step of group(), on the rows of split candidates
    grp: np.ndarray,
    point: np.ndarray,
    visit: np.ndarray,
    rank: np.ndarray,
    duplicate: np.ndarray,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    window_ns: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Packet index inside its candidate for rows of candidates holding several packets, and
    per row whether its candidate's packets could have been mixed up (see module docstring)."""
    df = pd.DataFrame(
        {"g": grp, "p": point, "v": visit, "r": rank, "dup": duplicate, "t": ts,
         "src": src, "dst": dst}
    )  # fmt: skip
    cells = df.loc[~df["dup"]].groupby(["g", "p", "v"], sort=False)["r"].transform("size")
    df["cell_n"] = cells.reindex(df.index).fillna(0).to_numpy(dtype="int64")
    packets = df.groupby("g")["r"].transform("max").to_numpy() + 1
    # The anchor cell: the first (by time) cell that holds one sighting of every packet.
    full = df.loc[(df["cell_n"].to_numpy() == packets) & ~df["dup"].to_numpy()]
    first_t = full.groupby(["g", "p", "v"], sort=False)["t"].transform("min")
    anchor_cell = full.assign(ft=first_t).sort_values(["g", "ft", "p"], kind="stable")
    chosen = anchor_cell.drop_duplicates("g")[["g", "p", "v"]]
    anchors = anchor_cell.merge(chosen, on=["g", "p", "v"])[["g", "r", "t", "src", "dst"]]
    sub = np.full(len(df), -1, dtype="int64")
    is_anchor = df.merge(chosen.assign(anchor=True), on=["g", "p", "v"], how="left")["anchor"]
    is_anchor_row = is_anchor.fillna(False).to_numpy(dtype=bool) & ~df["dup"].to_numpy()
    sub[is_anchor_row] = df["r"].to_numpy()[is_anchor_row]
    # Every other row: cost to each anchor of its candidate = time distance, plus a penalty
    # when it shares no address with the anchor's sighting.
    rest = df.loc[~is_anchor_row].reset_index().rename(columns={"index": "row"})
    # Candidates of very many packets (a flood of one frame, IP ID 0): every row against every
    # anchor would be quadratic in time and memory, so they are matched in time order instead.
    many = rest["g"].map(df.assign(n=packets).groupby("g")["n"].first())
    in_order = rest.loc[many.to_numpy() > _MANY_PACKETS]
    rest = rest.loc[many.to_numpy() <= _MANY_PACKETS]
    if len(rest):
        c = rest.merge(anchors, on="g", suffixes=("", "_a"))
        shares = (
            (c["src"] == c["src_a"])
            | (c["src"] == c["dst_a"])
            | (c["dst"] == c["src_a"])
            | (c["dst"] == c["dst_a"])
        ).to_numpy()
        cost = np.abs(c["t"].to_numpy() - c["t_a"].to_numpy()) + np.where(shares, 0, 4 * window_ns)
        c = c.assign(cost=cost).sort_values(["row", "cost", "r_a"], kind="stable")
        best = c.drop_duplicates("row")
        sub[best["row"].to_numpy()] = best["r_a"].to_numpy()
        _fix_collisions(df, sub, c)
    if len(in_order):
        _match_in_time_order(in_order, anchors, sub)
    _follow_originals(df, sub)
    # A packet whose anchor is close to another packet's anchor could have been mixed up with
    # it; packets of the candidate far from every other are not.
    a = anchors.sort_values(["g", "t"], kind="stable")
    g_a, t_a = a["g"].to_numpy(), a["t"].to_numpy()
    same = g_a[1:] == g_a[:-1]
    near = same & ((t_a[1:] - t_a[:-1]) < AMBIGUOUS_NS)
    close = np.zeros(len(a), dtype=bool)
    close[1:] |= near
    close[:-1] |= near
    close_keys = g_a[close] * (int(df["r"].max()) + 2) + a["r"].to_numpy()[close]
    return sub, np.isin(grp * (int(df["r"].max()) + 2) + sub, close_keys)


def _fix_collisions(df: pd.DataFrame, sub: np.ndarray, costs: pd.DataFrame) -> None:
    """Two non-duplicate rows of one cell are two packets: when several chose the same anchor,
    the cell's rows get distinct anchors at the least total cost (:func:`min_cost_assignment`).
    The cost is the square of a row's cost to an anchor (time distance, plus the penalty for
    sharing no address): strictly convex, so between packets of one sender it keeps their
    order at the point (the first one there is the first packet), where plain distance often
    ties (two rows later than both anchors cost the same either way). Handing out nearest
    anchors in time order swapped a fast packet right behind a slow one."""
    dup = df["dup"].to_numpy()
    live = df.loc[~dup, ["g", "p", "v", "t"]].assign(s=sub[~dup])
    clash = live.duplicated(["g", "p", "v", "s"], keep=False).to_numpy()
    if clash.any():
        cells = live.loc[clash, ["g", "p", "v"]].drop_duplicates()
        rows = live.reset_index().merge(cells, on=["g", "p", "v"])
        rows = rows.sort_values(["g", "p", "v", "t", "index"], kind="stable")
        mine = costs.loc[costs["row"].isin(rows["index"]), ["row", "r_a", "cost"]]
        mine = mine.sort_values(["row", "r_a"], kind="stable")
        row_of, anchor, cost = (mine[c].to_numpy() for c in ("row", "r_a", "cost"))
        start = dict(zip(*np.unique(row_of, return_index=True), strict=True))
        width = dict(zip(*np.unique(row_of, return_counts=True), strict=True))
        new_cell = np.zeros(len(rows) + 1, dtype=bool)
        new_cell[0] = new_cell[-1] = True
        for col in ("g", "p", "v"):
            x = rows[col].to_numpy()
            new_cell[1:-1] |= x[1:] != x[:-1]
        ids = rows["index"].to_numpy()
        for lo, hi in itertools.pairwise(np.flatnonzero(new_cell)):
            cell_rows = ids[lo:hi]
            k, m = start[cell_rows[0]], width[cell_rows[0]]  # one candidate: the same anchors
            matrix = np.stack([cost[start[r] : start[r] + m] for r in cell_rows])
            convex = np.square(matrix.astype("float64"))
            sub[cell_rows] = anchor[k : k + m][min_cost_assignment(convex)]


#: Candidates holding more packets than this are matched in time order (no cost matrix).
_MANY_PACKETS = 64


def _match_in_time_order(rows: pd.DataFrame, anchors: pd.DataFrame, sub: np.ndarray) -> None:
    """Rows (``row``, ``g``, ``p``, ``v``, ``t``, ``dup``) of candidates with very many packets:
    each cell's rows go to its candidate's anchors in time order, each to the anchor nearest
    in time that keeps them in order (a cell that saw every packet: the first row to the first
    anchor, and so on). Duplicate rows are left to :func:`_follow_originals`, which gives
    them the packet of the row they repeat; one without such a row takes its nearest anchor."""
    a = anchors.sort_values(["g", "t"], kind="stable")
    a_g, a_t, a_r = a["g"].to_numpy(), a["t"].to_numpy(), a["r"].to_numpy()
    starts = np.flatnonzero(np.r_[True, a_g[1:] != a_g[:-1]])
    ends = np.r_[starts[1:], len(a_g)]
    bounds = dict(zip(a_g[starts].tolist(), zip(starts.tolist(), ends.tolist(), strict=True),
                      strict=True))  # fmt: skip
    rows = rows.sort_values(["g", "p", "v", "t", "row"], kind="stable")
    for _, cell in rows.groupby(["g", "p", "v"], sort=False):
        lo, hi = bounds[int(cell["g"].iloc[0])]
        times, ranks = a_t[lo:hi], a_r[lo:hi]
        t = cell["t"].to_numpy()
        pos = np.clip(np.searchsorted(times, t), 1, len(times) - 1)
        nearest = np.where(np.abs(t - times[pos - 1]) <= np.abs(times[pos] - t), pos - 1, pos)
        live = ~cell["dup"].to_numpy()
        ids = cell["row"].to_numpy()
        sub[ids[~live]] = ranks[nearest[~live]]
        n, m = int(live.sum()), len(times)
        if n:
            step = np.arange(n)
            at = np.maximum.accumulate(nearest[live] - step) + step  # strictly increasing
            at = np.minimum(at, m - n + step)  # and room left for the rows after
            sub[ids[live]] = ranks[at]


def _follow_originals(df: pd.DataFrame, sub: np.ndarray) -> None:
    """A duplicate row (the same frame recorded again) joins the packet of the row it repeats:
    the latest non-duplicate row of its cell at or before it in time."""
    dup = df["dup"].to_numpy()
    if not dup.any():
        return
    keyed = df[["g", "p", "v", "t", "dup"]].assign(s=np.where(dup, np.nan, sub.astype("float64")))
    keyed = keyed.sort_values(["g", "p", "v", "t", "dup"], kind="stable")
    found = keyed.groupby(["g", "p", "v"], sort=False)["s"].ffill().to_numpy()
    rows = keyed.index.to_numpy()
    take = keyed["dup"].to_numpy() & ~np.isnan(found)
    sub[rows[take]] = found[take].astype("int64")


#: Above this many cells (rows x anchors), a cell is matched in time order (see below).
_EXACT_CELLS = 4096


def min_cost_assignment(cost: np.ndarray) -> np.ndarray:
    """For an ``n x m`` cost matrix (``n <= m``), the column of each row in an assignment of
    distinct columns with the least total cost. Rows and columns come in time order; every
    cost is finite.

    Small matrices are solved exactly (the Hungarian method, O(n^2 m)). Larger ones, a
    candidate holding very many copies of one packet, are matched without crossing (row i
    before row j gets an earlier column), by dynamic programming in O(n m): exact when the
    cost is a convex function of a time distance, since two crossing pairs are then never
    cheaper than the same pairs uncrossed."""
    n, m = cost.shape
    if n * m <= _EXACT_CELLS:
        return _hungarian(cost)
    return _in_order(cost)


def _hungarian(cost: np.ndarray) -> np.ndarray:
    n, m = cost.shape
    c = cost.tolist()
    inf = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    owner, way = [0] * (m + 1), [0] * (m + 1)  # owner[j]: the row holding column j (1-based)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        minv, used = [inf] * (m + 1), [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            row = c[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    out = np.full(n, -1, dtype="int64")
    for j in range(1, m + 1):
        if owner[j]:
            out[owner[j] - 1] = j - 1
    return out


def _in_order(cost: np.ndarray) -> np.ndarray:
    n, m = cost.shape
    best = np.zeros(m + 1)  # best[j]: least cost of the rows so far using columns < j
    arg = np.zeros((n, m), dtype="int64")
    cols = np.arange(m)
    for i in range(n):
        take = best[:-1] + cost[i]  # row i on column j, the rows before on columns < j
        take[:i] = np.inf
        run = np.minimum.accumulate(take)
        arg[i] = np.maximum.accumulate(np.where(take == run, cols, 0))
        best = np.r_[np.inf, run]
    out = np.empty(n, dtype="int64")
    limit = m
    for i in range(n - 1, -1, -1):
        out[i] = arg[i, limit - 1]
        limit = int(out[i])
    return out


def path_rows(s: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(on-path mask, first and last on-path position per journey) of a sightings frame, whose
    journeys are contiguous, numbered 0.., each with its path rows before its copies."""
    on_path = s["copy"].to_numpy() == 0
    j = s["journey"].to_numpy()
    if not len(j):
        return on_path, np.zeros(0, "int64"), np.zeros(0, "int64")
    first = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])
    last = first + np.bincount(j[on_path], minlength=len(first)) - 1
    return on_path, first, last


def hop_index(journey_sorted: np.ndarray) -> np.ndarray:
    """0-based position of each row within its journey, for rows already sorted by journey."""
    n = len(journey_sorted)
    idx = np.arange(n)
    start = _runs(journey_sorted)
    return idx - np.maximum.accumulate(np.where(start, idx, 0))
