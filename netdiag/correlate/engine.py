"""``analyze(table, options) -> Analysis``: the whole correlation, pure and vectorized.

The stages below run in order over one :class:`Work` record, each adding what it found:

1. ``prepare``: capture points, the numeric work frame, fingerprints (``fingerprint.py``);
2. ``coarse_clocks``: rough node clock offsets, enough to group within the window;
3. ``group_journeys``: one journey per packet, visits and duplicates (``journeys.py``);
4. ``pair_flows``: requests with their replies (``flows.py``);
5. ``refine_clocks``: offsets bounded by causal pairs and the run's round trips (``clocks.py``);
6. ``order_sightings``: each journey's path, causality before clocks (``order.py``);
7. ``explain_hops``: what changed at each hop, named by direction, placed on a node
   (``transforms.py``);
8. ``describe_flows`` and ``find_anomalies`` (``flows.py``, ``anomalies.py``).

Stages 3 and 6 look at the rows of one fingerprint at a time, so the table can be partitioned
by fingerprint (all sightings of one packet in one partition) and those stages run per
partition; the others join across partitions (flows pair two fingerprints).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from netdiag.correlate import anomalies as an
from netdiag.correlate import drops, icmp, order
from netdiag.correlate.causality import flow_samples, journey_samples, learn_owners
from netdiag.correlate.clocks import (
    bounds_to_edges,
    bundle_edges,
    coarse_offsets,
    merge_edges,
    solve,
)
from netdiag.correlate.fingerprint import base_confidence, combine, fingerprint, payload_cut
from netdiag.correlate.flows import describe, pair
from netdiag.correlate.frame import Names, effective_points, point_names, work_frame
from netdiag.correlate.journeys import Grouping, group, hop_index, twin_keys, visit_keys
from netdiag.correlate.model import Analysis, Options
from netdiag.correlate.order import Evidence, Ordering, order_rows
from netdiag.correlate.transforms import (
    compute_hops,
    endpoint_domains,
    journey_original,
    name_changes,
    translations,
)
from netdiag.errors import AnalysisInputError, InputError
from netdiag.pcap.addr import ip_pack, mac_pack

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

#: Work-frame columns needed for fingerprints only, left out of the sightings frame.
_FINGERPRINT_ONLY = frozenset(
    {"frag_offset", "mf", "df", "payload_hash", "payload_hashed", "ip_len", "outer_ttl", "header"}
)


@dataclass
class Work:
    """What the stages share; each stage fills the fields it owns (see the module docstring)."""

    table: pd.DataFrame
    options: Options
    names: Names
    w: pd.DataFrame
    ref: int
    conf: np.ndarray
    notes: list[str] = field(default_factory=list)
    coarse: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    window: int = 0
    grouping: Grouping | None = None
    flows: pd.DataFrame = field(default_factory=pd.DataFrame)
    clocks: pd.DataFrame = field(default_factory=pd.DataFrame)
    ts_corr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    journey: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    ambiguous: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    sightings: pd.DataFrame = field(default_factory=pd.DataFrame)
    journeys: pd.DataFrame = field(default_factory=pd.DataFrame)
    hops: pd.DataFrame = field(default_factory=pd.DataFrame)
    original: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    endpoint: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _reference(names: Names, w: pd.DataFrame, wanted: str | None) -> int:
    if wanted is not None:
        if wanted in names.domains:
            return names.domains.index(wanted)
        known = ", ".join(names.domains) or "none"
        raise AnalysisInputError(
            f"reference node {wanted!r} is not among the captured nodes ({known}); "
            "pass one of them to --reference-node"
        )
    # By default the node of the first input that holds IP packets (what the user named
    # first; clock groups the reference shares nothing with are aligned on their own).
    if not len(w):
        return 0
    return int(names.point_domain[int(w["point"].to_numpy()[0])])


def prepare(table: pd.DataFrame, options: Options) -> Work:
    """Stage 1: points, work frame, fingerprints and their confidence."""
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
    for c in _FINGERPRINT_ONLY & set(w.columns):
        del w[c]
    ref = _reference(names, w, options.reference_node)
    return Work(table, options, names, w, ref, conf, notes)


def coarse_clocks(work: Work) -> None:
    """Stage 2: offsets good to a few one-way delays, from the run's samples and strong keys."""
    names, w, options = work.names, work.w, work.options
    ndom = len(names.domains)
    pre = np.zeros(ndom, dtype="int64")
    base = options.clocks.get(names.domains[work.ref])
    for d, name in enumerate(names.domains):
        sample = options.clocks.get(name)
        if sample is not None:
            pre[d] = sample.offset_ns - (base.offset_ns if base else 0)
    dom, ts = w["dom"].to_numpy(), w["ts"].to_numpy()
    strong = (w["ip_version"].to_numpy() == 4) & (w["ip_id"].to_numpy() > 0)
    coarse, margin = coarse_offsets(
        dom, w["key"].to_numpy(), ts - pre[dom], strong, ndom=ndom, ref=work.ref
    )
    work.coarse = coarse + pre
    work.window = options.window_ns + min(margin, options.window_ns)


def group_journeys(work: Work) -> None:
    """Stage 3: one journey per packet (partitionable by fingerprint)."""
    w = work.w
    visit, header = visit_keys(w)
    w["header"] = header
    with np.errstate(over="ignore"):  # address keys for equality only: no mixing needed
        src = w["src_lo"].to_numpy() ^ (w["src_hi"].to_numpy() * _GOLDEN)
        dst = w["dst_lo"].to_numpy() ^ (w["dst_hi"].to_numpy() * _GOLDEN)
    ts = w["ts"].to_numpy() - work.coarse[w["dom"].to_numpy()]
    work.grouping = group(
        w["key"].to_numpy(),
        ts,
        w["point"].to_numpy(),
        work.window,
        visit,
        header,
        src,
        dst,
        twin_keys(w),
        w["eth_dst"].to_numpy() > 0,  # a frame with its destination MAC: the one to keep
    )


def pair_flows(work: Work) -> None:
    """Stage 4: requests paired with replies, on the grouping's journey ids."""
    assert work.grouping is not None
    work.flows = pair(work.w, work.grouping.journey, work.window, work.grouping.duplicate)


def refine_clocks(work: Work) -> None:
    """Stage 5: offsets from causal pairs (TTL, tunnels, request before reply) and round trips,
    relative to the reference node."""
    g, w, names, options = work.grouping, work.w, work.names, work.options
    assert g is not None
    owners = learn_owners(w, names, options.node_addresses)
    samples = pd.concat(
        [journey_samples(w, g.journey, g.count, owners), flow_samples(w, g.journey, work.flows)],
        ignore_index=True,
    )
    edges = merge_edges(
        bounds_to_edges(samples), bundle_edges(options.clocks, names.domains, work.ref)
    )
    best = solve(edges, len(names.domains), work.ref)
    rows: list[tuple[str, int, int | None, str, int]] = []
    for d, name in enumerate(names.domains):
        if d in best:
            off, err, source, n = best[d]
            rows.append((name, off, err, source, n))
        else:
            # No causal pair in both directions: keep the coarse median, error unknown.
            coarse = int(work.coarse[d])
            rows.append((name, coarse, None, "coarse" if coarse else "none", 0))
    work.clocks = pd.DataFrame(
        rows, columns=["node", "offset_ns", "error_ns", "source", "samples"]
    ).astype({"offset_ns": "int64", "error_ns": "Int64", "samples": "int64"})
    offsets = work.clocks["offset_ns"].to_numpy(dtype="int64")
    work.ts_corr = w["ts"].to_numpy() - offsets[w["dom"].to_numpy()]
    # Final ids by first corrected sighting: j1 is the earliest packet.
    first_ts = np.full(g.count, np.iinfo("int64").max, dtype="int64")
    np.minimum.at(first_ts, g.journey, work.ts_corr)
    rank = np.empty(g.count, dtype="int64")
    rank[np.argsort(first_ts, kind="stable")] = np.arange(g.count)
    work.journey = rank[g.journey]
    work.ambiguous = np.empty(g.count, dtype=bool)
    work.ambiguous[rank] = g.ambiguous
    work.flows = (
        work.flows.assign(
            request=rank[work.flows["request"].to_numpy()],
            reply=rank[work.flows["reply"].to_numpy()],
        )
        .sort_values("request")
        .reset_index(drop=True)
    )


def _keyed_addresses(
    texts_by_name: Mapping[str, tuple[str, ...]],
    names: tuple[str, ...],
    key: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> dict[int, int]:
    """``{name: addresses}`` of the run -> ``{address key: code of name}``, for the names the
    analysis knows; an address that does not parse is left out (it cannot match a packet)."""
    lookup = {name: i for i, name in enumerate(names)}
    packed: list[tuple[int, int, int]] = []
    for name, texts in texts_by_name.items():
        for text in texts if name in lookup else ():
            with contextlib.suppress(InputError):
                packed.append((*ip_pack(text), lookup[name]))
    if not packed:
        return {}
    hi, lo, code = (np.array(col, dtype="uint64") for col in zip(*packed, strict=True))
    keys = key(hi, lo).astype("int64")
    return dict(zip(keys.tolist(), code.astype("int64").tolist(), strict=True))


def _given_owners(work: Work) -> tuple[dict[int, int], dict[int, int]]:
    """Addresses and MACs the run says each node owns, keyed as order.py looks them up."""
    addrs = _keyed_addresses(work.options.node_addresses, work.names.domains, combine)
    lookup = {name: i for i, name in enumerate(work.names.domains)}
    macs: dict[int, int] = {}
    for node, texts in work.options.node_macs.items():
        for text in texts if node in lookup else ():
            with contextlib.suppress(InputError):
                macs[mac_pack(text)] = lookup[node]
    return addrs, macs


def order_sightings(work: Work) -> None:
    """Stage 6: each journey's path (partitionable by fingerprint)."""
    g, w = work.grouping, work.w
    assert g is not None
    given_addrs, given_macs = _given_owners(work)
    errors = work.clocks["error_ns"].to_numpy(dtype="int64", na_value=-1)
    ev = Evidence(
        journey=work.journey,
        duplicate=g.duplicate,
        header=w["header"].to_numpy(),
        ts_corr=work.ts_corr,
        ts=w["ts"].to_numpy(),
        point=w["point"].to_numpy().astype("int64"),
        flows=work.flows,
        count=g.count,
        clock_error=errors,
        point_rank=_name_rank(work.names.points),
        domain_rank=_name_rank(work.names.domains),
        macs=given_macs,
        addresses=given_addrs,
        paths=_given_paths(work),
    )
    ordering: Ordering = order_rows(w, ev)
    del ev
    order = ordering.order
    extra = {"ts_corr": work.ts_corr[order], "journey": work.journey[order]}
    work.ts_corr = work.journey = np.zeros(0, dtype="int64")  # now in the sightings
    s = _gather(w, order, **extra, copy=ordering.copy, how=ordering.how)
    work.w = w.iloc[:0]  # emptied by _gather: the sightings hold its columns now
    s["hop"] = hop_index(s["journey"].to_numpy())
    work.sightings = s
    work.journeys = _journey_table(s, work.conf[order], work.ambiguous)


def _name_rank(names: tuple[str, ...]) -> np.ndarray:
    """Per code, the rank of its name: ties broken by names, never by the input's order."""
    rank = np.empty(len(names), dtype="int64")
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
    return rank


def explain_hops(work: Work) -> None:
    """Stage 7: what changed at each hop, named by the packet's direction."""
    s, jt = work.sightings, work.journeys
    work.original = journey_original(s, jt)
    work.hops = name_changes(compute_hops(s), work.original)
    work.endpoint = endpoint_domains(s, work.names, work.options.endpoint_nodes)


def find_anomalies(work: Work) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage 8: anomalies and traceroute answers."""
    s, jt, names, table = work.sightings, work.journeys, work.names, work.table
    point_end = _point_end(work)
    answered = np.zeros(len(jt), dtype=bool)
    answered[work.flows["request"].to_numpy()] = True
    complete = answered.copy()
    back = work.flows["reached_sender"].to_numpy(dtype=bool)
    complete[work.flows["reply"].to_numpy()[back]] = True
    errors = icmp.icmp_errors(s, jt, names, work.window, _mtu(table, s),
                              quoted=icmp.quoted_fields(table, s))  # fmt: skip
    errors, traceroutes = icmp.split_traceroutes(errors, s, jt)
    found = [
        drops.dropped(s, jt, names, point_end, work.original, complete, _given_homes(work)),
        drops.no_reply(s, jt, names, work.window, point_end, work.original, answered),
        an.asymmetric(work.flows, s, jt, names),
        an.nat_mismatch(work.flows, s, jt),
        errors,
        an.arp_unanswered(table, _table_ts_corr(work), _table_clock_known(work), work.window),
        an.retransmissions(s, jt, names),
        an.kernel_drops(work.options.kernel_dropped),
        an.ambiguous(jt, s, names),
    ]
    anomalies = pd.concat([f for f in found if not f.empty] or [an.empty()], ignore_index=True)
    # A packet answered by an ICMP error (or a traceroute's probe) stopped for a stated
    # reason: the error says it all.
    explained = np.concatenate(
        [anomalies["cause"].to_numpy(), traceroutes["probe"].to_numpy(dtype="int64")]
    )
    kind, journey = anomalies["kind"].to_numpy(), anomalies["journey"].to_numpy()
    stale = np.isin(kind, ("dropped", "no-reply")) & np.isin(journey, explained[explained >= 0])
    # A dropped request got no reply, of course: the drop says where.
    stale |= (kind == "no-reply") & np.isin(journey, journey[kind == "dropped"])
    return anomalies.loc[~stale].reset_index(drop=True), traceroutes


def _given_homes(work: Work) -> dict[int, int]:
    """Address key -> point code for the addresses the run placed behind capture points."""
    return _keyed_addresses(work.options.point_addresses, work.names.points, drops.address_key)


def _given_paths(work: Work) -> dict[int, int]:
    """``order.path_key(address, point)`` -> how many steps out from where the address lives
    the point is (0: its home, then the home's ``Options.outward`` points in order), for the
    points the analysis knows; an address that does not parse is left out."""
    by_step: dict[int, dict[str, tuple[str, ...]]] = {}  # steps out -> point -> addresses
    for home, texts in work.options.point_addresses.items():
        chain = dict.fromkeys([home, *work.options.outward.get(home, ())])
        for step, point in enumerate(chain):  # a bridge is further out from many pods
            at = by_step.setdefault(step, {})
            at[point] = (*at.get(point, ()), *texts)
    out: dict[int, int] = {}
    for step, texts_at in by_step.items():
        keyed = _keyed_addresses(texts_at, work.names.points, drops.address_key)
        if keyed:
            keys = order.path_key(np.fromiter(keyed, "int64"), np.fromiter(keyed.values(), "int64"))
            out.update(dict.fromkeys(keys.tolist(), step))
    return out


def analyze(table: pd.DataFrame, options: Options | None = None) -> Analysis:
    """Correlate every capture point of the packet table ``table`` (:mod:`netdiag.pcap`);
    raises AnalysisInputError on unusable input. Run directories and capture files are read
    by :func:`netdiag.bundle.analyse`, which then calls this."""
    work = prepare(table, options or Options())
    coarse_clocks(work)
    group_journeys(work)
    pair_flows(work)
    refine_clocks(work)
    order_sightings(work)
    explain_hops(work)
    work.flows = describe(
        work.flows, work.sightings, work.journeys, work.hops, work.names, work.original
    )
    anomalies, traceroutes = find_anomalies(work)
    return Analysis(
        points=_points(work.table, work.names, work.clocks, work.options),
        sightings=work.sightings,
        journeys=work.journeys,
        hops=work.hops,
        flows=work.flows,
        translations=translations(work.sightings, work.hops, work.names, work.endpoint),
        anomalies=anomalies,
        clocks=work.clocks,
        table=work.table,
        reference_node=work.names.domains[work.ref],
        window_ns=work.options.window_ns,
        notes=tuple(work.notes),
        traceroutes=traceroutes,
        window_used_ns=work.window,
    )


def _gather(w: pd.DataFrame, order: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    """The sightings frame: work-frame columns in path order, each dropped from ``w`` once
    gathered (the two never both hold every column: peak memory), skipping gathers of columns
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
    for c in list(w.columns):
        v = w.pop(c).to_numpy()
        if c in _FINGERPRINT_ONLY:
            continue
        if c in constant:
            cols[c] = np.full(n, v[0] if len(v) else 0, dtype=v.dtype)
        else:
            cols[c] = v[order]
        del v
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


def _table_point_codes(work: Work) -> np.ndarray:
    """Point code of every row of the input table (-1 for a point the analysis does not know)."""
    codes = work.table["point"].astype(pd.CategoricalDtype(list(work.names.points))).cat.codes
    return np.asarray(codes.to_numpy(dtype="int64"))


def _table_ts_corr(work: Work) -> np.ndarray:
    """The input table's timestamps on the reference clock (ARP rows have no sighting)."""
    point = _table_point_codes(work)
    offsets = work.clocks["offset_ns"].to_numpy(dtype="int64")
    shift = np.where(point >= 0, offsets[work.names.point_domain[np.maximum(point, 0)]], 0)
    return np.asarray(work.table["ts_ns"].to_numpy(dtype="int64") - shift)


def _table_clock_known(work: Work) -> np.ndarray:
    """Per input-table row: is the offset of its node's clock known (an error bound exists)?"""
    point = _table_point_codes(work)
    known = work.clocks["error_ns"].notna().to_numpy()
    return np.asarray(
        np.where(point >= 0, known[work.names.point_domain[np.maximum(point, 0)]], False)
    )


def _point_end(work: Work) -> np.ndarray:
    """Until when each point is known to have captured (reference clock), to tell 'dropped'
    from 'capture stopped': its last frame (ARP included), or later when the bundle says so
    (``Options.capture_until``). A point that captured nothing at all has no end: it counts
    as running (its capture produced a file, empty though it is)."""
    names = work.names
    npoints = len(names.points)
    end = np.full(npoints, np.iinfo("int64").max, dtype="int64")
    point = _table_point_codes(work)
    if len(point):
        ok = point >= 0
        seen = np.full(npoints, np.iinfo("int64").min, dtype="int64")
        np.maximum.at(seen, point[ok], _table_ts_corr(work)[ok])
        end = np.where(seen > np.iinfo("int64").min, seen, end)
    offsets = work.clocks["offset_ns"].to_numpy(dtype="int64")
    for code, name in enumerate(names.points):
        until = work.options.capture_until.get(name)
        if until is not None and end[code] != np.iinfo("int64").max:
            end[code] = max(end[code], until - offsets[names.point_domain[code]])
    return end


def _mtu(table: pd.DataFrame, s: pd.DataFrame) -> np.ndarray | None:
    """Next-hop MTU of frag-needed errors, when the reader provides an ``icmp_mtu`` column."""
    if "icmp_mtu" not in table.columns:
        return None
    return np.asarray(table["icmp_mtu"].to_numpy(dtype="int64", na_value=0)[s["row"].to_numpy()])


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
