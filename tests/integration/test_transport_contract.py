"""One contract, every real backend: asyncssh, paramiko and local, against a real OpenSSH sshd.

The SSH-only cases (host keys, auth, closed port) run for the SSH backends; everything a caller
relies on (exit status, quoting, timeouts, cancellation, streaming, signalling by PID,
binary-exact files) runs for all three.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sshd_fixture import SshdServer, refused_port, running_sshd, ssh_node, sshd_available

from netdiag.capture.preflight import check_inventory, sample_clock
from netdiag.errors import (
    AuthError,
    CommandError,
    CommandTimeout,
    ConnectError,
    HostKeyError,
    TransportError,
)
from netdiag.inventory import NodeSpec, parse_inventory
from netdiag.transport import Transport, open_transport
from netdiag.transport.base import cleanups_pending

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available())),
]
BACKENDS = ["asyncssh", "paramiko", "local"]
SSH_BACKENDS = ["asyncssh", "paramiko"]
HOSTILE = [
    "; rm -rf /tmp/netdiag-should-not-exist",
    'it\'s "quoted" `x`',
    "line1\nline2",
    "$(touch /tmp/netdiag-pwned) ${HOME} *",
    "-n",
    "",
]
# Prints a numbered line every 20 ms until SIGINT, then reports like tcpdump does on exit.
TICKER = (
    "import sys, time\n"
    "try:\n"
    "    i = 0\n"
    "    while True:\n"
    "        print(f'tick {i}', file=sys.stderr, flush=True); i += 1; time.sleep(0.02)\n"
    "except KeyboardInterrupt:\n"
    "    print(f'{i} ticks, stopped by SIGINT', file=sys.stderr)\n"
)


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshdServer]:
    with running_sshd() as server:
        yield server


@pytest.fixture(scope="module")
def closed() -> Iterator[int]:
    with refused_port() as port:
        yield port


@pytest.fixture(params=BACKENDS)
async def transport(request: pytest.FixtureRequest, sshd: SshdServer) -> AsyncIterator[Transport]:
    async with open_transport(ssh_node(sshd), request.param) as t:
        yield t


async def test_run_reports_status_stdout_and_stderr(transport: Transport) -> None:
    res = await transport.run(
        ["sh", "-c", "echo out; echo err >&2; exit 7"], check=False, timeout=10
    )
    assert (res.exit_status, res.stdout, res.stderr) == (7, "out\n", "err\n")
    assert res.duration > 0
    with pytest.raises(CommandError, match="status 7: err") as info:
        await transport.run(["sh", "-c", "echo err >&2; exit 7"], timeout=10)
    assert info.value.exit_status == 7


async def test_run_feeds_stdin(transport: Transport) -> None:
    res = await transport.run(["cat"], input=b"\x00binary\xffdata\n", timeout=10)
    assert res.stdout == "\x00binary\ufffddata\n"  # text out; undecodable bytes replaced


@pytest.mark.parametrize("arg", HOSTILE)
async def test_hostile_arguments_arrive_verbatim(transport: Transport, arg: str) -> None:
    res = await transport.run(["printf", "[%s]", arg], timeout=10)
    assert res.stdout == f"[{arg}]"
    assert not Path("/tmp/netdiag-pwned").exists()


async def test_timeout_raises_and_kills_the_remote_process(transport: Transport) -> None:
    # A duration nobody else uses makes the child findable without touching others' processes.
    nap = f"{30 + os.getpid() % 997 / 1000 + BACKENDS.index(transport.kind) / 1e5:.5f}"
    script = f"sleep {nap}; : after"
    with pytest.raises(CommandTimeout):
        await transport.run(["sh", "-c", script], timeout=0.5)
    await asyncio.sleep(0.3)
    left = await transport.run(["pgrep", "-f", script], check=False, timeout=10)
    assert left.stdout == "", "the timed-out process must not survive"
    child = await transport.run(["pgrep", "-x", "-f", f"sleep {nap}"], check=False, timeout=10)
    assert child.stdout == "", "nor its child"


@pytest.mark.parametrize("when", ["running", "starting"])
async def test_a_cancelled_caller_leaves_no_process_and_no_pump(
    transport: Transport, when: str
) -> None:
    nap = f"{40 + os.getpid() % 997 / 1000 + BACKENDS.index(transport.kind) / 1e5:.5f}{len(when)}"
    script = f"sleep {nap}; : after"
    run = asyncio.create_task(transport.run(["sh", "-c", script], timeout=60))
    if when == "running":  # the command runs: its PID is known
        deadline = time.monotonic() + 10
        while not _running(script) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert _running(script)
    else:  # cancelled while the session is still being opened
        await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    def pumps() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if "RemoteProcess" in repr(t.get_coro())]

    # the command running is seen here before paramiko's thread hands its channel over: a
    # cancel in that gap is a cancelled start, stopped in the background (as "starting")
    if when == "running" and not cleanups_pending():
        assert pumps() == []
    deadline = time.monotonic() + 20  # a session still opening is stopped once it has opened
    while (cleanups_pending() or _running(script) or pumps()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pumps() == []
    assert not _running(script), "the cancelled command must not survive"
    assert not _running(f"sleep {nap}"), "nor its child"


def _running(command: str) -> bool:
    found = subprocess.run(["pgrep", "-f", command], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


async def test_start_streams_lines_and_sigint_by_pid_stops_it(transport: Transport) -> None:
    lines: list[str] = []
    proc = await transport.start(
        ["python3", "-u", "-c", TICKER], on_line=lambda s, x: lines.append(x)
    )
    assert proc.pid is not None
    assert proc.pid > 1
    await proc.expect(r"^tick 5$", timeout=10)
    assert lines[:3] == ["tick 0", "tick 1", "tick 2"]  # streamed while it runs
    ps = await transport.run(["ps", "-o", "args=", "-p", str(proc.pid)], timeout=10)
    assert "python3" in ps.stdout  # the PID is the program's, not a wrapper's
    assert await proc.signal("INT")
    assert await proc.wait(timeout=10) == 0
    assert proc.lines()[-1].endswith("stopped by SIGINT")
    gone = await transport.run(["kill", "-0", str(proc.pid)], check=False, timeout=10)
    assert gone.exit_status != 0


async def test_get_put_round_trip_is_binary_exact(transport: Transport, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 4096 + b"\r\n\x00tail"
    src = tmp_path / "src.pcap"
    src.write_bytes(blob)
    remote = (await transport.run(["mktemp", "-d"], timeout=10)).stdout.strip()
    try:
        await transport.put(src, f"{remote}/x.pcap")
        await transport.get(f"{remote}/x.pcap", tmp_path / "back.pcap")
        assert (tmp_path / "back.pcap").read_bytes() == blob
        with pytest.raises(CommandError):
            await transport.get(f"{remote}/missing.pcap", tmp_path / "m.pcap")
    finally:
        await transport.run(["rm", "-rf", remote], timeout=10)


async def test_listdir_and_read_need_no_shell_and_match_the_files(
    transport: Transport, tmp_path: Path
) -> None:
    blob = bytes(range(256)) * 4096
    remote = (await transport.run(["mktemp", "-d"], timeout=10)).stdout.strip()
    try:
        await transport.run(["mkdir", f"{remote}/sub"], timeout=10)
        src = tmp_path / "ring.pcap0"
        src.write_bytes(blob)
        await transport.put(src, f"{remote}/ring.pcap0")
        await transport.run(["touch", "-d", "@1800000000", f"{remote}/ring.pcap0"], timeout=10)
        entries = {e.name: e for e in await transport.listdir(remote) or []}
        assert set(entries) == {"ring.pcap0", "sub"}
        assert entries["sub"].is_dir
        assert not entries["ring.pcap0"].is_dir
        assert (entries["ring.pcap0"].size, entries["ring.pcap0"].mtime_s) == (
            len(blob), 1800000000,
        )  # fmt: skip
        assert await transport.read(f"{remote}/ring.pcap0") == blob
        assert await transport.read(f"{remote}/ring.pcap0", 40) == blob[:40]
        # several requests' worth (the server reads at most 255 KiB per request): in place
        assert await transport.read(f"{remote}/ring.pcap0", 600_001) == blob[:600_001]
        assert await transport.read(f"{remote}/ring.pcap0", len(blob) + 70_000) == blob
        await transport.run(["truncate", "-s", "0", f"{remote}/ring.pcap0"], timeout=10)
        assert await transport.read(f"{remote}/ring.pcap0") == b""
        assert await transport.read(f"{remote}/ring.pcap0", 40) == b""
        # /proc files say size 0 and are read all the same
        assert (await transport.read("/proc/self/status", 4096)).startswith(b"Name:")
        with pytest.raises(CommandError):
            await transport.read(f"{remote}/missing")
        with pytest.raises(CommandError):
            await transport.listdir(f"{remote}/missing")
    finally:
        await transport.run(["rm", "-rf", remote], timeout=10)


async def test_netns_runs_inside_the_namespace(transport: Transport) -> None:
    ns = f"netdiag-ct-{os.getpid()}-{transport.kind}"
    await transport.run(["ip", "netns", "add", ns], timeout=10)
    try:
        res = await transport.run(["ip", "-o", "link"], netns=ns, timeout=10)
        assert [line.split(":")[1].strip() for line in res.stdout.splitlines()] == ["lo"]
    finally:
        await transport.run(["ip", "netns", "del", ns], timeout=10)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_unknown_host_key_is_rejected_by_default(sshd: SshdServer, kind: str) -> None:
    with pytest.raises(HostKeyError, match="ssh-keyscan"):
        async with open_transport(ssh_node(sshd, known_hosts=sshd.empty_known_hosts), kind):
            pass


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_accept_new_trusts_once_and_records(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    node = ssh_node(sshd, known_hosts=kh, host_key_policy="accept-new")
    async with open_transport(node, kind) as t:
        assert (await t.run(["true"], timeout=10)).ok
    assert kh.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    kh.write_text(f"[127.0.0.1]:{sshd.port} {(sshd.dir / 'client_key.pub').read_text()}")
    with pytest.raises(HostKeyError):  # a changed key is never accepted
        async with open_transport(node, kind):
            pass


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_wrong_key_is_an_auth_error(sshd: SshdServer, kind: str) -> None:
    with pytest.raises(AuthError, match="identity_file"):
        async with open_transport(ssh_node(sshd, identity_file=sshd.other_key), kind):
            pass


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_closed_port_is_a_connect_error(sshd: SshdServer, kind: str, closed: int) -> None:
    with pytest.raises(ConnectError, match="loopback: cannot reach"):
        async with open_transport(ssh_node(sshd, port=closed), kind):
            pass


async def test_clock_dialog_agrees_with_the_local_clock(transport: Transport) -> None:
    sample = await sample_clock(transport, rounds=5)
    # Same machine, same clock: the estimate must be 0 within its own error bound (+ scheduling).
    assert abs(sample.offset_ns) <= sample.error_ns + 2_000_000
    assert sample.rtt_ns < 500_000_000


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_preflight_reports_each_node(
    sshd: SshdServer, kind: str, tmp_path: Path, closed: int
) -> None:
    text = (
        f"version: 1\ndefaults: {{user: root, identity_file: {sshd.client_key}, "
        f"known_hosts: {sshd.known_hosts}, ssh_config: none, connect_timeout: 5}}\nnodes:\n"
        f"  - {{name: good, host: 127.0.0.1, port: {sshd.port}}}\n"
        f"  - {{name: down, host: 127.0.0.1, port: {closed}}}\n"
        f"  - {{name: broken, host: 127.0.0.1, port: {sshd.port}, tcpdump: /nonexistent/tcpdump}}\n"
    )
    inv = parse_inventory(text, tmp_path / "inv.yaml")
    good, down, broken = await check_inventory(inv, kind=kind, clock_rounds=3)
    assert good.status == "ok", good.message
    assert good.privileges == "root"
    assert good.tcpdump is not None
    assert "lo" in good.interfaces
    assert good.free_bytes is not None
    assert good.free_bytes > 0
    assert down.status == "unreachable"
    assert broken.status == "no-tcpdump"
    assert "tcpdump not found at '/nonexistent/tcpdump'" in broken.message


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize("form", ["node", "string"])
async def test_jump_host_tunnels_to_the_node(
    sshd: SshdServer, kind: str, form: str, closed: int
) -> None:
    bastion = ssh_node(sshd, name="bastion")
    jump = bastion if form == "node" else f"root@127.0.0.1:{sshd.port}"
    node = ssh_node(sshd, jump=jump)
    async with open_transport(node, kind) as t:
        res = await t.run(["printf", "via jump"], timeout=10)
    assert res.stdout == "via jump"
    # The same node behind a dead bastion fails, naming the bastion: so the tunnel is really used
    # (a backend that ignored `jump` would connect directly and succeed).
    dead = ssh_node(sshd, name="bastion", port=closed)
    with pytest.raises(ConnectError, match="bastion: cannot reach"):
        async with open_transport(ssh_node(sshd, jump=dead), kind):
            pass


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize("fault", ["auth", "hostkey"])
async def test_a_node_refused_behind_a_jump_closes_the_jump_too(
    sshd: SshdServer, kind: str, fault: str
) -> None:
    bastion = ssh_node(sshd, name="bastion")
    bad = (
        {"identity_file": sshd.other_key}
        if fault == "auth"
        else {"known_hosts": sshd.empty_known_hosts}
    )
    node = ssh_node(sshd, jump=bastion, **bad)
    with pytest.raises((AuthError, HostKeyError)):
        async with open_transport(node, kind):
            pass
    # Every session the server saw (the bastion's and the node's through it) is gone.
    deadline = time.monotonic() + 10
    while _sessions(sshd) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _sessions(sshd) == []


def _sessions(sshd: SshdServer) -> list[str]:
    """Connections our test sshd is serving (its children)."""
    argv = ["pgrep", "-P", str(sshd.pid)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return out.stdout.split()


async def test_run_batch_keeps_each_commands_output_and_status(transport: Transport) -> None:
    hostile = "; echo injected $(id -u) 'q'\n"
    results = await transport.run_batch(
        [
            ["printf", "%s", hostile],
            ["sh", "-c", "echo out; printf err >&2; exit 3"],
            ["/nonexistent/tcpdump", "--version"],
            ["printf", "no newline"],
            ["cat"],  # stdin is /dev/null: must not hang
        ],
        timeout=20,
    )
    assert [(r.exit_status, r.stdout, r.stderr) for r in results[:2]] == [
        (0, hostile, ""),
        (3, "out\n", "err"),
    ]
    assert results[2].exit_status == 127
    assert "not found" in results[2].stderr
    assert results[3].stdout == "no newline"
    assert (results[4].exit_status, results[4].stdout) == (0, "")


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_ssh_config_alias_is_honoured(sshd: SshdServer, kind: str, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host labnode\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {sshd.client_key}\n"
    )
    # Only the alias in the inventory: address, port, user and key come from the ssh config.
    node = NodeSpec(
        name="aliased", host="labnode", known_hosts=sshd.known_hosts, ssh_config=str(config)
    )
    async with open_transport(node, kind) as t:
        assert (await t.run(["id", "-un"], timeout=10)).stdout == "root\n"


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_connection_lost_mid_command_is_a_transport_error(
    sshd: SshdServer, kind: str
) -> None:
    async with open_transport(ssh_node(sshd), kind) as t:
        proc = await t.start(["sleep", "3"])  # ends on its own: nothing left behind
        # Kill the server side of our connection (children of *our* sshd listener only).
        sessions = subprocess.run(
            ["pgrep", "-P", str(sshd.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert sessions
        for pid in sessions:
            os.kill(int(pid), signal.SIGKILL)
        with pytest.raises(TransportError):
            await proc.wait(timeout=10)
        with pytest.raises(TransportError):
            await t.run(["true"], timeout=10)


async def test_asyncssh_negotiates_the_cipher_it_offers_first(sshd: SshdServer) -> None:
    """OpenSSH takes the client's first cipher it has: AES-GCM where this CPU has AES."""
    from netdiag.transport.asyncssh_backend import AsyncsshTransport, encryption_algs

    async with open_transport(ssh_node(sshd), "asyncssh") as t:
        assert isinstance(t, AsyncsshTransport)
        conn = t._connection()
        got = (conn.get_extra_info("send_cipher"), conn.get_extra_info("recv_cipher"))
        assert got == (encryption_algs()[0],) * 2
