"""What the path order learns from all journeys before ordering any: who owns a MAC, who owns
a tunnel endpoint, and the clock-free request/reply gap at each point.

Owners are learned only from what one clock shows without doubt (a routed hop inside one node,
a packet seen plain then encapsulated strictly later on one node) and dropped when two nodes
claim the same one; a run bundle's own facts (node MACs, node addresses) are taken as given.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import KeyTable, combine

BROADCAST = 0xFFFF_FFFF_FFFF


def mac_owners(
    w: pd.DataFrame, journey: np.ndarray, rows: np.ndarray, given: Mapping[int, int]
) -> KeyTable:
    """MAC (as int) -> clock domain: the router MACs seen on routed hops inside one domain
    (the frame before the hop was addressed to it, the one after was sent from it), plus the
    ``given`` ones (a run bundle's interface lists). A MAC claimed by two domains is dropped.
    ``rows``: the work frame sorted by journey, domain, time."""
    j, dom = journey[rows], w["dom"].to_numpy()[rows]
    ttl = w["ttl"].to_numpy()[rows]
    enc = w["encap"].to_numpy()[rows] >= 0
    same = (j[1:] == j[:-1]) & (dom[1:] == dom[:-1]) & (enc[1:] == enc[:-1])
    routed = np.flatnonzero(same & (ttl[1:] < ttl[:-1]) & (ttl[1:] >= 0))
    src, dst = w["eth_src"].to_numpy()[rows], w["eth_dst"].to_numpy()[rows]
    macs = np.concatenate([dst[routed], src[routed + 1]])
    doms = np.concatenate([dom[routed], dom[routed + 1]])
    keep = (macs > 0) & (macs != BROADCAST) & (((macs >> 40) & 1) == 0)  # unicast only
    return KeyTable.of({**_sole_claims(macs[keep], doms[keep]), **given})


def _sole_claims(keys: np.ndarray, doms: np.ndarray) -> dict[int, int]:
    """key -> domain for the keys exactly one domain claims."""
    claims = pd.DataFrame({"k": keys.astype("int64"), "d": doms.astype("int64")}).drop_duplicates()
    sole = claims.loc[~claims.duplicated("k", keep=False)]
    return dict(zip(sole["k"].tolist(), sole["d"].tolist(), strict=True))


def addr_owners(
    w: pd.DataFrame, journey: np.ndarray, rows: np.ndarray, given: Mapping[int, int]
) -> KeyTable:
    """Address key -> domain for tunnel endpoints: a domain that saw a packet plain and then
    encapsulated (its own clock) encapsulated it and owns the outer source; one that saw it
    encapsulated then plain owns the outer destination. Plus the ``given`` node addresses.
    ``rows``: the work frame sorted by journey, domain, time."""
    j, dom = journey[rows], w["dom"].to_numpy()[rows]
    enc = w["encap"].to_numpy()[rows] >= 0
    ts = w["ts"].to_numpy()[rows]
    # Strictly later on one clock only: a tie says nothing about which came first.
    same = (j[1:] == j[:-1]) & (dom[1:] == dom[:-1]) & (ts[1:] > ts[:-1])
    into = rows[np.flatnonzero(same & ~enc[:-1] & enc[1:]) + 1]  # the encapsulated row
    outof = rows[np.flatnonzero(same & enc[:-1] & ~enc[1:])]  # the encapsulated row
    doms = w["dom"].to_numpy()
    learned = _sole_claims(
        np.concatenate([outer_keys(w, into, "src"), outer_keys(w, outof, "dst")]),
        np.concatenate([doms[into], doms[outof]]),
    )
    return KeyTable.of({**learned, **given})


def outer_keys(w: pd.DataFrame, rows: np.ndarray | slice, side: str) -> np.ndarray:
    """Address keys (as :func:`addr_owners` stores them) of the outer ``src``/``dst``."""
    return combine(
        w[f"outer_{side}_hi"].to_numpy()[rows], w[f"outer_{side}_lo"].to_numpy()[rows]
    ).astype("int64")


def gap_keys(
    journey: np.ndarray, point: np.ndarray, ts: np.ndarray, flows: pd.DataFrame, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Clock-free sort key per row of a request or reply journey, and where it exists.

    At a point both halves of a flow passed once, ``gap = t_reply - t_request`` is measured on
    one clock; it shrinks along the request's path. Requests get ``-gap`` and replies ``+gap``,
    so ascending keys follow each journey's own path.
    """
    n = len(journey)
    key = np.zeros(n, dtype="int64")
    has = np.zeros(n, dtype=bool)
    if flows.empty or n == 0:
        return key, has
    npoints = int(point.max()) + 1
    cell = journey.astype("int64") * npoints + point
    order = np.argsort(cell, kind="stable")
    sorted_cells = cell[order]
    unique = np.ones(n, dtype=bool)
    repeat = sorted_cells[1:] == sorted_cells[:-1]
    unique[order[1:][repeat]] = False
    unique[order[:-1][repeat]] = False
    for own, other, sign in (("request", "reply", -1), ("reply", "request", 1)):
        partner = np.full(count, -1, dtype="int64")
        partner[flows[own].to_numpy()] = flows[other].to_numpy()
        rows = np.flatnonzero((partner[journey] >= 0) & unique)
        want = partner[journey[rows]] * npoints + point[rows]
        pos = np.clip(np.searchsorted(sorted_cells, want), 0, n - 1)
        mate = order[pos]
        found = (sorted_cells[pos] == want) & unique[mate]
        rows, mate = rows[found], mate[found]
        gap = (ts[mate] - ts[rows]) if own == "request" else (ts[rows] - ts[mate])
        key[rows] = sign * gap
        has[rows] = True
    return key, has
