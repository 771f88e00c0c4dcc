"""`netdiag trace` up to its plan: what it shows, what --dry-run and --json print, its errors.

The nodes answer as the kernel lab's did (tests/unit/trace/fixtures/kernel.json); the capture
itself is the orchestrator's, tested with the rest of `netdiag capture` and on the lab.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from netdiag.cli import Env, ExitCode, main
from netdiag.plan import parse_plan
from tests.unit.trace.replay import INVENTORIES, factory

INVENTORY = str(INVENTORIES["kernel"])


@pytest.fixture(autouse=True)
def recorded_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "netdiag.trace.live.open_transport", factory("kernel", down=("kube-ovn-worker",))
    )


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["trace", "--inventory", INVENTORY, *argv], Env(out, err))
    return code, out.getvalue(), err.getvalue()


def test_dry_run_shows_the_plan_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("client", "172.19.0.6:30080", "--dry-run", "--out", "run1")
    assert code == ExitCode.OK
    plan = parse_plan(out, Path("shown.yaml"))  # what is shown is the plan file itself
    assert [p.kind for p in plan.probes] == ["tcp"]
    assert "{node: kube-ovn-worker, devices: [uplink, join, tunnel]}" in out
    lines = err.splitlines()
    assert lines[0].startswith("netdiag: asking the 3 nodes of ")
    assert lines[1] == (
        "netdiag: warning: kube-ovn-worker: connection refused; planning without its answers "
        "(where the path crosses it, its devices come from the inventory)"
    )
    assert lines[-1].startswith("netdiag: --dry-run: nothing captured, nothing written")
    assert list(tmp_path.iterdir()) == []


def test_dry_run_json_is_one_document_with_the_plan_and_why(tmp_path: Path) -> None:
    code, out, _ = run_cli("pod:default/fip-busybox01", "10.96.0.10:80", "--dry-run", "--json")
    assert code == ExitCode.OK
    doc = json.loads(out)
    assert doc["schema"] == "netdiag.trace/1"
    assert (doc["proto"], doc["target"], doc["port"], doc["dry_run"]) == (
        "tcp", "10.96.0.10", 80, True,
    )  # fmt: skip
    (stop,) = doc["plan"]["stops"]
    assert stop["node"] == "kube-ovn-control-plane"
    assert stop["roles"] == {"uplink": "eth1", "join": "ovn0"}
    assert stop["pods"] == [{"name": "default/fip-busybox01", "device": "dd2b931fc304_h"}]
    assert any(r.startswith("DNATs 10.96.0.10:80 to 192.168.0.6:80") for r in stop["reasons"])
    assert doc["from"]["node"] == "kube-ovn-control-plane"
    assert (doc["verdict"], doc["run"], doc["plan"]["path"]) == (None, None, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["10.1.2.3", "client"], "FROM '10.1.2.3': 10.1.2.3 is not somewhere a probe can run"),
        (["client", "nowhere"], "TO 'nowhere' is neither pod:NAMESPACE/NAME, an IP address"),
        (["client", "172.19.0.11", "--port", "0"], "--port 0: give a port from 1 to 65535"),
        (["client", "172.19.0.11", "--count", "0"], "--count 0: must be 1 or more"),
    ],
)
def test_mistakes_are_one_line_and_exit_1(argv: list[str], message: str) -> None:
    code, out, err = run_cli(*argv, "--dry-run")
    assert code == ExitCode.INPUT
    assert out == ""
    last = err.splitlines()[-1]
    assert last.startswith("netdiag: error: ")
    assert message in last


def test_a_run_directory_in_use_is_refused_before_any_node_is_asked(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("x")
    code, _, err = run_cli("client", "172.19.0.11", "--out", str(tmp_path))
    assert code == ExitCode.INPUT
    assert err == (
        f"netdiag: error: {tmp_path}: exists and is not empty; choose a new --out directory\n"
    )


def test_a_port_with_ping_is_refused_before_any_node_is_asked() -> None:
    code, out, err = run_cli("client", "172.19.0.11:80", "--proto", "icmp", "--dry-run")
    assert code == ExitCode.INPUT
    assert err == (
        "netdiag: error: a port (80) with --proto icmp: ping has no ports; use --proto tcp or "
        "udp, or leave the port out\n"
    )
    assert out == ""
