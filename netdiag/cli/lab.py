"""``netdiag lab up|down|status``: the network-namespace lab (root only); see netdiag.lab."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import asdict
from typing import Any

from netdiag.cli._env import Env, ExitCode
from netdiag.errors import InputError

_OFFSET_RE = re.compile(r"^([A-Za-z0-9._-]+)=([+-]?\d+(?:\.\d+)?)(ns|us|ms|s)$")
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def register(subparsers: Any) -> None:
    """Add the ``lab`` command with its ``up``, ``down`` and ``status`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="build / remove / show the network-namespace lab (root only)",
        description="A kube-ovn-like cluster in network namespaces: an external client, two "
        "nodes with sshd, pods, a FIP with iptables DNAT/SNAT and a VXLAN overlay.",
        epilog="examples:\n"
        "  sudo netdiag lab up\n"
        "  sudo netdiag lab up --name cu --mgmt-net 10.247.0.0/24 --clock-offset "
        "kube-ovn-worker=+3ms\n"
        "  sudo netdiag lab status --json | jq .running\n"
        "  sudo netdiag lab down --name cu\n",
    )
    actions = parser.add_subparsers(dest="lab_action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build the lab (a running lab is reported, not rebuilt)")
    down = actions.add_parser("down", help="remove everything the lab made, even half-built")
    status = actions.add_parser("status", help="nodes, pods, addresses and sshd state")
    for sub in (up, down, status):
        sub.add_argument(
            "--name",
            default=None,
            help="lab name, the prefix of all it makes (default netdiag; ndovs for ovs-geneve)",
        )
    up.add_argument(
        "--topology",
        choices=("default", "ovs-geneve"),
        default="default",
        help="default: the kube-ovn-like lab (Linux bridge, VXLAN); ovs-geneve: the same "
        "client and FIP with two Open vSwitch nodes (userspace datapath, br-int, ovn0, Geneve) "
        "whose pods' namespaces are unnamed",
    )
    up.add_argument(
        "--mgmt-net",
        default=None,
        metavar="CIDR",
        help="host<->node SSH network (default 10.250.0.0/24; 10.249.0.0/24 for ovs-geneve)",
    )
    up.add_argument(
        "--inventory",
        metavar="PATH",
        help="also write the inventory here (default: inventory/lab.yaml, or "
        "inventory/lab-NAME.yaml for another lab, if ./inventory exists and that file is absent "
        "or already says the same; the lab's own copy is always in its state directory)",
    )
    up.add_argument(
        "--clock-offset",
        action="append",
        default=[],
        metavar="NODE=OFFSET",
        help="simulated clock offset of a node, e.g. kube-ovn-worker=+3ms (repeatable)",
    )
    for sub, schema in ((up, "lab-up"), (down, "lab-down"), (status, "lab-status")):
        sub.add_argument(
            "--json",
            action="store_true",
            help=f"print one JSON document (schema netdiag.{schema}/1) on stdout",
        )
    parser.set_defaults(func=run)


def parse_offset(text: str) -> tuple[str, int]:
    """``NODE=+3ms`` -> (NODE, 3000000)."""
    m = _OFFSET_RE.match(text.strip())
    if not m:
        raise InputError(
            f"--clock-offset {text!r} is not NODE=OFFSET with a unit; use e.g. "
            "kube-ovn-worker=+3ms (units ns, us, ms, s)"
        )
    return m.group(1), round(float(m.group(2)) * _UNIT_NS[m.group(3)])


def run(args: argparse.Namespace, env: Env) -> int:
    """Dispatch to the lab API and print its result."""
    from netdiag import lab
    from netdiag.lab.status import format_status

    ovs = args.lab_action == "up" and args.topology == "ovs-geneve"
    if args.name is None:
        args.name = lab.topology.OVS_DEFAULT_NAME if ovs else lab.DEFAULT_NAME
    if args.lab_action == "up":
        name = lab.topology.validate_name(args.name)
        if ovs:
            spec = lab.topology.ovs_spec(name, args.mgmt_net or "10.249.0.0/24")
        else:
            spec = lab.default_spec(name, args.mgmt_net or "10.250.0.0/24")
        if args.clock_offset:
            spec = spec.with_clock_offsets(dict(parse_offset(t) for t in args.clock_offset))
        extra, kept = _inventory_targets(args, spec, ovs)
        with env.progress().step(f"building lab {name}"):
            state = lab.up(spec=spec, inventory_paths=extra)
        notes = [
            f"{path} left as it is: it describes another lab than this one (management network "
            f"or clock offsets differ); this lab's inventory is {state.inventory_path}"
            for path in kept
        ]
        if args.json:
            for note in notes:
                env.warn(note)
            env.print_json(
                {
                    "schema": "netdiag.lab-up/1",
                    "name": state.name,
                    "already_running": state.already_running,
                    "build_seconds": round(state.build_seconds, 3),
                    "inventory": state.inventory_path,
                    "inventories_written": list(extra),
                    "inventories_left": kept,
                    "status": _status_json(lab.status(state.name)),
                }
            )
            return ExitCode.OK
        if state.already_running:
            print(
                f"lab {state.name} is already running (built earlier); `netdiag lab down` "
                "to rebuild it",
                file=env.stdout,
            )
        else:
            print(f"lab {state.name} is up ({state.build_seconds:.2f} s)", file=env.stdout)
        print(f"inventory: {state.inventory_path}", file=env.stdout)
        for path in extra:
            print(f"wrote inventory {path}", file=env.stdout)
        for note in notes:
            env.warn(note)
        print(format_status(lab.status(state.name)), file=env.stdout)
        return ExitCode.OK
    if args.lab_action == "down":
        with env.progress().step(f"removing lab {args.name}"):
            report = lab.down(args.name)
        if args.json:
            env.print_json(
                {
                    "schema": "netdiag.lab-down/1",
                    "name": report.name,
                    "found_anything": report.found_anything,
                    "namespaces": report.namespaces,
                    "processes": report.processes,
                    "host_links": report.host_links,
                    "state_dir_removed": report.state_dir_removed,
                }
            )
        elif report.found_anything:
            print(
                f"lab {report.name} removed: {report.namespaces} namespaces, "
                f"{report.processes} processes, {report.host_links} host link(s), state dir",
                file=env.stdout,
            )
        else:
            print(f"lab {report.name} was not running; nothing to remove", file=env.stdout)
        return ExitCode.OK
    st = lab.status(args.name)
    if args.json:
        env.print_json({"schema": "netdiag.lab-status/1", **_status_json(st)})
    else:
        print(format_status(st), file=env.stdout)
    return ExitCode.OK if st.running else ExitCode.FAILURE


def _status_json(st: Any) -> dict[str, Any]:
    return {
        "name": st.name,
        "running": st.running,
        "exists": st.exists,
        "state": st.state.to_json() if st.state else None,
        "nodes": [asdict(n) for n in st.nodes],
        "stray_netns": list(st.stray_netns),
        "missing_netns": list(st.missing_netns),
    }


def _inventory_targets(
    args: argparse.Namespace, spec: Any, ovs: bool
) -> tuple[tuple[str, ...], list[str]]:
    """Where ``lab up`` also writes the inventory, and the default files it leaves alone.

    ``--inventory PATH`` is written as asked. Without it, only the two built-in labs (``netdiag``
    and ``ndovs``, the ovs-geneve one) write ``inventory/lab.yaml`` / ``inventory/lab-ndovs.yaml``,
    and only when absent or already the same text: the committed files describe those labs, and
    a lab on another management network or with simulated clock offsets must not rewrite them.
    A lab of another name keeps its inventory in its state directory only, so a checkout does
    not fill with files of labs that come and go.
    """
    from netdiag import lab
    from netdiag.lab.inventory import inventory_text

    if args.inventory:
        return (args.inventory,), []
    builtin = lab.topology.OVS_DEFAULT_NAME if ovs else lab.DEFAULT_NAME
    if args.name != builtin or not os.path.isdir("inventory"):
        return (), []
    path = os.path.join("inventory", "lab.yaml" if not ovs else f"lab-{args.name}.yaml")
    try:
        with open(path, encoding="utf-8") as fh:
            current: str | None = fh.read()
    except FileNotFoundError:
        current = None
    except OSError:
        return (), [path]
    if current is None or current == inventory_text(spec):
        return (path,), []
    return (), [path]
