"""Record the lab runs of tests/fixtures/lab-runs/ again (root; builds and removes its own lab).

    .venv/bin/python -m tests.support.record_lab_runs [--name ls] [--mgmt-net CIDR] [NAME...]

For each scenario (all by default): a lab with the clock offsets it needs, its iptables rules
inserted, ``netdiag capture --no-analysis`` of its plan, the rules removed; then the bundle's
manifest.json, pcaps/ and probes/ replace the fixture directory. The analysis is left out on
purpose: it is what the engine under test must produce.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from netdiag.cli import main as netdiag
from netdiag.cli._env import Env, ExitCode
from netdiag.lab import LabState, default_spec, down, up
from tests.support.lab_runs import FIXTURES, SCENARIOS, Scenario


def capture(lab: LabState, scenario: Scenario, out: Path, *extra: str) -> tuple[int, str, str]:
    """`netdiag capture` of the scenario's plan on ``lab`` with its rules held; (code, out, err)."""
    env = Env(io.StringIO(), io.StringIO())
    argv = ["capture", "--inventory", lab.inventory_path, "--plan", str(scenario.plan_path)]
    with rules_held(lab, scenario):
        code = netdiag([*argv, "--out", str(out), *extra], env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


@contextlib.contextmanager
def rules_held(lab: LabState, scenario: Scenario) -> Iterator[None]:
    """Insert the scenario's iptables rules on their nodes; remove them afterwards, always."""
    done: list[tuple[str, tuple[str, ...]]] = []
    try:
        for node, rule in scenario.rules:
            _iptables(lab, node, "-I", rule)
            done.append((node, rule))
        yield
    finally:
        for node, rule in reversed(done):
            _iptables(lab, node, "-D", rule)


def _iptables(lab: LabState, node: str, action: str, rule: tuple[str, ...]) -> None:
    argv = ["ip", "netns", "exec", lab.node(node).netns, "iptables", action, *rule]
    subprocess.run(argv, check=True, capture_output=True, timeout=20)


def record(lab: LabState, scenario: Scenario) -> Path:
    """Capture ``scenario`` on ``lab`` into its fixture directory (replacing it)."""
    with tempfile.TemporaryDirectory(prefix="netdiag-record-") as tmp:
        out = Path(tmp) / "run"
        code, _, err = capture(lab, scenario, out, "--no-analysis")
        if code != ExitCode.OK:
            raise SystemExit(f"{scenario.name}: netdiag capture exited {code}:\n{err}")
        target = FIXTURES / scenario.name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy2(out / "manifest.json", target / "manifest.json")
        for sub in ("pcaps", "probes"):
            shutil.copytree(out / sub, target / sub)
    return target


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="ls", help="lab name to build and remove (default ls)")
    parser.add_argument("--mgmt-net", default="10.242.0.0/24", help="its management network")
    parser.add_argument("names", nargs="*", help=f"of {', '.join(SCENARIOS)} (default: all)")
    opts = parser.parse_args(args)
    if unknown := [n for n in opts.names if n not in SCENARIOS]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}")
    chosen = [SCENARIOS[n] for n in opts.names or SCENARIOS]
    by_clock: dict[tuple[tuple[str, int], ...], list[Scenario]] = {}
    for scenario in chosen:
        by_clock.setdefault(scenario.clock_offsets, []).append(scenario)
    for offsets, scenarios in by_clock.items():
        down(opts.name)
        spec = default_spec(opts.name, opts.mgmt_net).with_clock_offsets(dict(offsets))
        lab = up(spec=spec)
        try:
            for scenario in scenarios:
                print(f"recorded {scenario.name}: {record(lab, scenario)}", file=sys.stderr)
        finally:
            down(opts.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
