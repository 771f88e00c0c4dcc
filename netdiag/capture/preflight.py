"""Before capturing: can we reach each node, and does it have what a capture needs?

Per node: reachable, authenticated, tcpdump present (and its version), privileges (root, or
``sudo -n`` works), interfaces (``ip -j link``), free space in capture_dir (``df -P``) and a
clock offset estimate. A failing node gets a status and a message saying what to do; the other
nodes are still checked (bounded concurrency, one connection per node).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from netdiag.capture.protocol import CLOCK_LOOP, CLOCK_REQUEST
from netdiag.clock import Clock
from netdiag.errors import AuthError, CommandError, HostKeyError, TransportError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.transport import RemoteProcess, Transport, open_transport

__all__ = [
    "READY",
    "NodeCheck",
    "assess",
    "best_sample",
    "check_inventory",
    "check_node",
    "clock_dialog",
    "connect_node",
    "inspect_node",
    "parse_df_free",
    "parse_ip_link",
    "parse_tcpdump_version",
    "preflight_commands",
    "sample_clock",
]

# Same words as the run bundle's per-node status (manifest.json), so the orchestrator copies them.
Status = Literal[
    "ok",  # ready
    "warning",  # ready, but see problems (low disk, clock not sampled)
    "unreachable",
    "auth-failed",
    "hostkey-rejected",
    "no-tcpdump",
    "no-permission",
    "failed",  # anything else (no ip/df, capture_dir unusable, connection lost)
]
READY: tuple[Status, ...] = ("ok", "warning")
LOW_SPACE = 200 * 1024 * 1024  # below this a default capture (100 MB cap per point) may not fit
CMD_TIMEOUT = 20.0


@dataclass(frozen=True)
class NodeCheck:
    node: str
    host: str
    status: Status
    message: str = ""  # empty when ok; else what is wrong and what to do
    reachable: bool = False
    auth: bool = False
    tcpdump: str | None = None  # version, None when missing
    privileges: Literal["root", "sudo", "none"] | None = None
    interfaces: tuple[str, ...] = ()
    # `ip -j link` as is: `-i any` pcaps (LINUX_SLL2) carry only the capturing namespace's
    # ifindex, so the analysis maps ifindex -> name from this record
    links: tuple[dict[str, Any], ...] = ()
    kernel: str | None = None
    free_bytes: int | None = None
    clock: Clock | None = None
    problems: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["interfaces"] = list(self.interfaces)
        out["links"] = list(self.links)
        out["problems"] = list(self.problems)
        if self.clock is not None:  # the keys `inventory check --json` has always written
            c = self.clock
            out["clock"] = {"offset_ns": c.offset_ns, "rtt_ns": c.rtt_ns, "rounds": c.samples,
                            "error_ns": c.error_ns}  # fmt: skip
        return out


def parse_tcpdump_version(text: str) -> str | None:
    """``tcpdump version 4.99.3`` -> ``4.99.3`` (first line of ``tcpdump --version``)."""
    for line in text.splitlines():
        if line.startswith("tcpdump version "):
            return line.split()[2]
    return None


def parse_ip_link(text: str) -> tuple[str, ...]:
    """Interface names from ``ip -j link`` (a JSON list of objects with ``ifname``)."""
    data = json.loads(text)
    return tuple(str(item["ifname"]) for item in data if "ifname" in item)


def parse_df_free(text: str) -> int:
    """Available bytes from ``df -P -k DIR`` (POSIX format: the 4th column, in KiB)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return int(lines[-1].split()[3]) * 1024


async def sample_clock(transport: Transport, rounds: int = 5) -> Clock:
    """Several round trips to one ``date +%s%N`` loop; keep the one with the smallest RTT.

    One remote process answers every sample: a new command per sample would put the channel
    open and shell start (tens of ms, mostly *before* ``date`` runs) inside each round trip,
    making it long and lopsided; here a round trip is one line each way. ValueError when the
    node gave no usable sample.
    """
    proc = await transport.start(["sh", "-c", CLOCK_LOOP], sudo=False, keep_stdin=True)
    try:
        sample, why = await clock_dialog(proc, rounds, timeout=CMD_TIMEOUT)
    finally:
        await proc.close_stdin()
        try:
            await proc.wait(timeout=CMD_TIMEOUT, kill_on_timeout=True)
        except TransportError:
            proc.close()
    if sample is None:
        raise ValueError(why or "no clock samples")
    return sample


async def clock_dialog(
    proc: RemoteProcess, rounds: int, *, timeout: float
) -> tuple[Clock | None, str]:
    """``rounds`` clock samples from a process that answers each line with ``date +%s%N``
    (:data:`~netdiag.capture.protocol.CLOCK_LOOP`, or a supervisor hosting preflight).

    Returns the lowest-RTT sample, or None and why. A node that prints no number (a ``date``
    without ``%N``) gives no sample; the capture goes on with causality alone.
    """
    samples: list[tuple[int, int, int]] = []
    why = ""
    for _ in range(rounds):
        sent = time.time_ns()
        await proc.write(CLOCK_REQUEST)
        line = await proc.next_line(timeout=timeout)
        received = time.time_ns()
        try:
            reading = int(line.strip())
        except ValueError:
            why = f"`date +%s%N` answered {line.strip()[:40]!r}"
            continue
        samples.append((sent, proc.transport.node_time_ns(reading), received))
    return (best_sample(samples) if samples else None), why


async def connect_node(transport: Transport) -> NodeCheck | None:
    """Connect; None when that worked, else the failed check (unreachable, auth, host key).

    A failed connect is closed here: a backend may hold half of it (a jump host's session).
    """
    node = transport.node
    try:
        await transport.connect()
    except HostKeyError as exc:
        failed = NodeCheck(node.name, node.host, "hostkey-rejected", str(exc), reachable=True)
    except AuthError as exc:
        failed = NodeCheck(node.name, node.host, "auth-failed", str(exc), reachable=True)
    except TransportError as exc:
        failed = NodeCheck(node.name, node.host, "unreachable", str(exc))
    else:
        return None
    with contextlib.suppress(TransportError, OSError):
        await transport.close()
    return failed


async def check_node(transport: Transport, *, clock_rounds: int = 5) -> NodeCheck:
    """Connect and check one node; never raises for a node-side problem."""
    failed = await connect_node(transport)
    if failed is not None:
        return failed
    try:
        return await inspect_node(transport, clock_rounds=clock_rounds)
    finally:
        await transport.close()


async def inspect_node(transport: Transport, *, clock_rounds: int = 5) -> NodeCheck:
    """The checks on an already connected transport, which stays open (the orchestrator goes
    on to capture over it). A connection lost meanwhile gives status "failed"."""
    try:
        return await _inspect(transport, transport.node, clock_rounds)
    except TransportError as exc:
        node = transport.node
        return NodeCheck(node.name, node.host, "failed", str(exc), reachable=True, auth=True)


def preflight_commands(node: NodeSpec) -> list[list[str]]:
    """The checks, in the order :func:`assess` reads their results."""
    commands: list[list[str]] = [
        ["id", "-u"],
        [node.tcpdump, "--version"],
        ["ip", "-j", "link"],
        ["df", "-P", "-k", node.capture_dir],
        ["uname", "-r"],
    ]
    if node.sudo:
        commands.append(["sudo", "-n", "true"])
    return commands


def best_sample(rounds: Sequence[tuple[int, int, int]]) -> Clock:
    """(sent, remote, received) round trips -> the one with the smallest RTT (Cristian)."""
    return Clock.from_round_trips(rounds)


async def _inspect(transport: Transport, node: NodeSpec, clock_rounds: int) -> NodeCheck:
    # One session for all checks: each session costs the node a login shell (batch.py).
    commands = preflight_commands(node)
    results = [(r.exit_status, r.stdout, r.stderr) for r in await transport.run_batch(commands)]
    clock: Clock | None = None
    clock_error = ""
    try:
        clock = await sample_clock(transport, clock_rounds)
    except (CommandError, ValueError) as exc:
        clock_error = str(exc)
    return assess(node, results, clock, clock_error)


def assess(
    node: NodeSpec,
    results: Sequence[tuple[int, str, str]],
    clock: Clock | None,
    clock_error: str = "",
) -> NodeCheck:
    """The verdict from the results of :func:`preflight_commands` (exit, stdout, stderr each)."""
    uid, version, links, df, uname = results[:5]
    sudo_ok = results[5] if node.sudo else (1, "", "")
    failed: list[str] = []
    warned: list[str] = []
    status_of_failure: Status = "failed"
    status, out, err = uid
    privileges: Literal["root", "sudo", "none"] = "none"
    if status == 0 and out.strip() == "0":
        privileges = "root"
    elif node.sudo and sudo_ok[0] == 0:
        privileges = "sudo"
    elif node.sudo:
        status_of_failure = "no-permission"
        failed.append(
            "`sudo -n` needs a password: allow passwordless sudo for this user or log in as root"
        )
    else:
        status_of_failure = "no-permission"
        failed.append(
            "not root: set sudo: true in the inventory (passwordless sudo) or log in as root"
        )
    status, out, err = version
    tcpdump = parse_tcpdump_version(out + "\n" + err) if status == 0 else None
    if tcpdump is None:
        status_of_failure = "no-tcpdump"
        failed.append(
            f"tcpdump not found at {node.tcpdump!r}: "
            "install it or set tcpdump: PATH in the inventory"
        )
    status, out, err = links
    try:
        links_json = json.loads(out) if status == 0 else []
        interfaces = parse_ip_link(out) if status == 0 else ()
    except (ValueError, KeyError, TypeError):
        links_json, interfaces = [], ()
    if not interfaces:
        failed.append(
            f"`ip -j link` failed ({err.strip() or 'no output'}): install iproute2 >= 4.14"
        )
    status, out, err = df
    free: int | None = None
    try:
        free = parse_df_free(out) if status == 0 else None
    except (ValueError, IndexError):
        free = None
    if free is None:
        failed.append(
            f"capture_dir {node.capture_dir} is not usable ({err.strip() or 'df failed'}): "
            "create it or set capture_dir in the inventory"
        )
    elif free < LOW_SPACE:
        warned.append(f"only {free // 2**20} MiB free in {node.capture_dir}: lower max_file_mb")
    if clock is None:
        warned.append(
            f"clock not sampled ({clock_error or 'no answer'}): "
            "cross-node timing will rely on causality only"
        )
    problems = tuple(failed + warned)
    final: Status = status_of_failure if failed else "warning" if warned else "ok"
    return NodeCheck(
        node=node.name,
        host=node.host,
        status=final,
        message="; ".join(problems),
        reachable=True,
        auth=True,
        tcpdump=tcpdump,
        privileges=privileges,
        interfaces=interfaces,
        links=tuple(links_json),
        kernel=uname[1].strip() if uname[0] == 0 else None,
        free_bytes=free,
        clock=clock,
        problems=problems,
    )


async def check_inventory(
    inventory: Inventory,
    *,
    kind: str = "asyncssh",
    concurrency: int = 16,
    clock_rounds: int = 5,
    factory: Callable[[NodeSpec, str], Transport] = open_transport,
) -> list[NodeCheck]:
    """Check every node, at most ``concurrency`` at a time; results in inventory order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(node: NodeSpec) -> NodeCheck:
        async with gate:
            return await check_node(factory(node, kind), clock_rounds=clock_rounds)

    return list(await asyncio.gather(*(one(n) for n in inventory.nodes)))
