"""One node's connection for a whole run: connect + preflight once, then keep it open.

A node whose preflight runs inside its first capture's session (the orchestrator decides)
only connects here; :meth:`NodeSession.apply` takes that preflight's verdict later.

Preflight (:func:`netdiag.capture.preflight.check_node`) connects, checks and closes; a run
must not pay a second handshake per node (~0.3 s of CPU each here), so it gets a
:class:`_Borrowed` view of our transport whose ``close`` does nothing. Its verdict becomes the
node's manifest status (``unreachable``, ``auth-failed``, ``no-tcpdump``, ...) with what to do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdiag.capture.preflight import NodeCheck, check_node, connect_node, sample_clock
from netdiag.capture.results import NodeResult, NodeStatus
from netdiag.errors import CommandError, TransportError
from netdiag.transport import RemoteEntry, Transport
from netdiag.transport.aio import bounded
from netdiag.transport.process import Channel

__all__ = ["NodeSession", "preflight_status"]


class _Borrowed(Transport):
    """Our transport as preflight sees it: connect is real, close is left to the run."""

    kind = "borrowed"

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.node)
        self.inner = inner

    def node_time_ns(self, reading: int) -> int:
        return self.inner.node_time_ns(reading)

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        return None

    async def _spawn(self, argv: Sequence[str]) -> Channel:
        return await self.inner._spawn(argv)

    async def get(self, remote: str, local: str | Path) -> None:
        await self.inner.get(remote, local)

    async def put(self, local: str | Path, remote: str) -> None:
        await self.inner.put(local, remote)

    async def listdir(self, path: str) -> list[RemoteEntry] | None:
        return await self.inner.listdir(path)

    async def read(self, remote: str, size: int = -1) -> bytes:
        return await self.inner.read(remote, size)


def preflight_status(check: NodeCheck) -> NodeStatus:
    """A preflight verdict -> the manifest's node status ("ok" when a capture may start).

    Preflight already speaks the manifest's words (unreachable, auth-failed, hostkey-rejected,
    no-tcpdump, no-permission, failed); only its "warning" (ready, with a remark) becomes "ok".
    """
    return "ok" if check.status == "warning" else check.status


class NodeSession:
    """The connection to one node plus its result record."""

    def __init__(self, transport: Transport, result: NodeResult) -> None:
        self.transport = transport
        self.result = result
        self.connected = False
        self.check: NodeCheck | None = None

    @property
    def usable(self) -> bool:
        return self.connected and self.result.status in ("pending", "ok")

    async def open(self, *, clock_rounds: int, timeout: float) -> None:
        """Connect and preflight (kernel, interfaces, clock); failures become the node's status."""
        self.result.enter("connecting", limit=self.transport.node.connect_timeout)
        try:
            check = await bounded(
                check_node(_Borrowed(self.transport), clock_rounds=clock_rounds), timeout
            )
        except TimeoutError:
            self._no_answer(timeout)
            return
        self.apply(check)

    async def connect(self, *, timeout: float) -> None:
        """Only connect: the preflight runs later in the session of the node's first capture."""
        self.result.enter("connecting", limit=self.transport.node.connect_timeout)
        try:
            failed = await bounded(connect_node(self.transport), timeout)
        except TimeoutError:
            self._no_answer(timeout)
            return
        if failed is not None:
            self.apply(failed)
        else:
            self.connected = True
            self.result.enter("connected")  # its checks follow in its first capture session

    def _no_answer(self, timeout: float) -> None:
        r = self.result
        r.fail("unreachable", f"no answer within {timeout:g} s; check the node and network")
        r.enter(r.status)

    def apply(self, check: NodeCheck) -> None:
        """A preflight verdict becomes the node's status and facts (interfaces, clock, ...)."""
        r = self.result
        self.check = check
        self.connected = check.auth
        status = preflight_status(check)
        if status != "ok":
            r.fail(status, check.message or status)
            r.enter(r.status)
            return
        r.tcpdump = check.tcpdump
        if check.message:
            r.detail = check.message  # warnings only: the capture goes ahead
        if check.clock is not None:
            r.clock = check.clock
        r.kernel = check.kernel
        r.interfaces = [dict(link) for link in check.links]
        r.status = "ok"
        r.enter("ready")

    def link_names(self) -> list[str]:
        return [str(i.get("ifname")) for i in self.result.interfaces if isinstance(i, dict)]

    async def netns_links(self, netns: str) -> list[Any]:
        """``ip -j link`` inside a pod namespace (recorded: -i any there maps ifindexes)."""
        try:
            res = await bounded(
                self.transport.run(["ip", "-j", "link"], netns=netns, check=False, timeout=20), 25
            )
            data = json.loads(res.stdout or "[]")
        except (TransportError, TimeoutError, ValueError):
            return []
        return data if isinstance(data, list) else []

    async def resample_clock(self, rounds: int) -> None:
        """Sample the clock if preflight could not (several round trips, lowest RTT kept).

        A node that already has samples is left alone: a new session costs it a login shell.
        """
        if not self.usable or self.result.clock is not None:
            return
        try:
            c = await bounded(sample_clock(self.transport, rounds), 30)
        except (TransportError, CommandError, TimeoutError, ValueError):
            return
        old = self.result.clock
        if old is None or (c.rtt_ns or 0) <= (old.rtt_ns or 0):
            self.result.clock = c

    async def close(self) -> None:
        try:
            await bounded(self.transport.close(), 10)
        except (TransportError, TimeoutError, OSError):
            return
