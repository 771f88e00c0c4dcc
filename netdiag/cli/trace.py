"""``netdiag trace --inventory FILE FROM TO``: plan where the packet can pass, capture, answer.

The nodes are asked first (:mod:`netdiag.trace.live`), the plan is made from what they showed
(:mod:`netdiag.trace.planner`) and shown, then it runs as ``netdiag capture`` runs a plan (same
orchestrator, progress, faults, clean-up and exit codes) and the verdict comes before the usual
summary. The plan is saved in the run directory as ``trace-plan.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdiag.cli._env import Env, ExitCode, write_text_file
from netdiag.cli.capture import add_run_options
from netdiag.errors import AnalysisInputError

if TYPE_CHECKING:
    from netdiag.bundle import Manifest, ProbeRun
    from netdiag.inventory import Inventory
    from netdiag.trace.model import Endpoint, TracePlan

__all__ = ["register"]

PLAN_FILE = "trace-plan.yaml"


def register(subparsers: Any) -> None:
    """Add the ``trace`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trace",
        help="one command: where a packet from FROM to TO goes, captured on every node it can pass",
        description="Ask the nodes where FROM and TO are and what NATs TO (discovery, NAT "
        "tables, OVN gateways), capture on every node the packet can pass (FROM's and TO's "
        "devices, the node holding a NodePort, load-balancer VIP or FIP, the backends' nodes, "
        "the OVN gateway chassis), send the probe once every capture listens, and say where it "
        "went, where it was translated, where it stopped and how the reply came back. FROM and "
        "TO: pod:NAMESPACE/NAME, a pod's IP, a node of the inventory (a client too), or for TO "
        "any address, with :PORT for a service, NodePort or VIP.",
    )
    parser.add_argument("source", metavar="FROM", help="pod:NS/NAME, a pod IP or a node")
    parser.add_argument(
        "dest", metavar="TO", help="pod:NS/NAME, a node or an IP, each with an optional :PORT"
    )
    parser.add_argument(
        "--inventory", type=Path, required=True, metavar="FILE", help="inventory YAML file"
    )
    parser.add_argument(
        "--proto", choices=("icmp", "tcp", "udp"),
        help="what to send: ping (icmp), a TCP connect or a UDP datagram (default: tcp when a "
        "port is given, else icmp)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, metavar="N", help="TO's port (same as TO:N)")
    parser.add_argument(
        "--count", type=int, metavar="N",
        help="pings to send (default 3), or connects / datagrams (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--traceroute", action="store_true", help="also run `traceroute -n` from FROM to TO"
    )
    parser.add_argument(
        "--dry-run", action="store_true",
        help="ask the nodes and show the plan, capture nothing and write nothing",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document (schema netdiag.trace/1) on stdout instead of text; "
        "progress and warnings stay on stderr",
    )  # fmt: skip
    add_run_options(parser)
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from netdiag.cli.capture import check_run_options
    from netdiag.errors import InputError

    if args.port is not None and not 1 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: give a port from 1 to 65535")
    if args.count is not None and args.count < 1:
        raise InputError(f"--count {args.count}: must be 1 or more")
    check_run_options(args)
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise InputError(f"{args.out}: exists and is not empty; choose a new --out directory")


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.inventory import load_inventory
    from netdiag.orchestrator import make_run_id
    from netdiag.trace.endpoints import parse_endpoint
    from netdiag.trace.live import survey
    from netdiag.trace.model import TraceRequest
    from netdiag.trace.planner import plan_trace, port_and_proto

    _check(args)
    inventory = load_inventory(args.inventory)
    request = TraceRequest(
        args.source, args.dest, args.proto, args.port, args.count, args.traceroute
    )
    # the endpoints' own mistakes are told before any node is asked
    src = parse_endpoint(request.source, inventory, "FROM")
    dst = parse_endpoint(request.dest, inventory, "TO")
    run_id = make_run_id()
    out: Path = args.out or Path(f"netdiag-run-{run_id}")
    plan_path = Path(PLAN_FILE) if args.dry_run else out / PLAN_FILE
    port, proto = port_and_proto(request, src, dst)
    ips = [ip for ip in (src.ip, dst.ip) if ip]
    env.stderr.write(
        f"netdiag: asking the {len(inventory.nodes)} nodes of {inventory.path} where "
        f"{request.source} and {request.dest} are and what they NAT\n"
    )
    found = asyncio.run(
        survey(inventory, ips, (dst.ip, port, proto), kind=args.transport,
               concurrency=args.concurrency)
    )  # fmt: skip
    for facts in found.nodes.values():
        if facts.error:
            env.warn(
                f"{facts.error}; planning without its answers (where the path crosses it, its "
                "devices come from the inventory)"
            )
        for note in facts.notes:
            env.warn(f"{facts.name}: {note}")
    traced = plan_trace(inventory, found, request, plan_path)
    doc: dict[str, Any] = _plan_doc(traced, plan_path, dry_run=args.dry_run)
    if not args.json:
        print(traced.text, file=env.stdout)
    if args.dry_run:
        if args.json:
            env.print_json(doc)
        else:
            env.stderr.write(
                "netdiag: --dry-run: nothing captured, nothing written; save the plan above to "
                f"a file and run `netdiag capture --inventory {inventory.path} --plan FILE`, or "
                "run this trace without --dry-run\n"
            )
        return ExitCode.OK
    return _capture(traced, args, env, inventory=inventory, out=out, run_id=run_id, doc=doc)


def _capture(
    traced: TracePlan, args: argparse.Namespace, env: Env, *, inventory: Inventory, out: Path,
    run_id: str, doc: dict[str, Any],
) -> int:  # fmt: skip
    from netdiag.cli.capture import execute
    from netdiag.trace.verdict import trace_verdict

    title = f"{traced.source.text} -> {traced.dest.text} ({traced.proto})"

    def headline(outcome: Any) -> None:
        verdict = trace_verdict(
            outcome.analysis.document, title=title, target=traced.target, port=traced.port,
            proto=traced.proto, dest_points=traced.dest_points,
            probes=[p.to_json() for p in _probes(out)],
        )  # fmt: skip
        doc["verdict"] = verdict.facts
        if not args.json:
            print("\n".join(verdict.lines), file=env.stdout)

    # with --json the capture's own document (netdiag.capture/1) becomes the trace's "run"
    captured: dict[str, Any] | None = {} if args.json else None
    code = execute(
        inventory, traced.plan, out=out, transport=args.transport, env=env,
        concurrency=args.concurrency, grace_s=args.grace, run_id=run_id, headline=headline,
        doc=captured,
    )  # fmt: skip
    plan_file = out / PLAN_FILE
    if out.is_dir():
        write_text_file(plan_file, traced.text)
        doc["plan"]["path"] = str(plan_file)
        if not args.json:
            print(
                f"plan: {plan_file} (rerun: netdiag capture --inventory {inventory.path} "
                f"--plan {plan_file})",
                file=env.stdout,
            )
    if doc["verdict"] is not None and not args.json:
        print(
            f"browse: netdiag tui {out}; for Wireshark: netdiag export {out} --pcapng "
            f"{out / 'trace.pcapng'}",
            file=env.stdout,
        )
    if args.json:
        doc["run"] = captured or _run_doc(out, code)
        env.print_json(doc)
    return code


def _plan_doc(traced: TracePlan, plan_path: Path, *, dry_run: bool) -> dict[str, Any]:
    def endpoint(e: Endpoint) -> dict[str, Any]:
        keys = ("text", "what", "node", "pod", "ip", "port", "external")
        return {k: getattr(e, k) for k in keys}

    return {
        "schema": "netdiag.trace/1",
        "from": endpoint(traced.source),
        "to": endpoint(traced.dest),
        "proto": traced.proto,
        "target": traced.target,
        "port": traced.port,
        "dry_run": dry_run,
        "plan": {
            "path": None if dry_run else str(plan_path),
            "stops": [
                {
                    "node": s.node,
                    "reasons": list(s.reasons),
                    "roles": dict(zip(s.roles, s.devices, strict=True)),
                    "pods": [
                        {"name": p, "device": d or None}
                        for p, d in zip(s.pods, s.pod_devices, strict=True)
                    ],
                    "pod_ports": list(s.ports),  # host devices of pods the inventory lacks
                }
                for s in traced.stops
            ],
            "notes": list(traced.notes),
            "text": traced.text,
        },
        "verdict": None,
        "run": None,
    }


def _manifest(out: Path) -> Manifest | None:
    """The run's manifest as far as it was written; None when there is none to read."""
    from netdiag.bundle import Layout, read_manifest

    try:
        return read_manifest(Layout(out).manifest)
    except AnalysisInputError:
        return None


def _probes(out: Path) -> tuple[ProbeRun, ...]:
    manifest = _manifest(out)
    return manifest.probes if manifest is not None else ()


def _run_doc(out: Path, code: int) -> dict[str, Any]:
    """The run in the capture's JSON shape when it ended before the capture could say (a second
    Ctrl-C): where its files are and how each point ended, as far as the manifest tells."""
    manifest = _manifest(out)
    captures = [
        {"point": c.point, "status": c.status, "detail": c.detail}
        for c in (manifest.captures if manifest is not None else ())
    ]
    return {
        "schema": "netdiag.capture/1",
        "outcome": "interrupted",
        "exit_code": int(code),
        "bundle": str(out),
        "captures": captures,
    }
