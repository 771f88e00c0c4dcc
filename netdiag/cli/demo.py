"""``netdiag demo``: the whole product in one command, live on the lab or on a recorded run.

As root (and with the lab's tools) it brings the network-namespace lab up, runs the FIP plan
(the client pings the floating IP) through ``netdiag capture`` and shows the
analysis and the HTML report. The lab is left up so the user can explore it (``netdiag lab
status``, ssh into nodes) and is taken down by ``netdiag lab down`` (or ``--down``).
Without root — or with ``--recorded`` — it analyses the capture set recorded from the lab that
ships inside the package (``netdiag/data/demo``). It always says which of the two it did.
"""

from __future__ import annotations

import argparse
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from netdiag.cli._env import Env, ExitCode

__all__ = ["register"]

LAB_TOOLS = ("ip", "unshare", "ssh-keygen", "tcpdump", "iptables-restore")


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="live FIP capture on the lab (root), or analyse the recorded demo run",
        description="Bring the lab up, capture the FIP scenario on every node, analyse it and "
        "write the HTML report. Without root, analyse the recorded run shipped with netdiag.",
        epilog="examples:\n"
        "  sudo netdiag demo --down        # live on the lab, removed afterwards\n"
        "  netdiag demo --recorded --out /tmp/demo && xdg-open /tmp/demo/report.html\n",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="run directory (default ./netdiag-demo-<id>)"
    )
    parser.add_argument(
        "--recorded", action="store_true", help="analyse the shipped recording even as root"
    )
    parser.add_argument(
        "--down", action="store_true", help="take the lab down afterwards (default: leave it up)"
    )
    parser.add_argument(
        "--transport", default="asyncssh", choices=("asyncssh", "paramiko"),
        help="how to reach the lab's nodes (default asyncssh)",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document (schema netdiag.demo/1) on stdout: live or recorded, "
        "why, and where the run, analysis and report are",
    )  # fmt: skip
    parser.set_defaults(func=run)


def demo_data() -> Path:
    """The shipped recording (manifest.json, pcaps/, the plan it ran)."""
    return Path(str(resources.files("netdiag") / "data" / "demo"))


def live_unavailable() -> str | None:
    """Why the live demo cannot run here, or None."""
    if os.geteuid() != 0:
        return "not running as root (the lab needs network namespaces)"
    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd")
    if missing:
        return f"missing {', '.join(missing)} (make deps installs them)"
    return None


def run(args: argparse.Namespace, env: Env) -> int:
    from netdiag.orchestrator import make_run_id

    out: Path = args.out or Path(f"netdiag-demo-{make_run_id()}")
    why = "--recorded was given" if args.recorded else live_unavailable()
    doc: dict[str, Any] | None = {} if args.json else None
    code = _live(out, args, env, doc) if why is None else _recorded(out, why, env, doc)
    if doc is not None:
        env.print_json(
            {
                "schema": "netdiag.demo/1",
                "mode": "live" if why is None else "recorded",
                "why_recorded": why,
                "exit_code": code,
                **{k: v for k, v in doc.items() if k != "schema"},
                "capture": doc.get("capture"),
            }
        )
    return code


def _say(env: Env, doc: dict[str, Any] | None, text: str) -> None:
    """A human line: stdout normally, stderr when stdout carries the JSON document."""
    print(text, file=env.stdout if doc is None else env.stderr)


def _live(out: Path, args: argparse.Namespace, env: Env, doc: dict[str, Any] | None) -> int:
    from netdiag.cli.capture import execute
    from netdiag.inventory import load_inventory
    from netdiag.lab import down, up
    from netdiag.plan import load_plan

    _say(env, doc, "netdiag demo: LIVE — lab up, FIP plan captured on every node over SSH")
    with env.progress().step("building the lab"):
        state = up()
    code: int = ExitCode.FAILURE
    capture: dict[str, Any] | None = {} if doc is not None else None
    try:
        code = execute(
            load_inventory(state.inventory_path),
            load_plan(demo_data() / "fip-ingress.yaml"),
            out=out,
            transport=args.transport,
            env=env,
            doc=capture,
        )
    finally:
        if doc is not None:
            doc.update(lab=state.name, lab_up=not args.down, capture=capture)
            if capture:
                doc.update(out=capture.get("bundle"), report=capture.get("report"))
                doc.update(analysis=capture.get("analysis"))
        if args.down:
            down(state.name)
            _say(env, doc, f"lab {state.name} taken down")
        else:
            _say(
                env, doc,
                f"the lab {state.name!r} is still up to explore (netdiag lab status); "
                "take it down with: netdiag lab down",
            )  # fmt: skip
    return int(code)


def _recorded(out: Path, why: str, env: Env, doc: dict[str, Any] | None) -> int:
    from netdiag.capture.analysis import analyse_bundle
    from netdiag.cli.capture import print_summary
    from netdiag.errors import InputError

    src = demo_data()
    _say(
        env, doc,
        f"netdiag demo: RECORDED — {why}; analysing the FIP run recorded from the lab "
        f"that ships with netdiag ({src})",
    )  # fmt: skip
    if out.exists():
        raise InputError(f"{out}: already exists; choose a new --out directory")
    shutil.copytree(src, out)
    with env.progress().step(f"analysing {out}"):
        outcome = analyse_bundle(out)
    for problem in outcome.problems:
        env.warn(problem)
    if doc is not None:
        doc.update(
            out=str(out),
            analysis=None if outcome.json_path is None else str(outcome.json_path),
            report=None if outcome.html_path is None else str(outcome.html_path),
        )
    if outcome.analysis is None:
        return ExitCode.FAILURE
    if doc is None:
        print_summary(outcome, env)
        print(f"report: {outcome.html_path or outcome.json_path}", file=env.stdout)
    return ExitCode.OK
