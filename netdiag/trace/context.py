"""What a trace plan is being built from, and what it has chosen so far: which nodes, why,
which pods on each. Shared by the planner and its address rules (:mod:`.addresses`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from netdiag.inventory import Inventory
from netdiag.trace.model import Survey

__all__ = ["Chosen", "PlanState"]


@dataclass
class Chosen:
    """One node of the plan: why it is there, its pods (plan items and bare devices)."""

    reasons: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)  # {pod: ...} items
    ports: list[str] = field(default_factory=list)  # host devices of unlisted pods
    to: list[str] = field(default_factory=list)  # those of the pods and ports that are TO's


@dataclass
class PlanState:
    """The inventory and the survey, the nodes chosen so far (in path order), the notes."""

    inventory: Inventory
    survey: Survey
    nodes: dict[str, Chosen] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def external(self, node: str) -> bool:
        try:
            return self.inventory.node(node).labels.get("role") == "external"
        except KeyError:
            return False

    def add(
        self,
        node: str,
        reason: str,
        pod: str | None = None,
        port: str | None = None,
        to: bool = False,
    ) -> None:
        """Capture on ``node`` (an inventory node) because of ``reason``; ``pod`` is a plan
        ``{pod: ...}`` value, ``port`` a pod's host device when the inventory lacks the pod;
        ``to``: that pod is TO's (TO itself, or where TO's address is DNATed to)."""
        if not any(n.name == node for n in self.inventory.nodes):
            self.notes.append(f"{node} ({reason}) is not in {self.inventory.path}: not captured")
            return
        entry = self.nodes.setdefault(node, Chosen())
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        if pod is not None and pod not in entry.pods:
            entry.pods.append(pod)
        if port is not None and port not in entry.ports:
            entry.ports.append(port)
        if to:
            entry.to += [p for p in (pod, port) if p is not None and p not in entry.to]

    def place_pod(self, ip: str) -> tuple[str, str | None, str | None, str] | None:
        """(node, {pod:} value or None, host device or None, label) of the pod holding ``ip``:
        the inventory's pod, else one discovery found."""
        for pod in self.inventory.pods:
            if ip in pod.ips:
                return pod.node, pod.name, pod.host_iface, f"pod {pod.name}"
        for facts in self.survey.nodes.values():
            found = facts.pod(ip)
            if found is not None:
                label = f"pod {found.name}" if found.name else f"pod {ip}"
                return facts.name, None, found.host_iface, label

        return None

    def add_pod(self, ip: str, reason: str) -> tuple[str, str] | None:
        """Capture the pod holding ``ip`` and its node: (label, node), None when no pod has it."""
        placed = self.place_pod(ip)
        if placed is None:
            return None
        node, item, device, label = placed
        if item is None and device is None:
            self.notes.append(f"{label} on {node}: its host device is unknown; not captured")
        self.add(node, reason, pod=item, port=device if item is None else None, to=True)
        return label, node
