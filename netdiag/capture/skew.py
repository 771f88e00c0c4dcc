"""Simulated clock skew for the lab: shift a fetched pcap's timestamps by a node's offset.

All lab namespaces share the host's clock, so a node's skew (inventory label
``simulated_clock_offset_ns``) is applied here, after the fetch: every record timestamp of that
node's captures moves by the offset, exactly what a node whose clock runs ahead would have
written. The manifest records the shift as simulated. Classic pcap only (what ``tcpdump -w``
writes), micro- or nanosecond resolution, either byte order; a truncated last record is kept.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path

from netdiag.errors import CaptureFormatError

__all__ = ["shift_pcap", "simulated_offset"]

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
    try:
        order, ns_per_unit = _MAGICS[bytes(data[:4])]
    except KeyError:
        raise CaptureFormatError(
            f"{path}: not a classic pcap file; cannot apply the simulated clock offset"
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
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    return count
