"""``netdiag discover --inventory FILE TARGET...``: which node, veth, namespace and path devices."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from netdiag.cli._env import Env, ExitCode
from netdiag.discover.model import Discovery
from netdiag.inventory import load_inventory
from netdiag.transport import BACKENDS


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "discover",
        help="find where a pod lives: node, host-side device, netns, path devices",
        description="For each TARGET (a pod IP, pod:NAMESPACE/NAME, or a node name) connect to "
        "the nodes it may be on and report the hosting node, the host side of the pod's veth, "
        "the pod's network namespace and interfaces, and the devices worth capturing on that "
        "node (uplink, join/ovn0, tunnels, bridges). The commands run are listed so you can "
        "repeat them by hand.",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="pod IP, pod:NS/NAME or node")
    parser.add_argument("--inventory", required=True, metavar="FILE", help="inventory YAML file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--transport", default="asyncssh", choices=tuple(BACKENDS), help="SSH library to use"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.discover.live import discover
    from netdiag.discover.targets import parse_target

    inventory = load_inventory(args.inventory)
    targets = [parse_target(t, inventory) for t in args.targets]
    results = asyncio.run(discover(inventory, targets, kind=args.transport))
    if args.json:
        doc = {"schema": "netdiag.discover/1", "targets": [r.to_json() for r in results]}
        print(json.dumps(doc, indent=2), file=env.stdout)
    else:
        for r in results:
            print(_text(r), file=env.stdout)
    # a FIP is no pod, but naming the gateway that NATs it answers the question
    found = sum(r.node is not None or r.gateway is not None for r in results)
    if found == len(results):
        return ExitCode.OK
    return ExitCode.PARTIAL if found else ExitCode.FAILURE


def _gateway(r: Discovery) -> list[str]:
    gw = r.gateway
    if gw is None:
        return []
    if not gw.chassis:
        return [f"  gateway    router {gw.router}: {gw.why}"]
    where = ", ".join(f"{c.node or c.name}{' (active)' if c.active else ''}" for c in gw.chassis)
    return [f"  gateway    {gw.port} of router {gw.router} on {where}", f"  {'':<10} {gw.why}"]


def _text(r: Discovery) -> str:
    if r.node is None and r.gateway is not None:
        return "\n".join([f"{r.target}: not a pod; OVN NATs it", *_gateway(r)])
    if r.node is None:
        return f"{r.target}: not found: {'; '.join(r.notes)}"
    head = f"{r.target}: on node {r.node}"
    lines = [head + (f" behind {r.host_iface}" if r.host_iface else "")]
    if r.netns is not None:
        lines.append(f"  netns      {r.netns.name} (nsid {r.netns.nsid})")
        for i in r.netns.interfaces:
            peer = f" <-> {i.host_iface}" if i.host_iface else ""
            lines.append(f"  pod iface  {i.name} {' '.join(i.ips) or '-'} {i.mac or ''}{peer}")
    for d in r.path:
        lines.append(f"  {d.role:<10} {d.name}  ({d.why})")
    lines += _gateway(r)
    lines.extend(f"  note       {n}" for n in r.notes)
    lines.extend(f"  ran        {c}" for c in r.commands)
    return "\n".join(lines)
