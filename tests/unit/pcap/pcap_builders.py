"""Hand-built capture files for the reader's unit tests (no scapy needed for the containers)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

Frame = tuple[int, bytes]  # (ts_ns, data)


def pcap_bytes(
    frames: Sequence[Frame],
    *,
    linktype: int = 1,
    big_endian: bool = False,
    nano: bool = False,
    snaplen: int = 262144,
    wirelen_extra: int = 0,
) -> bytes:
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in frames:
        sec, frac = divmod(ts, 1_000_000_000)
        frac = frac if nano else frac // 1000
        out.append(struct.pack(e + "IIII", sec, frac, len(data), len(data) + wirelen_extra))
        out.append(data)
    return b"".join(out)


def _opt(e: str, code: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * pad


def _block(e: str, btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(e + "II", btype, length) + body + struct.pack(e + "I", length)


def shb(e: str, comment: str = "") -> bytes:
    opts = (_opt(e, 1, comment.encode()) + _opt(e, 0, b"")) if comment else b""
    return _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def idb(
    e: str,
    linktype: int,
    name: str = "",
    tsresol: int | None = None,
    snaplen: int = 0,
    *,
    tsoffset: int | None = None,
) -> bytes:
    opts = b""
    if name:
        opts += _opt(e, 2, name.encode())
    if tsresol is not None:
        opts += _opt(e, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += _opt(e, 14, struct.pack(e + "q", tsoffset))
    if opts:
        opts += _opt(e, 0, b"")
    return _block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts)


def epb(
    e: str, iface: int, ts_units: int, data: bytes, *, flags: int | None = None, comment: str = ""
) -> bytes:
    pad = (-len(data)) % 4
    opts = b""
    if flags is not None:
        opts += _opt(e, 2, struct.pack(e + "I", flags))
    if comment:
        opts += _opt(e, 1, comment.encode())
    if opts:
        opts += _opt(e, 0, b"")
    body = (
        struct.pack(e + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), len(data))
        + data
        + b"\0" * pad
        + opts
    )
    return _block(e, 6, body)


def spb(e: str, data: bytes) -> bytes:
    return _block(e, 3, struct.pack(e + "I", len(data)) + data + b"\0" * ((-len(data)) % 4))


def isb(e: str, iface: int, ifdrop: int) -> bytes:
    opts = _opt(e, 5, struct.pack(e + "Q", ifdrop)) + _opt(e, 0, b"")
    return _block(e, 5, struct.pack(e + "III", iface, 0, 0) + opts)


def write(tmp: Path, name: str, content: bytes) -> str:
    path = tmp / name
    path.write_bytes(content)
    return str(path)
