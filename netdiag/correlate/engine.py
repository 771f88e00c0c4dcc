"""``analyze(table, options) -> Analysis``: the whole correlation, pure and vectorized.

Steps (DESIGN.md "Correlation"): fingerprint -> coarse clocks -> group into journeys -> pair
flows -> refine clocks from causal pairs -> order -> transforms -> translations -> anomalies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from netdiag.correlate import anomalies as an
from netdiag.correlate.causality import flow_samples, journey_samples, learn_owners
from netdiag.correlate.clocks import (
    bounds_to_edges,
    bundle_edges,
    coarse_offsets,
    merge_edges,
    solve,
)
from netdiag.correlate.fingerprint import base_confidence, combine, fingerprint, mix, payload_cut
from netdiag.correlate.flows import pair
from netdiag.correlate.frame import Names, effective_points, point_names, work_frame
from netdiag.correlate.journeys import (
    causal_order,
    flow_gap_key,
    group,
    hop_index,
    side_copies,
)
from netdiag.correlate.model import Analysis, Options
from netdiag.correlate.transforms import (
    compute_hops,
    relabel_reverse_nat,
    reply_direction,
    translations,
)
from netdiag.errors import AnalysisInputError

#: Work-frame columns needed for fingerprints only, left out of the sightings frame.
_FINGERPRINT_ONLY = frozenset(
    {"frag_offset", "mf", "df", "payload_hash", "payload_hashed", "ip_len", "outer_ttl"}
)


_DIRECTION_COLUMNS = ["proto", "icmp_type", "tcp_flags", "sport", "dport"]


def _reference(names: Names, table: pd.DataFrame, wanted: str | None) -> int:
    if wanted is not None:
        if wanted in names.domains:
            return names.domains.index(wanted)
        known = ", ".join(names.domains) or "none"
        raise AnalysisInputError(
            f"reference node {wanted!r} is not among the captured nodes ({known}); "
            "pass one of them to --reference-node"
        )
    first = str(table["point"].iloc[0])
    return int(names.point_domain[names.points.index(first)])


def _clocks(  # noqa: PLR0917 - one call site, the steps' intermediate values
    w: pd.DataFrame,
    journey: np.ndarray,
    count: int,
    flows: pd.DataFrame,
    names: Names,
    ref: int,
    coarse: np.ndarray,
    options: Options,
) -> pd.DataFrame:
    owners = learn_owners(w, names, options.node_addresses)
    samples = pd.concat(
        [journey_samples(w, journey, count, owners), flow_samples(w, journey, flows)],
        ignore_index=True,
    )
    edges = merge_edges(
        bounds_to_edges(samples), bundle_edges(options.clock_samples, names.domains, ref)
    )
    best = solve(edges, len(names.domains), ref)
    rows: list[tuple[str, int, int | None, str, int]] = []
    for d, name in enumerate(names.domains):
        if d in best:
            off, err, source, n = best[d]
            rows.append((name, off, err, source, n))
        else:
            # No causal pair in both directions: keep the coarse median, error unknown.
            rows.append((name, int(coarse[d]), None, "coarse" if coarse[d] else "none", 0))
    return pd.DataFrame(
        rows, columns=["node", "offset_ns", "error_ns", "source", "samples"]
    ).astype({"offset_ns": "int64", "error_ns": "Int64", "samples": "int64"})


def _gather(w: pd.DataFrame, order: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    """The sightings frame: work-frame columns in causal order, skipping gathers of columns
    that hold one value throughout (IPv4-only high halves, tunnel fields without tunnels)."""
    n = len(order)
    v4_only = bool((w["ip_version"].to_numpy() == 4).all())
    no_tunnel = not bool((w["encap"].to_numpy() >= 0).any())
    constant = set()
    if v4_only:
        constant |= {"src_hi", "dst_hi"}
    if no_tunnel:
        constant |= {"vni", "outer_src_hi", "outer_src_lo", "outer_dst_hi", "outer_dst_lo"}
    cols: dict[str, np.ndarray] = {}
    for c in w.columns:
        if c in _FINGERPRINT_ONLY:
            continue
        v = w[c].to_numpy()
        if c in constant:
            cols[c] = np.full(n, v[0] if len(v) else 0, dtype=v.dtype)
        else:
            cols[c] = v[order]
    cols.update(extra)
    return pd.DataFrame(cols, copy=False)


def _journey_table(s: pd.DataFrame, conf: np.ndarray, ambiguous: np.ndarray) -> pd.DataFrame:
    j = s["journey"].to_numpy()
    starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]]) if len(j) else np.zeros(0, "int64")
    last = np.r_[starts[1:], len(j)] - 1
    return pd.DataFrame(
        {
            "first": starts,
            "last": last,
            "sightings": last - starts + 1,
            "key": s["key"].to_numpy()[starts],
            "first_ts_ns": s["ts_corr"].to_numpy()[starts],
            "confidence": np.minimum.reduceat(conf, starts)
            * np.where(ambiguous[j[starts]], 0.5, 1.0)
            if len(j)
            else np.zeros(0),
            "ambiguous": ambiguous[j[starts]],
        },
        index=pd.RangeIndex(len(starts), name="journey"),
    )


def analyze(table: pd.DataFrame | Sequence[str | Path], options: Options | None = None) -> Analysis:
    """Correlate every capture point of ``table``; raises AnalysisInputError on unusable input.

    ``table`` may also be a run directory or ``[POINT=]PATH`` files: they are read with
    :func:`netdiag.bundle.load_input` (the bundle's clock samples and drop counts are used).
    """
    if not isinstance(table, pd.DataFrame):
        from netdiag.bundle import load_input

        data = load_input(list(table))
        given = options or Options()
        options = dataclasses.replace(
            given,
            reference_node=given.reference_node or data.reference_node,
            clock_samples={**data.clock_samples, **given.clock_samples},
            kernel_dropped={**data.kernel_dropped, **given.kernel_dropped},
        )
        table = data.table
    options = options or Options()
    if table.empty:
        raise AnalysisInputError("no packets to analyse; check the capture files are not empty")
    table = effective_points(table)
    names = point_names(table)
    w = work_frame(table, names)
    notes: list[str] = []
    cut = payload_cut(w)
    use_payload = not bool(cut.any())
    if not use_payload:
        cut_points = sorted({names.points[p] for p in w["point"].to_numpy()[cut]})
        notes.append(
            "snaplen cut payloads at " + ", ".join(cut_points) + ": payload hashes were left out "
            "of fingerprints and confidences lowered; capture with -s 0 for exact matching"
        )
    w["key"] = fingerprint(w, use_payload=use_payload)
    conf = base_confidence(w, use_payload=use_payload)
    ref = _reference(names, table, options.reference_node)
    ndom = len(names.domains)
    pre = np.zeros(ndom, dtype="int64")
    base = options.clock_samples.get(names.domains[ref])
    for d, name in enumerate(names.domains):
        sample = options.clock_samples.get(name)
        if sample is not None:
            pre[d] = sample.offset_ns - (base.offset_ns if base else 0)
    dom, ts = w["dom"].to_numpy(), w["ts"].to_numpy()
    strong = (w["ip_version"].to_numpy() == 4) & (w["ip_id"].to_numpy() > 0)
    coarse, margin = coarse_offsets(
        dom, w["key"].to_numpy(), ts - pre[dom], strong, ndom=ndom, ref=ref
    )
    coarse = coarse + pre
    window = options.window_ns + min(margin, options.window_ns)
    src = combine(w["src_hi"].to_numpy(), w["src_lo"].to_numpy())
    dst = combine(w["dst_hi"].to_numpy(), w["dst_lo"].to_numpy())
    g = group(w["key"].to_numpy(), ts - coarse[dom], w["point"].to_numpy(), window, src, dst)
    flows = pair(w, g.journey, window)
    clocks = _clocks(w, g.journey, g.count, flows, names, ref, coarse, options)
    offsets = clocks["offset_ns"].to_numpy(dtype="int64")
    ts_corr = ts - offsets[dom]
    # Final ids by first corrected sighting (j1 is the earliest packet). Numbering by time also
    # makes the causal sort walk each point's rows in time order: near-sequential gathers.
    first_ts = np.full(g.count, np.iinfo("int64").max, dtype="int64")
    np.minimum.at(first_ts, g.journey, ts_corr)
    rank = np.empty(g.count, dtype="int64")
    rank[np.argsort(first_ts, kind="stable")] = np.arange(g.count)
    journey = rank[g.journey]
    ambiguous = np.empty(g.count, dtype=bool)
    ambiguous[rank] = g.ambiguous
    flows = (
        flows.assign(
            request=rank[flows["request"].to_numpy()], reply=rank[flows["reply"].to_numpy()]
        )
        .sort_values("request")
        .reset_index(drop=True)
    )
    order_key = flow_gap_key(journey, w["point"].to_numpy(), ts, ts_corr, flows, g.count)
    order = causal_order(journey, w["ttl"].to_numpy(), order_key)
    side = side_copies(w, order, journey[order])
    if side.any():  # off-path copies go to the end of their journey, out of the hop chain
        perm = np.argsort(journey[order] * 2 + side, kind="stable")
        order, side = order[perm], side[perm]
    s = _gather(w, order, ts_corr=ts_corr[order], journey=journey[order], side=side)
    s["hop"] = hop_index(s["journey"].to_numpy())
    jt = _journey_table(s, conf[order], ambiguous)
    hops = compute_hops(s)
    hops = relabel_reverse_nat(s, hops)
    flows = _describe_flows(flows, s, jt, hops, names)
    point_end = _point_end(s, len(names.points))
    found = [
        an.dropped(s, jt, hops, names, point_end),
        an.no_reply(s, jt, flows, names, window, point_end),
        an.asymmetric(flows, s, jt, names),
        an.icmp_errors(s, jt, names, window, _mtu(table, s), quoted=an.quoted_fields(table, s)),
        an.arp_unanswered(table, window),
        an.retransmissions(s, jt, names),
        an.kernel_drops(options.kernel_dropped),
        an.ambiguous(jt, s, names),
    ]
    anomalies = pd.concat([f for f in found if not f.empty] or [an.empty()], ignore_index=True)
    # A packet answered by an ICMP error was dropped for a stated reason: the error says it all.
    explained = anomalies["cause"].to_numpy()
    stale = (anomalies["kind"] == "dropped").to_numpy() & np.isin(
        anomalies["journey"].to_numpy(), explained[explained >= 0]
    )
    anomalies = anomalies.loc[~stale].reset_index(drop=True)
    return Analysis(
        points=_points(table, names, clocks, options),
        sightings=s,
        journeys=jt,
        hops=hops,
        flows=flows,
        translations=translations(s, hops, names),
        anomalies=anomalies,
        clocks=clocks,
        table=table,
        reference_node=names.domains[ref],
        window_ns=window,
        notes=tuple(notes),
    )


def _point_end(s: pd.DataFrame, npoints: int) -> np.ndarray:
    """Last corrected timestamp seen at each point (to tell 'dropped' from 'capture stopped')."""
    end = np.full(npoints, np.iinfo("int64").min, dtype="int64")
    if len(s):
        np.maximum.at(end, s["point"].to_numpy(), s["ts_corr"].to_numpy())
    return end


def _mtu(table: pd.DataFrame, s: pd.DataFrame) -> np.ndarray | None:
    """Next-hop MTU of frag-needed errors, when the reader provides an ``icmp_mtu`` column."""
    if "icmp_mtu" not in table.columns:
        return None
    return np.asarray(table["icmp_mtu"].to_numpy(dtype="int64", na_value=0)[s["row"].to_numpy()])


def _describe_flows(
    flows: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame, hops: pd.DataFrame, names: Names
) -> pd.DataFrame:
    """symmetric, enter/leave points and the node where the reply was un-NATed."""
    point = s["point"].to_numpy()
    first, last = jt["first"].to_numpy(), jt["last"].to_numpy()
    req, rep = flows["request"].to_numpy(), flows["reply"].to_numpy()
    # Symmetric = the reply passed no point the request did not. Extra points on the request
    # side (a flooded copy seen by a neighbour's NIC, a mirror port) do not make the return
    # path different, and a reply that stops early is a drop, reported as such.
    order = np.argsort(first)
    if len(names.points) <= 64:
        bits = np.left_shift(np.uint64(1), point.astype("uint64"))
        mask = np.empty(len(first), dtype="uint64")
        mask[order] = np.bitwise_or.reduceat(bits, first[order]) if len(first) else bits[:0]
        symmetric = (mask[rep] & ~mask[req]) == 0
    else:  # many points: compare point sets by signature (exact equality only)
        sig = np.empty(len(first), dtype="uint64")
        with np.errstate(over="ignore"):
            sig[order] = np.add.reduceat(mix(point.astype("uint64") + np.uint64(1)), first[order])
        symmetric = sig[req] == sig[rep]
    unnat = hops.loc[(hops["src_kind"] == 2) | (hops["dst_kind"] == 2)] if len(hops) else hops
    where = unnat.drop_duplicates("journey").set_index("journey")["b"]
    at = where.reindex(rep).to_numpy()
    cats = pd.Index(list(names.points))
    unnat_point = np.where(np.isnan(at), -1, point[np.nan_to_num(at).astype("int64")])

    def category(codes: np.ndarray) -> pd.Categorical[str]:
        return pd.Categorical.from_codes(np.asarray(codes, dtype="int64"), categories=cats)

    return flows.assign(
        symmetric=symmetric,
        enter_point=category(point[first[req]]),
        leave_point=category(point[last[rep]]),
        reverse_nat_point=category(unnat_point),
        # Who sent the request: a client opening/asking, or a server's own data being acked.
        from_client=~reply_direction(s[_DIRECTION_COLUMNS].iloc[first[req]]),
    )


def _points(
    table: pd.DataFrame, names: Names, clocks: pd.DataFrame, options: Options
) -> pd.DataFrame:
    counts = table["point"].value_counts()
    counts.index = counts.index.astype(str)
    by_dom = clocks.set_index("node")
    rows = []
    for i, p in enumerate(names.points):
        c = by_dom.iloc[int(names.point_domain[i])]
        rows.append(
            (p, names.point_node[i], names.point_iface[i], int(counts.get(p, 0)),
             int(options.kernel_dropped.get(p, 0)), int(c["offset_ns"]),
             None if pd.isna(c["error_ns"]) else int(c["error_ns"]), str(c["source"]))
        )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["point", "node", "iface", "packets", "kernel_dropped", "clock_offset_ns",
                 "clock_error_ns", "clock_source"],
    )  # fmt: skip
