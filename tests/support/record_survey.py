"""Record what `netdiag trace` asks the lab's nodes, for the planner's unit tests (root).

    .venv/bin/python -m tests.support.record_survey [--topology kernel|ovs-geneve] [--name N]

Builds a lab (and removes it), runs the trace survey (:func:`netdiag.trace.live.survey`) over
SSH once for every trace of tests/unit/trace/, with each session's commands and answers
recorded, and writes them to ``tests/unit/trace/fixtures/<topology>.json``: node -> the
commands (argv, exit status, stdout, stderr) as they came back. The tests replay them through a
MockTransport, so the survey and the planner run on exactly what the nodes said.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdiag.inventory import NodeSpec, load_inventory
from netdiag.lab import default_spec, down, up
from netdiag.lab.topology import ovs_spec
from netdiag.trace.live import survey
from netdiag.transport import CommandResult, Transport, open_transport

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "trace" / "fixtures"
# (addresses to place, (TO's address, port, protocol)) of each trace the tests plan
ASKS: dict[str, list[tuple[list[str], tuple[str, int | None, str]]]] = {
    "kernel": [
        (["172.19.0.11"], ("172.19.0.11", None, "icmp")),
        (["192.168.0.6", "172.19.0.1"], ("172.19.0.1", None, "icmp")),
        (["192.168.0.6", "192.168.0.7"], ("192.168.0.7", None, "icmp")),
        (["172.19.0.10"], ("172.19.0.10", 8080, "tcp")),
        (["172.19.0.6"], ("172.19.0.6", 30080, "tcp")),
        (["192.168.0.6", "10.96.0.10"], ("10.96.0.10", 80, "tcp")),
        (["172.19.0.99"], ("172.19.0.99", None, "icmp")),
    ],
    "ovs-geneve": [
        (["172.19.0.11"], ("172.19.0.11", None, "icmp")),
        (["192.168.0.6", "172.19.0.1"], ("172.19.0.1", None, "icmp")),
        (["192.168.0.6", "192.168.0.7"], ("192.168.0.7", None, "icmp")),
        (["172.19.0.10"], ("172.19.0.10", 8080, "tcp")),
        (["172.19.0.6"], ("172.19.0.6", 30081, "tcp")),
    ],
}


class Recorder:
    """A transport that passes every batch to the real one and keeps what came back."""

    def __init__(self, inner: Transport, log: list[dict[str, Any]]) -> None:
        self.inner, self.log = inner, log
        self.node = inner.node

    async def __aenter__(self) -> Recorder:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)

    async def run_batch(
        self, argvs: Sequence[Sequence[str]], *, timeout: float | None = None
    ) -> list[CommandResult]:
        results = await self.inner.run_batch(argvs, timeout=timeout)
        seen = {tuple(e["argv"]) for e in self.log}
        for r in results:  # a command asked again answers as it did first (counters move)
            if tuple(r.argv) not in seen:
                seen.add(tuple(r.argv))
                self.log.append({"argv": list(r.argv), "exit_status": r.exit_status,
                                 "stdout": r.stdout, "stderr": r.stderr})  # fmt: skip
        return results


def record(topology: str, name: str, mgmt: str) -> Path:
    spec = ovs_spec(name, mgmt) if topology == "ovs-geneve" else default_spec(name, mgmt)
    down(name)
    state = up(spec=spec)
    try:
        inventory = load_inventory(state.inventory_path)
        logs: dict[str, list[dict[str, Any]]] = {n.name: [] for n in inventory.nodes}

        def factory(node: NodeSpec, kind: str) -> Transport:
            return Recorder(open_transport(node, kind), logs[node.name])  # type: ignore[return-value]

        for ips, dest in ASKS[topology]:
            asyncio.run(survey(inventory, ips, dest, factory=factory))  # type: ignore[arg-type]
    finally:
        down(name)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / f"{topology}.json"
    doc = {
        "source": f"netdiag lab ({topology} topology), recorded over SSH by "
        "tests/support/record_survey.py",
        "recorded": datetime.date.today().isoformat(),
        "nodes": logs,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topology", choices=tuple(ASKS), default="kernel")
    parser.add_argument("--name", default="rs", help="lab name to build and remove (default rs)")
    parser.add_argument("--mgmt-net", default="10.243.0.0/24", help="its management network")
    opts = parser.parse_args(args)
    print(record(opts.topology, opts.name, opts.mgmt_net))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
