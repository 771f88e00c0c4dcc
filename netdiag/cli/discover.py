"""``netdiag discover --inventory FILE TARGET...``: which node, veth, namespace and path devices."""

from __future__ import annotations

import argparse
import asyncio
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
        epilog="examples:\n"
        "  netdiag discover --inventory inventory/lab.yaml 192.168.0.6 "
        "pod:default/fip-busybox02 kube-ovn-worker\n"
        "  netdiag discover --inventory inventory/cluster.yaml pod:default/web-0 --json\n",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="pod IP, pod:NS/NAME or node")
    parser.add_argument("--inventory", required=True, metavar="FILE", help="inventory YAML file")
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document (schema netdiag.discover/1) instead of text",
    )  # fmt: skip
    parser.add_argument(
        "--transport", default="asyncssh", choices=tuple(BACKENDS), help="SSH library to use"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.discover.targets import parse_target

    inventory = load_inventory(args.inventory)
    targets = [parse_target(t, inventory) for t in args.targets]
    results = asyncio.run(_discover(inventory, targets, args.transport, env))
    if args.json:
        doc = {"schema": "netdiag.discover/1", "targets": [r.to_json() for r in results]}
        env.print_json(doc)
    else:
        for r in results:
            print(_text(r), file=env.stdout)
    # a FIP is no pod, but naming the gateway that NATs it answers the question
    found = sum(r.node is not None or r.gateway is not None for r in results)
    if found == len(results):
        return ExitCode.OK
    return ExitCode.PARTIAL if found else ExitCode.FAILURE


async def _discover(inventory: Any, targets: list[Any], kind: str, env: Env) -> list[Discovery]:
    """Discovery, saying on stderr which node it waits for, how long, and until when."""
    from netdiag.capture.watch import Activity, WatchedTransport
    from netdiag.cli._progress import say_waits
    from netdiag.discover.live import discover
    from netdiag.transport import Transport, open_transport
    from netdiag.transport.aio import cancel_and_wait

    activity = Activity()
    nodes = sorted({n for t in targets for n in t.nodes})
    env.progress().say(
        f"asking {len(nodes)} node(s): {', '.join(nodes[:8])}"
        + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")
    )

    def factory(node: Any, kind: str) -> Transport:
        return WatchedTransport(open_transport(node, kind), activity)

    waiter = asyncio.create_task(
        say_waits(lambda now: activity.lines(now, after=3.0), env.progress())
    )
    try:
        return await discover(inventory, targets, kind=kind, factory=factory)
    finally:
        await cancel_and_wait(waiter)


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
