"""The analysis document ("netdiag.analysis/1") as typed, read-only values for the views.

Every view (the ``analyze`` summary, TUI, HTML, Markdown, pcapng export) reads the document
:mod:`netdiag.report.json` wrote from the engine's result; none recomputes it. Parsing here
is tolerant: unknown keys are kept in ``extra`` and optional keys may be absent, so a newer
analysis still renders. A missing required key is an AnalysisInputError that
names the key and the record it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from netdiag.bundle.manifest import split_point
from netdiag.errors import AnalysisInputError

ANALYSIS_SCHEMA = "netdiag.analysis/1"

Extra = tuple[tuple[str, Any], ...]


#: (record class, the keys of one raw record) -> the keys it does not model. Records of one
#: document share a few key sets, so each is worked out once (bounded: a hostile file may
#: have many).
_UNMODELLED: dict[tuple[type, tuple[str, ...], tuple[str, ...]], tuple[str, ...]] = {}


def _extra(raw: Mapping[str, Any], cls: type, *more: str) -> Extra:
    """Keys of ``raw`` that ``cls`` does not model, kept so a newer document loses nothing."""
    keys = tuple(raw)
    unmodelled = _UNMODELLED.get((cls, keys, more))
    if unmodelled is None:
        known = frozenset((*getattr(cls, "__slots__", ()), *more))
        unmodelled = tuple(k for k in keys if k not in known)
        if len(_UNMODELLED) < 4096:
            _UNMODELLED[(cls, keys, more)] = unmodelled
    return tuple((k, raw[k]) for k in unmodelled)


def _req(raw: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return raw[key]
    except (KeyError, TypeError):
        raise AnalysisInputError(
            f"analysis: {where} has no {key!r}; re-run `netdiag analyze` to rewrite the analysis"
        ) from None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Point:
    """One capture point (node/iface) with its counts and clock correction."""

    name: str
    node: str
    iface: str
    packets: int = 0
    kernel_dropped: int | None = None
    clock_offset_ns: int = 0
    clock_error_ns: int | None = None
    clock_source: str = ""  # what the offset rests on: packets, bundle, reference, ...
    extra: Extra = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Point:
        name = str(_req(raw, "name", "a point"))
        node, iface = split_point(name)
        return cls(
            name=name,
            node=str(raw.get("node") or node),
            iface=str(raw.get("iface") or iface),
            packets=int(raw.get("packets") or 0),
            kernel_dropped=_opt_int(raw.get("kernel_dropped")),
            clock_offset_ns=int(raw.get("clock_offset_ns") or 0),
            clock_error_ns=_opt_int(raw.get("clock_error_ns")),
            clock_source=str(raw.get("clock_source") or ""),
            extra=_extra(raw, cls),
        )


@dataclass(frozen=True, slots=True)
class Sighting:
    """One capture of a journey's packet at one point (timestamps in the point's own clock)."""

    point: str
    ts_ns: int
    ts_corrected_ns: int | None = None  # on the reference clock, when the analysis says
    direction: str = "unknown"
    eth_src: str | None = None
    eth_dst: str | None = None
    src: str | None = None
    dst: str | None = None
    sport: int | None = None
    dport: int | None = None
    ip_id: int | None = None
    ttl: int | None = None
    encap: Any = None
    frame: int | None = None
    copy: str | None = None  # None on the path; "side" (off-path copy) or "duplicate"
    extra: Extra = ()

    @property
    def node(self) -> str:
        """The node part of ``node/iface`` (interface names never contain "/"; hostnames might)."""
        return split_point(self.point)[0]

    @property
    def iface(self) -> str:
        return split_point(self.point)[1]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Sighting:
        return cls(
            point=str(_req(raw, "point", where)),
            ts_ns=int(_req(raw, "ts_ns", where)),
            ts_corrected_ns=_opt_int(raw.get("ts_corrected_ns")),
            direction=str(raw.get("direction") or "unknown"),
            eth_src=_opt_str(raw.get("eth_src")),
            eth_dst=_opt_str(raw.get("eth_dst")),
            src=_opt_str(raw.get("src")),
            dst=_opt_str(raw.get("dst")),
            sport=_opt_int(raw.get("sport")),
            dport=_opt_int(raw.get("dport")),
            ip_id=_opt_int(raw.get("ip_id")),
            ttl=_opt_int(raw.get("ttl")),
            encap=raw.get("encap"),
            frame=_opt_int(raw.get("frame")),
            copy=_opt_str(raw.get("copy")) or ("side" if raw.get("side_copy") else None),
            extra=_extra(raw, cls, "side_copy"),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed between two sightings (dnat, snat, mac-rewrite, ttl, encap...)."""

    kind: str
    before: Any = None
    after: Any = None
    field: str | None = None
    extra: Extra = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Change:
        return cls(
            kind=str(_req(raw, "kind", where)),
            before=raw.get("before"),
            after=raw.get("after"),
            field=_opt_str(raw.get("field")),
            extra=_extra(raw, cls),
        )


@dataclass(frozen=True, slots=True)
class Transform:
    """What happened between two consecutive sightings of one journey."""

    from_point: str
    to_point: str
    latency_ns: int | None = None
    changes: tuple[Change, ...] = ()
    order: str | None = None  # why to_point follows from_point (clock, ttl, ... time-uncertain)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Transform:
        return cls(
            from_point=str(_req(raw, "from", where)),
            to_point=str(_req(raw, "to", where)),
            latency_ns=_opt_int(raw.get("latency_ns")),
            changes=tuple(Change.parse(c, f"{where} change") for c in raw.get("changes") or ()),
            order=_opt_str(raw.get("order")),
        )

    @property
    def uncertain(self) -> bool:
        """The order of its two sightings rests on clocks closer than their errors."""
        return self.order == "time-uncertain"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something an on-call engineer must look at (drop, no reply, asymmetry, ICMP error...)."""

    kind: str
    journey: str | None = None
    after_point: str | None = None
    detail: str = ""
    expected_point: str | None = None
    extra: Extra = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any], journey: str | None = None) -> Anomaly:
        return cls(  # "point" is where a non-drop anomaly was seen; shown in the same place
            kind=str(_req(raw, "kind", "an anomaly")),
            journey=_opt_str(raw.get("journey")) or journey,
            after_point=_opt_str(raw.get("after_point") or raw.get("point")),
            detail=str(raw.get("detail") or ""),
            expected_point=_opt_str(raw.get("expected_point")),
            extra=_extra(raw, cls, "point"),
        )

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What makes two copies of one anomaly the same event."""
        return (self.kind, self.journey, self.detail)


@dataclass(frozen=True, slots=True)
class Journey:
    """One packet followed across capture points."""

    id: str
    summary: str = ""
    fingerprint: str = ""
    sightings: tuple[Sighting, ...] = ()
    transforms: tuple[Transform, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Journey:
        jid = str(_req(raw, "id", "a journey"))
        where = f"journey {jid}"
        return cls(
            id=jid,
            summary=str(raw.get("summary") or ""),
            fingerprint=str(raw.get("fingerprint") or ""),
            sightings=tuple(Sighting.parse(s, where) for s in raw.get("sightings") or ()),
            transforms=tuple(Transform.parse(t, where) for t in raw.get("transforms") or ()),
            anomalies=tuple(Anomaly.parse(a, jid) for a in raw.get("anomalies") or ()),
        )

    @property
    def path(self) -> tuple[Sighting, ...]:
        """The sightings the packet passed through, in order (copies left out)."""
        return tuple(s for s in self.sightings if s.copy is None)

    @property
    def copies(self) -> tuple[Sighting, ...]:
        """Side copies and duplicate recordings: seen, but not hops of the path."""
        return tuple(s for s in self.sightings if s.copy is not None)


@dataclass(frozen=True, slots=True)
class Flow:
    """A request journey and its reply (if one was seen)."""

    id: str
    request: str
    reply: str | None = None
    symmetric: bool | None = None
    kind: str = ""  # icmp-echo, tcp, udp
    enter_point: str | None = None  # where the request was first seen
    leave_point: str | None = None  # where the reply was last seen
    reverse_nat_point: str | None = None  # where the reply was translated back
    request_from: str = ""  # "client", or "server" for a server's segments a client acked
    extra: Extra = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any], index: int) -> Flow:
        symmetric = raw.get("symmetric")
        return cls(
            id=str(raw.get("id") or f"f{index + 1}"),
            request=str(_req(raw, "request", f"flow {index + 1}")),
            reply=_opt_str(raw.get("reply")),
            symmetric=None if symmetric is None else bool(symmetric),
            kind=str(raw.get("kind") or ""),
            enter_point=_opt_str(raw.get("enter_point")),
            leave_point=_opt_str(raw.get("leave_point")),
            reverse_nat_point=_opt_str(raw.get("reverse_nat_point")),
            request_from=str(raw.get("request_from") or ""),
            extra=_extra(raw, cls, "id"),
        )


@dataclass(frozen=True, slots=True)
class Translation:
    """Aggregated NAT: where an address (or address:port) is rewritten, and how often."""

    kind: str
    node: str  # "" when the change happened between two nodes (see ``between``)
    before: str
    after: str
    proto: str = ""
    packets: int = 0
    between: tuple[str, ...] = ()
    extra: Extra = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Translation:
        return cls(
            kind=str(_req(raw, "kind", "a translation")),
            node=str(raw.get("node") or ""),
            before=str(_req(raw, "before", "a translation")),
            after=str(_req(raw, "after", "a translation")),
            proto=str(raw.get("proto") or ""),
            packets=int(raw.get("packets") or 0),
            between=tuple(str(n) for n in raw.get("between") or ()),
            extra=_extra(raw, cls),
        )

    @property
    def where(self) -> str:
        """The node, or "between A and B" when neither can be named."""
        return self.node or "between " + " and ".join(self.between or ("?", "?"))


@dataclass(frozen=True, slots=True)
class Traceroute:
    """One answer to a traceroute probe: the hop that answered at ``ttl``."""

    src: str
    dst: str
    ttl: int
    hop: str
    reached: bool = False  # the answer came from the destination itself

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Traceroute:
        return cls(
            src=str(raw.get("src") or ""),
            dst=str(raw.get("dst") or ""),
            ttl=int(_req(raw, "ttl", "a traceroute answer")),
            hop=str(raw.get("hop") or ""),
            reached=bool(raw.get("reached")),
        )


@dataclass(frozen=True)
class AnalysisDocument:
    """The whole analysis document; ``journeys`` is keyed by id, in document order."""

    points: tuple[Point, ...] = ()
    journeys: dict[str, Journey] = field(default_factory=dict)
    flows: tuple[Flow, ...] = ()
    translations: tuple[Translation, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    extra: Extra = ()

    @cached_property
    def _points_by_name(self) -> dict[str, Point]:
        return {p.name: p for p in self.points}

    @cached_property
    def flow_by_journey(self) -> dict[str, str]:
        """Journey id -> id of the flow it belongs to (as request or reply)."""
        found: dict[str, str] = {}
        for flow in self.flows:
            found.setdefault(flow.request, flow.id)
            if flow.reply:
                found.setdefault(flow.reply, flow.id)
        return found

    @cached_property
    def all_anomalies(self) -> tuple[Anomaly, ...]:
        """Every anomaly once: the document's list, then any a journey carries that the list
        lacks (the writer puts each journey's anomalies in both places)."""
        seen = {a.key for a in self.anomalies}
        nested = []
        for a in (a for j in self.journeys.values() for a in j.anomalies):
            if a.key not in seen:
                seen.add(a.key)
                nested.append(a)
        return (*self.anomalies, *nested)

    @property
    def reference_node(self) -> str:
        """The node whose clock the offsets and corrected times are on ("" if not stated)."""
        return str(dict(self.extra).get("reference_node") or "")

    @property
    def notes(self) -> tuple[str, ...]:
        """What the analysis had to assume or leave out (e.g. payloads cut by the snaplen)."""
        return tuple(str(n) for n in dict(self.extra).get("notes") or ())

    @property
    def journeys_total(self) -> int:
        """Journeys the analysis found; the document may hold fewer (``--max-journeys``)."""
        total = dict(self.extra).get("journeys_total")
        return int(total) if isinstance(total, int) else len(self.journeys)

    @cached_property
    def traceroutes(self) -> tuple[Traceroute, ...]:
        """The answers to traceroute probes, in document order."""
        raw = dict(self.extra).get("traceroutes") or ()
        return tuple(Traceroute.parse(r) for r in raw if isinstance(r, Mapping))

    def point(self, name: str) -> Point | None:
        """The capture point called ``name`` (``node/iface``), if the analysis lists it."""
        return self._points_by_name.get(name)

    def clock_offsets(self) -> dict[str, int]:
        """Point name -> clock offset (node clock minus reference) in ns."""
        return {p.name: p.clock_offset_ns for p in self.points}

    def flow(self, flow_id: str) -> Flow | None:
        """The flow called ``flow_id``; a journey outside any flow is its own one-journey flow."""
        found = self._flows_by_id.get(flow_id)
        if found is None and flow_id in self.journeys:
            return Flow(id=flow_id, request=flow_id)
        return found

    @cached_property
    def _flows_by_id(self) -> dict[str, Flow]:
        return {f.id: f for f in self.flows}


def check_schema(raw: Mapping[str, Any], source: str) -> None:
    """Refuse documents that are not a netdiag analysis (or a future major version)."""
    schema = raw.get("schema") if isinstance(raw, Mapping) else None
    if schema != ANALYSIS_SCHEMA:
        raise AnalysisInputError(
            f"{source}: schema is {schema!r}, expected {ANALYSIS_SCHEMA!r}; "
            "give an analysis written by `netdiag analyze --json`"
        )


def parse_analysis(raw: Mapping[str, Any], source: str = "analysis") -> AnalysisDocument:
    """A decoded analysis document -> :class:`AnalysisDocument` (tolerating extra keys)."""
    check_schema(raw, source)
    journeys = [Journey.parse(j) for j in raw.get("journeys") or ()]
    known = {"schema", "points", "journeys", "flows", "translations", "anomalies"}
    return AnalysisDocument(
        points=tuple(Point.parse(p) for p in raw.get("points") or ()),
        journeys={j.id: j for j in journeys},
        flows=tuple(Flow.parse(f, i) for i, f in enumerate(raw.get("flows") or ())),
        translations=tuple(Translation.parse(t) for t in raw.get("translations") or ()),
        anomalies=tuple(Anomaly.parse(a) for a in raw.get("anomalies") or ()),
        extra=tuple((k, v) for k, v in raw.items() if k not in known),
    )
