"""The one-glance answer at the top of a report, derived from translations, flows and anomalies.

Nothing here knows about a particular CNI or scenario: a DNAT translation becomes "X is DNATed to
Y on NODE", and the flows that went through it say where their replies were un-NATed, which is
the first question about a floating IP or NodePort: do replies leave through the node the
requests came in by (if not, a stateful firewall or the client drops them)?
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from netdiag.bundle.manifest import Manifest, split_point
from netdiag.report.document import AnalysisDocument, Journey

_REVERSE = {"dnat": ("un-dnat", "snat"), "snat": ("un-snat", "dnat")}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One sentence of the summary; ``level`` is ok, warn, bad or info (for colour only)."""

    text: str
    level: str = "ok"


def _nat_nodes(journey: Journey, kinds: tuple[str, ...], before: str, after: str) -> list[str]:
    """Nodes where ``journey`` underwent one of ``kinds`` from ``before`` to ``after``."""
    return [
        split_point(t.to_point)[0]
        for t in journey.transforms
        for c in t.changes
        if c.kind in kinds and str(c.before) == before and str(c.after) == after
    ]


def _label(address: str) -> str:
    """Bare address NATed 1:1 is a floating IP; an address:port is a load-balancer VIP."""
    bare = not address.endswith("]") and address.count(":") != 1 and "]:" not in address
    return f"FIP {address}" if bare else f"VIP {address}"


def _nat_verdicts(analysis: AnalysisDocument) -> list[Verdict]:
    verdicts: list[Verdict] = []
    seen: set[tuple[str, str, str, str]] = set()
    for tr in analysis.translations:
        if tr.kind not in _REVERSE or (tr.kind, tr.node, tr.before, tr.after) in seen:
            continue
        seen.add((tr.kind, tr.node, tr.before, tr.after))
        subject = _label(tr.before) if tr.kind == "dnat" else tr.before
        text = (
            f"{subject} is {tr.kind.upper()}ed to {tr.after} on {tr.node}"
            if tr.node
            else (f"{subject} is {tr.kind.upper()}ed to {tr.after} {tr.where}")
        )
        requests = answered = 0
        reverse_nodes: Counter[str] = Counter()
        for flow in analysis.flows:
            request = analysis.journeys.get(flow.request)
            if request is None or not _nat_nodes(request, (tr.kind,), tr.before, tr.after):
                continue
            requests += 1
            reply = analysis.journeys.get(flow.reply) if flow.reply else None
            if reply is None:
                continue
            answered += 1
            reverse_nodes.update(_nat_nodes(reply, _REVERSE[tr.kind], tr.after, tr.before))
        level = "ok"
        if requests and not answered:
            text += f"; no reply seen for {requests} request(s)"
            level = "bad"
        elif answered:
            others = sorted(n for n in reverse_nodes if n != tr.node)
            if reverse_nodes and not others:
                text += "; replies leave through the same node"
            elif others:
                text += f"; replies are un-NATed on {', '.join(others)} (asymmetric return)"
                level = "warn"
            else:
                text += "; replies were seen without the reverse translation"
                level = "warn"
            if answered < requests:
                text += f" ({answered} of {requests} requests answered)"
                level = "warn"
        verdicts.append(Verdict(text, level))
    return verdicts


_CAPTURED = ("ok", "recovered")


def failures(analysis: AnalysisDocument, manifest: Manifest | None) -> list[Verdict]:
    """Nodes and capture points that did not capture everything, each with what happened."""
    if manifest is None:
        return []
    found: list[Verdict] = []
    bad_nodes = set()
    for node in manifest.nodes.values():
        if node.status in _CAPTURED:
            continue
        bad_nodes.add(node.name)
        detail = f" ({node.detail})" if node.detail else ""
        found.append(
            Verdict(f"{node.name}: {node.status}{detail}; nothing was captured there.", "bad")
        )
    for cap in manifest.captures:
        if cap.node in bad_nodes and cap.status in ("not-started", "lost", "failed"):
            continue  # its node's line says it
        if cap.status == "recovered":
            found.append(
                Verdict(
                    f"{cap.point}: recovered after the run lost it; packets after that moment "
                    "are missing.",
                    "warn",
                )
            )
        elif cap.status != "ok":
            detail = f" ({cap.detail})" if cap.detail else ""
            level = "warn" if cap.status == "incomplete" else "bad"
            found.append(Verdict(f"{cap.point}: {cap.status}{detail}.", level))
    return found


def unseen(analysis: AnalysisDocument) -> list[Verdict]:
    """Negative evidence: capture points that saw none of the packets netdiag followed."""
    on_path: dict[str, int] = {}
    copies: dict[str, int] = {}
    for journey in analysis.journeys.values():
        for s in journey.path:
            on_path[s.point] = on_path.get(s.point, 0) + 1
        for s in journey.copies:
            copies[s.point] = copies.get(s.point, 0) + 1
    if not on_path:
        return []
    total = len(analysis.journeys)
    found = []
    for point in analysis.points:
        if on_path.get(point.name):
            continue
        n = copies.get(point.name, 0)
        also = f" (only {n} cop{'y' if n == 1 else 'ies'} off the path)" if n else ""
        found.append(
            Verdict(f"{point.name} saw none of the {total} packet(s) followed{also}.", "info")
        )
    return found


def verdicts(analysis: AnalysisDocument, manifest: Manifest | None = None) -> list[Verdict]:
    """Summary sentences: first what was not captured (it qualifies everything after), then
    the NAT story, anomalies, tunnels, and the points that saw none of the packets."""
    found = failures(analysis, manifest)
    nat = _nat_verdicts(analysis)
    if not nat and analysis.journeys:
        nat.append(Verdict("No address translation seen on the captured path."))
    found += nat
    kinds = Counter(a.kind for a in analysis.all_anomalies)
    if kinds:
        listed = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        total = sum(kinds.values())
        found.append(Verdict(f"{total} anomal{'y' if total == 1 else 'ies'}: {listed}.", "bad"))
    encap = Counter(
        c.kind
        for j in analysis.journeys.values()
        for t in j.transforms
        for c in t.changes
        if c.kind == "encap"
    )
    if encap:
        found.append(Verdict(f"{encap['encap']} hop(s) were encapsulated in a tunnel."))
    found += unseen(analysis)
    if not analysis.journeys:
        found.append(Verdict("No packet was followed across capture points.", "warn"))
    return found
