"""Things worth a human's attention, each tied to a journey and a point when there is one.

``s`` is the work frame in causal order with ``journey`` (final ids), ``hop``, ``ts_corr``;
``jt`` the journey table (first/last positions in ``s``). Every finder returns a DataFrame with
the columns of ``COLUMNS`` so the engine can concatenate them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import combine
from netdiag.correlate.flows import TCP_FIN, TCP_SYN
from netdiag.correlate.frame import Names
from netdiag.correlate.journeys import AMBIGUOUS_NS, path_rows
from netdiag.pcap.addr import ip_text

COLUMNS = ("kind", "journey", "point", "expected_point", "detail", "cause", "points", "count")

AMBIGUOUS_MS = AMBIGUOUS_NS // 1_000_000


def empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype="int64" if c in ("journey", "cause", "count") else "object")
            for c in COLUMNS
        }
    )


def anomaly_frame(
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


def asymmetric(
    flows: pd.DataFrame, s: pd.DataFrame, jt: pd.DataFrame, names: Names
) -> pd.DataFrame:
    """Flows whose reply did not retrace the request (``flows.describe``), naming both paths
    and the reverse translation the reply missed."""
    sel = flows.loc[~flows["symmetric"].to_numpy(dtype=bool)]
    if sel.empty:
        return empty()
    on_path, first, last = path_rows(s)
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
            f"reply {jid(rep)} did not retrace request {jid(req)}: the request went "
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
    return anomaly_frame("asymmetric-return", sel["reply"].to_numpy(), where, instead, detail)


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
    _, first, last = path_rows(s)
    detail, pts = [], []
    for req, rep, md, ms in zip(
        sel["request"], sel["reply"], sel["undnat_missing"], sel["unsnat_missing"], strict=True
    ):
        detail.append(
            f"reply {jid(rep)} to {jid(req)} reached the sender"
            + _unnat_text(s, first[req], last[rep], bool(md), bool(ms))
        )
        pts.append(str(sel["leave_point"].loc[sel["reply"] == rep].iloc[0]))
    return anomaly_frame("nat-mismatch", sel["reply"].to_numpy(), pts, [""] * len(sel), detail)


def jid(j: int) -> str:
    return f"j{int(j) + 1}"


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
    return anomaly_frame(
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
        f"retransmission of {jid(orig[k])} (seq {q})"
        for k, q in zip(dup["tok"], dup["seq"], strict=True)
    ]
    return anomaly_frame(
        "tcp-retransmission", dup["journey"].to_numpy(), pts, [""] * len(dup), detail
    )


def kernel_drops(kernel_dropped: Mapping[str, int]) -> pd.DataFrame:
    bad = {p: n for p, n in kernel_dropped.items() if n > 0}
    detail = [
        f"tcpdump reported {n} packet(s) dropped by the kernel: the capture is incomplete"
        for n in bad.values()
    ]
    return anomaly_frame("kernel-drops", np.full(len(bad), -1), list(bad), [""] * len(bad), detail)


def ambiguous(jt: pd.DataFrame, s: pd.DataFrame, names: Names) -> pd.DataFrame:
    """One anomaly for all packets that could not be told apart from another packet with the
    same fingerprint, with their count and the points where it happened."""
    sel = jt.loc[jt["ambiguous"].to_numpy()]
    if sel.empty:
        return empty()
    pts = sorted({names.points[p] for p in s["point"].to_numpy()[sel["first"].to_numpy()]})
    ids = ", ".join(jid(j) for j in sel.index[:5]) + (", ..." if len(sel) > 5 else "")
    detail = (
        f"{len(sel)} packets share their fingerprint with another packet seen at the same point "
        f"within {AMBIGUOUS_MS} ms ({ids}); their sightings may be mixed up"
    )
    return anomaly_frame("ambiguous", np.array([-1]), [pts[0]], [""], [detail]).assign(
        points=", ".join(pts), count=len(sel)
    )
