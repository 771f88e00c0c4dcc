"""ICMP errors tied to the packet that caused them, and traceroutes told apart from faults.

An error quotes the offending packet's header: matched exactly on the reader's ``quoted_*``
columns when it has them, else to the latest packet from the error's target at its point.
Errors answering a traceroute's low-TTL probes are its result, not anomalies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netdiag.correlate.anomalies import empty, jid
from netdiag.correlate.fingerprint import combine, is_icmp_error
from netdiag.correlate.frame import Names
from netdiag.pcap.addr import ip_text

ICMP_TEXT = {
    (3, 0): "net unreachable",
    (3, 1): "host unreachable",
    (3, 2): "protocol unreachable",
    (3, 3): "port unreachable",
    (3, 4): "fragmentation needed",
    (3, 13): "administratively prohibited",
}


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
            f", caused by {jid(int(cause[j]))}"
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
