"""``netdiag inventory check|show FILE``: validate an inventory and test every node in it;
``from-kubectl`` and ``from-ansible`` write one from what the user already has."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from netdiag.cli._env import Env, ExitCode
from netdiag.errors import InventoryError
from netdiag.files import read_text
from netdiag.inventory import Inventory, load_inventory
from netdiag.transport import BACKENDS

STYLE = {"ok": "green", "warning": "yellow"}


def register(subparsers: Any) -> None:
    """Add ``inventory check`` (connects), ``show`` (validates only), ``from-kubectl`` and
    ``from-ansible`` (write one)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "inventory",
        help="validate an inventory and check that every node is ready to capture",
        description="Inventories list nodes (how to reach them over SSH) and pods; "
        "see inventory/examples/.",
        epilog="examples:\n"
        "  netdiag inventory show inventory/lab.yaml\n"
        "  netdiag inventory check inventory/cluster.yaml --json | jq '.nodes[].status'\n"
        "  netdiag inventory from-kubectl -l app=web > inventory/cluster.yaml\n"
        "  netdiag inventory from-ansible --ansible-inventory hosts.ini > inventory/cluster.yaml\n",
    )
    actions = parser.add_subparsers(dest="inventory_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="connect to every node: reachable, auth, tcpdump, privileges, interfaces, "
        "free space, clock offset",
    )
    show = actions.add_parser("show", help="validate the file and list nodes and pods")
    for sub in (check, show):
        sub.add_argument("file", metavar="FILE", help="inventory YAML file")
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--transport", default="asyncssh", choices=tuple(BACKENDS), help="SSH library to use"
    )
    check.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="nodes checked at once (16)"
    )
    check.add_argument(
        "--clock-rounds", type=int, default=5, metavar="N", help="clock round trips per node (5)"
    )
    kube = actions.add_parser(
        "from-kubectl",
        help="print an inventory of the cluster kubectl reaches (nodes, pods, CNI guess)",
    )
    kube.add_argument("--context", metavar="C", help="kubeconfig context (default: current)")
    kube.add_argument("--selector", "-l", metavar="S", help="only pods with these labels")
    ansible = actions.add_parser(
        "from-ansible",
        help="print an inventory of the hosts of an Ansible inventory",
        description="Reads the JSON of `ansible-inventory -i INVENTORY --list` (a saved file, - "
        "for stdin, or --ansible-inventory to run it) and prints an inventory: ansible_host, "
        "ansible_user, ansible_port, ansible_ssh_private_key_file, ansible_become (as sudo), "
        "a -J/ProxyJump in ansible_ssh_common_args (as jump), and groups as labels "
        "(group=...). Passwords are never copied.",
        epilog="examples:\n"
        "  netdiag inventory from-ansible --ansible-inventory hosts.ini > inventory/cluster.yaml\n"
        "  ansible-inventory -i aws_ec2.yml --list | netdiag inventory from-ansible - > inv.yaml\n",
    )
    ansible.add_argument(
        "file", nargs="?", metavar="FILE", help="saved `ansible-inventory --list` JSON, or -"
    )
    ansible.add_argument(
        "--ansible-inventory",
        metavar="PATH",
        help="run `ansible-inventory -i PATH --list` (needs ansible-core) instead of FILE",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> int:
    if args.inventory_action == "from-kubectl":
        from netdiag.discover.kubectl import from_kubectl

        env.stdout.write(from_kubectl(args.context, args.selector))
        return ExitCode.OK
    if args.inventory_action == "from-ansible":
        return _from_ansible(args, env)
    inventory = load_inventory(args.file)
    if args.inventory_action == "show":
        return _show(inventory, args.json, env)
    from netdiag.capture.preflight import READY

    if args.concurrency < 1 or args.clock_rounds < 1:
        env.error("--concurrency and --clock-rounds must be at least 1")
        return ExitCode.INPUT
    checks = asyncio.run(_check(inventory, args, env))
    bad = [c for c in checks if c.status not in READY]
    if args.json:
        doc = {
            "schema": "netdiag.inventory-check/1",
            "inventory": str(inventory.path),
            "nodes": [c.to_json() for c in checks],
        }
        env.print_json(doc)
    else:
        from netdiag.capture.progress import clock_text

        console = _console(env)
        table = Table(
            title=f"{inventory.path}: {len(checks) - len(bad)}/{len(checks)} ready",
            caption="clock vs this host: the node's clock minus this machine's (± half the "
            "best SSH round trip)",
            caption_justify="left",
        )
        for col in ("node", "status", "auth", "tcpdump", "privileges", "interfaces", "free"):
            table.add_column(col, overflow="fold")
        table.add_column("clock vs this host", justify="right")
        for c in checks:
            names = ", ".join(c.interfaces)
            clock = clock_text(c.clock.offset_ns, c.clock.error_ns) if c.clock else "-"
            table.add_row(
                c.node,
                f"[{STYLE.get(c.status, 'red')}]{c.status}[/]",
                "yes" if c.auth else "no",
                c.tcpdump or "-",
                c.privileges or "-",
                f"{len(c.interfaces)}: {names}" if c.interfaces else "-",
                f"{c.free_bytes / 2**30:.1f} GiB" if c.free_bytes is not None else "-",
                clock,
            )
        console.print(table)
        for c in checks:
            if c.message:
                text = c.message.removeprefix(f"{c.node}: ")
                console.print(f"[bold]{c.node}[/]: {text}", highlight=False, markup=True)
    if not bad:
        return ExitCode.OK
    return ExitCode.PARTIAL if len(bad) < len(checks) else ExitCode.FAILURE


async def _check(inventory: Inventory, args: argparse.Namespace, env: Env) -> list[Any]:
    """Check every node; meanwhile say on stderr whom it waits for and until when."""
    from netdiag.capture.preflight import check_inventory
    from netdiag.capture.watch import Activity, WatchedTransport
    from netdiag.cli._progress import say_waits
    from netdiag.transport import Transport, open_transport
    from netdiag.transport.aio import cancel_and_wait

    activity = Activity()
    progress = env.progress()
    limit = max((n.connect_timeout for n in inventory.nodes), default=0)
    progress.say(
        f"checking {len(inventory.nodes)} node(s) of {inventory.path}, {args.concurrency} at "
        f"a time (each connect gives up after {limit:g} s)"
    )

    def factory(node: Any, kind: str) -> Transport:
        return WatchedTransport(open_transport(node, kind), activity)

    waiter = asyncio.create_task(
        say_waits(lambda now: activity.lines(now, after=WAIT_FIRST), progress)
    )
    try:
        return await check_inventory(
            inventory,
            kind=args.transport,
            concurrency=args.concurrency,
            clock_rounds=args.clock_rounds,
            factory=factory,
        )
    finally:
        await cancel_and_wait(waiter)


#: seconds of a silent wait on one node before stderr names it
WAIT_FIRST = 3.0


def _from_ansible(args: argparse.Namespace, env: Env) -> int:
    from netdiag.ansible import MAX_JSON_BYTES, inventory_yaml, parse_ansible, run_ansible_inventory

    if (args.file is None) == (args.ansible_inventory is None):
        env.error(
            "give FILE (saved `ansible-inventory -i INVENTORY --list` output, - for stdin) or "
            "--ansible-inventory INVENTORY, one of them"
        )
        return ExitCode.INPUT
    warnings = ""
    if args.ansible_inventory is not None:
        source = f"`ansible-inventory -i {args.ansible_inventory} --list`"
        text, warnings = run_ansible_inventory(args.ansible_inventory)
    elif args.file == "-":
        source = "stdin"
        data = sys.stdin.buffer.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise InventoryError(
                f"stdin: over {MAX_JSON_BYTES >> 20} MiB of JSON; save it to a file"
            )
        text = data.decode("utf-8", errors="replace")
    else:
        source = args.file
        text = read_text(args.file, "ansible-inventory JSON", MAX_JSON_BYTES, InventoryError)
    hosts = parse_ansible(text, source, warnings)
    env.stdout.write(inventory_yaml(hosts, source, Path.cwd()))
    return ExitCode.OK


def _console(env: Env) -> Console:
    return Console(
        file=env.stdout,
        force_terminal=env.stdout_isatty,
        width=160,
        soft_wrap=True,
        no_color=not env.color,
    )


def _show(inventory: Inventory, as_json: bool, env: Env) -> int:
    if as_json:
        doc = {
            "schema": "netdiag.inventory/1",
            "inventory": str(inventory.path),
            "nodes": [n.public() for n in inventory.nodes],
            "pods": [
                {"name": p.name, "node": p.node, "ips": list(p.ips), "fip": p.fip,
                 "netns": p.netns, "host_iface": p.host_iface, "iface": p.iface}
                for p in inventory.pods
            ],
        }  # fmt: skip
        env.print_json(doc)
        return ExitCode.OK
    title = f"{inventory.path}: {len(inventory.nodes)} nodes, {len(inventory.pods)} pods"
    columns = ("node", "ssh", "sudo", "labels", "devices")
    rows: list[tuple[str, ...]] = []
    for n in inventory.nodes:
        jump = n.public()["jump"]
        ssh = f"{n.user + '@' if n.user else ''}{n.host}{f':{n.port}' if n.port else ''}"
        rows.append(
            (
                n.name,
                ssh + (f" via {jump}" if jump else ""),
                "yes" if n.sudo else "no",
                ", ".join(f"{k}={v}" for k, v in n.labels.items()),
                ", ".join(f"{k}={v}" for k, v in n.devices.items()),
            )
        )
    pods = [
        f"pod {p.name} {', '.join(p.ips)} ({p.host_iface or '?'} on {p.node}, "
        f"netns {p.netns or '?'})"
        for p in inventory.pods
    ]
    if len(rows) + len(pods) > PLAIN_ABOVE:
        _plain(title, columns, rows, pods, env)
        return ExitCode.OK
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console = _console(env)
    console.print(table)
    for line in pods:
        console.print(line, highlight=False, markup=False)
    return ExitCode.OK


#: Above this many lines, ``show`` prints aligned plain text: rich's table measures every cell
#: of every row (50,000 nodes: ~30 s of CPU, plain text well under a second).
PLAIN_ABOVE = 2000


def _plain(
    title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], pods: list[str], env: Env
) -> None:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    env.stdout.write("\n".join([*lines, *pods]) + "\n")
