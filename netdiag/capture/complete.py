"""Is a fetched capture whole? The frames in the file against tcpdump's own count.

tcpdump says nothing when the disk fills: it exits as usual, prints its usual counts, and the
file simply holds fewer frames than "captured" says (measured with tcpdump 4.99.3: "30 packets
captured", 19 in a 20 KiB file). With ``-C MB -W 1`` a file that reaches the cap is started
over, which also leaves fewer frames than counted. Either way the capture must not be reported
as ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileCount", "count_frames", "incomplete"]

FULL_BELOW = 1 << 20  # free bytes under which a short file is blamed on a full disk


@dataclass(frozen=True)
class FileCount:
    """Frames that can be read from a capture file, and the damage that ended the read."""

    frames: int
    damage: str = ""


def count_frames(path: Path) -> FileCount:
    """Walk the record headers of ``path`` (no decoding); damage ends the walk with a reason."""
    from netdiag.errors import InputError
    from netdiag.pcap import walk_frames

    try:
        index = walk_frames(str(path))
    except (InputError, OSError, ValueError) as exc:
        return FileCount(0, str(exc))
    damage = "; ".join(f"at byte {w.offset}: {w.message}" for w in index.warnings)
    return FileCount(len(index), damage)


def incomplete(
    *,
    where: str,
    count: FileCount,
    captured: int,
    free_bytes: int | None,
    max_file_mb: int,
) -> str | None:
    """Why the file does not hold every packet tcpdump captured (None: it does).

    ``where`` is ``NODE:DIR``, the capture directory the file was written to.
    """
    if count.frames >= captured and not count.damage:
        return None
    holds = f"file holds {count.frames} of {captured} captured packets"
    if free_bytes is not None and free_bytes < FULL_BELOW:
        return (
            f"disk full on {where}: {holds}; free space there or set capture_dir in the "
            "inventory to a larger file system"
        )
    if count.frames < captured:
        return (
            f"{holds}: {where} had room, so tcpdump most likely started the file over at "
            f"capture.max_file_mb ({max_file_mb} MB); raise it or narrow capture.filter"
        )
    return f"the file is damaged after frame {count.frames} ({count.damage}); {holds}"
