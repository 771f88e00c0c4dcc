"""Causal pairs of sightings across clock domains, as one-way clock samples.

A sample ``(a, b, d)`` says: something seen in domain ``a`` was certainly seen later in ``b``,
and ``d = ts_b - ts_a`` in raw timestamps, so ``off_b - off_a <= d``. Sources of certainty:
- TTL: every sighting at ``a`` has a higher TTL than every sighting at ``b`` (routed in between);
- tunnels: ``a`` owns the outer source address of the journey's encapsulated sightings and
  ``b`` owns the outer destination;
- request before reply: for a flow seen in both domains, the domain nearer the client has the
  longer local gap between request and reply (same clock, no offset involved).
Large inputs are sampled by journey hash: the tightest bound needs many samples, not all.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine, mix
from netdiag.correlate.frame import Names
from netdiag.pcap.addr import ip_pack

_MAX_SAMPLED = 50_000
_EMPTY = pd.DataFrame({"a": [], "b": [], "d": []}, dtype="int64")


def _addr_key(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    return combine(hi, lo, seed=11)


def learn_owners(
    w: pd.DataFrame, names: Names, node_addresses: Mapping[str, tuple[str, ...]]
) -> pd.Series:
    """Address key -> clock domain, from tunnel headers seen leaving/entering each domain."""
    enc = w["encap"].to_numpy() >= 0
    d = w["dir"].to_numpy()
    sent, received = enc & (d == 1), enc & ((d == 0) | (d == 2) | (d == 3))
    keys = np.concatenate(
        [
            _addr_key(w["outer_src_hi"].to_numpy()[sent], w["outer_src_lo"].to_numpy()[sent]),
            _addr_key(
                w["outer_dst_hi"].to_numpy()[received], w["outer_dst_lo"].to_numpy()[received]
            ),
        ]
    )
    doms = np.concatenate([w["dom"].to_numpy()[sent], w["dom"].to_numpy()[received]])
    owners = pd.Series(doms, index=keys)
    extra = {}
    lookup = {name: i for i, name in enumerate(names.domains)}
    for node, addrs in node_addresses.items():
        if node in lookup:
            for text in addrs:
                hi, lo = ip_pack(text)
                k = _addr_key(np.array([hi], dtype="uint64"), np.array([lo], dtype="uint64"))
                extra[int(k[0])] = lookup[node]
    if extra:
        owners = pd.concat([owners, pd.Series(extra, dtype="int64")])
    return owners[~owners.index.duplicated(keep="first")]


def _owner_of(owners: pd.Series, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    if owners.empty:
        return np.full(len(hi), -1, dtype="int64")
    pos = pd.Index(owners.index).get_indexer(_addr_key(hi, lo))
    return np.where(pos >= 0, owners.to_numpy()[np.maximum(pos, 0)], -1)


def _sampled(ids: np.ndarray, count: int) -> np.ndarray:
    if count <= _MAX_SAMPLED:
        return np.ones(len(ids), dtype=bool)
    step = np.uint64(-(-count // _MAX_SAMPLED))
    return np.asarray(mix(ids.astype("uint64")) % step == 0)


def _per_domain(w: pd.DataFrame, journey: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "journey": journey[keep],
            "dom": w["dom"].to_numpy()[keep],
            "ts": w["ts"].to_numpy()[keep],
            "ttl": w["ttl"].to_numpy()[keep],
        }
    )
    return df.groupby(["journey", "dom"], sort=False).agg(
        ts_min=("ts", "min"), ts_max=("ts", "max"), ttl_min=("ttl", "min"), ttl_max=("ttl", "max")
    )


def journey_samples(
    w: pd.DataFrame, journey: np.ndarray, count: int, owners: pd.Series
) -> pd.DataFrame:
    """Samples from TTL order and tunnel endpoints inside single journeys."""
    keep = _sampled(journey, count)
    g = _per_domain(w, journey, keep)
    multi = g.groupby(level="journey").size()
    g = g.loc[g.index.get_level_values("journey").isin(multi.index[multi > 1])].reset_index()
    if g.empty:
        return _EMPTY
    enc = keep & (w["encap"].to_numpy() >= 0)
    if enc.any():
        dom = w["dom"].to_numpy()[enc]
        tun = (
            pd.DataFrame(
                {
                    "journey": journey[enc],
                    "dom": dom,
                    "send": _owner_of(
                        owners, w["outer_src_hi"].to_numpy()[enc], w["outer_src_lo"].to_numpy()[enc]
                    )
                    == dom,
                    "recv": _owner_of(
                        owners, w["outer_dst_hi"].to_numpy()[enc], w["outer_dst_lo"].to_numpy()[enc]
                    )
                    == dom,
                }
            )
            .groupby(["journey", "dom"], as_index=False)[["send", "recv"]]
            .any()
        )
        g = g.merge(tun, on=["journey", "dom"], how="left")
        g[["send", "recv"]] = g[["send", "recv"]].fillna(False).astype(bool)
    else:
        g = g.assign(send=False, recv=False)
    g = g.sort_values(
        ["journey", "ttl_min", "ttl_max", "dom"], ascending=[True, False, False, True]
    )
    p = _pairs(g.reset_index(drop=True), "journey")
    ttl = (p["ttl_min_x"] > p["ttl_max_y"]) & (p["ttl_max_y"] >= 0)
    p = p.loc[ttl.to_numpy()]
    # Tunnels: each sender with the journey's first receiver, each receiver with its first sender.
    tunnel = []
    for role, other in (("send", "recv"), ("recv", "send")):
        mine = g.loc[g[role].to_numpy()]
        firsts = g.loc[g[other].to_numpy()].drop_duplicates("journey")
        m = mine.merge(
            firsts, on="journey", suffixes=("_x", "_y") if role == "send" else ("_y", "_x")
        )
        tunnel.append(m.loc[m["dom_x"] != m["dom_y"]])
    p = pd.concat([p, *tunnel], ignore_index=True)
    return pd.DataFrame(
        {"a": p["dom_x"], "b": p["dom_y"], "d": p["ts_min_y"] - p["ts_max_x"]}
    ).astype("int64")


def _pairs(g: pd.DataFrame, by: str) -> pd.DataFrame:
    """Linear candidate pairs inside each ``by`` group of the sorted ``g``: every row with the
    next one, and the group's first row with every other (suffixes _x for the earlier row,
    _y for the later). Enough to chain every domain of a journey to the others without the
    quadratic all-pairs join (a fleet of 200 points sees each packet 200 times)."""
    key = g[by].to_numpy()
    n = len(g)
    nxt = np.flatnonzero(key[1:] == key[:-1])
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, "int64")
    first_of = np.repeat(starts, np.diff(np.r_[starts, n]))
    rest = np.flatnonzero(first_of != np.arange(n))
    rest = rest[(rest - first_of[rest]) > 1]  # the next row is already paired
    xi = np.concatenate([nxt, first_of[rest]])
    yi = np.concatenate([nxt + 1, rest])
    left = g.iloc[xi].reset_index(drop=True).add_suffix("_x")
    right = g.iloc[yi].reset_index(drop=True).add_suffix("_y")
    return pd.concat([left, right], axis=1)


def flow_samples(w: pd.DataFrame, journey: np.ndarray, flows: pd.DataFrame) -> pd.DataFrame:
    """Samples from request/reply pairs seen in two domains (gap order, see module doc)."""
    if flows.empty:
        return _EMPTY
    f = flows.loc[_sampled(flows["request"].to_numpy(), len(flows)), ["request", "reply"]]
    mark = np.zeros(int(journey.max()) + 1, dtype=bool)
    mark[f["request"].to_numpy()] = True
    mark[f["reply"].to_numpy()] = True
    wanted = mark[journey]
    g = _per_domain(w, journey, wanted).reset_index()
    r = f.merge(g, left_on="request", right_on="journey")
    x = r.merge(g, left_on=["reply", "dom"], right_on=["journey", "dom"], suffixes=("_r", "_p"))
    x = x.assign(gap=x["ts_min_p"] - x["ts_max_r"])[
        ["request", "dom", "gap", "ts_min_r", "ts_max_r", "ts_min_p", "ts_max_p"]
    ]
    x = x.sort_values(["request", "gap", "dom"], ascending=[True, False, True])
    p = _pairs(x.reset_index(drop=True), "request")
    p = p.loc[((p["dom_x"] != p["dom_y"]) & (p["gap_x"] > p["gap_y"])).to_numpy()]
    forward = pd.DataFrame(
        {"a": p["dom_x"], "b": p["dom_y"], "d": p["ts_min_r_y"] - p["ts_max_r_x"]}
    )
    back = pd.DataFrame({"a": p["dom_y"], "b": p["dom_x"], "d": p["ts_min_p_x"] - p["ts_max_p_y"]})
    return pd.concat([forward, back], ignore_index=True).astype("int64")
