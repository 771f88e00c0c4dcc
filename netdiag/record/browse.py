"""A node's recorders read over the file-transfer channel (SFTP), without a shell on the node.

``record snapshot`` must start fetching as soon as it can: a shell session costs the node a
login shell (its rc files: milliseconds, or a tenth of a second of CPU for a heavy one) and
every command a fork; SFTP requests cost microseconds and travel in parallel over one channel.
So the snapshot lists here, in two rounds of requests: the capture directory's entries, then
per recorder its directory (each ring file's size and mtime, whole seconds: SFTP version 3
has no finer time) and its ``meta``. Whether its supervisor still runs is not asked here (a
third round): every recorder directory is listed as alive, and the snapshot's shell dialog
tells, meanwhile, which ones are.

A ring file's first packet is not read here (40 bytes per file, but one more round of
requests before the first byte is fetched): a file holds packets up to its mtime, rounded up
to the next second, and from the mtime of the file written before it;
:func:`~netdiag.record.listing.select_files` needs no more. Not read either: tcpdump's
counts (they need a signal: the snapshot's shell dialog sends it meanwhile). Orphans are not
swept (``record status`` and ``list`` do that).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence

from netdiag.errors import CommandError, TransportError
from netdiag.record.listing import HEAD, NS, Listing, Recorder, RingFile, first_packet_ns
from netdiag.record.scripts import DIR_PREFIX
from netdiag.transport import RemoteEntry, Transport

__all__ = ["first_packets_again", "list_by_transfer", "ring_files"]

_RING = re.compile(r"ring\.pcap\d+$")
META_MAX = 65536


async def list_by_transfer(transport: Transport, capture_dir: str, name: str) -> Listing | None:
    """The recorders named ``name`` on the node, or None when the transport has no
    file-transfer channel to list with. CommandError when ``capture_dir`` cannot be read."""
    base = capture_dir.rstrip("/") or "/"
    entries = await transport.listdir(base)
    if entries is None:
        return None
    prefix = f"{DIR_PREFIX}{name}."
    dirs = sorted(
        f"{base.rstrip('/')}/{e.name}" for e in entries if e.is_dir and e.name.startswith(prefix)
    )
    found = await asyncio.gather(*(_recorder(transport, d) for d in dirs))
    return Listing(transport.name, tuple(r for r in found if r is not None), (), None)


async def _recorder(transport: Transport, directory: str) -> Recorder | None:
    """One recorder directory; None when it vanished meanwhile (its recorder ended)."""
    try:
        entries, meta = await asyncio.gather(
            transport.listdir(directory), _text(transport, f"{directory}/meta")
        )
    except CommandError:
        return None
    return Recorder(
        transport.name,
        directory,
        True,
        dict(line.partition("=")[::2] for line in meta.splitlines() if "=" in line),
        tuple(ring_files(entries or [])),
    )


def ring_files(entries: Sequence[RemoteEntry]) -> list[RingFile]:
    """A recorder directory's listed entries -> its ring files, first packets not read: the
    last packet is bounded by the mtime's next second."""
    return [
        RingFile(e.name, e.size, (e.mtime_s + 1) * NS - 1, None, head_read=False)
        for e in entries
        if not e.is_dir and _RING.fullmatch(e.name)
    ]


async def _text(transport: Transport, path: str) -> str:
    """A small file's text ("" when it is not there: a recorder still starting)."""
    try:
        return (await transport.read(path, META_MAX)).decode("utf-8", "replace")
    except CommandError:
        return ""


async def _head(transport: Transport, path: str) -> bytes | None:
    try:
        return await transport.read(path, HEAD)
    except (CommandError, TransportError):
        return None  # rotated away, not yet written, or the connection is gone


async def first_packets_again(
    transport: Transport, fetched: Mapping[str, int | None]
) -> dict[str, int | None]:
    """The first packet now of ring files fetched (path -> first packet of the bytes fetched,
    all of one ring): a file the ring wrapped onto meanwhile has another. A ring overwrites
    its files oldest first, so they are read again oldest first, one at a time, until one has
    not changed: the files after it were not reopened either. The files not read again, or
    that cannot be read, keep the first packet they had."""
    now = dict(fetched)
    for path in sorted(fetched, key=lambda p: (fetched[p] is None, fetched[p] or 0, p)):
        head = await _head(transport, path)
        if head is None:
            continue  # not there now: the next file tells
        now[path] = first_packet_ns(head)
        if now[path] == fetched[path]:
            break
    return now
