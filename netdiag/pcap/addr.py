"""Scalar conversions between the table's numeric addresses and their text forms.

IPs are two 64-bit halves of the 128-bit address; IPv4 is stored IPv4-mapped (see schema).
Vectorized conversions for whole columns live in :mod:`netdiag.pcap.format`.
"""

from __future__ import annotations

import ipaddress

from netdiag.errors import InputError

V4_MAPPED_PREFIX = 0xFFFF_0000_0000


def ip_pack(text: str) -> tuple[int, int]:
    """``"192.168.0.6"`` or ``"fe80::1"`` -> ``(hi, lo)`` as stored in the table."""
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError as exc:
        raise InputError(f"{text!r} is not an IPv4 or IPv6 address") from exc
    if addr.version == 4:
        return 0, V4_MAPPED_PREFIX | int(addr)
    value = int(addr)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF


def ip_text(hi: int, lo: int, version: int | None = None) -> str:
    """``(hi, lo)`` -> standard text form; IPv4-mapped values print as IPv4 unless version=6."""
    if version != 6 and hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFF_FFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def ip_with_port(ip: str, port: int | None) -> str:
    """``ip:port`` (``[v6]:port``), or the bare address without a port."""
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def mac_text(value: int) -> str:
    """48-bit integer -> lowercase colon-hex."""
    return ":".join(f"{(value >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))


def mac_pack(text: str) -> int:
    """``"00:00:00:91:cc:aa"`` -> 48-bit integer."""
    parts = text.strip().replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise InputError(f"{text!r} is not a MAC address (expected six colon-separated hex bytes)")
    try:
        return int("".join(p.zfill(2) for p in parts), 16)
    except ValueError as exc:
        raise InputError(f"{text!r} is not a MAC address") from exc
