"""The human summary of ``netdiag analyze`` (rich): points, translations, paths, anomalies.

Rendered from the analysis document like every other view, with the same change wording
(:func:`netdiag.report.describe.describe_change`). Identical paths are printed once with a
packet count: two journeys share a path when they are of one kind (protocol, ICMP type, TCP
flags) and passed the same points with the same addresses, TTLs, tunnels and kinds of change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netdiag.report.describe import describe_change
from netdiag.report.document import AnalysisDocument, Flow, Journey

MAX_PATHS = 25
MAX_ANOMALIES = 20


def _kind(summary: str) -> str:
    """``tcp SYN a:1 > b:2 len 10`` -> ``tcp SYN a:1 > b:2``: what makes packets of one kind
    (the sequence number and length of each packet left out)."""
    words = summary.split()
    while len(words) >= 2 and words[-2] in ("seq", "len"):
        del words[-2:]
    return " ".join(words)


def path_signature(journey: Journey) -> Hashable:
    """Equal for journeys of one kind that took the same path with the same changes."""
    sightings = tuple(
        (s.point, s.src, s.dst, s.sport, s.dport, s.ttl, _encap_kind(s.encap), s.copy)
        for s in journey.sightings
    )
    hops = tuple(
        (tuple((c.kind, c.field) for c in t.changes), t.uncertain) for t in journey.transforms
    )
    return (_kind(journey.summary), sightings, hops)


def _encap_kind(encap: object) -> object:
    return encap.get("kind") if isinstance(encap, dict) else encap


def path_line(journey: Journey) -> str:
    """``p1 -> p2 [DNAT a -> b, src MAC m -> n, TTL 64 -> 63] -> p3``; ``~>`` marks a hop whose
    order only corrected time decided, by less than the clocks' errors."""
    path = journey.path
    if not path:
        return "(not seen)"
    parts = [path[0].point]
    for t in journey.transforms:
        texts = [describe_change(c) for c in t.changes]
        arrow = "~>" if t.uncertain else "->"
        parts.append((f" [{', '.join(texts)}] " if texts else " ") + arrow + " ")
        parts.append(t.to_point)
    side = [s.point for s in journey.copies if s.copy == "side"]
    twice = [s.point for s in journey.copies if s.copy == "duplicate"]
    if side:
        parts.append(f" (copy also seen at {', '.join(side)})")
    if twice:
        parts.append(f" (recorded twice at {', '.join(dict.fromkeys(twice))})")
    return "".join(parts)


def _ns(v: int | None) -> str:
    if v is None:
        return "?"
    if abs(v) >= 1_000_000_000:
        return f"{v / 1e9:+.3f} s"
    if abs(v) >= 1_000_000:
        return f"{v / 1e6:+.3f} ms"
    return f"{v / 1e3:+.1f} µs"


def render(a: AnalysisDocument, console: Console) -> None:
    """Print the summary on ``console`` (the caller puts read damage on stderr as warnings)."""
    total = sum(p.packets for p in a.points)
    ref = a.reference_node
    console.print(
        f"[bold]netdiag analysis[/]: {total} packets at {len(a.points)} capture points, "
        f"{a.journeys_total} journeys, {len(a.flows)} request/reply flows "
        f"(clocks relative to [bold]{ref}[/])"
    )
    for note in a.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    pts = Table(
        title="Capture points",
        title_justify="left",
        caption=f"clock vs {ref}: the node's clock minus {ref}'s (timestamps are corrected by "
        "it); kernel drops: packets the capture buffer had no room for (tcpdump's count), in "
        "no file",
        caption_justify="left",
    )
    for col in ("point", "packets", "kernel drops", f"clock vs {ref}", "± error", "from"):
        pts.add_column(col, justify="right" if col in ("packets", "kernel drops") else "left")
    for p in a.points:
        err = "?" if p.clock_error_ns is None else _ns(p.clock_error_ns).lstrip("+")
        dropped = str(p.kernel_dropped or 0)
        pts.add_row(p.name, str(p.packets), dropped, _ns(p.clock_offset_ns), err, p.clock_source)
    console.print(pts)
    if a.translations:
        tr = Table(title="Translations (where NAT happened)", title_justify="left")
        for col in ("kind", "node", "proto", "before", "after", "packets"):
            tr.add_column(col, justify="right" if col == "packets" else "left")
        for t in a.translations:
            tr.add_row(t.kind, t.where, t.proto, t.before, t.after, str(t.packets))
        console.print(tr)
    else:
        console.print("No address translation seen.")
    _flows(a, console)
    _paths(a, console)
    _traceroutes(a, console)
    _anomalies(a, console)


def _flows(a: AnalysisDocument, console: Console) -> None:
    if not a.flows:
        return
    # Requests a client made; a server's data segments acked by the client are the same
    # connections seen the other way round and would only repeat them.
    order = {p.name: i for i, p in enumerate(a.points)}

    def rank(point: str | None) -> tuple[bool, int]:
        return (point is None, order.get(point or "", len(order)))

    def key(f: Flow) -> tuple[str, str | None, str | None, str | None, bool | None]:
        return (f.kind, f.enter_point, f.leave_point, f.reverse_nat_point, f.symmetric)

    counts = Counter(key(f) for f in a.flows if f.request_from == "client")
    groups = sorted(
        counts.items(),
        key=lambda kv: (kv[0][0], rank(kv[0][1]), rank(kv[0][2]), rank(kv[0][3]), kv[0][4]),
    )
    groups.sort(key=lambda kv: -kv[1])
    console.print("[bold]Flows[/] (where requests entered and replies left):")
    for (kind, enter, leave, unnat, sym), n in groups:
        extra = f", reply un-NATed at {unnat}" if unnat is not None else ""
        shape = "symmetric" if sym else "[red]asymmetric[/]"
        console.print(f"  {n} {kind}: in at {enter}, reply out at {leave}{extra} ({shape})")


def _paths(a: AnalysisDocument, console: Console) -> None:
    if not a.journeys:
        return
    groups: dict[Hashable, list[Journey]] = {}
    for journey in a.journeys.values():
        groups.setdefault(path_signature(journey), []).append(journey)
    ranked = sorted(groups.values(), key=len, reverse=True)  # stable: ties in document order
    console.print(f"[bold]Paths[/] ({len(ranked)} distinct):")
    if len(a.journeys) < a.journeys_total:
        console.print(
            f"  [dim]counted over the {len(a.journeys)} journeys written of "
            f"{a.journeys_total} (--max-journeys)[/]"
        )
    if any(t.uncertain for j in a.journeys.values() for t in j.transforms):
        console.print(
            "  [dim]~> : order decided by corrected time, closer than the clocks' errors[/]"
        )
    for same in ranked[:MAX_PATHS]:
        first = same[0]
        count = f"{len(same)} packets" if len(same) > 1 else "1 packet"
        line = f"  [dim]{count}[/] {escape(first.summary)}\n    {escape(path_line(first))}"
        console.print(line, highlight=False, emoji=False)
    if len(ranked) > MAX_PATHS:
        console.print(f"  ... {len(ranked) - MAX_PATHS} more paths (see --json)")


def _traceroutes(a: AnalysisDocument, console: Console) -> None:
    """One line per traceroute: the hops that answered, in TTL order, and whether it arrived."""
    if not a.traceroutes:
        return
    console.print("[bold]Traceroutes[/] (ICMP answers to probes sent with a low TTL):")
    by_path: dict[tuple[str, str], list[tuple[int, bool, str]]] = {}
    for r in a.traceroutes:
        by_path.setdefault((r.src, r.dst), []).append((r.ttl, r.reached, r.hop))
    for (src, dst), answers in by_path.items():
        hops: dict[int, tuple[bool, str]] = {}
        for ttl, reached, hop in sorted(answers, key=lambda x: (x[0], x[1])):
            hops.setdefault(ttl, (reached, hop))  # per TTL the first answer, unreached first
        steps = []
        arrived = False
        for ttl, (reached, hop) in hops.items():
            steps.append(f"{ttl} {hop}")
            if reached:  # probes sent past the destination answer like it: stop there
                arrived = True
                break
        end = " (reached)" if arrived else " (did not arrive)"
        console.print(f"  {escape(src)} -> {escape(dst)}: {', '.join(steps)}{end}", highlight=False)


def _anomalies(a: AnalysisDocument, console: Console) -> None:
    if not a.anomalies:
        console.print("[green]No anomalies.[/]")
        return
    counts = Counter(x.kind for x in a.anomalies).most_common()
    console.print("[bold red]Anomalies[/]: " + ", ".join(f"{k} {n}" for k, n in counts))
    for x in a.anomalies[:MAX_ANOMALIES]:
        where = f"{x.journey} " if x.journey else ""
        console.print(f"  [red]{x.kind}[/] {where}{escape(x.detail)}", highlight=False)
    if len(a.anomalies) > MAX_ANOMALIES:
        console.print(f"  ... {len(a.anomalies) - MAX_ANOMALIES} more (see --json)")
