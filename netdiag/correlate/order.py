"""Order each journey's sightings into the packet's path: causality first, clocks last.

Inside one clock domain (a node, or a point without a node) the kernel timestamps order the
sightings exactly. Across domains a journey is cut into *segments*, one per domain, and the
segments are ordered by evidence that needs no clock, strongest first:

1. ``ttl``: it never increases along a path (routers decrement it);
2. ``tunnel``: a domain that encapsulated the packet (seen plain, then encapsulated, on its own
   clock) owns the outer source address, one that decapsulated it the outer destination; the
   tunnel runs from the one to the other;
3. ``reply-gap``: at every point a request and its reply both passed, ``t_reply - t_request``
   is measured on one clock and shrinks along the request's path;
4. ``link``: the frame's sending MAC belongs to the domain that sent it, its destination MAC to
   the one that received it (owners learned from routed hops inside one domain, or given by the
   run bundle's interface lists), or the capture says out on one side and in on the other;
5. ``time``: clock-corrected time; ``time-uncertain`` when the two sightings are closer than
   the two clocks' errors (or an error is unknown).

Segments holding only a copy of a frame that another domain carried on (an L2 flood reaching a
neighbour's NIC, a mirror port) are *side copies*: kept in the journey, out of the hop chain.
Duplicates (one frame recorded twice at a point) are kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from netdiag.correlate.drops import address_key
from netdiag.correlate.evidence import BROADCAST, addr_owners, gap_keys, mac_owners, outer_keys
from netdiag.correlate.fingerprint import KeyTable, combine, repeated_within

#: Why a hop's two sightings are in this order (``hops["order"]``, ``sightings["how"]``).
ORDER_KINDS = ("clock", "ttl", "tunnel", "reply-gap", "link", "time", "time-uncertain")
CLOCK, TTL, TUNNEL, GAP, LINK, TIME, UNCERTAIN = range(7)
#: ``sightings["copy"]``: 0 on the path, 1 side copy, 2 duplicate recording.
ON_PATH, SIDE_COPY, DUPLICATE = 0, 1, 2

_DIR_IN, _DIR_OUT, _DIR_OTHER, _DIR_HOST, _DIR_UNKNOWN = range(5)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MAX_PASSES = 16


@dataclass(frozen=True)
class Ordering:
    """Row order (indices into the work frame) and per-row annotations, in that order."""

    order: np.ndarray
    copy: np.ndarray  # ON_PATH / SIDE_COPY / DUPLICATE
    how: np.ndarray  # ORDER_KINDS code of the hop that ends at this row (CLOCK on first rows)


@dataclass(frozen=True)
class Segments:
    """One row per (journey, domain) run of rows sorted by journey, domain, time."""

    start: np.ndarray  # first position in the sorted rows
    stop: np.ndarray  # one past the last
    journey: np.ndarray
    dom: np.ndarray
    ttl_max: np.ndarray
    ttl_min: np.ndarray
    first_ts: np.ndarray  # corrected
    last_ts: np.ndarray
    err: np.ndarray  # the domain's clock error, -1 unknown
    enc_src_owner: np.ndarray
    enc_dst_owner: np.ndarray
    src_mac_owner: np.ndarray  # of the first row's sending MAC
    dst_mac_owner: np.ndarray  # of the last row's destination MAC
    first_dir: np.ndarray
    last_dir: np.ndarray
    first_header: np.ndarray
    last_header: np.ndarray
    gap: np.ndarray
    has_gap: np.ndarray


@dataclass(frozen=True)
class Evidence:
    """Inputs of the ordering besides the work frame."""

    journey: np.ndarray
    duplicate: np.ndarray
    header: np.ndarray
    ts_corr: np.ndarray
    ts: np.ndarray  # as captured: one node's own clock
    point: np.ndarray  # point code per row
    flows: pd.DataFrame  # request/reply journey pairs (for the clock-free reply gaps)
    count: int  # journeys
    clock_error: np.ndarray  # per domain, -1 unknown
    point_rank: np.ndarray  # per point code: rank of its name (input order never decides)
    domain_rank: np.ndarray  # per domain code: rank of its name
    macs: Mapping[int, int]  # given by the run: MAC -> domain
    addresses: Mapping[int, int]  # given by the run: address key -> domain
    #: given by the run: ``path_key(address, point)`` -> steps out from where it lives
    paths: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Owners:
    macs: KeyTable
    addresses: KeyTable
    known_mac_domains: np.ndarray  # per domain: do we know its MACs at all?


def order_rows(w: pd.DataFrame, ev: Evidence) -> Ordering:
    """The journeys' rows in path order with copy flags and the reason of each hop's order."""
    n = len(w)
    if n == 0:
        empty = np.zeros(0, dtype="int64")
        return Ordering(empty, empty.astype("int8"), empty.astype("int8"))
    dom = w["dom"].to_numpy().astype("int64")
    ndom = int(dom.max()) + 1
    # Journey, domain, time (higher TTL first on a tie): each domain's rows on its own clock;
    # point names break what is left, so the input's order never shows through.
    jd = ev.journey * ndom + dom
    ts, ttl = w["ts"].to_numpy(), w["ttl"].to_numpy()
    name_rank = ev.point_rank[w["point"].to_numpy()]
    rows = _settle_ties(np.lexsort((ts, jd)), jd, ts, (name_rank, -ttl))
    macs = mac_owners(w, ev.journey, rows, ev.macs)
    known = np.zeros(ndom, dtype=bool)
    known[macs.values[(macs.values >= 0) & (macs.values < ndom)]] = True
    owners = _Owners(macs, addr_owners(w, ev.journey, rows, ev.addresses), known)
    # Two sightings stamped at the same instant on one node (one skb seen on a tunnel's
    # underlay device and on the tunnel device): the node that decapsulates saw the
    # encapsulated one first, the one that encapsulates saw it last.
    tied = _tied_rows(rows, jd, ts)
    if len(tied):
        tunnel = _tunnel_tie_rank(w, tied, owners)
        home = _home_tie_rank(w, tied, ev.paths)
        rows = _settle_ties(rows, jd, ts, (name_rank, home, tunnel, -ttl))
    seg = _segments(w, ev, rows, owners)
    side = _side_copies(w, ev, rows, seg, owners)
    rank, how = _rank_segments(seg, side, ev.domain_rank, lambda j: _fill_gaps(seg, ev, rows, j))
    seg_of_row = np.repeat(np.arange(len(seg.start)), seg.stop - seg.start)
    copy = np.where(side[seg_of_row], SIDE_COPY, ON_PATH).astype("int8")
    copy[ev.duplicate[rows]] = DUPLICATE
    # Final order: journey, path before copies, segment rank, then the domain's own clock.
    # One packed key; ``rows`` is already sorted by journey, so the stable sort is cheap.
    packed = (
        ev.journey[rows].astype("int64") << 14
        | (copy > 0).astype("int64") << 13
        | np.minimum(rank[seg_of_row], 2047) << 2
        | copy.astype("int64")
    )
    final = np.argsort(packed, kind="stable")
    first_of_seg = np.zeros(n, dtype=bool)
    first_of_seg[seg.start] = True
    row_how = np.where(first_of_seg, how[seg_of_row], CLOCK).astype("int8")
    row_how[copy > 0] = CLOCK
    out, out_copy, out_how = rows[final], copy[final], row_how[final]
    # The first path row of a journey has no hop before it.
    j = ev.journey[out]
    first_path = np.r_[True, j[1:] != j[:-1]]
    out_how[first_path] = CLOCK
    return Ordering(out, out_copy, out_how)


def _settle_ties(
    rows: np.ndarray, jd: np.ndarray, ts: np.ndarray, keys: tuple[np.ndarray, ...]
) -> np.ndarray:
    """``rows`` sorted by (``jd``, ``ts``) with rows of equal (``jd``, ``ts``) put in the order
    of ``keys`` (last key first, as for ``np.lexsort``). Ties are rare: only they are sorted."""
    a, t = jd[rows], ts[rows]
    tied = (a[1:] == a[:-1]) & (t[1:] == t[:-1])
    if not tied.any():
        return rows
    at = np.zeros(len(rows), dtype=bool)
    at[1:] |= tied
    at[:-1] |= tied
    pos = np.flatnonzero(at)  # runs of tied rows keep their place; inside a run, by keys
    sub = rows[pos]
    rows = rows.copy()
    rows[pos] = sub[np.lexsort((*(k[sub] for k in keys), ts[sub], jd[sub]))]
    return rows


def _fill_gaps(seg: Segments, ev: Evidence, rows: np.ndarray, journeys: np.ndarray) -> None:
    """Reply-gap keys of the segments of ``journeys`` (and of nothing else: only journeys whose
    order TTL leaves open need them), from their rows and their flow partners' rows."""
    partner = np.full(ev.count, -1, dtype="int64")
    if not ev.flows.empty:
        partner[ev.flows["request"].to_numpy()] = ev.flows["reply"].to_numpy()
        partner[ev.flows["reply"].to_numpy()] = ev.flows["request"].to_numpy()
    wanted = np.zeros(ev.count, dtype=bool)
    wanted[journeys] = True
    mates = partner[journeys]
    wanted[mates[mates >= 0]] = True
    sub = np.flatnonzero(wanted[ev.journey])
    gap, has = gap_keys(ev.journey[sub], ev.point[sub], ev.ts[sub], ev.flows, ev.count)
    row_gap = np.zeros(len(ev.journey), dtype="int64")
    row_has = np.zeros(len(ev.journey), dtype=bool)
    row_gap[sub], row_has[sub] = gap, has
    mine = np.flatnonzero(np.isin(seg.journey, journeys))
    seg.gap[mine] = row_gap[rows[seg.start[mine]]]
    seg.has_gap[mine] = row_has[rows[seg.start[mine]]]


def _tied_rows(rows: np.ndarray, jd: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The work-frame rows that share journey, node and timestamp with another."""
    a, t = jd[rows], ts[rows]
    tied = np.flatnonzero((a[1:] == a[:-1]) & (t[1:] == t[:-1]))
    return np.unique(rows[np.r_[tied, tied + 1]])


def path_key(address: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The key of an address (``drops.address_key``) at a point code, in ``Evidence.paths``."""
    return combine(address, point, seed=47).astype("int64")


#: Longer than any chain of points out from where an address lives.
_FAR = 64


def _home_tie_rank(w: pd.DataFrame, tied: np.ndarray, paths: Mapping[int, int]) -> np.ndarray:
    """Per work-frame row (ranked at ``tied`` rows only): lowest at the point the packet's
    source lives behind (the pod's own interface: the packet starts there), then the points
    further out from it (the host end of its veth, then its bridge), highest at the point
    its destination lives behind, after the points further out from that; 0 elsewhere.

    The two ends of a veth pair, or a veth and the bridge it is a port of, see one frame at
    the same microsecond (a pcap file's precision), with the same TTL and MACs: only where
    the packet was sent from, or to, tells which saw it first. Point names decided it, so the
    host end of a pod's veth could come before the pod's own interface, and a bridge before
    the veth a reply came out of."""
    rank = np.zeros(len(w), dtype="int64")
    if not paths:
        return rank
    point = w["point"].to_numpy()[tied].astype("int64")
    table = KeyTable.of(dict(paths))
    src = address_key(w["src_hi"].to_numpy()[tied], w["src_lo"].to_numpy()[tied])
    dst = address_key(w["dst_hi"].to_numpy()[tied], w["dst_lo"].to_numpy()[tied])
    out_of_src = table.get(path_key(src, point))
    out_of_dst = table.get(path_key(dst, point))
    rank[tied] = np.where(
        out_of_src >= 0, out_of_src - _FAR, np.where(out_of_dst >= 0, _FAR - out_of_dst, 0)
    )
    return rank


def _tunnel_tie_rank(w: pd.DataFrame, tied: np.ndarray, owners: _Owners) -> np.ndarray:
    """Per work-frame row (ranked at ``tied`` rows only): 0 for an encapsulated sighting on the
    node that owns its outer destination, 2 on the node that owns its outer source, 1
    otherwise."""
    rank = np.ones(len(w), dtype="int64")
    e = tied[w["encap"].to_numpy()[tied] >= 0]
    if not len(e):
        return rank
    d = w["dom"].to_numpy()[e]
    rank[e[owners.addresses.get(outer_keys(w, e, "dst")) == d]] = 0
    rank[e[owners.addresses.get(outer_keys(w, e, "src")) == d]] = 2
    return rank


def _segments(w: pd.DataFrame, ev: Evidence, rows: np.ndarray, owners: _Owners) -> Segments:
    """Segment table of the rows sorted by journey, domain, time."""
    j = ev.journey[rows]
    dom = w["dom"].to_numpy().astype("int64")[rows]
    n = len(rows)
    start = np.flatnonzero(np.r_[True, (j[1:] != j[:-1]) | (dom[1:] != dom[:-1])])
    stop = np.r_[start[1:], n]
    last = stop - 1
    ttl = w["ttl"].to_numpy()[rows]
    ts = ev.ts_corr[rows]
    enc = w["encap"].to_numpy()[rows] >= 0
    # First encapsulated row of each segment (or its first row, masked out below).
    enc_pos = np.where(enc, np.arange(n), n)
    first_enc = np.minimum.reduceat(enc_pos, start)
    has_enc = first_enc < n
    first_enc = np.minimum(first_enc, n - 1)
    if has_enc.any():
        src_owner = owners.addresses.get(outer_keys(w, rows[first_enc], "src"))
        dst_owner = owners.addresses.get(outer_keys(w, rows[first_enc], "dst"))
    else:
        src_owner = dst_owner = np.full(len(start), -1, dtype="int64")
    eth_src = w["eth_src"].to_numpy()[rows]
    eth_dst = w["eth_dst"].to_numpy()[rows]
    direction = w["dir"].to_numpy()[rows]
    return Segments(
        start=start,
        stop=stop,
        journey=j[start],
        dom=dom[start].astype("int32"),
        ttl_max=np.maximum.reduceat(ttl, start).astype("int16"),
        ttl_min=np.minimum.reduceat(ttl, start).astype("int16"),
        first_ts=ts[start],
        last_ts=ts[last],
        err=ev.clock_error[dom[start]],
        enc_src_owner=np.where(has_enc, src_owner, -1).astype("int32"),
        enc_dst_owner=np.where(has_enc, dst_owner, -1).astype("int32"),
        src_mac_owner=owners.macs.get(eth_src[start]).astype("int32"),
        dst_mac_owner=owners.macs.get(eth_dst[last]).astype("int32"),
        first_dir=direction[start].astype("int8"),
        last_dir=direction[last].astype("int8"),
        first_header=ev.header[rows][start],
        last_header=ev.header[rows][last],
        gap=np.zeros(len(start), dtype="int64"),  # filled for the journeys that need it
        has_gap=np.zeros(len(start), dtype=bool),
    )


def _shared_headers(journey: np.ndarray, header: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Rows whose header (one frame) occurs in more than one segment of their journey."""
    with np.errstate(over="ignore"):  # header is a hash already: equality needs no mixing
        key = (header ^ (journey.astype("uint64") * _GOLDEN)).astype("int64")
    repeated = repeated_within(journey, key)  # rows sorted by journey: its rows contiguous
    out = np.zeros(len(key), dtype=bool)
    rows = np.flatnonzero(repeated)
    if not len(rows):
        return out
    order = rows[np.argsort(key[rows], kind="stable")]
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    low = np.minimum.reduceat(seg[order], starts)
    high = np.maximum.reduceat(seg[order], starts)
    spans = np.repeat(low != high, np.diff(np.r_[starts, len(order)]))
    out[order] = spans
    return out


def _side_copies(
    w: pd.DataFrame, ev: Evidence, rows: np.ndarray, seg: Segments, owners: _Owners
) -> np.ndarray:
    """Per segment: True for a copy of a frame another domain carried (module docstring).

    For each frame (header) held by several segments of a journey, each holder either received
    it and went on (later rows with other headers), sent it (earlier rows), passed it through
    (both) or holds nothing else (pure). Pure holders are the candidates: the best-placed one
    is the frame's sender when only receivers hold it, its receiver when only senders do; the
    others, and every pure holder when the path is already complete without them, are copies.
    """
    nseg = len(seg.start)
    side = np.zeros(nseg, dtype=bool)
    multi = np.bincount(seg.journey, minlength=int(seg.journey.max()) + 1) > 1
    if not multi.any():
        return side
    n = len(rows)
    seg_of_row = np.repeat(np.arange(nseg), seg.stop - seg.start)
    header = ev.header[rows]
    use = multi[seg.journey[seg_of_row]] & ~ev.duplicate[rows]
    use &= _shared_headers(seg.journey[seg_of_row], header, seg_of_row)
    if not use.any():
        return side
    # Runs of one header inside a segment: the first run has nothing before it, the last run
    # nothing after it. A duplicate recording (the same frame from a second capture of the
    # device) is no run of its own: counted, it would put the frame after itself.
    kept = np.flatnonzero(~ev.duplicate[rows])
    ks, kh = seg_of_row[kept], header[kept]
    run = np.full(n, -1, dtype="int64")
    run[kept] = np.cumsum(np.r_[True, (ks[1:] != ks[:-1]) | (kh[1:] != kh[:-1])]) - 1
    at = np.arange(n)
    first_kept = np.minimum.reduceat(np.where(run >= 0, at, n - 1), seg.start)
    last_kept = np.maximum.reduceat(np.where(run >= 0, at, 0), seg.start)
    first_run = run[first_kept][seg_of_row]
    last_run = run[last_kept][seg_of_row]
    pure_seg = run[first_kept] == run[last_kept]
    eth_src = w["eth_src"].to_numpy()[rows]
    eth_dst = w["eth_dst"].to_numpy()[rows]
    known = owners.known_mac_domains
    dom_row = seg.dom[seg_of_row]
    src_own = owners.macs.get(eth_src) == dom_row
    dst_own = owners.macs.get(eth_dst) == dom_row
    group_dst = (eth_dst >= 0) & ((((eth_dst >> 40) & 1) == 1) | (eth_dst == BROADCAST))
    d = w["dir"].to_numpy().astype("int64")[rows]
    df = pd.DataFrame(
        {
            "j": seg.journey[seg_of_row],
            "h": header,
            "seg": seg_of_row,
            "pre": run != first_run,
            "post": run != last_run,
            "pure": pure_seg[seg_of_row],
            "send": 4 * (d == _DIR_OUT)
            + 2 * src_own
            - 100 * (np.isin(d, (_DIR_IN, _DIR_HOST, _DIR_OTHER)) | (known[dom_row] & ~src_own)),
            "recv": 4 * np.isin(d, (_DIR_IN, _DIR_HOST))
            + 2 * (dst_own | group_dst)
            - 100 * ((d == _DIR_OUT) | (known[dom_row] & ~dst_own & ~group_dst)),
            "t": ev.ts_corr[rows],
        }
    ).loc[use[np.arange(n)]]
    holders = df.groupby(["j", "h", "seg"], sort=False).agg(
        pre=("pre", "any"), post=("post", "any"), pure=("pure", "first"),
        send=("send", "max"), recv=("recv", "max"), t=("t", "min"),
    ).reset_index()  # fmt: skip
    size = holders.groupby(["j", "h"], sort=False)["seg"].transform("size")
    holders = holders.loc[size.to_numpy() > 1]
    if holders.empty:
        return side
    through = holders["pre"] & holders["post"]
    recv_only = holders["post"] & ~holders["pre"]
    send_only = holders["pre"] & ~holders["post"]
    by = [holders["j"], holders["h"]]
    n_through = through.groupby(by).transform("sum").to_numpy()
    n_recv = recv_only.groupby(by).transform("sum").to_numpy()
    n_send = send_only.groupby(by).transform("sum").to_numpy()
    pure = holders["pure"].to_numpy()
    complete = (n_through > 0) | ((n_recv > 0) & (n_send > 0))
    want_sender = ~complete & (n_send == 0)  # someone received it from outside, or all pure
    want_receiver = ~complete & (n_recv == 0)
    cand = holders.loc[pure].assign(
        ws=want_sender[pure], wr=want_receiver[pure], complete=complete[pure]
    )
    keep = np.zeros(len(cand), dtype=bool)
    for role, flag in (("send", "ws"), ("recv", "wr")):
        eligible = cand.loc[cand[flag].to_numpy() & (cand[role].to_numpy() > -50)]
        if eligible.empty:
            continue
        # The earliest wins a tie for the sender's role, the latest for the receiver's.
        t_key = eligible["t"] if role == "send" else -eligible["t"]
        best = (
            eligible.assign(
                score=-eligible[role], tk=t_key, name=ev.domain_rank[seg.dom[eligible["seg"]]]
            )
            .sort_values(["j", "h", "score", "tk", "name"], kind="stable")
            .drop_duplicates(["j", "h"])
        )
        keep |= cand.index.isin(best.index)
    # Two pure holders and nothing else: the two ends of one wire, both on the path.
    two_pure = (size.loc[cand.index].to_numpy() == 2) & (
        ~cand["complete"].to_numpy() & cand["ws"].to_numpy() & cand["wr"].to_numpy()
    )
    keep |= two_pure
    side[cand["seg"].to_numpy()[~keep]] = True
    return side


def _evidence(seg: Segments, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For adjacent segments ``a`` (now first) and ``b``: +1 keep, -1 swap, and the ORDER_KINDS
    code of the strongest evidence that decided (TIME / UNCERTAIN when none but clocks).
    TTL settles most pairs; the other kinds are computed for the rest only."""
    a_ttl = (seg.ttl_max[a] > seg.ttl_min[b]) & ~(seg.ttl_max[b] > seg.ttl_min[a])
    b_ttl = (seg.ttl_max[b] > seg.ttl_min[a]) & ~(seg.ttl_max[a] > seg.ttl_min[b])
    verdict = np.where(a_ttl, 1, np.where(b_ttl, -1, 0)).astype("int8")
    kind = np.where(verdict != 0, TTL, TIME).astype("int8")
    rest = np.flatnonzero(verdict == 0)
    if len(rest):
        v, k = _weaker_evidence(seg, a[rest], b[rest])
        verdict[rest], kind[rest] = v, k
    return verdict, kind


def _weaker_evidence(seg: Segments, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_evidence` after TTL: tunnels, reply gaps, link layer, then time."""
    verdict = np.zeros(len(a), dtype="int8")
    kind = np.full(len(a), TIME, dtype="int8")

    def settle(a_first: np.ndarray, b_first: np.ndarray, code: int) -> None:
        decided = (verdict == 0) & (a_first != b_first)
        verdict[decided & a_first] = 1
        verdict[decided & b_first] = -1
        kind[decided] = code

    da, db = seg.dom[a], seg.dom[b]

    def tunnel(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return np.asarray(
            (seg.enc_dst_owner[x] == dy)
            | (seg.enc_src_owner[y] == dx)
            | ((seg.enc_src_owner[x] == dx) & (seg.enc_dst_owner[y] == dy))
        )

    settle(tunnel(a, b, da, db), tunnel(b, a, db, da), TUNNEL)
    both_gap = seg.has_gap[a] & seg.has_gap[b]
    settle(both_gap & (seg.gap[a] < seg.gap[b]), both_gap & (seg.gap[b] < seg.gap[a]), GAP)

    def link(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        same_frame = seg.last_header[x] == seg.first_header[y]
        handed = (seg.last_dir[x] == _DIR_OUT) & np.isin(seg.first_dir[y], (_DIR_IN, _DIR_HOST))
        return np.asarray(
            (seg.src_mac_owner[y] == dx) | (seg.dst_mac_owner[x] == dy) | (same_frame & handed)
        )

    settle(link(a, b, da, db), link(b, a, db, da), LINK)
    settle(seg.first_ts[a] < seg.first_ts[b], seg.first_ts[b] < seg.first_ts[a], TIME)
    verdict[verdict == 0] = 1  # nothing tells them apart: keep
    # Time alone decided: certain only when the hop is longer than both clocks' errors.
    by_time = kind == TIME
    err_known = (seg.err[a] >= 0) & (seg.err[b] >= 0)
    first, second = np.where(verdict > 0, a, b), np.where(verdict > 0, b, a)
    margin = seg.first_ts[second] - seg.last_ts[first]
    certain = err_known & (margin > seg.err[a] + seg.err[b])
    kind[by_time & ~certain] = UNCERTAIN
    return verdict, kind


def _rank_segments(
    seg: Segments,
    side: np.ndarray,
    domain_rank: np.ndarray,
    fill_gaps: Callable[[np.ndarray], None],
) -> tuple[np.ndarray, np.ndarray]:
    """Position of each segment inside its journey's path, and the ORDER_KINDS code of the hop
    into it (CLOCK for the first). Side-copy segments get rank 0 and CLOCK. ``fill_gaps(j)``
    computes the reply-gap keys of journeys ``j``, asked only for those TTL does not order."""
    nseg = len(seg.start)
    rank = np.zeros(nseg, dtype="int64")
    how = np.full(nseg, CLOCK, dtype="int8")
    path = np.flatnonzero(~side)
    if not len(path):
        return rank, how
    j = seg.journey[path]
    names = domain_rank[seg.dom[path]]
    ttl_keys = (-seg.ttl_min[path], -seg.ttl_max[path])
    perm = path[np.lexsort((names, seg.first_ts[path], *ttl_keys, j))]
    jp = seg.journey[perm]
    pair = np.flatnonzero(jp[1:] == jp[:-1])
    # Pairs TTL orders never move; only journeys with another pair need gaps and passes.
    a, b = perm[pair], perm[pair + 1]
    ttl_set = (seg.ttl_max[a] > seg.ttl_min[b]) & ~(seg.ttl_max[b] > seg.ttl_min[a])
    loose = np.zeros(int(jp.max()) + 1, dtype=bool)
    loose[jp[pair[~ttl_set]]] = True
    if loose.any():
        fill_gaps(np.flatnonzero(loose))
        # Whole-journey gap keys when every segment has one (clock-free); else corrected time.
        all_gap = np.bincount(j[~seg.has_gap[path]], minlength=len(loose)) == 0
        key2 = np.where(all_gap[j] & loose[j], seg.gap[path], seg.first_ts[path])
        perm = path[np.lexsort((names, key2, *ttl_keys, j))]
    starts = np.r_[True, jp[1:] != jp[:-1]]
    idx = np.arange(len(perm))
    pos = idx - np.maximum.accumulate(np.where(starts, idx, 0))
    longest = int(pos.max()) + 1
    moving = pair[loose[jp[pair]]]
    # Odd-even transposition until an odd and an even pass both swap nothing; capped, since
    # evidence corrects local inversions of the (TTL, gap or time) order, not a shuffle.
    calm = 0
    for step in range(min(longest, _MAX_PASSES) if longest > 1 and len(moving) else 0):
        i = moving[pos[moving] % 2 == step % 2]
        verdict, _ = _evidence(seg, perm[i], perm[i + 1])
        swap = i[verdict < 0]
        perm[swap], perm[swap + 1] = perm[swap + 1], perm[swap]
        calm = calm + 1 if not len(swap) else 0
        if calm == 2:
            break
    rank[perm] = pos
    if len(pair):
        _, kind = _evidence(seg, perm[pair], perm[pair + 1])
        how[perm[pair + 1]] = kind
    return rank, how
