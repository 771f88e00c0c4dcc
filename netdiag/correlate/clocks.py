"""Clock offsets per clock domain (a node, or a point without a node), never assumed zero.

Convention (run bundle): ``offset = node clock - reference clock``; ``corrected = ts - offset``.

Two stages:
1. ``coarse_offsets``: before journeys exist, match keys that occur exactly once per domain
   (strong IPv4 fingerprints) and take the median time difference per domain pair. Good to a
   few one-way delays: enough to group sightings within the time window.
2. ``refine``: NTP-style bounds. A sighting at B that is causally after one at A gives
   ``off_B - off_A <= ts_B - ts_A`` (the true one-way delay is >= 0). Packets in both directions
   bound the offset from both sides; the tightest bound of each side is kept, the estimate is
   the middle of the interval and the error its half width. Round-trip samples of a run bundle
   (Cristian: error <= RTT/2) are intersected with those intervals.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from netdiag.clock import Clock

_COARSE_ROWS = 200_000  # above this, coarse estimation looks at 1/64 of the keys


@dataclass(frozen=True)
class Edge:
    """Estimated ``off_b - off_a`` with its error and where it came from."""

    a: int
    b: int
    offset: int
    error: int
    source: str
    samples: int


def coarse_offsets(
    dom: np.ndarray, key: np.ndarray, ts: np.ndarray, strong: np.ndarray, *, ndom: int, ref: int
) -> tuple[np.ndarray, int]:
    """Median-based offsets per domain (relative to ``ref``) and a margin for the window."""
    offsets = np.zeros(ndom, dtype="int64")
    if ndom < 2:
        return offsets, 0
    use = strong.copy()
    if len(key) > _COARSE_ROWS:
        use &= (key & np.uint64(63)) == 0
    raw = pd.DataFrame({"dom": dom[use], "key": key[use], "ts": ts[use]})
    # A key seen at several points of one domain is fine (one packet crossing a node); a key
    # whose sightings in a domain spread over more than a second is an ID wrap: left out.
    df = raw.groupby(["dom", "key"], sort=False)["ts"].agg(["min", "max"]).reset_index()
    df = df.loc[df["max"] - df["min"] < 1_000_000_000].rename(columns={"min": "ts"})
    df = df[["dom", "key", "ts"]]
    # Each key's sightings against one hub sighting of it (the reference's when it saw the
    # key): linear in the number of domains, where all pairs would be quadratic.
    hub = (
        df.assign(other=(df["dom"].to_numpy() != ref))
        .sort_values(["key", "other", "dom"])
        .drop_duplicates("key")[["key", "dom", "ts"]]
    )
    pairs = df.merge(hub, on="key", suffixes=("_b", "_a"))
    pairs = pairs.loc[pairs["dom_a"] != pairs["dom_b"]]
    if pairs.empty:
        return offsets, 0
    pairs = pairs.assign(d=pairs["ts_b"] - pairs["ts_a"])
    grouped = pairs.groupby(["dom_a", "dom_b"])["d"]
    stats = pd.DataFrame(
        {
            "q1": grouped.quantile(0.25),
            "med": grouped.quantile(0.5),
            "q3": grouped.quantile(0.75),
            "n": grouped.size(),
        }
    ).reset_index()
    edges = [
        Edge(int(r["dom_a"]), int(r["dom_b"]), int(r["med"]), int(r["q3"] - r["q1"]), "coarse",
             int(r["n"]))
        for r in stats.to_dict("records")
    ]  # fmt: skip
    # Each group of domains that share packets is aligned on its own root: the reference for
    # its group, the best-connected domain for a group the reference shares nothing with (its
    # offsets are then consistent among themselves, which is all grouping needs).
    margin = 0
    placed: set[int] = set()
    weight = Counter[int]()
    for e in edges:
        weight[e.a] += e.samples
        weight[e.b] += e.samples
    for root in [ref, *sorted(weight, key=lambda d: (-weight[d], d))]:
        if root in placed:
            continue
        best = solve(edges, ndom, root)
        for d, (off, err, _, _) in best.items():
            offsets[d] = off
            margin = max(margin, err)
        placed |= set(best)
    return offsets, margin


def bounds_to_edges(samples: pd.DataFrame) -> list[Edge]:
    """One-way samples (a, b, d: ``off_b - off_a <= d``) -> one interval per domain pair."""
    if samples.empty:
        return []
    tight = samples.groupby(["a", "b"])["d"].agg(["min", "size"])
    lookup = {
        (int(r["a"]), int(r["b"])): (int(r["min"]), int(r["size"]))
        for r in tight.reset_index().to_dict("records")
    }
    edges: list[Edge] = []
    for (a, b), (upper, n_ab) in lookup.items():
        if a > b and (b, a) in lookup:
            continue  # handled from the other side
        back = lookup.get((b, a))
        if back is None:
            continue  # one side only: a bound, not an estimate
        lower = -back[0]
        mid = (upper + lower) // 2
        edges.append(Edge(a, b, mid, abs(upper - lower) // 2, "packets", n_ab + back[1]))
    return edges


def bundle_edges(clocks: Mapping[str, Clock], domains: Sequence[str], ref: int) -> list[Edge]:
    """Measured clocks re-expressed relative to the reference domain (an unknown error: 0)."""
    ref_name = domains[ref]
    base = clocks.get(ref_name, Clock(0, 0))
    return [
        Edge(
            ref,
            i,
            s.offset_ns - base.offset_ns,
            (s.error_ns or 0) + (base.error_ns or 0),
            "bundle",
            1,
        )
        for i, name in enumerate(domains)
        if i != ref and (s := clocks.get(name)) is not None
    ]


def merge_edges(packet_edges: list[Edge], bundle: list[Edge]) -> list[Edge]:
    """Intersect packet intervals with bundle intervals for the same pair when they overlap."""
    by_pair = {(e.a, e.b): e for e in packet_edges}
    out = list(packet_edges)
    for e in bundle:
        p = by_pair.get((e.a, e.b)) or by_pair.get((e.b, e.a))
        if p is None:
            out.append(e)
            continue
        p_off = p.offset if (p.a, p.b) == (e.a, e.b) else -p.offset
        lo = max(p_off - p.error, e.offset - e.error)
        hi = min(p_off + p.error, e.offset + e.error)
        if lo <= hi:
            out.append(Edge(e.a, e.b, (lo + hi) // 2, (hi - lo) // 2, "packets+bundle", p.samples))
        else:
            out.append(e)  # disagree: keep both; solve() picks the tighter one
    return out


def solve(edges: list[Edge], ndom: int, ref: int) -> dict[int, tuple[int, int, str, int]]:
    """Offsets relative to ``ref`` along the paths of least accumulated error (Dijkstra)."""
    adj: dict[int, list[tuple[int, int, int, str, int]]] = {}
    for e in edges:
        adj.setdefault(e.a, []).append((e.b, e.offset, e.error, e.source, e.samples))
        adj.setdefault(e.b, []).append((e.a, -e.offset, e.error, e.source, e.samples))
    best: dict[int, tuple[int, int, str, int]] = {ref: (0, 0, "reference", 0)}
    heap: list[tuple[int, int]] = [(0, ref)]
    done: set[int] = set()
    while heap:
        err, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        off = best[node][0]
        for nxt, d_off, d_err, source, n in adj.get(node, []):
            cand = err + d_err
            if nxt not in best or cand < best[nxt][1]:
                best[nxt] = (off + d_off, cand, source, n)
                heapq.heappush(heap, (cand, nxt))
    return {d: v for d, v in best.items() if d < ndom}
