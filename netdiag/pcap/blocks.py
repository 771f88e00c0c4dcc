"""Parsing of the few non-packet parts of a capture: the pcap global header and the pcapng
SHB / IDB / ISB blocks and their options (pcapng spec, draft-ietf-opsawg-pcapng)."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.errors import CaptureFormatError
from netdiag.pcap.info import Interface

Data = bytes | memoryview | mmap.mmap
PCAPNG_SHB = 0x0A0D0D0A
BOM = 0x1A2B3C4D
#: pcap magic (as read little-endian) -> (big_endian, units per second)
PCAP_MAGIC = {
    0xA1B2C3D4: (False, 1_000_000),
    0xA1B23C4D: (False, 1_000_000_000),
    0xD4C3B2A1: (True, 1_000_000),
    0x4D3CB2A1: (True, 1_000_000_000),
}


@dataclass(frozen=True)
class PcapHeader:
    big_endian: bool
    units: int
    snaplen: int
    linktype: int


def sniff(path: str, head: bytes) -> str:
    """'pcap' or 'pcapng' from the first bytes; a one-line CaptureFormatError otherwise."""
    if len(head) >= 4:
        (magic,) = struct.unpack_from("<I", head)
        if magic in PCAP_MAGIC:
            return "pcap"
        if magic == PCAPNG_SHB:
            return "pcapng"
        if head[:2] == b"\x1f\x8b":
            raise CaptureFormatError(f"{path}: is gzip-compressed; gunzip it first")
        if magic in (0xA1B2CD34, 0x34CDB2A1):
            raise CaptureFormatError(
                f"{path}: is a 'modified' (Kuznetzov) pcap; convert it with "
                "`editcap -F pcap IN OUT` first"
            )
    what = "is empty" if not head else f"starts with {head[:4].hex()}"
    raise CaptureFormatError(
        f"{path}: not a pcap or pcapng capture ({what}); give a file written by "
        "tcpdump -w, tshark -w or Wireshark"
    )


def parse_pcap_header(path: str, head: bytes) -> PcapHeader:
    """The 24-byte pcap global header (libpcap's sf-pcap.c checks, same messages as tshark)."""
    if len(head) < 24:
        raise CaptureFormatError(
            f"{path}: truncated inside its 24-byte pcap header ({len(head)} bytes); "
            "the capture was cut short before any packet"
        )
    (magic,) = struct.unpack_from("<I", head)
    big_endian, units = PCAP_MAGIC[magic]
    e = ">" if big_endian else "<"
    major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(e + "HHiIII", head, 4)
    if major != 2:
        raise CaptureFormatError(
            f"{path}: pcap major version {major} is not supported (only 2); "
            "the file is damaged or not a pcap"
        )
    if network & 0x03FF0000:
        raise CaptureFormatError(
            f"{path}: pcap link-type field has non-zero reserved bits ({network:#010x}); "
            "the header is damaged"
        )
    return PcapHeader(big_endian, units, snaplen, network & 0xFFFF)


def options(data: Data, pos: int, end: int, e: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option in data[pos:end]; stops at opt_endofopt or a broken one."""
    while pos + 4 <= end:
        code, olen = struct.unpack_from(e + "HH", data, pos)
        if code == 0:
            return
        if pos + 4 + olen > end:
            return
        yield code, bytes(data[pos + 4 : pos + 4 + olen])
        pos += 4 + ((olen + 3) & ~3)


def _text(value: bytes) -> str:
    """UTF-8 option text; some writers NUL-terminate it and leave garbage after the NUL."""
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True)
class SectionHeader:
    big_endian: bool
    length: int  # block total length
    major: int
    minor: int
    comments: tuple[str, ...]


def parse_shb_head(data: Data, pos: int) -> tuple[bool, int] | None:
    """(big_endian, block length) of the SHB at ``pos``; None when fewer than 12 bytes."""
    if len(data) - pos < 12:
        return None
    (bom,) = struct.unpack_from("<I", data, pos + 8)
    if bom == BOM:
        big_endian = False
    elif bom == 0x4D3C2B1A:
        big_endian = True
    else:
        raise ValueError(f"bad byte-order magic {bom:#010x}")
    (length,) = struct.unpack_from(">I" if big_endian else "<I", data, pos + 4)
    return big_endian, length


def parse_shb(data: Data, pos: int, big_endian: bool, length: int) -> SectionHeader:
    """A complete SHB (caller checked that ``length`` bytes are there)."""
    e = ">" if big_endian else "<"
    if length < 28 or length & 3:
        raise ValueError(f"section header block length {length} is impossible")
    (trailer,) = struct.unpack_from(e + "I", data, pos + length - 4)
    if trailer != length:
        raise ValueError("section header block length and trailer differ")
    major, minor = struct.unpack_from(e + "HH", data, pos + 12)
    if (major, minor) != (1, 0):
        raise ValueError(f"unknown pcapng section version {major}.{minor} (only 1.0)")
    end = pos + length - 4
    start = pos + 24
    # An option running past the block is damage (libpcap and tshark refuse such a file).
    p = start
    while p + 4 <= end:
        code, olen = struct.unpack_from(e + "HH", data, p)
        if code == 0:
            break
        if p + 4 + olen > end:
            raise ValueError(f"section header option of length {olen} runs past the block")
        p += 4 + ((olen + 3) & ~3)
    comments = tuple(_text(v) for c, v in options(data, start, end, e) if c == 1)
    return SectionHeader(big_endian, length, major, minor, comments)


def parse_idb(data: Data, pos: int, length: int, big_endian: bool, section: int) -> Interface:
    """An Interface Description Block: link type, snaplen, if_name, if_tsresol, if_tsoffset."""
    e = ">" if big_endian else "<"
    if length < 20:
        raise ValueError(f"interface description block length {length} is too short")
    linktype, _reserved, snaplen = struct.unpack_from(e + "HHI", data, pos + 8)
    iface = Interface(linktype=linktype, snaplen=snaplen, section=section)
    for code, value in options(data, pos + 16, pos + length - 4, e):
        if code == 2:
            iface.name = _text(value)
        elif code == 3:
            iface.description = _text(value)
        elif code == 9 and len(value) >= 1:
            exp = value[0] & 0x7F
            iface.tsresol = (2 if value[0] & 0x80 else 10) ** exp
        elif code == 14 and len(value) == 8:
            (iface.tsoffset,) = struct.unpack(e + "q", value)
    if iface.tsresol <= 0:  # pragma: no cover - ** of a 7-bit exponent is always >= 1
        iface.tsresol = 1_000_000
    return iface


def parse_isb(
    data: Data, pos: int, length: int, big_endian: bool
) -> tuple[int, int | None, int | None]:
    """An Interface Statistics Block: (interface id, isb_ifdrop, isb_osdrop)."""
    e = ">" if big_endian else "<"
    if length < 24:
        raise ValueError(f"interface statistics block length {length} is too short")
    (iface_id,) = struct.unpack_from(e + "I", data, pos + 8)
    ifdrop = osdrop = None
    for code, value in options(data, pos + 20, pos + length - 4, e):
        if code == 5 and len(value) == 8:
            (ifdrop,) = struct.unpack(e + "Q", value)
        elif code == 7 and len(value) == 8:
            (osdrop,) = struct.unpack(e + "Q", value)
    return iface_id, ifdrop, osdrop


def epb_comments(data: Data, off: int, caplen: int, big_endian: bool) -> list[str]:
    """Comments (opt_comment) of the EPB whose packet data starts at ``off``."""
    e = ">" if big_endian else "<"
    start = off - 28
    (length,) = struct.unpack_from(e + "I", data, start + 4)
    opts = off + ((caplen + 3) & ~3)
    return [_text(v) for c, v in options(data, opts, start + length - 4, e) if c == 1]
