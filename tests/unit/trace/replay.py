"""The lab's nodes as they answered the trace survey (tests/unit/trace/fixtures/*.json, written
by tests/support/record_survey.py), played back through MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from netdiag.errors import TransportError
from netdiag.inventory import Inventory, NodeSpec, load_inventory
from netdiag.trace.endpoints import parse_endpoint
from netdiag.trace.live import survey
from netdiag.trace.model import Survey, TracePlan, TraceRequest
from netdiag.trace.planner import plan_trace
from netdiag.transport import CommandResult, Transport
from netdiag.transport.mock import MockCall, MockTransport

HERE = Path(__file__).parent
REPO = HERE.parents[2]
INVENTORIES = {
    "kernel": REPO / "inventory" / "lab.yaml",
    "ovs-geneve": REPO / "inventory" / "lab-ndovs.yaml",
}


def recorded(topology: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HERE / "fixtures" / f"{topology}.json").read_text())
    return doc


def factory(topology: str, down: Collection[str] = ()) -> Any:
    """Transports answering as the recorded nodes did; the nodes in ``down`` refuse to connect."""
    nodes = recorded(topology)["nodes"]

    def make(node: NodeSpec, kind: str) -> Transport:
        answers = {tuple(c["argv"]): c for c in nodes[node.name]}

        def handler(call: MockCall) -> CommandResult:
            argv = (("sudo", "-n") if call.sudo else ()) + call.argv
            got = answers.get(argv)
            if got is None:
                return CommandResult(node.name, argv, 1, "", f"not recorded: {argv}", 0.0)
            return CommandResult(
                node.name, argv, got["exit_status"], got["stdout"], got["stderr"], 0.0
            )

        error = TransportError(f"{node.name}: connection refused") if node.name in down else None
        return MockTransport(handler, node, connect_error=error)

    return make


def inventory(topology: str) -> Inventory:
    return load_inventory(INVENTORIES[topology])


def survey_for(topology: str, request: TraceRequest, down: Collection[str] = ()) -> Survey:
    """What ``netdiag trace`` asks before planning ``request``, answered by the recording."""
    inv = inventory(topology)
    src = parse_endpoint(request.source, inv, "FROM")
    dst = parse_endpoint(request.dest, inv, "TO")
    port = dst.port if dst.port is not None else request.port
    proto = request.proto or ("tcp" if port is not None else "icmp")
    ips = [ip for ip in (src.ip, dst.ip) if ip]
    return asyncio.run(survey(inv, ips, (dst.ip, port, proto), factory=factory(topology, down)))


def trace(
    topology: str, source: str, dest: str, down: Collection[str] = (), **options: Any
) -> TracePlan:
    request = TraceRequest(source, dest, **options)
    found = survey_for(topology, request, down)
    return plan_trace(inventory(topology), found, request, Path("/runs/r1/trace-plan.yaml"))
