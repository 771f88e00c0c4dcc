"""Things worth a human's attention, each tied to a journey and a point when there is one.

``s`` is the work frame in causal order with ``journey`` (final ids), ``hop``, ``ts_corr``;
``jt`` the journey table (first/last positions in ``s``). Every finder returns a DataFrame with
the columns of ``COLUMNS`` so the engine can concatenate them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import KeyTable, combine, count_keys, is_icmp_error, mix
from netdiag.correlate.flows import TCP_ACK, TCP_FIN, TCP_SYN
from netdiag.correlate.frame import Names
from netdiag.correlate.journeys import AMBIGUOUS_NS
from netdiag.pcap.addr import ip_text

COLUMNS = ("kind", "journey", "point", "expected_point", "detail", "cause", "points", "count")

AMBIGUOUS_MS = AMBIGUOUS_NS // 1_000_000

ICMP_TEXT = {
    (3, 0): "net unreachable",
    (3, 1): "host unreachable",
    (3, 2): "protocol unreachable",
    (3, 3): "port unreachable",
    (3, 4): "fragmentation needed",
    (3, 13): "administratively prohibited",
}


def empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype="int64" if c in ("journey", "cause", "count") else "object")
            for c in COLUMNS
        }
    )


def _frame(
    kind: str, journey: np.ndarray, point: list[str], expected: list[str], detail: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": kind,
            "journey": journey.astype("int64"),
            "point": point,
            "expected_point": expected,
            "detail": detail,
            "cause": -1,
            "points": point,
            "count": 1,
        }
    )


def _path_rows(s: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(on-path mask, first and last on-path position per journey)."""
    on_path = s["copy"].to_numpy() == 0
    j = s["journey"].to_numpy()
    count = int(j.max()) + 1 if len(j) else 0
    pos = np.arange(len(s))
    first = np.full(count, len(s), dtype="int64")
    last = np.full(count, -1, dtype="int64")
    np.minimum.at(first, j[on_path], pos[on_path])
    np.maximum.at(last, j[on_path], pos[on_path])
    return on_path, first, last


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
    on_path, first, last = _path_rows(s)
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
    return _frame("dropped", jt.index.to_numpy()[wanted[idx]], pts, exp, detail)


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
    _, first, last = _path_rows(s)
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
    return _frame("no-reply", jt.index.to_numpy()[ask[idx]], pts, [""] * len(idx), detail)


def asymmetric(
    flows: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame, names: Names
) -> pd.DataFrame:
    """Flows whose reply did not retrace the request (``flows.describe``), naming both paths
    and the reverse translation the reply missed."""
    sel = flows.loc[~flows["symmetric"].to_numpy(dtype=bool)]
    if sel.empty:
        return empty()
    on_path, first, last = _path_rows(s)
    point = s["point"].to_numpy()
    dom = names.point_domain

    def path(j: int) -> list[int]:
        span = slice(first[j], last[j] + 1)
        return [int(p) for p in point[span][on_path[span]]]

    detail, where, instead = [], [], []
    for req, rep, missed_dnat, missed_snat in zip(
        sel["request"], sel["reply"], sel["undnat_missing"], sel["unsnat_missing"], strict=True
    ):
        a, b = path(int(req)), path(int(rep))
        origin = dom[a[0]]
        entered = next((p for p in a if dom[p] != origin), a[-1])
        left = next((p for p in reversed(b) if dom[p] != origin), b[0])
        skipped = sorted({names.domains[dom[p]] for p in a} - {names.domains[dom[p]] for p in b})
        extra = [names.points[p] for p in dict.fromkeys(b) if p not in set(a)]
        text = (
            f"reply {_jid(rep)} did not retrace request {_jid(req)}: the request went "
            + " -> ".join(names.points[p] for p in a)
            + "; the reply came back "
            + " -> ".join(names.points[p] for p in b)
        )
        if skipped and dom[b[-1]] == origin:
            text += f", never passing {', '.join(skipped)}"
        if extra:
            text += f" (only the reply passed {', '.join(extra)})"
        text += _unnat_text(s, first[req], last[rep], missed_dnat, missed_snat)
        detail.append(text)
        where.append(names.points[left])
        instead.append(names.points[entered])
    return _frame("asymmetric-return", sel["reply"].to_numpy(), where, instead, detail)


def _unnat_text(
    s: pd.DataFrame, req_first: int, rep_last: int, missed_dnat: bool, missed_snat: bool
) -> str:
    from netdiag.correlate.transforms import addr_text

    parts = []
    if missed_dnat:
        sent = addr_text(s, np.array([req_first]), "dst")[0]
        came = addr_text(s, np.array([rep_last]), "src")[0]
        parts.append(f"not un-DNATed: the sender sent to {sent}, the reply came from {came}")
    if missed_snat:
        sent = addr_text(s, np.array([req_first]), "src")[0]
        came = addr_text(s, np.array([rep_last]), "dst")[0]
        parts.append(f"not un-SNATed: the sender used {sent}, the reply went to {came}")
    return "; " + "; ".join(parts) if parts else ""


def nat_mismatch(flows: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame) -> pd.DataFrame:
    """Symmetric flows whose reply reached the sender without the reverse translation (a lost
    conntrack entry, a NAT on one path only): the sender will not recognise it."""
    missed = flows["undnat_missing"].to_numpy(dtype=bool) | flows["unsnat_missing"].to_numpy(
        dtype=bool
    )
    sel = flows.loc[flows["symmetric"].to_numpy(dtype=bool) & missed]
    if sel.empty:
        return empty()
    _, first, last = _path_rows(s)
    detail, pts = [], []
    for req, rep, md, ms in zip(
        sel["request"], sel["reply"], sel["undnat_missing"], sel["unsnat_missing"], strict=True
    ):
        detail.append(
            f"reply {_jid(rep)} to {_jid(req)} reached the sender"
            + _unnat_text(s, first[req], last[rep], bool(md), bool(ms))
        )
        pts.append(str(sel["leave_point"].loc[sel["reply"] == rep].iloc[0]))
    return _frame("nat-mismatch", sel["reply"].to_numpy(), pts, [""] * len(sel), detail)


def _jid(j: int) -> str:
    return f"j{int(j) + 1}"


#: the reader's columns describing the packet an ICMP error quotes (pcap/icmp.py)
QUOTED = ("quoted_src_hi", "quoted_src_lo", "quoted_dst_hi", "quoted_dst_lo", "quoted_proto",
          "quoted_ip_id", "quoted_sport", "quoted_dport")  # fmt: skip
_MATCHED = ("src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "ip_id", "sport", "dport")


def quoted_fields(table: pd.DataFrame, s: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The quoted_* columns for the rows of ``s`` (absent: -1, addresses 0 and absent from
    ``quoted_src_lo``'s mask), or None when the table predates them."""
    if any(c not in table.columns for c in QUOTED):
        return None
    rows = s["row"].to_numpy()
    out = {}
    for c in QUOTED:
        addr = "_src_" in c or "_dst_" in c
        values = table[c].to_numpy(dtype="uint64" if addr else "int64", na_value=0 if addr else -1)
        out[c] = values[rows]
    out["present"] = table["quoted_dst_lo"].notna().to_numpy()[rows]
    return out


def _exact_causes(
    s: pd.DataFrame, is_err_row: np.ndarray, quoted: dict[str, np.ndarray], window_ns: int
) -> tuple[pd.Series, np.ndarray]:
    """Error journey -> the journey of the packet it quotes: the same addresses, protocol, IP
    id and ports (ports only when quoted), the latest such sighting before the error within
    the window at any point. Also: which error rows carried a quoted packet at all."""
    err = is_err_row & quoted["present"]
    ports = quoted["quoted_sport"] >= 0
    col = {name: s[name].to_numpy() for name in _MATCHED}
    base = [col[n] for n in _MATCHED[:6]]
    ports_of, tok_no_ports = (col["sport"], col["dport"]), combine(*base, seed=2)
    cand = ~is_err_row
    tok_q = np.where(
        ports,
        combine(*(quoted[q] for q in QUOTED), seed=1),
        combine(*(quoted[q] for q in QUOTED[:6]), seed=2),
    )
    right = pd.DataFrame(
        {
            "ts": np.concatenate([s["ts_corr"].to_numpy()[cand]] * 2),
            "tok": np.concatenate([combine(*base, *ports_of, seed=1)[cand], tok_no_ports[cand]]),
            "cause": np.concatenate([s["journey"].to_numpy()[cand]] * 2),
        }
    ).sort_values("ts")
    left = pd.DataFrame(
        {
            "ts": s["ts_corr"].to_numpy()[err],
            "tok": tok_q[err],
            "ej": s["journey"].to_numpy()[err],
            "hop": s["hop"].to_numpy()[err],
        }
    ).sort_values("ts")
    m = pd.merge_asof(left, right, on="ts", by="tok", direction="backward", tolerance=window_ns)
    found = m.dropna(subset=["cause"]).sort_values("hop").drop_duplicates("ej")
    return found.set_index("ej")["cause"], np.unique(s["journey"].to_numpy()[err])


def icmp_errors(  # noqa: PLR0917 - the engine's call
    s: pd.DataFrame,
    jt: pd.DataFrame,
    names: Names,
    window_ns: int,
    mtu: np.ndarray | None,
    quoted: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """ICMP errors tied to the packet they quote (``quoted``: :func:`quoted_fields`); an error
    without quoted fields, to the most recent packet from the error's target at its point."""
    first = jt["first"].to_numpy()
    err_first = is_icmp_error(
        None, proto=s["proto"].to_numpy()[first], itype=s["icmp_type"].to_numpy()[first]
    )
    if not err_first.any():
        return empty()
    ej = jt.index.to_numpy()[err_first]
    is_err_row = np.isin(s["journey"].to_numpy(), ej)
    exact, exact_ej = (
        _exact_causes(s, is_err_row, quoted, window_ns)
        if quoted is not None
        else (pd.Series(dtype="int64"), np.zeros(0, "int64"))
    )
    is_err_row &= ~np.isin(s["journey"].to_numpy(), exact_ej)  # the heuristic: the rest
    tok_err = combine(s["point"].to_numpy(), s["dst_hi"].to_numpy(), s["dst_lo"].to_numpy())
    tok_src = combine(s["point"].to_numpy(), s["src_hi"].to_numpy(), s["src_lo"].to_numpy())
    cand = ~is_err_row & np.isin(tok_src, tok_err[is_err_row])
    left = pd.DataFrame(
        {
            "ts": s["ts"].to_numpy()[is_err_row],
            "tok": tok_err[is_err_row],
            "ej": s["journey"].to_numpy()[is_err_row],
            "hop": s["hop"].to_numpy()[is_err_row],
        }
    ).sort_values("ts")
    right = pd.DataFrame(
        {
            "ts": s["ts"].to_numpy()[cand],
            "tok": tok_src[cand],
            "cause": s["journey"].to_numpy()[cand],
        }
    ).sort_values("ts")
    m = (
        pd.merge_asof(left, right, on="ts", by="tok", direction="backward", tolerance=window_ns)
        if len(right)
        else left.assign(cause=np.nan)
    )
    cause = (
        m.dropna(subset=["cause"]).sort_values("hop").drop_duplicates("ej").set_index("ej")["cause"]
    )
    cause = pd.concat([exact, cause]) if len(exact) else cause
    rows = []
    for j, pos in zip(ej, first[err_first], strict=True):
        t, c = int(s["icmp_type"].to_numpy()[pos]), int(s["icmp_code"].to_numpy()[pos])
        v6 = int(s["proto"].to_numpy()[pos]) == 58
        ttl = (t == 3) if v6 else (t == 11)
        text = (
            "time exceeded"
            if ttl
            else ("ICMPv6 error" if v6 else ICMP_TEXT.get((t, c), f"ICMP type {t} code {c}"))
        )
        sender = ip_text(int(s["src_hi"].to_numpy()[pos]), int(s["src_lo"].to_numpy()[pos]))
        detail = f"{text} from {sender}"
        if mtu is not None and not v6 and (t, c) == (3, 4):
            detail += f", MTU {int(mtu[pos])}"
        if (v6 and t == 2) and mtu is not None:
            detail += f", MTU {int(mtu[pos])}"
        detail += (
            f", caused by {_jid(int(cause[j]))}"
            if j in cause.index
            else ", offending packet not captured"
        )
        rows.append(
            (
                "ttl-exceeded" if ttl else "icmp-error",
                int(j),
                names.points[int(s["point"].to_numpy()[pos])],
                detail,
                int(cause[j]) if j in cause.index else -1,
            )
        )
    return pd.DataFrame(
        {
            "kind": [r[0] for r in rows],
            "journey": np.array([r[1] for r in rows], dtype="int64"),
            "point": [r[2] for r in rows],
            "expected_point": "",
            "detail": [r[3] for r in rows],
            "cause": np.array([r[4] for r in rows], dtype="int64"),
            "points": [r[2] for r in rows],
            "count": 1,
        }
    )


def _v4(value: int) -> str:
    return ip_text(0, 0xFFFF_0000_0000 | int(value))


def arp_unanswered(
    table: pd.DataFrame, ts_corr: np.ndarray, clock_known: np.ndarray, window_ns: int
) -> pd.DataFrame:
    """ARP requests with no reply anywhere within the window around them: one anomaly per
    (target, asker), naming every point that saw the requests (one event seen at three points
    is one anomaly). ``ts_corr``: the table's timestamps on the reference clock; ``clock_known``
    per table row: is that clock's offset known? A request seen on a node whose clock is not
    cannot be placed in time against replies elsewhere: any reply to it counts."""
    if "arp_op" not in table.columns:
        return empty()
    op = table["arp_op"].to_numpy(dtype="int64", na_value=-1)
    req, rep = op == 1, op == 2
    if not req.any():
        return empty()
    spa = table["arp_spa"].to_numpy(dtype="int64", na_value=-1)
    tpa = table["arp_tpa"].to_numpy(dtype="int64", na_value=-1)
    ts = ts_corr
    req &= spa != tpa  # gratuitous ARP expects no answer
    left = pd.DataFrame(
        {"ts": ts[req], "tok": tpa[req] << 32 | spa[req], "i": np.flatnonzero(req)}
    ).sort_values("ts")
    right = pd.DataFrame(
        {"ts": ts[rep], "tok": spa[rep] << 32 | tpa[rep], "r": np.flatnonzero(rep)}
    ).sort_values("ts")
    m = (
        # Nearest, not only later: a flooded copy of the request may reach another node after
        # the target already answered (and node clocks differ).
        pd.merge_asof(left, right, on="ts", by="tok", direction="nearest", tolerance=window_ns)
        if len(right)
        else left.assign(r=np.nan)
    )
    unplaced = ~clock_known[m["i"].to_numpy()]
    answered_at_all = np.isin(m["tok"].to_numpy(), right["tok"].to_numpy())
    lost = m.loc[m["r"].isna().to_numpy() & ~(unplaced & answered_at_all), "i"].to_numpy()
    if len(lost) == 0:
        return empty()
    df = pd.DataFrame(
        {
            "point": table["point"].iloc[lost].astype(str).to_numpy(),
            "tpa": tpa[lost],
            "spa": spa[lost],
        }
    )
    per_point = df.groupby(["tpa", "spa", "point"], sort=False).size().rename("n").reset_index()
    g = per_point.groupby(["tpa", "spa"], sort=False).agg(
        points=("point", list), n=("n", "max")
    ).reset_index()  # fmt: skip
    detail = [
        f"{n} ARP request(s) who-has {_v4(t)} tell {_v4(sp)} got no reply"
        + (f" (seen at {', '.join(pts)})" if len(pts) > 1 else "")
        for t, sp, n, pts in zip(g["tpa"], g["spa"], g["n"], g["points"], strict=True)
    ]
    return _frame(
        "arp-unanswered", np.full(len(g), -1), [p[0] for p in g["points"]], [""] * len(g), detail
    ).assign(points=[", ".join(p) for p in g["points"]])


def retransmissions(s: pd.DataFrame, jt: pd.DataFrame, names: Names) -> pd.DataFrame:
    """TCP segments whose (point, tuple, seq, SYN/FIN, length) repeats a previous journey."""
    first = jt["first"].to_numpy()

    def col(name: str) -> np.ndarray:
        return np.asarray(s[name].to_numpy()[first])

    flags = col("tcp_flags")
    tcp = (col("proto") == 6) & (((flags & (TCP_SYN | TCP_FIN)) != 0) | (col("payload_len") > 0))
    if not tcp.any():
        return empty()
    fields = ("point", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "tcp_seq")
    tok = combine(
        *(col(c)[tcp] for c in (*fields, "payload_len")), flags[tcp] & (TCP_SYN | TCP_FIN)
    )
    t = {"point": col("point")[tcp], "tcp_seq": col("tcp_seq")[tcp]}
    df = pd.DataFrame(
        {
            "tok": tok,
            "journey": jt.index.to_numpy()[tcp],
            "point": t["point"],
            "seq": t["tcp_seq"],
        }
    )
    orig = df.drop_duplicates("tok").set_index("tok")["journey"]
    dup = df.loc[df.duplicated("tok")]
    pts = [names.points[p] for p in dup["point"]]
    detail = [
        f"retransmission of {_jid(orig[k])} (seq {q})"
        for k, q in zip(dup["tok"], dup["seq"], strict=True)
    ]
    return _frame("tcp-retransmission", dup["journey"].to_numpy(), pts, [""] * len(dup), detail)


def kernel_drops(kernel_dropped: Mapping[str, int]) -> pd.DataFrame:
    bad = {p: n for p, n in kernel_dropped.items() if n > 0}
    detail = [
        f"tcpdump reported {n} packet(s) dropped by the kernel: the capture is incomplete"
        for n in bad.values()
    ]
    return _frame("kernel-drops", np.full(len(bad), -1), list(bad), [""] * len(bad), detail)


def ambiguous(jt: pd.DataFrame, s: pd.DataFrame, names: Names) -> pd.DataFrame:
    """One anomaly for all packets that could not be told apart from another packet with the
    same fingerprint, with their count and the points where it happened."""
    sel = jt.loc[jt["ambiguous"].to_numpy()]
    if sel.empty:
        return empty()
    pts = sorted({names.points[p] for p in s["point"].to_numpy()[sel["first"].to_numpy()]})
    ids = ", ".join(_jid(j) for j in sel.index[:5]) + (", ..." if len(sel) > 5 else "")
    detail = (
        f"{len(sel)} packets share their fingerprint with another packet seen at the same point "
        f"within {AMBIGUOUS_MS} ms ({ids}); their sightings may be mixed up"
    )
    return _frame("ambiguous", np.array([-1]), [pts[0]], [""], [detail]).assign(
        points=", ".join(pts), count=len(sel)
    )


#: A probe sent with a TTL this low is a traceroute's (operating systems start at 32 or more).
TRACEROUTE_MAX_TTL = 30
TRACEROUTE_COLUMNS = ("probe", "answer", "ttl", "src", "dst", "sport", "dport", "hop", "reached")


def _ip_only(s: pd.DataFrame, rows: np.ndarray, side: str) -> list[str]:
    return [
        ip_text(int(h), int(lo), int(v))
        for h, lo, v in zip(
            s[f"{side}_hi"].to_numpy()[rows],
            s[f"{side}_lo"].to_numpy()[rows],
            s["ip_version"].to_numpy()[rows],
            strict=True,
        )
    ]


def split_traceroutes(
    icmp: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ICMP errors that answer a traceroute's probes are its result, not anomalies: a probe
    first seen with a TTL of at most TRACEROUTE_MAX_TTL, answered by time-exceeded (a hop) or
    port unreachable (the destination reached). Other errors (host unreachable, frag needed,
    prohibited) stay anomalies. Returns (other errors, traceroute answers)."""
    from netdiag.correlate.transforms import addr_text

    empty_tr = pd.DataFrame({c: pd.Series(dtype="object") for c in TRACEROUTE_COLUMNS})
    if icmp.empty:
        return icmp, empty_tr
    cause = icmp["cause"].to_numpy()
    first = jt["first"].to_numpy()
    probe_ttl = np.where(cause >= 0, s["ttl"].to_numpy()[first[np.maximum(cause, 0)]], -1)
    answer = first[icmp["journey"].to_numpy()]
    proto = s["proto"].to_numpy()[answer]
    itype, code = s["icmp_type"].to_numpy()[answer], s["icmp_code"].to_numpy()[answer]
    v4, v6 = proto == 1, proto == 58
    exceeded = (v4 & (itype == 11)) | (v6 & (itype == 3))
    port_unreachable = (v4 & (itype == 3) & (code == 3)) | (v6 & (itype == 1) & (code == 4))
    hit = (cause >= 0) & (probe_ttl >= 0) & (probe_ttl <= TRACEROUTE_MAX_TTL)
    hit &= exceeded | port_unreachable
    if not hit.any():
        return icmp, empty_tr
    sel = icmp.loc[hit]
    probe_rows = first[sel["cause"].to_numpy()]
    answer_rows = first[sel["journey"].to_numpy()]
    tr = pd.DataFrame(
        {
            "probe": sel["cause"].to_numpy(),
            "answer": sel["journey"].to_numpy(),
            "ttl": probe_ttl[hit],
            "src": _ip_only(s, probe_rows, "src"),
            "dst": _ip_only(s, probe_rows, "dst"),
            "sport": s["sport"].to_numpy()[probe_rows],
            "dport": s["dport"].to_numpy()[probe_rows],
            "hop": addr_text(s, answer_rows, "src"),  # ICMP: no port
            "reached": port_unreachable[hit],
        }
    ).sort_values(["src", "dst", "ttl", "probe"], kind="stable")
    return icmp.loc[~hit].reset_index(drop=True), tr.reset_index(drop=True)
