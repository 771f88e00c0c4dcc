"""Full dissection of ONE frame for the TUI's packet detail pane (scapy, never in bulk).

Bulk parsing is the vectorized reader's job; scapy costs ~1 ms per packet, which is fine for the
single frame a user selected. Only the layers we need are imported (not ``scapy.all``, whose
import-time side effects STYLE.md warns about); importing inet/inet6/vxlan registers their
bindings so ``Ether(data)`` decodes tunnels too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from netdiag.report.frames import FrameTable, read_frames

_LINKTYPE_NAMES = {0: "NULL", 1: "EN10MB", 101: "RAW", 113: "LINUX_SLL", 276: "LINUX_SLL2"}


@lru_cache(maxsize=8)
def _frames(path: str, mtime_ns: int) -> FrameTable:
    return read_frames(Path(path))


def frame_table(path: Path) -> FrameTable:
    """The frames of ``path``, cached while the file is unchanged (the pane re-reads often)."""
    return _frames(str(path), path.stat().st_mtime_ns)


def dissect_bytes(data: bytes, linktype: int) -> str:
    """scapy's layer-by-layer dump of one frame of the given link type."""
    import scapy.layers.inet
    import scapy.layers.inet6
    import scapy.layers.vxlan
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether, Loopback

    decoders: dict[int, Any] = {0: Loopback, 1: Ether, 113: CookedLinux, 276: CookedLinuxV2}
    decoder: Any
    if linktype == 101:
        version = data[0] >> 4 if data else 4
        decoder = scapy.layers.inet6.IPv6 if version == 6 else scapy.layers.inet.IP
    else:
        decoder = decoders.get(linktype)
    if decoder is None:
        return f"link type {linktype} is not dissected; {len(data)} bytes:\n{data.hex(' ')}"
    return str(decoder(data).show(dump=True))


def dissect_frame(path: Path, *, ts_ns: int | None = None, frame: int | None = None) -> str:
    """Dissect the frame numbered ``frame`` (1-based) or stamped ``ts_ns`` in ``path``."""
    table = frame_table(path)
    index = frame - 1 if frame is not None else (table.find(ts_ns) if ts_ns is not None else None)
    if index is None or not 0 <= index < len(table):
        wanted = f"frame {frame}" if frame is not None else f"timestamp {ts_ns}"
        return f"{path.name}: no {wanted} in this file ({len(table)} frames)"
    link = int(table.linktype[index])
    head = (
        f"{path.name} frame {index + 1}: {int(table.caplen[index])} of "
        f"{int(table.wirelen[index])} bytes, link type {_LINKTYPE_NAMES.get(link, link)}\n"
    )
    return head + dissect_bytes(table.frame_bytes(index), link)
