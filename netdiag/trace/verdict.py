"""A trace's answer first: from the run's analysis document, what happened to the probes.

It picks the trace's own requests out of everything captured (their destination and port where
they were first seen, and their kind: echo requests, TCP SYNs, UDP datagrams) and says, from
what the correlation already computed: where they went, every translation on their way and on
which node, where any stopped and where it was expected next, how the replies came back (path,
reverse translation, symmetry, or none at all), and the traceroute's hops. Pure: a document in,
lines and facts out.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netdiag.report.describe import describe_change
from netdiag.report.document import Change
from netdiag.trace.model import Proto

__all__ = ["TraceVerdict", "trace_verdict"]

Doc = Mapping[str, Any]
NAT_KINDS = ("dnat", "snat", "un-dnat", "un-snat")
_REQUEST = {"icmp": ("icmp echo-request ", "icmpv6 echo-request "), "tcp": ("tcp SYN ",),
            "udp": ("udp ",)}  # fmt: skip


@dataclass(frozen=True)
class TraceVerdict:
    """The headline as text lines, and the same facts for ``--json``."""

    lines: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def _path(journey: Doc) -> list[Doc]:
    return [s for s in journey.get("sightings") or () if s.get("copy") is None]


def _points(journey: Doc) -> list[str]:
    return [str(s["point"]) for s in _path(journey)]


def is_request(journey: Doc, target: str, port: int | None, proto: Proto) -> bool:
    """One of the trace's own probes: its kind, sent to ``target`` (and ``port``) as first seen."""
    path = _path(journey)
    if not path or not str(journey.get("summary", "")).startswith(_REQUEST[proto]):
        return False
    first = path[0]
    return first.get("dst") == target and (port is None or first.get("dport") == port)


def change_text(change: Doc) -> str | None:
    """A NAT or tunnel change in the words of every view; None for the others."""
    if change.get("kind") not in (*NAT_KINDS, "encap", "decap"):
        return None
    return describe_change(Change.parse(change, "a change"))


def _hops(journey: Doc) -> list[tuple[str, list[str]]]:
    """Each point of the path with the translations and tunnels on the way to it."""
    points = _points(journey)
    changes: dict[tuple[str, str], list[str]] = {}
    for t in journey.get("transforms") or ():
        texts = [c for c in (change_text(ch) for ch in t.get("changes") or ()) if c]
        changes.setdefault((str(t.get("from")), str(t.get("to"))), []).extend(texts)
    out: list[tuple[str, list[str]]] = [(points[0], [])] if points else []
    for a, b in itertools.pairwise(points):
        out.append((b, changes.pop((a, b), [])))
    return out


def path_text(journey: Doc) -> str:
    """``a [DNAT x->y] -> b -> c``: the points, with the translations and tunnels between."""
    hops = _hops(journey)
    if not hops:
        return "(not seen)"
    out = [hops[0][0]]
    for point, texts in hops[1:]:
        out.append(f" [{', '.join(texts)}] -> {point}" if texts else f" -> {point}")
    return "".join(out)


def path_lines(journey: Doc, label: str, summary: str) -> list[str]:
    """``label summary:``, then the path one hop a line, each change on the line of the point
    it was first seen at."""
    hops = _hops(journey)
    width = max((len(p) for p, _ in hops), default=0) + 6  # "-> " and a gap
    lines = [f"  {label:<9} {summary}:"]
    for i, (point, texts) in enumerate(hops):
        where = point if i == 0 else f"-> {point}"
        lines.append(f"{'':12}{where:<{width}}{', '.join(texts)}".rstrip())
    return lines


def _nat_of(journeys: Sequence[Doc]) -> set[tuple[str, str, str]]:
    return {
        (str(c.get("kind")), str(c.get("before")), str(c.get("after")))
        for j in journeys
        for t in j.get("transforms") or ()
        for c in t.get("changes") or ()
        if c.get("kind") in NAT_KINDS
    }


def _plural(n: int, word: str) -> str:
    many = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n} {word if n == 1 else many}"


# What a probe's exit status means, as FROM saw it (ping(8), bash's /dev/tcp and /dev/udp
# under timeout(1), traceroute(8)).
_OUTCOMES = {
    "ping": {0: "answered", 1: "no reply", 2: "could not send"},
    "tcp": {0: "connected", 1: "refused or unreachable", 124: "timed out"},
    "udp": {0: "answered", 1: "refused (ICMP unreachable) or could not send", 124: "no answer"},
    "traceroute": {0: "done"},
}


def probe_text(probe: Mapping[str, Any]) -> str:
    """``tcp-1 from client: timed out (exit 124)``, or why it did not run."""
    name, kind, status = probe.get("name"), str(probe.get("kind")), probe.get("exit_status")
    where = f"{name} from {probe.get('node') or '?'}"
    if status is None:
        return f"{where}: {probe.get('detail') or 'did not complete'}"
    meaning = _OUTCOMES.get(kind, {}).get(int(status), "failed")
    return f"{where}: {meaning} (exit {status})"


def trace_verdict(
    doc: Doc,
    *,
    title: str,
    target: str,
    port: int | None,
    proto: Proto,
    dest_points: Collection[str] = (),
    probes: Sequence[Mapping[str, Any]] = (),
) -> TraceVerdict:
    """The headline of a trace's run; ``title`` names FROM and TO in the first line,
    ``dest_points`` are TO's own capture points (a pod's host device): a request that got
    there and no answer was not lost on the way; ``probes`` are the run manifest's records."""
    journeys = {str(j["id"]): j for j in doc.get("journeys") or ()}
    requests = [j for j in journeys.values() if is_request(j, target, port, proto)]
    what = {"icmp": "echo request", "tcp": "TCP SYN", "udp": "UDP datagram"}[proto]
    lines = [f"Trace {title}: {_plural(len(requests), what)} seen"]
    lines += [f"  probe     {probe_text(p)}" for p in probes]
    facts: dict[str, Any] = {"requests": len(requests)}
    if probes:
        facts["probes"] = [probe_text(p) for p in probes]
    if not requests:
        lines.append(
            f"  no {what} to {target}{f' port {port}' if port else ''} was captured: the probe "
            "did not run or FROM's capture failed (see the probes and captures above)"
        )
        return TraceVerdict(tuple(lines), facts)
    ids = {str(j["id"]) for j in requests}
    shapes = Counter(tuple(_points(j)) for j in requests)
    main = next(j for j in requests if tuple(_points(j)) == shapes.most_common(1)[0][0])
    count = shapes.most_common(1)[0][1]
    lines += path_lines(main, "went", f"{count} of {len(requests)}")
    facts["path"] = _points(main)
    facts["paths"] = [{"points": list(p), "count": n} for p, n in shapes.most_common()]
    for other, n in shapes.most_common()[1:]:
        sample = next(j for j in requests if tuple(_points(j)) == other)
        lines.append(f"  also      {path_text(sample)}  ({n} of {len(requests)})")
    flows = [f for f in doc.get("flows") or () if f.get("request") in ids]
    replies = [journeys[f["reply"]] for f in flows if f.get("reply") in journeys]
    used = _nat_of([*requests, *replies])
    translations = sorted(  # as the packets meet them: the request's, then the reply's
        (t for t in doc.get("translations") or () if (t["kind"], t["before"], t["after"]) in used),
        key=lambda t: NAT_KINDS.index(t["kind"]) if t["kind"] in NAT_KINDS else len(NAT_KINDS),
    )
    facts["translations"] = [
        {k: t.get(k) for k in ("kind", "node", "between", "proto", "before", "after")}
        for t in translations
    ]
    for t in translations:
        where = t.get("node") or "between " + " and ".join(t.get("between") or ("?", "?"))
        lines.append(f"  {t['kind']:<9} {t['before']} -> {t['after']} on {where}")
    if not translations:
        lines.append("  NAT       none on the captured path")
    anomalies = [a for a in doc.get("anomalies") or () if a.get("journey") in ids]
    stopped = [a for a in anomalies if a.get("kind") == "dropped"]
    facts["stopped"] = [
        {k: a.get(k) for k in ("journey", "after_point", "expected_point", "detail")}
        for a in stopped
    ]
    for (after, expected), n in Counter(
        (a.get("after_point"), a.get("expected_point")) for a in stopped
    ).items():
        lines.append(
            f"  stopped   {n} of {len(requests)}: last seen at {after}, expected next at {expected}"
        )
    unanswered = [a for a in anomalies if a.get("kind") == "no-reply"]
    facts["unanswered"] = [
        {"journey": a.get("journey"), "point": a.get("point")} for a in unanswered
    ]
    facts["replies"] = len(replies)
    answered = {str(f["request"]) for f in flows if f.get("reply") in journeys}
    lost = [j for j in requests if str(j["id"]) not in answered]
    last_seen = Counter(_points(j)[-1] for j in lost)
    facts["last_seen"] = dict(last_seen)
    if replies:
        lines += _reply_lines(flows, replies, requests, facts)
    else:
        facts["reply_path"] = []
        where = "; ".join(
            f"{n} last seen at {p}" + (", TO's own device: it got there, no answer came" if p in
                                       dest_points else "")
            for p, n in last_seen.items()
        )  # fmt: skip
        lines.append(f"  reply     none seen ({where})")
    reply_ids = {str(r["id"]) for r in replies}
    asymmetric = [
        a
        for a in doc.get("anomalies") or ()
        if a.get("kind") == "asymmetric-return" and a.get("journey") in ids | reply_ids
    ]
    facts["asymmetric"] = [
        {k: a.get(k) for k in ("journey", "point", "expected_point", "detail")} for a in asymmetric
    ]
    for (left, expected), n in Counter(
        (a.get("point"), a.get("expected_point")) for a in asymmetric
    ).items():
        lines.append(
            f"  asymmetric {_plural(n, 'reply')} left at {left} instead of coming back through "
            f"{expected}"
        )
    lines += _traceroute_lines(doc, target, facts)
    return TraceVerdict(tuple(lines), facts)


def _reply_lines(
    flows: Sequence[Doc], replies: Sequence[Doc], requests: Sequence[Doc], facts: dict[str, Any]
) -> list[str]:
    shapes = Counter(tuple(_points(r)) for r in replies)
    main = next(r for r in replies if tuple(_points(r)) == shapes.most_common(1)[0][0])
    facts["reply_path"] = _points(main)
    flow = next(f for f in flows if f.get("reply") == main["id"])
    how = [f"{len(replies)} of {len(requests)} answered"]
    how.append(
        "back at the sender" if flow.get("reached_sender") else "not seen back at the sender"
    )
    if flow.get("reverse_nat_point"):
        how.append(f"un-NATed at {flow['reverse_nat_point']}")
    missing = flow.get("missing_reverse_nat") or []
    if missing:
        how.append(f"without its {' and '.join(missing)}")
    how.append("symmetric" if flow.get("symmetric") else "asymmetric")
    facts["reply"] = {
        k: flow.get(k)
        for k in ("symmetric", "reverse_nat_point", "reached_sender", "missing_reverse_nat")
    }
    lines = path_lines(main, "reply", "; ".join(how))
    for other, n in shapes.most_common()[1:]:
        sample = next(r for r in replies if tuple(_points(r)) == other)
        lines.append(f"  also      {path_text(sample)}  ({n} of {len(replies)})")
    return lines


def _traceroute_lines(doc: Doc, target: str, facts: dict[str, Any]) -> list[str]:
    rows = [r for r in doc.get("traceroutes") or () if r.get("dst") == target]
    if not rows:
        return []
    hops: dict[int, Doc] = {}
    for r in sorted(rows, key=lambda r: (int(r["ttl"]), not r.get("reached"))):
        hops.setdefault(int(r["ttl"]), r)
    shown, reached = [], False
    for ttl in sorted(hops):
        shown.append(f"{ttl} {hops[ttl].get('hop')}")
        if hops[ttl].get("reached"):
            reached = True  # probes sent past the destination answer like it: stop there
            break
    facts["traceroute"] = {"hops": shown, "reached": reached}
    return [f"  traceroute {', '.join(shown)} ({'reached' if reached else 'did not arrive'})"]
