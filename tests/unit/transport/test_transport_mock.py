"""The transport contract's pure parts, exercised through MockTransport (no network)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from netdiag.errors import AuthError, CommandError, CommandTimeout, InputError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.transport import CommandResult, open_transport, wrap_argv
from netdiag.transport.mock import MockCall, MockScript, MockTransport
from netdiag.transport.target import jump_node

NODE = NodeSpec(name="node1", host="10.0.0.1", sudo=True)


def result(stdout: str = "", stderr: str = "", status: int = 0) -> CommandResult:
    return CommandResult("node1", (), status, stdout, stderr, 0.0)


def test_wrap_argv_puts_sudo_before_namespace() -> None:
    assert wrap_argv(["ping", "x"], netns="pod1", sudo=True) == [
        "sudo", "-n", "ip", "netns", "exec", "pod1", "ping", "x",
    ]  # fmt: skip
    assert wrap_argv(["ip", "-j", "link"], netns="/proc/42/ns/net", sudo=False) == [
        "nsenter", "--net=/proc/42/ns/net", "ip", "-j", "link",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="empty"):
        wrap_argv([], netns=None, sudo=False)


async def test_run_returns_output_and_records_the_unwrapped_call() -> None:
    def handler(call: MockCall) -> CommandResult:
        assert call.argv == ("ip", "-j", "link")
        return result(stdout='[{"ifname": "eth0"}]\n', stderr="warn\n")

    async with MockTransport(handler, NODE) as t:
        res = await t.run(["ip", "-j", "link"], netns="pod1")
    assert res.ok
    assert res.stdout == '[{"ifname": "eth0"}]\n'
    assert res.stderr == "warn\n"
    assert res.host == "node1"
    assert res.argv == ("ip", "-j", "link")
    assert t.calls == [MockCall(("ip", "-j", "link"), netns="pod1", sudo=True)]


async def test_check_raises_command_error_naming_node_command_and_stderr() -> None:
    def handler(call: MockCall) -> CommandResult:
        return result(stderr="tcpdump: eth9: No such device exists\n", status=1)

    async with MockTransport(handler, NODE) as t:
        with pytest.raises(CommandError) as info:
            await t.run(["tcpdump", "-i", "eth9"])
        unchecked = await t.run(["tcpdump", "-i", "eth9"], check=False)
    assert info.value.exit_status == 1
    assert "node1" in str(info.value)
    assert "eth9: No such device" in str(info.value)
    assert unchecked.exit_status == 1


async def test_timeout_kills_by_pid_and_raises_command_timeout() -> None:
    async with MockTransport(lambda c: MockScript(until_signal=True), NODE) as t:
        with pytest.raises(CommandTimeout, match=r"did not finish within 0\.05 s"):
            await t.run(["sleep", "100"], timeout=0.05)
    kills = [c for c in t.calls if c.argv[:2] == ("sh", "-c") and "kill" in c.argv[2]]
    assert len(kills) == 1
    assert kills[0].argv[3] == "KILL"
    assert kills[0].sudo  # the node needs sudo, so the kill does too
    assert isinstance(CommandTimeout("x"), TimeoutError)


async def test_start_streams_lines_then_sigint_by_pid_flushes_counts() -> None:
    script = MockScript(
        stderr=["tcpdump: verbose output suppressed", "listening on eth1, link-type EN10MB"],
        delay=0.01,
        until_signal=True,
        after_signal=["3 packets captured", "0 packets dropped by kernel"],
    )
    seen: list[tuple[str, str]] = []
    async with MockTransport(lambda c: script, NODE) as t:
        proc = await t.start(["tcpdump", "-i", "eth1"], on_line=lambda s, x: seen.append((s, x)))
        assert proc.pid is not None
        line = await proc.expect("^listening on", timeout=2)
        assert line.startswith("listening on eth1")
        assert proc.running
        assert await proc.signal("INT")
        assert await proc.wait(timeout=2) == 0
        assert not await proc.signal("INT")  # already gone: nothing sent
    assert proc.lines()[-2:] == ["3 packets captured", "0 packets dropped by kernel"]
    assert ("stderr", "3 packets captured") in seen
    assert proc.stdout_text() == ""  # the PID line is not output


async def test_expect_fails_clearly_when_the_process_ends_first() -> None:
    script = MockScript(stderr=["tcpdump: eth9: No such device exists"], exit_status=1)
    async with MockTransport(lambda c: script, NODE) as t:
        proc = await t.start(["tcpdump", "-i", "eth9"])
        with pytest.raises(CommandError, match="eth9: No such device exists"):
            await proc.expect("listening on", timeout=2)
        assert await proc.wait() == 1


async def test_expect_times_out_with_the_last_output() -> None:
    script = MockScript(stderr=["still thinking"], until_signal=True)
    async with MockTransport(lambda c: script, NODE) as t:
        proc = await t.start(["tcpdump"])
        with pytest.raises(CommandTimeout, match="still thinking"):
            await proc.expect("listening on", timeout=0.05)
        await proc.kill()


async def test_kill_makes_wait_return_minus_nine() -> None:
    async with MockTransport(
        lambda c: MockScript(until_signal=True, after_signal=["x"]), NODE
    ) as t:
        proc = await t.start(["tcpdump"])
        assert await proc.signal("KILL")
        assert await proc.wait(timeout=2) == -9
    assert proc.lines() == []


async def test_connect_error_propagates_and_get_put_use_the_fake_disk(tmp_path: Path) -> None:
    t = MockTransport(lambda c: result(), NODE, connect_error=AuthError("node1: refused"))
    with pytest.raises(AuthError):
        await t.connect()
    local = tmp_path / "f.pcap"
    local.write_bytes(b"\x00\xff")
    async with MockTransport(lambda c: result(), NODE) as t2:
        await t2.put(local, "/tmp/x.pcap")
        await t2.get("/tmp/x.pcap", tmp_path / "back.pcap")
        with pytest.raises(CommandError, match="no such file"):
            await t2.get("/nope", local)
    assert (tmp_path / "back.pcap").read_bytes() == b"\x00\xff"


def test_open_transport_rejects_unknown_backend_with_the_choices() -> None:
    with pytest.raises(InputError, match="choose one of: asyncssh, paramiko, local"):
        open_transport(NODE, "telnet")


def test_jump_string_inherits_the_nodes_keys() -> None:
    node = NodeSpec(name="n", host="10.0.0.2", user="root", jump="ops@bastion:2222")
    jump = jump_node(node)
    assert jump is not None
    assert (jump.host, jump.user, jump.port, jump.jump) == ("bastion", "ops", 2222, None)
    assert jump_node(NodeSpec(name="n", host="h")) is None
    plain = jump_node(NodeSpec(name="n", host="h", user="u", jump="gw"))
    assert plain is not None
    assert (plain.host, plain.user, plain.port) == ("gw", "u", None)


async def test_wait_after_a_kill_on_timeout_reports_the_abandoned_process() -> None:
    async with MockTransport(lambda c: MockScript(until_signal=True), NODE) as t:
        proc = await t.start(["tcpdump"])
        with pytest.raises(CommandTimeout):
            await proc.wait(timeout=0.05, kill_on_timeout=True)
        # Not a CancelledError leaking out of the stopped output pumps:
        with pytest.raises(TransportError, match="abandoned"):
            await proc.wait(timeout=1)


async def test_a_wait_that_times_out_leaves_the_output_flowing() -> None:
    script = MockScript(stderr=["listening on eth1"], until_signal=True, after_signal=["9 done"])
    async with MockTransport(lambda c: script, NODE) as t:
        proc = await t.start(["tcpdump"])
        with pytest.raises(CommandTimeout):
            await proc.wait(timeout=0.05)  # the caller's patience ran out, not the process
        assert await proc.signal("INT")
        assert await proc.wait(timeout=2) == 0
    assert proc.lines() == ["listening on eth1", "9 done"]


async def test_a_cancelled_run_kills_the_remote_command_and_stops_reading() -> None:
    async with MockTransport(lambda c: MockScript(until_signal=True), NODE) as t:
        before = asyncio.all_tasks()
        task = asyncio.create_task(t.run(["sleep", "100"], timeout=None))
        while not t.calls:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # let the cancelled pumps finish
        left = {x for x in asyncio.all_tasks() - before if not x.done()}
        assert left == set()
    kills = [c.argv[3] for c in t.calls if c.argv[:2] == ("sh", "-c") and "kill" in c.argv[2]]
    assert kills == ["KILL"]


async def test_run_batch_through_the_mock_answers_command_by_command() -> None:
    hostile = ["printf", "%s", "a'b\"c $(x) ; rm -rf /\nnext line"]

    def handler(call: MockCall) -> CommandResult:
        if call.argv == ("id", "-u"):
            return result("0\n")
        if call.argv == tuple(hostile):
            return result(hostile[2])
        return result(stderr="sh: 1: nope: not found\n", status=127)

    async with MockTransport(handler, NODE) as t:
        res = await t.run_batch([["id", "-u"], hostile, ["nope"]])
    assert [c.argv for c in t.calls] == [("id", "-u"), tuple(hostile), ("nope",)]
    assert [(r.exit_status, r.stdout, r.stderr) for r in res] == [
        (0, "0\n", ""),
        (0, hostile[2], ""),
        (127, "", "sh: 1: nope: not found\n"),
    ]


def test_batch_script_round_trips_and_rejects_other_scripts() -> None:
    from netdiag.transport.batch import batch_script, parse_batch_script

    commands = [["ip", "-j", "link"], ["df", "-P", "-k", "/tmp/dir with space; x"]]
    assert parse_batch_script(batch_script(commands, "00ff")) == ("00ff", commands)
    assert parse_batch_script("while read -r _; do date +%s%N; done") is None
    with pytest.raises(ValueError, match="empty"):
        batch_script([[]], "00")


def test_backends_are_imported_only_when_chosen() -> None:
    # The paramiko backend checks host keys with asyncssh's known_hosts matcher (paramiko's
    # HostKeys skips pattern and @revoked lines), so it brings asyncssh along, not the reverse.
    code = (
        "import sys, netdiag.transport, netdiag.plan, netdiag.capture.preflight\n"
        "from netdiag.inventory import NodeSpec\n"
        "def loaded(): return {m for m in ('asyncssh', 'paramiko') if m in sys.modules}\n"
        "assert not loaded(), loaded()\n"
        "netdiag.transport.open_transport(NodeSpec(name='n', host='h'), 'local')\n"
        "assert not loaded(), loaded()\n"
        "netdiag.transport.open_transport(NodeSpec(name='n', host='h'), 'asyncssh')\n"
        "assert loaded() == {'asyncssh'}, loaded()\n"
        "netdiag.transport.open_transport(NodeSpec(name='n', host='h'), 'paramiko')\n"
        "assert loaded() == {'asyncssh', 'paramiko'}, loaded()\n"
    )
    root = str(Path(__file__).resolve().parents[3])
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
