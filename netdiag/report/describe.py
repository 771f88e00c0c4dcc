"""Short human texts shared by every view: a change, a duration, a flow's one-line row.

The ``analyze`` summary, the TUI, the HTML and Markdown reports, the pcapng comments and the
trace verdict say the same thing the same way (:func:`describe_change` is the one wording of a
change), so an engineer who reads one recognises it in the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netdiag.report.document import AnalysisDocument, Change, Flow, Journey, Sighting, Transform

_FIELD_NAMES = {"eth_src": "src MAC", "eth_dst": "dst MAC", "src": "src", "dst": "dst"}


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    return "-" if value is None else str(value)


def change_label(change: Change) -> str | None:
    """The name a before -> after change goes by in every view (``DNAT``, ``un-SNAT``,
    ``src MAC``, ``TTL``); None for kinds that are not a single before -> after value."""
    kind = change.kind
    if kind in ("dnat", "snat"):
        return kind.upper()
    if kind in ("un-dnat", "un-snat"):
        return f"un-{kind[3:].upper()}"
    if kind == "mac-rewrite":
        return _FIELD_NAMES.get(change.field or "", change.field or "MAC")
    if kind == "ttl":
        return "TTL"
    return None


def describe_change(change: Change) -> str:
    """``DNAT 172.19.0.11 -> 192.168.0.6``, ``src MAC a -> b``, ``TTL 64 -> 63``, ``encap ...``."""
    kind = change.kind
    arrow = f"{_text(change.before)} -> {_text(change.after)}"
    extra = dict(change.extra)
    label = change_label(change)
    if label is not None:
        return f"{label} {arrow}"
    if kind in ("encap", "decap"):
        # {"kind": "encap", "encap": "vxlan", "vni": 42, "outer_src": a, "outer_dst": b}
        tunnel = extra.pop("encap", None) or extra.pop("type", None)
        vni = extra.pop("vni", None)
        src, dst = extra.pop("outer_src", None), extra.pop("outer_dst", None)
        parts = (
            [kind] + ([str(tunnel)] if tunnel else []) + ([f"vni {vni}"] if vni is not None else [])
        )
        if src is not None or dst is not None:
            parts.append(f"outer {_text(src)} -> {_text(dst)}")
        parts += [f"{k} {_text(v)}" for k, v in extra.items()]
        return " ".join(parts)
    text = f"{kind} {arrow}" if change.before is not None or change.after is not None else kind
    if change.field:
        text = f"{kind} {change.field} {arrow}"
    if extra:
        text += " (" + ", ".join(f"{k}={_text(v)}" for k, v in extra.items()) + ")"
    return text


def arrivals(journey: Journey) -> list[Transform | None]:
    """Per sighting, the transform that led to it (None for the first sighting and for copies,
    which the writer lists after the path).

    Transform i joins path sightings i and i+1; a journey that passes one point twice (a
    hairpin, an overlay's uplink) is why this is positional and not keyed by point name.
    """
    path, copies = journey.path, len(journey.sightings) - len(journey.path)
    if len(journey.transforms) == len(path) - 1:
        return [None, *journey.transforms] + [None] * copies
    by_point = {t.to_point: t for t in journey.transforms}
    return [None] + [by_point.get(s.point) for s in path[1:]] + [None] * copies


COPY_TEXT = {"side": "a copy seen off the path", "duplicate": "the same frame recorded again"}


def format_ns(ns: int | None) -> str:
    """A duration for humans: ``41 µs``, ``1.25 ms``, ``2.0 s``; ``-`` when unknown."""
    if ns is None:
        return "-"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns} ns"
    if ns < 1_000_000:
        return f"{sign}{ns / 1_000:.3g} µs"
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1_000_000:.3g} ms"
    return f"{sign}{ns / 1_000_000_000:.3g} s"


def format_signed_ns(ns: int) -> str:
    """A time relative to another, with its sign: ``+41 µs``, ``-3.2 µs`` (never ``+-``)."""
    text = format_ns(ns)
    return text if text.startswith("-") else "+" + text


def format_offset(offset_ns: int, error_ns: int | None) -> str:
    """A clock offset with its sign and its error bound, both with their unit:
    ``+9.5 µs ± 12.5 µs``."""
    text = format_signed_ns(offset_ns)
    return text if error_ns is None else f"{text} ± {format_ns(error_ns)}"


def latency_error_ns(analysis: AnalysisDocument, transform: Transform) -> int | None:
    """How far a hop's latency may be off: 0 on one node (one clock), else the two nodes'
    clock errors added; None when one of them is unknown."""
    a, b = analysis.point(transform.from_point), analysis.point(transform.to_point)
    node_a = a.node if a is not None else transform.from_point.rpartition("/")[0]
    node_b = b.node if b is not None else transform.to_point.rpartition("/")[0]
    if node_a == node_b:
        return 0
    if a is None or b is None or a.clock_error_ns is None or b.clock_error_ns is None:
        return None
    return a.clock_error_ns + b.clock_error_ns


def latency_text(analysis: AnalysisDocument, transform: Transform, *, signed: bool = False) -> str:
    """``52 µs ± 33 µs`` between nodes (the clocks' error), ``41 µs`` on one node; ``signed``:
    ``+52 µs ± 33 µs`` (a latency within the clocks' error may be negative: ``-3 µs ± 1 ms``)."""
    if transform.latency_ns is None:
        return "-"
    text = (format_signed_ns if signed else format_ns)(transform.latency_ns)
    error = latency_error_ns(analysis, transform)
    if error is None:
        return f"{text} ± ?"
    return f"{text} ± {format_ns(error)}" if error else text


def endpoint(ip: str | None, port: int | None) -> str:
    """``ip:port`` / ``[v6]:port`` / ``ip`` as in the analysis document."""
    if ip is None:
        return "-"
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def node_iface(analysis: AnalysisDocument, sighting: Sighting) -> tuple[str, str]:
    """(node, device) of a sighting, from the analysis' point list when it knows the point."""
    point = analysis.point(sighting.point)
    return (point.node, point.iface) if point is not None else (sighting.node, sighting.iface)


def corrected_ts(analysis: AnalysisDocument, sighting: Sighting) -> int:
    """The sighting's timestamp on the reference clock (node clock minus its offset)."""
    if sighting.ts_corrected_ns is not None:
        return sighting.ts_corrected_ns
    point = analysis.point(sighting.point)
    return sighting.ts_ns - (point.clock_offset_ns if point is not None else 0)


def encap_text(encap: Any) -> str:
    """A sighting's tunnel header in one line (``vxlan vni 42 10.0.0.1 > 10.0.0.2``)."""
    if not encap:
        return ""
    if isinstance(encap, Mapping):
        kind = encap.get("kind") or encap.get("encap") or "encap"
        vni = encap.get("vni")
        src, dst = (
            encap.get("outer_src") or encap.get("src"),
            encap.get("outer_dst") or encap.get("dst"),
        )
        text = str(kind) + (f" vni {vni}" if vni is not None else "")
        return text + (f" {src} > {dst}" if src or dst else "")
    return str(encap)


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One line of the flows list, precomputed once so filtering and sorting stay cheap."""

    id: str
    proto: str
    client: str
    server: str
    translated: str  # "DNAT 192.168.0.6", "SNAT 172.19.0.11", or "-"
    reply: str
    hops: int
    anomalies: str
    first_ts: int
    haystack: str  # lower-case text the filter matches against


def _first(journey: Journey | None) -> Sighting | None:
    return journey.sightings[0] if journey is not None and journey.sightings else None


def flow_row(
    analysis: AnalysisDocument, flow: Flow, anomaly_kinds: Mapping[str, list[str]]
) -> FlowRow:
    """The flows-list row of ``flow`` (``anomaly_kinds``: journey id -> anomaly kinds)."""
    request = analysis.journeys.get(flow.request)
    reply = analysis.journeys.get(flow.reply) if flow.reply else None
    first = _first(request)
    proto = (request.summary.split(" ", 1)[0] if request and request.summary else "?").lower()
    translated = [  # what the request was NATed to on its way: "DNAT 192.168.0.6"
        f"{c.kind.upper()} {c.after}"
        for t in (request.transforms if request else ())
        for c in t.changes
        if c.kind in ("dnat", "snat")
    ]
    if reply is None:
        reply_text = "no reply"
    elif flow.symmetric is False:
        reply_text = "asymmetric"
    else:
        reply_text = "reply"
    kinds = sorted({*anomaly_kinds.get(flow.request, ()), *anomaly_kinds.get(flow.reply or "", ())})
    client = endpoint(first.src, first.sport) if first else "-"
    server = endpoint(first.dst, first.dport) if first else "-"
    addresses = {
        endpoint(s.src, s.sport) + " " + endpoint(s.dst, s.dport) + " " + s.point
        for j in (request, reply)
        if j is not None
        for s in j.sightings
    }
    haystack = " ".join([flow.id, proto, reply_text, *kinds, *translated, *sorted(addresses)])
    return FlowRow(
        id=flow.id,
        proto=proto,
        client=client,
        server=server,
        translated=", ".join(translated) or "-",
        reply=reply_text,
        hops=len(request.path) if request else 0,
        anomalies=", ".join(kinds),
        first_ts=corrected_ts(analysis, first) if first else 0,
        haystack=haystack.lower(),
    )


def anomaly_kinds(analysis: AnalysisDocument) -> dict[str, list[str]]:
    """Journey id -> kinds of the anomalies about it (each anomaly once)."""
    kinds: dict[str, list[str]] = {}
    for anomaly in analysis.all_anomalies:
        if anomaly.journey:
            kinds.setdefault(anomaly.journey, []).append(anomaly.kind)
    return kinds


def flow_rows(analysis: AnalysisDocument) -> list[FlowRow]:
    """All flow rows; journeys that belong to no flow get a row of their own."""
    kinds = anomaly_kinds(analysis)
    flows = list(analysis.flows)
    in_flow = {j for f in flows for j in (f.request, f.reply) if j}
    flows += [Flow(id=jid, request=jid) for jid in analysis.journeys if jid not in in_flow]
    return [flow_row(analysis, f, kinds) for f in flows]
