"""The engine's :class:`~netdiag.correlate.Analysis` as the analysis document
(schema ``netdiag.analysis/1``, JSON Schema in ``analysis.schema.json`` next to this file).

Every view reads this document, never the engine's frames; keys are only ever added within the
version. Large runs write at most
``max_journeys`` journeys (those with anomalies and flows first) and say so under
``truncated``; points, flows, translations and anomalies are always complete.
Timestamps: ``ts_ns`` as recorded by the capture, ``ts_corrected_ns`` on the reference clock.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from netdiag import __version__
from netdiag.correlate import Analysis
from netdiag.correlate.order import ORDER_KINDS
from netdiag.report import rows as d
from netdiag.report.document import ANALYSIS_SCHEMA

DEFAULT_MAX_JOURNEYS = 10_000


def jid(j: int) -> str:
    """Journey ids in the JSON: ``j1`` is the journey with the earliest first sighting."""
    return f"j{int(j) + 1}"


def _none(v: Any) -> Any:
    """Missing values (None, NaN, pd.NA) as JSON null, numbers as int."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return int(v)


def _text_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def select_journeys(a: Analysis, limit: int) -> np.ndarray:
    """Journey ids to write: anomalous ones, then those in flows, then the rest, by time."""
    n = len(a.journeys)
    if n <= limit:
        return np.arange(n)
    priority = np.full(n, 2, dtype="int8")
    priority[a.flows["request"].to_numpy()] = 1
    priority[a.flows["reply"].to_numpy()] = 1
    anom = a.anomalies["journey"].to_numpy()
    priority[anom[anom >= 0]] = 0
    order = np.lexsort((np.arange(n), priority))
    return np.sort(order[:limit])


class _Rows:
    """Sightings and hops of the chosen journeys as plain dicts, fetched in one take each
    (per-row pandas access is what made writing 10,000 journeys slow)."""

    def __init__(self, a: Analysis, chosen: np.ndarray) -> None:
        first = a.journeys["first"].to_numpy()[chosen]
        last = a.journeys["last"].to_numpy()[chosen]
        lengths = last - first + 1
        starts = np.repeat(first - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        pos = starts + np.arange(int(lengths.sum()))
        self.rows = dict(zip(pos.tolist(), d.records(a.sightings.iloc[pos]), strict=True))
        hop_a = a.hops["a"].to_numpy()
        mask = np.isin(hop_a, pos)
        self.hops = dict(zip(hop_a[mask].tolist(), d.records(a.hops.loc[mask]), strict=True))
        #: the journeys' own columns, looked up once (a column lookup per journey was slow)
        self.journey = {
            name: a.journeys[name].to_numpy()
            for name in ("first", "last", "key", "confidence", "ambiguous")
        }


def journey_dict(
    a: Analysis, j: int, anomalies: list[dict[str, Any]], cache: _Rows, points: tuple[str, ...]
) -> dict[str, Any]:
    jt = cache.journey
    first, last = int(jt["first"][j]), int(jt["last"][j])
    pairs = [(pos, cache.rows[pos]) for pos in range(first, last + 1)]
    rows = [r for _, r in pairs]
    transforms = []
    for (pos, x), (_, y) in itertools.pairwise(pairs):
        if pos not in cache.hops:  # the next row is an off-path copy, not the next hop
            continue
        hop = cache.hops[pos]
        transforms.append(
            {
                "from": points[int(x["point"])],
                "to": points[int(y["point"])],
                "latency_ns": int(y["ts_corr"]) - int(x["ts_corr"]),
                "changes": d.changes(hop, x, y),
                "order": ORDER_KINDS[int(hop["order"])],
            }
        )
    return {
        "id": jid(j),
        "fingerprint": f"{int(jt['key'][j]):016x}",
        "summary": d.summary(rows[0]),
        "confidence": round(float(jt["confidence"][j]), 3),
        "ambiguous": bool(jt["ambiguous"][j]),
        "sightings": [d.sighting(r, points) for r in rows],
        "transforms": transforms,
        "anomalies": anomalies,
    }


def anomaly_dicts(a: Analysis) -> list[dict[str, Any]]:
    out = []
    for r in d.records(a.anomalies):
        item: dict[str, Any] = {
            "kind": r["kind"],
            "journey": jid(r["journey"]) if r["journey"] >= 0 else None,
            "point": r["point"] or None,
            "detail": r["detail"],
        }
        if r["kind"] == "dropped":
            item["after_point"] = r["point"]
        if r["expected_point"]:
            item["expected_point"] = r["expected_point"]
        if r.get("cause", -1) >= 0:
            item["caused_by"] = jid(r["cause"])
        points = [p for p in str(r.get("points") or "").split(", ") if p]
        if len(points) > 1:
            item["points"] = points
        if int(r.get("count", 1)) > 1:
            item["count"] = int(r["count"])
        out.append(item)
    return out


def to_dict(a: Analysis, *, max_journeys: int = DEFAULT_MAX_JOURNEYS) -> dict[str, Any]:
    """The whole JSON document as plain Python values."""
    anomalies = anomaly_dicts(a)
    per_journey: dict[str, list[dict[str, Any]]] = {}
    for item in anomalies:
        if item["journey"] is not None:
            per_journey.setdefault(item["journey"], []).append(item)
    chosen = select_journeys(a, max_journeys)
    cache = _Rows(a, chosen)
    points = tuple(str(p) for p in a.points["point"])
    total = len(a.journeys)
    return {
        "schema": ANALYSIS_SCHEMA,
        "generator": f"netdiag {__version__}",
        "reference_node": a.reference_node,
        "window_ns": int(a.window_ns),
        "window_used_ns": int(a.window_used_ns or a.window_ns),
        "notes": list(a.notes),
        "points": [
            {
                "name": p["point"],
                "node": p["node"],
                "iface": p["iface"],
                "packets": int(p["packets"]),
                "kernel_dropped": int(p["kernel_dropped"]),
                "clock_offset_ns": int(p["clock_offset_ns"]),
                "clock_error_ns": _none(p["clock_error_ns"]),
                "clock_source": p["clock_source"],
            }
            for p in d.records(a.points)
        ],
        "clocks": [
            {
                "node": c["node"],
                "offset_ns": int(c["offset_ns"]),
                "error_ns": _none(c["error_ns"]),
                "source": c["source"],
                "samples": int(c["samples"]),
            }
            for c in d.records(a.clocks)
        ],
        "journeys": [
            journey_dict(a, int(j), per_journey.get(jid(j), []), cache, points) for j in chosen
        ],
        "journeys_total": total,
        "truncated": None
        if len(chosen) == total
        else {
            "journeys_written": len(chosen),
            "journeys_total": total,
            "note": f"only {len(chosen)} of {total} journeys written (--max-journeys); "
            "flows, translations and anomalies are complete",
        },
        "flows": [
            {
                "request": jid(f["request"]),
                "reply": jid(f["reply"]),
                "symmetric": bool(f["symmetric"]),
                "kind": f["kind"],
                "enter_point": f["enter_point"],
                "leave_point": f["leave_point"],
                "reverse_nat_point": _text_or_none(f["reverse_nat_point"]),
                "request_from": "client" if f["from_client"] else "server",
                "reached_sender": bool(f["reached_sender"]),
                "missing_reverse_nat": [
                    k
                    for k, flag in (
                        ("un-dnat", f["undnat_missing"]),
                        ("un-snat", f["unsnat_missing"]),
                    )
                    if flag
                ],
            }
            for f in d.records(a.flows)
        ],
        "translations": [
            {
                "kind": t["kind"],
                "node": t["node"] or None,
                **({"between": t["between"].split("|")} if t["between"] else {}),
                "proto": t["proto"],
                "before": t["before"],
                "after": t["after"],
                "packets": int(t["packets"]),
            }
            for t in d.records(a.translations)
        ],
        "anomalies": anomalies,
        "traceroutes": [
            {
                "probe": jid(r["probe"]),
                "answer": jid(r["answer"]),
                "ttl": int(r["ttl"]),
                "src": r["src"],
                "dst": r["dst"],
                "sport": _none(r["sport"]) if int(r["sport"]) >= 0 else None,
                "dport": _none(r["dport"]) if int(r["dport"]) >= 0 else None,
                "hop": r["hop"],
                "reached": bool(r["reached"]),
            }
            for r in d.records(a.traceroutes)
        ],
    }


def dumps(doc: dict[str, Any]) -> str:
    """The document as JSON text; indented for small analyses (people read those), compact
    for large ones."""
    if len(doc["journeys"]) <= 1000 and len(doc["flows"]) <= 10_000:
        return json.dumps(doc, indent=1)
    return json.dumps(doc, separators=(",", ":"))
