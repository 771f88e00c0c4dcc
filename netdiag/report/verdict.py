"""The one-glance answer at the top of a report, derived from translations, flows and anomalies.

Nothing here knows about a particular CNI or scenario: a DNAT translation becomes "X is DNATed to
Y on NODE", and the flows that went through it say where their replies were un-NATed, which is
the question "do replies leave through the same node?" of SCENARIOS.md S1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from netdiag.report.document import Analysis, Journey, split_point
from netdiag.report.manifest import Manifest

_REVERSE = {"dnat": ("un-dnat", "snat"), "snat": ("un-snat", "dnat")}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One sentence of the summary; ``level`` is ok, warn or bad (for colour only)."""

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


def _nat_verdicts(analysis: Analysis) -> list[Verdict]:
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


def verdicts(analysis: Analysis, manifest: Manifest | None = None) -> list[Verdict]:
    """Summary sentences, most important first."""
    found = _nat_verdicts(analysis)
    if not found and analysis.journeys:
        found.append(Verdict("No address translation seen on the captured path."))
    encap = Counter(
        c.kind
        for j in analysis.journeys.values()
        for t in j.transforms
        for c in t.changes
        if c.kind == "encap"
    )
    if encap:
        found.append(Verdict(f"{encap['encap']} hop(s) were encapsulated in a tunnel."))
    kinds = Counter(a.kind for a in analysis.all_anomalies)
    if kinds:
        listed = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        total = sum(kinds.values())
        found.append(Verdict(f"{total} anomal{'y' if total == 1 else 'ies'}: {listed}.", "bad"))
    if manifest is not None:
        for node in manifest.nodes.values():
            if node.status != "ok":
                detail = f" ({node.detail})" if node.detail else ""
                found.append(Verdict(f"{node.name}: {node.status}{detail}; not captured.", "warn"))
    if not analysis.journeys:
        found.append(Verdict("No packet was followed across capture points.", "warn"))
    return found
