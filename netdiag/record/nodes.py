"""Talking to one node about its recorders: start, list, stop (over any Transport).

Each operation is one or two SSH sessions (a session costs the node a login shell, batch.py):
``start`` lists what exists and the free space in one batch, then launches every recorder of
the node in a second; ``list`` and ``stop`` are one script each. Node failures come back as
values (:class:`NodeOutcome`), never as exceptions: one bad node must not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from netdiag.capture.preflight import connect_node, parse_df_free, sample_clock
from netdiag.clock import Clock
from netdiag.errors import CommandError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.record.listing import Listing, parse_listing
from netdiag.record.ring import check_space
from netdiag.record.scripts import launch_argv, list_argv, meta_text, stop_argv
from netdiag.transport import Transport
from netdiag.transport.aio import bounded

__all__ = [
    "Launch",
    "NodeOutcome",
    "StartItem",
    "clock_items",
    "connected",
    "for_each_node",
    "list_node",
    "start_clock",
    "start_node",
    "stop_node",
]

STEP = 30.0  # one script on a healthy node takes well under a second
COUNTS_EVERY_S = 10  # tcpdump's counts sampled on the node (a snapshot's drops in its window)
T = TypeVar("T")
Factory = Callable[[NodeSpec, str], Transport]


@dataclass
class NodeOutcome:
    """A node's part of a record command: ``status`` ok, or what failed and what to do."""

    node: str
    status: str = "ok"
    detail: str = ""


@dataclass(frozen=True)
class StartItem:
    """One recorder to launch: its directory, meta lines, the command, and its disk bound."""

    label: str
    kind: str  # "cap" | "probe"
    directory: str
    meta: str
    command: tuple[str, ...]
    bound_bytes: int
    ready: str = "listening on"


@dataclass
class Launch:
    """What happened to one :class:`StartItem`."""

    item: StartItem
    status: str = "pending"  # started | exists | failed | not-started
    detail: str = ""
    pid: int | None = None


@contextlib.asynccontextmanager
async def connected(
    node: NodeSpec, kind: str, factory: Factory, outcome: NodeOutcome
) -> AsyncIterator[Transport | None]:
    """A connected transport, or None (and ``outcome`` says why); always closed after."""
    transport = factory(node, kind)
    try:
        failed = await bounded(connect_node(transport), node.connect_timeout * 4 + 30)
    except TimeoutError:
        outcome.status, outcome.detail = "unreachable", f"{node.name}: no answer; check the node"
        yield None
        return
    if failed is not None:
        outcome.status, outcome.detail = failed.status, failed.message
        yield None
        return
    try:
        yield transport
    finally:
        with contextlib.suppress(TransportError, TimeoutError, OSError):
            await bounded(transport.close(), 10)


async def for_each_node(
    nodes: Sequence[NodeSpec], work: Callable[[NodeSpec], Awaitable[T]], concurrency: int = 32
) -> list[T]:
    """``work`` on every node at once (handshakes bounded by ``concurrency``), in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: NodeSpec) -> T:
        async with gate:
            return await work(n)

    return list(await asyncio.gather(*(one(n) for n in nodes)))


def _failed(outcome: NodeOutcome, exc: BaseException, what: str) -> None:
    why = str(exc) or f"no answer within {STEP:g} s"
    outcome.status, outcome.detail = "failed", f"{outcome.node}: {what} failed: {why}"


async def list_node(
    transport: Transport, name: str, outcome: NodeOutcome, *, counts: bool = False
) -> Listing | None:
    """The node's recorders named ``name`` ("" = all); orphans are swept on the way."""
    node = transport.node
    try:
        res = await bounded(
            transport.run(list_argv(node.capture_dir, name, counts=counts), check=False), STEP
        )
    except (TransportError, TimeoutError) as exc:
        _failed(outcome, exc, "listing recorders")
        return None
    if "@now " not in res.stdout:
        detail = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.exit_status}"]
        outcome.status = "failed"
        outcome.detail = f"{node.name}: listing recorders failed: {detail[0]}"
        return None
    return parse_listing(node.name, res.stdout)


async def stop_node(transport: Transport, name: str, outcome: NodeOutcome) -> list[str]:
    """Stop every recorder ``name`` ("" = all) on the node; the directories it removed."""
    node = transport.node
    try:
        res = await bounded(
            transport.run(stop_argv(node.capture_dir, name), check=False, timeout=STEP), STEP + 5
        )
    except (TransportError, TimeoutError) as exc:
        _failed(outcome, exc, "stopping recorders")
        return []
    return [ln.split(" ", 1)[1] for ln in res.stdout.splitlines() if ln.startswith("@stopping ")]


async def start_node(
    transport: Transport, name: str, items: Sequence[StartItem], outcome: NodeOutcome
) -> list[Launch]:
    """Check space and existing recorders, then launch ``items`` (one batch)."""
    node = transport.node
    launches = [Launch(item) for item in items]
    # the node's clock, sampled alongside the checks and kept in each recorder's meta: a later
    # snapshot from this machine starts fetching on it while it measures the clock again
    clocking = asyncio.ensure_future(bounded(sample_clock(transport), STEP))
    try:
        pre = await bounded(
            transport.run_batch(
                [
                    list_argv(node.capture_dir, name, counts=False),
                    ["df", "-P", "-k", node.capture_dir],
                ]
            ),
            STEP,
        )
    except (TransportError, TimeoutError) as exc:
        clocking.cancel()
        _failed(outcome, exc, "checking the node")
        _not_started(launches, outcome.detail)
        return launches
    try:
        clock_meta = clock_items(await clocking)
    except (TransportError, CommandError, TimeoutError, ValueError):
        clock_meta = ""  # a snapshot then waits for its own measurement
    listing = parse_listing(node.name, pre[0].stdout)
    if listing.recorders:
        outcome.status = "exists"
        outcome.detail = (
            f"{node.name}: recorder {name!r} is already running there "
            f"({len(listing.recorders)} point(s)); `netdiag record stop --name {name}` first, "
            "or choose another --name"
        )
        _not_started(launches, outcome.detail)
        return launches
    try:
        free = parse_df_free(pre[1].stdout) if pre[1].exit_status == 0 else None
    except (ValueError, IndexError):
        free = None
    if free is None:
        outcome.status = "failed"
        outcome.detail = (
            f"{node.name}: capture_dir {node.capture_dir} is not usable "
            f"({pre[1].stderr.strip() or 'df failed'}); create it or set capture_dir"
        )
        _not_started(launches, outcome.detail)
        return launches
    why = check_space(
        node=node.name, where=node.capture_dir, needed=sum(i.bound_bytes for i in items), free=free
    )
    if why is not None:
        outcome.status, outcome.detail = "no-space", why
        _not_started(launches, why)
        return launches
    commands = [
        launch_argv(
            directory=i.directory, meta=i.meta + clock_meta, ready=i.ready, wait_s=15,
            lease_s=_lease(i), command=i.command,
            counts_every_s=COUNTS_EVERY_S if i.kind == "cap" else 0,
        )
        for i in items
    ]  # fmt: skip
    try:
        results = await bounded(transport.run_batch(commands, timeout=STEP + 20), STEP + 25)
    except (TransportError, TimeoutError) as exc:
        # the supervisors that did start keep their leases: they end on their own
        _failed(outcome, exc, "starting recorders")
        _not_started(launches, outcome.detail, status="unknown")
        return launches
    for launch, res in zip(launches, results, strict=True):
        _read_launch(launch, res.stdout, res.stderr, node.name)
    bad = [la for la in launches if la.status != "started"]
    if bad:
        outcome.status = "partial" if len(bad) < len(launches) else "failed"
        outcome.detail = "; ".join(la.detail for la in bad)
    return launches


def clock_items(clock: Clock) -> str:
    """Meta lines for a clock measured now from this machine (:func:`start_clock` reads them)."""
    return "\n" + meta_text({
        "clock_offset_ns": clock.offset_ns,
        "clock_error_ns": clock.error_ns if clock.error_ns is not None else "",
        "clock_at_ns": time.time_ns(),
        "clock_host": socket.gethostname(),
    })  # fmt: skip


def start_clock(meta: Mapping[str, str], *, now_ns: int) -> tuple[Clock, int] | None:
    """The clock ``record start`` measured from this machine, and how far it may have moved
    since (ns): its error, 50 ms, and 200 ppm of the time since (an unsynchronised quartz
    clock drifts up to about 100 ppm). None when it was measured from another machine, or
    not at all (then only a new measurement will do)."""
    try:
        offset = int(meta["clock_offset_ns"])
        at = int(meta["clock_at_ns"])
        error = int(meta.get("clock_error_ns") or 0)
    except (KeyError, ValueError):
        return None
    if meta.get("clock_host") != socket.gethostname():
        return None
    return Clock(offset, error), error + 50_000_000 + max(0, now_ns - at) // 5_000


def _lease(item: StartItem) -> float:
    for line in item.meta.splitlines():
        if line.startswith("lease_s="):
            return float(line[len("lease_s=") :])
    return 1.0


def _not_started(launches: Sequence[Launch], why: str, status: str = "not-started") -> None:
    for la in launches:
        la.status, la.detail = status, why


_FIXES = (
    ("No such device", "check the interface name (ip link) or the plan"),
    ("doesn't exist", "check the interface name (ip link) or the plan"),
    ("permission", "log in as root or set sudo: true"),
    ("Operation not permitted", "log in as root or set sudo: true"),
    ("setsid: not found", "install util-linux (setsid) on the node"),
    ("not found", "install tcpdump or set tcpdump: PATH in the inventory"),
    ("syntax error", "fix capture.filter in the plan (BPF syntax, man pcap-filter)"),
)


def _read_launch(launch: Launch, stdout: str, stderr: str, node: str) -> None:
    """The supervisor's one line: ``ok PID`` / ``exists DIR`` / ``failed WHY``."""
    line = next((ln for ln in stdout.splitlines() if ln.strip()), "")
    word, _, rest = line.partition(" ")
    where = f"{node}/{launch.item.label}"
    if word == "ok" and rest.strip().isdigit():
        launch.status, launch.pid = "started", int(rest)
        return
    if word == "exists":
        launch.status = "exists"
        launch.detail = f"{where}: a recorder of that name already records here ({rest})"
        return
    why = rest.strip() if word == "failed" else (stderr.strip() or line or "no answer")
    why = " ".join(why.split())[:300]
    fix = next((f for needle, f in _FIXES if needle.lower() in why.lower()), "")
    launch.status = "failed"
    launch.detail = f"{where}: {why}" + (f"; {fix}" if fix else "")


def ok_launches(launches: Sequence[Launch]) -> list[Launch]:
    return [la for la in launches if la.status == "started"]


@dataclass
class NodeStop:
    node: str
    outcome: NodeOutcome
    stopped: list[str] = field(default_factory=list)
