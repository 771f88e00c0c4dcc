"""Scripted nodes for orchestrator tests: MockTransports that answer like real ones would.

Each node answers preflight (id, tcpdump --version, ip -j link, df, clock loop) on its own or
inside the capture supervisor that hosts it, the sweep script, runs captures as the supervisor
would (``dir ...``, "listening on" after ``listen_delay``, counts + exit line on SIGINT) and
plays ping. ``log`` records (time, node, event; a "session" per channel) so tests can check
ordering; ``link_down`` makes every new channel fail, as a dead link.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.capture.protocol import (
    CLOCK_LOOP,
    SUPERVISOR,
    SupervisorArgs,
    df_line,
    dir_line,
    exit_line,
    removed_line,
)
from netdiag.capture.recover import FIND
from netdiag.capture.sweep import SWEEP
from netdiag.errors import ConnectError, TransportError
from netdiag.inventory import Inventory, NodeSpec, parse_inventory
from netdiag.plan import Plan, parse_plan
from netdiag.transport import CommandResult
from netdiag.transport.batch import batch_output, parse_batch_script
from netdiag.transport.mock import MockCall, MockScript, MockTransport, _MockChannel
from netdiag.transport.process import Channel

LINKS = [
    {"ifindex": 1, "ifname": "lo"},
    {"ifindex": 2, "ifname": "eth0"},
    {"ifindex": 3, "ifname": "eth1"},
]


def tiny_pcap(ts_s: int = 1_700_000_000, count: int = 2) -> bytes:
    """A classic pcap (usec) with ``count`` 60-byte Ethernet frames one second apart."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i in range(count):
        out += struct.pack("<IIII", ts_s + i, 250_000, 60, 60) + bytes(60)
    return out


@dataclass
class NodeBehaviour:
    """How one fake node misbehaves (defaults: a healthy node)."""

    connect_error: TransportError | None = None
    tcpdump_missing: bool = False
    listen_delay: float = 0.0
    capture_stderr: Sequence[str] = ()  # a failing tcpdump: its stderr, then exit 1
    links: list[dict[str, object]] = field(default_factory=lambda: list(LINKS))
    default_dev: str = "eth1"  # discovery's uplink: the device of the default route
    captured: int = 2  # tcpdump's count; the file always holds 2 frames
    free_kb: int = 9_999_999  # what df says when tcpdump ends
    file_missing: bool = False  # the file is gone when netdiag fetches it


class FakeNode(MockTransport):
    """One scripted node; ``link_down`` makes new channels fail like a dead connection."""

    def __init__(
        self,
        node: NodeSpec,
        behaviour: NodeBehaviour,
        log: list[tuple[float, str, str]],
        disk: dict[str, bytes] | None = None,
    ):
        super().__init__(self._answer, node, connect_error=behaviour.connect_error, files=disk)
        self.behaviour = behaviour
        self.log = log
        self.link_down = False
        self.stalled = False  # new channels never open (a link that died without a reset)
        self.closed = False
        self._preflight_err: list[str] = []
        self.supervisors: list[_MockChannel] = []  # what netdiag wrote to each: chan.stdin

    def _event(self, what: str) -> None:
        self.log.append((time.monotonic(), self.name, what))

    async def _spawn(self, argv: Sequence[str]) -> Channel:
        if self.link_down:
            raise TransportError(f"{self.name}: connection lost")
        if self.stalled:
            await asyncio.Event().wait()
        chan = await super()._spawn(argv)  # no await inside: _answer just ran for this channel
        self._event("session")  # each costs a real node a login shell: tests count them
        if SUPERVISOR in argv and isinstance(chan, _MockChannel):
            self.supervisors.append(chan)
        if self._preflight_err and isinstance(chan, _MockChannel):
            # A supervisor hosting preflight prints the checks' stderr before anything else.
            for line in self._preflight_err:
                chan.err.put_nowait(f"{line}\n".encode())
        self._preflight_err = []
        return chan

    async def run_batch(
        self, commands: Sequence[Sequence[str]], *, timeout: float = 60.0
    ) -> list[CommandResult]:
        # The batch's wire format is the transport's business: answer command by command.
        return [await self.run(c, check=False, timeout=timeout) for c in commands]

    async def close(self) -> None:
        self.closed = True
        await super().close()

    def _answer(self, call: MockCall) -> CommandResult | MockScript:
        a = call.argv
        b = self.behaviour
        if a == ("id", "-u"):
            return _ok("0\n")
        if a[1:] == ("--version",):
            if b.tcpdump_missing:
                return CommandResult(self.name, a, 127, "", "sh: tcpdump: not found\n", 0)
            return _ok("tcpdump version 4.99.3\nlibpcap version 1.10.3\n")
        if a in (("ip", "-j", "link"), ("ip", "-j", "-d", "addr")):
            return _ok(json.dumps(b.links))
        if a == ("ip", "-j", "route"):  # discovery (capture points by role)
            return _ok(
                json.dumps([{"dst": "default", "gateway": "10.9.0.1", "dev": b.default_dev}])
            )
        if a == ("ip", "-j", "netns", "list-id"):
            return _ok("[]")
        if a[0] == "df":
            return _ok(
                "Filesystem 1024-blocks Used Available Capacity Mounted\nx 1 1 9999999 1% /\n"
            )
        if a == ("sh", "-c", CLOCK_LOOP):  # the clock dialog: a stamp per line
            return MockScript(respond=lambda _: str(time.time_ns()), until_eof=True)
        if a == ("sudo", "-n", "true"):
            return _ok("")
        if a == ("uname", "-r"):
            return _ok("6.1.0-test\n")
        if a[:3] == ("sh", "-c", FIND):  # capture --recover looks for what the node kept
            self._event("find")
            kept = [f"file {len(data)} {path}" for path, data in self.files.items()]
            return _ok("".join(f"{line}\n" for line in kept))
        if a[:3] == ("sh", "-c", SWEEP):
            self._event(f"sweep {a[5] or 'dead'}")
            return _ok("")
        if (sup := SupervisorArgs.of(a)) is not None:
            return self._capture(sup)
        if a[0] == "ping":
            self._event("probe ping")
            return _ok("3 packets transmitted, 3 received\n")
        raise AssertionError(f"unexpected command {a}")

    def _preflight(self, script: str, rounds: int) -> list[str]:
        """stdout of the supervisor's preflight part (its stderr goes to _preflight_err)."""
        batch = parse_batch_script(script)
        assert batch is not None, "the supervisor's preflight is a batch script"
        token, commands = batch
        results = []
        for argv in commands:
            self.calls.append(MockCall(tuple(argv)))
            answer = self._answer(MockCall(tuple(argv)))
            assert isinstance(answer, CommandResult)
            results.append((answer.exit_status, answer.stdout, answer.stderr))
        out, err = batch_output(token, results)
        self._preflight_err = err.split("\n")[:-1]
        self._event("preflight")
        return out.split("\n")[:-1] + [str(time.time_ns()) for _ in range(rounds)]

    def _capture(self, sup: SupervisorArgs) -> MockScript:
        b = self.behaviour
        pre = self._preflight(sup.preflight, sup.clock_rounds) if sup.preflight else []
        iface = sup.capture[sup.capture.index("-i") + 1]
        if pre and (b.tcpdump_missing or iface not in [str(x["ifname"]) for x in b.links]):
            return MockScript(stdout=pre)  # released: EOF instead of "arm", nothing made
        rdir = f"/tmp/netdiag-cap-{sup.run_id}.abc{len(self.files)}"
        self._event(f"start {iface}")
        if b.capture_stderr:
            # like the real supervisor: tcpdump is gone, it waits for the client to let go
            return MockScript(
                stdout=[*pre, dir_line(rdir)],
                stderr=[*b.capture_stderr, exit_line(1)],
                exit_status=0,
                until_eof=True,
                after_eof=[removed_line(rdir)],
            )
        if not b.file_missing:
            self.files[f"{rdir}/{sup.file_name}"] = tiny_pcap()
        loop = asyncio.get_running_loop()
        loop.call_later(b.listen_delay, self._event, f"listening {iface}")
        return MockScript(
            stdout=[*pre, dir_line(rdir)],
            stderr=[f"tcpdump: listening on {iface}, link-type EN10MB (Ethernet)"],
            delay=b.listen_delay,
            until_signal=True,
            after_signal=[
                f"{b.captured} packets captured",
                f"{b.captured} packets received by filter",
                "0 packets dropped by kernel",
                df_line(f"tmpfs  9999999 1 {b.free_kb}  1% /tmp"),
                exit_line(0),
            ],
            until_eof=True,
            after_eof=[removed_line(rdir)],
        )


def _ok(stdout: str) -> CommandResult:
    return CommandResult("fake", (), 0, stdout, "", 0.0)


INVENTORY = """\
version: 1
defaults: {user: root, identity_file: /secret/keys/id_do_not_leak, known_hosts: /kh}
nodes:
- {name: client, host: 10.0.0.10, devices: {uplink: eth0}}
- {name: node1, host: 10.0.0.11, devices: {uplink: eth1}}
- {name: node2, host: 10.0.0.12, devices: {uplink: eth1},
   labels: {simulated_clock_offset_ns: '2500000000'}}
"""

PLAN = """\
version: 1
name: t
capture: {nodes: ["*"], interfaces: [uplink], duration: 30}
probes:
  - ping: {from: client, target: 172.19.0.11, count: 3, interval: 0.2}
linger: 0
"""


def inventory(tmp: Path) -> Inventory:
    return parse_inventory(INVENTORY, tmp / "inv.yaml")


def plan(tmp: Path, text: str = PLAN) -> Plan:
    return parse_plan(text, tmp / "plan.yaml")


class Cluster:
    """Builds a FakeNode per inventory node with the given behaviours; the orchestrator factory."""

    def __init__(self, **behaviours: NodeBehaviour) -> None:
        self.behaviours = behaviours
        self.log: list[tuple[float, str, str]] = []
        self.nodes: dict[str, FakeNode] = {}
        self.disks: dict[str, dict[str, bytes]] = {}  # a node's files outlive one connection

    def factory(self, node: NodeSpec, kind: str) -> FakeNode:
        assert kind == "asyncssh"
        behaviour = self.behaviours.get(node.name, NodeBehaviour())
        fake = FakeNode(node, behaviour, self.log, self.disks.setdefault(node.name, {}))
        self.nodes[node.name] = fake
        return fake

    def events(self, prefix: str) -> list[tuple[float, str, str]]:
        return [e for e in self.log if e[2].startswith(prefix)]


def unreachable() -> NodeBehaviour:
    return NodeBehaviour(connect_error=ConnectError("node: cannot reach 10.0.0.12:22 (refused)"))
