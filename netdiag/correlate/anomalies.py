"""Things worth a human's attention, each tied to a journey and a point when there is one.

``s`` is the work frame in causal order with ``journey`` (final ids), ``hop``, ``ts_corr``;
``jt`` the journey table (first/last positions in ``s``). Every finder returns a DataFrame with
the columns of ``COLUMNS`` so the engine can concatenate them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine, is_icmp_error
from netdiag.correlate.flows import TCP_ACK, TCP_FIN, TCP_SYN
from netdiag.correlate.frame import Names
from netdiag.pcap.addr import ip_text

COLUMNS = ("kind", "journey", "point", "expected_point", "detail", "cause")

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
        {c: pd.Series(dtype="int64" if c in ("journey", "cause") else "object") for c in COLUMNS}
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
        }
    )


def dropped(
    s: pd.DataFrame, jt: pd.DataFrame, hops: pd.DataFrame, names: Names, point_end: np.ndarray
) -> pd.DataFrame:
    """A journey that ends at L while most journeys from the same first point continue to Y."""
    if hops.empty:
        return empty()
    n = len(names.points)
    point = s["point"].to_numpy().astype("int64")
    first_point = point[jt["first"].to_numpy()]
    last_point = point[jt["last"].to_numpy()]
    hj = hops["journey"].to_numpy()
    # Counts by integer codes: (first, x, y) transitions and (first, x) visits.
    trans = np.bincount(
        (first_point[hj] * n + point[hops["a"].to_numpy()]) * n + point[hops["b"].to_numpy()],
        minlength=n**3,
    ).reshape(n, n, n)
    visits = np.bincount(first_point[s["journey"].to_numpy()] * n + point, minlength=n * n)
    best_next = trans.argmax(axis=2)  # (first, x) -> most common successor
    best_count = trans.max(axis=2)
    # A successor counts as "expected" when at least two other packets took it and they are
    # at least half of those that reached the point.
    ok = (best_count * 2 >= visits.reshape(n, n)) & (best_count >= 2)
    y = best_next[first_point, last_point]
    hit = ok[first_point, last_point] & (best_count[first_point, last_point] > 0)
    hit &= point_end[y] > s["ts_corr"].to_numpy()[jt["last"].to_numpy()]
    idx = np.flatnonzero(hit)
    if len(idx) == 0:
        return empty()
    pts = [names.points[p] for p in last_point[idx]]
    exp = [names.points[p] for p in y[idx]]
    counts = best_count[first_point[idx], last_point[idx]]
    seen = visits.reshape(n, n)[first_point[idx], last_point[idx]]
    detail = [
        f"last seen at {p}; {c} of {v} similar packets went on to {e}"
        for p, e, c, v in zip(pts, exp, counts, seen, strict=True)
    ]
    return _frame("dropped", jt.index.to_numpy()[idx], pts, exp, detail)


def no_reply(  # noqa: PLR0917
    s: pd.DataFrame,
    jt: pd.DataFrame,
    flows: pd.DataFrame,
    names: Names,
    window_ns: int,
    point_end: np.ndarray,
) -> pd.DataFrame:
    """Echo requests and SYNs with no paired reply, where the capture ran long enough to see one."""
    first = jt["first"].to_numpy()
    proto, itype = s["proto"].to_numpy()[first], s["icmp_type"].to_numpy()[first]
    flags = s["tcp_flags"].to_numpy()[first]
    asks = ((proto == 1) & (itype == 8)) | ((proto == 58) & (itype == 128))
    asks |= (proto == 6) & ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
    answered = np.isin(jt.index.to_numpy(), flows["request"].to_numpy())
    asks &= ~answered
    last = jt["last"].to_numpy()
    lp = s["point"].to_numpy()[last]
    ts_last = s["ts_corr"].to_numpy()[last]
    # Certain when the capture ran a window longer, or when a later request from the same
    # point was answered (replies do not overtake each other by a whole ping interval).
    fp = s["point"].to_numpy()[first]
    later_answered = np.full(len(names.points), np.iinfo("int64").min, dtype="int64")
    np.maximum.at(later_answered, fp[answered], s["ts_corr"].to_numpy()[first][answered])
    asks &= (point_end[lp] >= ts_last + window_ns) | (later_answered[fp] > ts_last)
    idx = np.flatnonzero(asks)
    pts = [names.points[p] for p in lp[idx]]
    what = np.where(proto[idx] == 6, "TCP SYN", "echo request")
    detail = [
        f"{w} got no reply within the window; last seen at {p}"
        for w, p in zip(what, pts, strict=True)
    ]
    return _frame("no-reply", jt.index.to_numpy()[idx], pts, [""] * len(idx), detail)


def asymmetric(
    flows: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame, names: Names
) -> pd.DataFrame:
    """Flows whose reply did not retrace the request's capture points."""
    sel = flows.loc[~flows["symmetric"].astype(bool)]
    point = s["point"].to_numpy()
    firsts, lasts = jt["first"].to_numpy(), jt["last"].to_numpy()

    def points_of(j: int) -> set[str]:
        first, last = int(firsts[j]), int(lasts[j])
        return {names.points[p] for p in point[first : last + 1]}

    detail, where, instead = [], [], []
    for req, rep in zip(sel["request"], sel["reply"], strict=True):
        a, b = points_of(int(req)), points_of(int(rep))
        only_reply, only_request = sorted(b - a), sorted(a - b)
        where.append(", ".join(only_reply))
        instead.append(", ".join(only_request))
        back, forth = ", ".join(only_reply) or "-", ", ".join(only_request) or "-"
        detail.append(
            f"reply to {_jid(req)} did not retrace the request: seen only on the way back at "
            f"{back}; only on the way in at {forth}"
        )
    return _frame("asymmetric-return", sel["reply"].to_numpy(), where, instead, detail)


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
        }
    )


def _v4(value: int) -> str:
    return ip_text(0, 0xFFFF_0000_0000 | int(value))


def arp_unanswered(table: pd.DataFrame, window_ns: int) -> pd.DataFrame:
    """ARP requests with no reply anywhere within the window, one anomaly per (point, target)."""
    if "arp_op" not in table.columns:
        return empty()
    op = table["arp_op"].to_numpy(dtype="int64", na_value=-1)
    req, rep = op == 1, op == 2
    if not req.any():
        return empty()
    spa = table["arp_spa"].to_numpy(dtype="int64", na_value=-1)
    tpa = table["arp_tpa"].to_numpy(dtype="int64", na_value=-1)
    ts = table["ts_ns"].to_numpy(dtype="int64")
    req &= spa != tpa  # gratuitous ARP expects no answer
    left = pd.DataFrame(
        {"ts": ts[req], "tok": tpa[req] << 32 | spa[req], "i": np.flatnonzero(req)}
    ).sort_values("ts")
    right = pd.DataFrame(
        {"ts": ts[rep], "tok": spa[rep] << 32 | tpa[rep], "r": np.flatnonzero(rep)}
    ).sort_values("ts")
    m = (
        pd.merge_asof(left, right, on="ts", by="tok", direction="forward", tolerance=window_ns)
        if len(right)
        else left.assign(r=np.nan)
    )
    lost = m.loc[m["r"].isna(), "i"].to_numpy()
    if len(lost) == 0:
        return empty()
    g = (
        pd.DataFrame(
            {
                "point": table["point"].iloc[lost].astype(str).to_numpy(),
                "tpa": tpa[lost],
                "spa": spa[lost],
            }
        )
        .groupby(["point", "tpa", "spa"])
        .size()
        .reset_index()
    )
    detail = [
        f"{n} ARP request(s) who-has {_v4(t)} tell {_v4(sp)} got no reply"
        for t, sp, n in zip(g["tpa"], g["spa"], g[0], strict=True)
    ]
    return _frame("arp-unanswered", np.full(len(g), -1), list(g["point"]), [""] * len(g), detail)


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
    sel = jt.loc[jt["ambiguous"].to_numpy()]
    pts = [names.points[p] for p in s["point"].to_numpy()[sel["first"].to_numpy()]]
    detail = [
        "the same fingerprint appeared more than once at one point within the window; "
        "sightings were split in time order"
    ] * len(sel)
    return _frame("ambiguous", sel.index.to_numpy(), pts, [""] * len(sel), detail)
