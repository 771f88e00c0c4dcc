"""A watched transport passes every transfer on to the one it wraps, and records each wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

from netdiag.capture.watch import Activity, WatchedTransport
from netdiag.inventory import NodeSpec
from netdiag.lab.skew import SimulatedSkew
from netdiag.transport.local import LocalTransport


class SlowPieces(LocalTransport):
    """A file read in 3-byte pieces, slowly; the transfer channel opened on request."""

    opened = False

    async def open_transfers(self) -> None:
        self.opened = True

    async def read_into(self, remote: str, sink: object, size: int = -1) -> None:
        data = Path(remote).read_bytes()
        for at in range(0, len(data), 3):
            await asyncio.sleep(0.01)
            sink(data[at : at + 3])  # type: ignore[operator]


async def test_a_watched_read_comes_in_pieces_and_is_waited_for(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    inner = SlowPieces(NodeSpec(name="n1", host="h", port=2222))
    activity = Activity()
    watched = WatchedTransport(inner, activity)
    await watched.open_transfers()
    assert inner.opened
    pieces: list[bytes] = []
    reading = asyncio.create_task(watched.read_into(str(tmp_path / "f"), pieces.append))
    await asyncio.sleep(0.015)
    lines = activity.lines(1e12, after=0)  # (any time after the wait began)
    assert lines == {"n1": lines["n1"]}
    assert f"reading {tmp_path / 'f'}" in lines["n1"]
    assert lines["n1"].startswith("waiting for n1 (h:2222)")
    await reading
    assert pieces[0] == b"012"
    assert b"".join(pieces) == b"0123456789"
    assert activity.lines(1e12, after=0) == {}  # done: no longer waited for


async def test_a_skewed_lab_node_streams_all_but_its_captures(tmp_path: Path) -> None:
    (tmp_path / "meta").write_bytes(b"iface=eth0\n")
    inner = SlowPieces(NodeSpec(name="n1", host="h"))
    skewed = SimulatedSkew(inner, 5_000_000_000)
    await skewed.open_transfers()
    assert inner.opened
    pieces: list[bytes] = []
    await skewed.read_into(str(tmp_path / "meta"), pieces.append)
    assert pieces == [b"ifa", b"ce=", b"eth", b"0\n"]  # as they came
