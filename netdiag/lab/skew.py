"""Simulated clock skew: a lab node seen through its transport as if its clock ran ahead.

All lab namespaces share the host's clock, so a node's skew (inventory label
``simulated_clock_offset_ns``, set by ``netdiag lab up --clock-offset``) is simulated where
netdiag meets the node: :class:`SimulatedSkew` wraps the node's transport, and every time the
node reports comes through shifted by the offset — its clock readings (``date +%s%N``) and the
record timestamps of every capture file fetched from it — exactly what a node whose clock runs
ahead would have given. Nothing above the transport knows; the run manifest labels the shift as
simulated (:func:`skew_note`). Classic pcap only (what ``tcpdump -w`` writes), micro- or
nanosecond resolution, either byte order; a truncated last record is kept.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from netdiag.errors import CaptureFormatError
from netdiag.transport import RemoteEntry, Transport
from netdiag.transport.process import Channel

__all__ = [
    "SimulatedSkew",
    "shift_pcap",
    "shift_pcap_bytes",
    "simulated_offset",
    "skew_note",
    "with_simulated_skew",
]

NS = 1_000_000_000
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


def simulated_offset(labels: Mapping[str, str]) -> int:
    """The node's simulated offset from its inventory labels; 0 when absent or not a number."""
    value = labels.get("simulated_clock_offset_ns", "0")
    try:
        return int(str(value))
    except ValueError:
        return 0


def shift_pcap(path: Path, offset_ns: int) -> int:
    """Add ``offset_ns`` to every record timestamp in place; returns the records shifted."""
    data = bytearray(path.read_bytes())
    if len(data) < 24:
        return 0  # empty capture (tcpdump stopped before writing its header)
    count = _shift_records(data, offset_ns, str(path))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    return count


def shift_pcap_bytes(data: bytes, offset_ns: int) -> bytes:
    """:func:`shift_pcap` on bytes in memory (a whole file, or its first bytes)."""
    if len(data) < 24:
        return data
    out = bytearray(data)
    _shift_records(out, offset_ns, "a capture file")
    return bytes(out)


def _shift_records(data: bytearray, offset_ns: int, what: str) -> int:
    try:
        order, ns_per_unit = _MAGICS[bytes(data[:4])]
    except KeyError:
        raise CaptureFormatError(
            f"{what}: not a classic pcap file; cannot apply the simulated clock offset"
        ) from None
    units_per_s = 1_000_000_000 // ns_per_unit
    rec = struct.Struct(order + "IIII")
    pos, count = 24, 0
    while pos + rec.size <= len(data):
        sec, frac, incl, orig = rec.unpack_from(data, pos)
        total = (sec * units_per_s + frac) * ns_per_unit + offset_ns
        total = max(total, 0) // ns_per_unit
        rec.pack_into(data, pos, total // units_per_s, total % units_per_s, incl, orig)
        pos += rec.size + incl
        count += 1
    return count


def _is_capture(remote: str) -> bool:
    """A capture file: ``*.pcap`` (a capture's) or ``ring.pcapN`` (a recorder's ring)."""
    return re.search(r"\.pcap\d*$", remote) is not None


def skew_note(node: str, offset_ns: int) -> str:
    """The run manifest's note for a node whose skew was simulated."""
    return (
        f"{node}: clock skew of {offset_ns} ns is SIMULATED (lab): its pcap timestamps "
        "and clock offset were shifted by netdiag after the fetch"
    )


def with_simulated_skew(transport: Transport) -> Transport:
    """``transport`` wrapped in :class:`SimulatedSkew` when its node's labels ask for a skew."""
    offset = simulated_offset(transport.node.labels)
    return SimulatedSkew(transport, offset) if offset else transport


class SimulatedSkew(Transport):
    """``inner`` as a node whose clock runs ``offset_ns`` ahead of ours would be seen."""

    def __init__(self, inner: Transport, offset_ns: int) -> None:
        super().__init__(inner.node)
        self.inner = inner
        self.kind = inner.kind
        self.offset_ns = offset_ns

    def node_time_ns(self, reading: int) -> int:
        return self.inner.node_time_ns(reading) + self.offset_ns

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def _spawn(self, argv: Sequence[str]) -> Channel:
        return await self.inner._spawn(argv)

    async def get(self, remote: str, local: str | Path) -> None:
        await self.inner.get(remote, local)
        if _is_capture(remote):
            shift_pcap(Path(local), self.offset_ns)

    async def put(self, local: str | Path, remote: str) -> None:
        await self.inner.put(local, remote)

    async def listdir(self, path: str) -> list[RemoteEntry] | None:
        entries = await self.inner.listdir(path)
        if entries is None:
            return None
        return [replace(e, mtime_s=(e.mtime_s * NS + self.offset_ns) // NS) for e in entries]

    async def open_transfers(self) -> None:
        await self.inner.open_transfers()

    async def read(self, remote: str, size: int = -1) -> bytes:
        data = await self.inner.read(remote, size)
        return shift_pcap_bytes(data, self.offset_ns) if _is_capture(remote) else data

    async def read_into(self, remote: str, sink: Callable[[bytes], None], size: int = -1) -> None:
        if _is_capture(remote):  # shifted whole, in one piece
            sink(await self.read(remote, size))
        else:
            await self.inner.read_into(remote, sink, size)
