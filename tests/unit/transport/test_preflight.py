"""Preflight over scripted nodes: every failure gets a status and a what-to-do message."""

from __future__ import annotations

import io
import json
import time
from argparse import Namespace
from pathlib import Path

import pytest

from netdiag.capture import preflight
from netdiag.capture.preflight import (
    check_inventory,
    parse_df_free,
    parse_ip_link,
    parse_tcpdump_version,
    sample_clock,
)
from netdiag.cli import inventory as inventory_cli
from netdiag.cli._env import Env, ExitCode
from netdiag.errors import AuthError, ConnectError, TransportError
from netdiag.inventory import Inventory, NodeSpec, parse_inventory
from netdiag.transport import CommandResult, Transport
from netdiag.transport.mock import MockCall, MockScript, MockTransport

LINKS = '[{"ifindex":1,"ifname":"lo"},{"ifindex":2,"ifname":"eth1"}]'
DF = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 50 4194304 50% /\n"
OFFSET_NS = 3_000_000  # the scripted node's clock runs 3 ms ahead
ORIGINAL_CHECK = preflight.check_inventory


def ok(stdout: str = "", stderr: str = "", status: int = 0) -> CommandResult:
    return CommandResult("n", (), status, stdout, stderr, 0.0)


def healthy(call: MockCall, *, uid: str = "0", tcpdump: bool = True) -> CommandResult | MockScript:
    argv = call.argv
    if argv[:2] == ("sh", "-c") and "date" in argv[2]:  # the clock loop: a stamp per line
        return MockScript(respond=lambda _: str(time.time_ns() + OFFSET_NS), until_eof=True)
    if argv == ("id", "-u"):
        return ok(f"{uid}\n")
    if argv[-1] == "--version":
        if not tcpdump:
            return ok(stderr="sh: 1: exec: tcpdump: not found\n", status=127)
        return ok(stderr="tcpdump version 4.99.3\nlibpcap version 1.10.3\n")
    if argv == ("ip", "-j", "link"):
        return ok(LINKS)
    if argv[0] == "df":
        return ok(DF)
    if argv == ("uname", "-r"):
        return ok("6.1.0-test\n")
    if argv == ("sudo", "-n", "true"):
        return ok()
    raise AssertionError(argv)


def inventory(extra: str = "") -> Inventory:
    text = "version: 1\nnodes:\n  - {name: a, host: h1}\n  - {name: b, host: h2}\n" + extra
    return parse_inventory(text, Path("/inv/lab.yaml"))


def test_parsers() -> None:
    assert parse_tcpdump_version("tcpdump version 4.99.3\nlibpcap version 1.10") == "4.99.3"
    assert parse_tcpdump_version("tcpdump: command not found") is None
    assert parse_ip_link(LINKS) == ("lo", "eth1")
    assert parse_df_free(DF) == 4194304 * 1024


async def test_clock_keeps_the_min_rtt_sample_and_bounds_the_error() -> None:
    async with MockTransport(healthy) as t:
        sample = await sample_clock(t, rounds=5)
    assert sample.samples == 5
    assert sample.error_ns is not None
    assert sample.rtt_ns is not None
    assert abs(sample.offset_ns - OFFSET_NS) <= sample.error_ns + 1_000_000
    assert sample.error_ns == sample.rtt_ns // 2


async def test_healthy_unreachable_and_broken_nodes_are_all_reported() -> None:
    def factory(node: NodeSpec, kind: str) -> Transport:
        assert kind == "mock-kind"
        if node.name == "a":
            return MockTransport(healthy, node)
        if node.name == "b":
            return MockTransport(healthy, node, connect_error=ConnectError("b: cannot reach h2"))
        if node.name == "c":
            return MockTransport(healthy, node, connect_error=AuthError("c: refused our key"))
        return MockTransport(lambda call: healthy(call, uid="1000", tcpdump=False), node)

    inv = inventory("  - {name: c, host: h3}\n  - {name: d, host: h4, sudo: true}\n")
    checks = await check_inventory(inv, kind="mock-kind", concurrency=2, factory=factory)
    by = {c.node: c for c in checks}
    assert [c.node for c in checks] == ["a", "b", "c", "d"]
    a = by["a"]
    assert (a.status, a.privileges, a.tcpdump, a.interfaces) == (
        "ok",
        "root",
        "4.99.3",
        ("lo", "eth1"),
    )
    assert a.free_bytes == 4194304 * 1024
    assert a.clock is not None
    assert a.kernel == "6.1.0-test"
    assert a.links[1] == {"ifindex": 2, "ifname": "eth1"}
    assert (by["b"].status, by["b"].reachable) == ("unreachable", False)
    assert (by["c"].status, by["c"].reachable, by["c"].auth) == ("auth-failed", True, False)
    d = by["d"]
    assert (d.status, d.privileges, d.tcpdump) == ("no-tcpdump", "sudo", None)
    assert "tcpdump not found at 'tcpdump'" in d.message
    assert json.loads(json.dumps(d.to_json()))["problems"] == list(d.problems)


class _Counting(MockTransport):
    closes = 0

    async def close(self) -> None:
        self.closes += 1
        await super().close()


@pytest.mark.parametrize("error", [ConnectError("b: cannot reach"), AuthError("b: refused")])
async def test_a_failed_connect_is_closed(error: TransportError) -> None:
    # a backend may hold half a connection (a jump host's session) when the node refuses
    node = NodeSpec(name="b", host="h2")
    t = _Counting(healthy, node, connect_error=error)
    check = await preflight.check_node(t)
    assert check.status in ("unreachable", "auth-failed")
    assert t.closes == 1


async def test_non_root_without_sudo_and_low_disk() -> None:
    def handler(call: MockCall) -> CommandResult | MockScript:
        if call.argv[0] == "df":
            return ok("h\n/dev/x 1 1 1024 99% /\n")
        return healthy(call, uid="1000")

    (a, _) = await check_inventory(inventory(), factory=lambda n, k: MockTransport(handler, n))
    assert a.status == "no-permission"
    assert a.privileges == "none"
    assert "set sudo: true" in a.message
    assert "only 1 MiB free in /tmp" in a.message


def run_cli(args: Namespace, monkeypatch: pytest.MonkeyPatch, factory: object) -> tuple[int, str]:
    async def patched(inv: Inventory, **kw: object) -> object:
        return await ORIGINAL_CHECK(inv, **{**kw, "factory": factory})  # type: ignore[arg-type]

    monkeypatch.setattr(preflight, "check_inventory", patched)
    out = io.StringIO()
    code = inventory_cli.run(args, Env(out, io.StringIO()))
    return code, out.getvalue()


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_check_exit_codes_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text("version: 1\nnodes:\n  - {name: a, host: h1}\n  - {name: b, host: h2}\n")
    args = Namespace(
        inventory_action="check", file=str(f), json=as_json, transport="asyncssh",
        concurrency=4, clock_rounds=3,
    )  # fmt: skip

    def some_down(node: NodeSpec, kind: str) -> Transport:
        err = ConnectError("b: cannot reach h2; check the node") if node.name == "b" else None
        return MockTransport(healthy, node, connect_error=err)

    code, out = run_cli(args, monkeypatch, some_down)
    assert code == ExitCode.PARTIAL
    if as_json:
        doc = json.loads(out)
        assert [n["status"] for n in doc["nodes"]] == ["ok", "unreachable"]
    else:
        assert "1/2 ready" in out
        assert "b: cannot reach h2; check the node" in out
        assert "b: b:" not in out
    code, _ = run_cli(args, monkeypatch, lambda n, k: MockTransport(healthy, n))
    assert code == ExitCode.OK
    all_down = lambda n, k: MockTransport(healthy, n, connect_error=ConnectError("x"))  # noqa: E731
    code, _ = run_cli(args, monkeypatch, all_down)
    assert code == ExitCode.FAILURE


def test_cli_show_lists_nodes_without_secrets(tmp_path: Path) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text(
        "version: 1\ndefaults: {identity_file: secret/key}\n"
        "nodes:\n  - {name: a, host: h1, user: ops, port: 2222, devices: {uplink: eth1}}\n"
    )
    out = io.StringIO()
    args = Namespace(inventory_action="show", file=str(f), json=True)
    assert inventory_cli.run(args, Env(out, io.StringIO())) == ExitCode.OK
    doc = json.loads(out.getvalue())
    assert doc["nodes"][0]["devices"] == {"uplink": "eth1"}
    assert "secret" not in out.getvalue()
    out = io.StringIO()
    args = Namespace(inventory_action="show", file=str(f), json=False)
    inventory_cli.run(args, Env(out, io.StringIO()))
    assert "ops@h1:2222" in out.getvalue()
