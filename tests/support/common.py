"""Constants and helpers shared by the scenario modules."""

from __future__ import annotations

from collections.abc import Mapping

from tests.support.builder import Capture

T0 = 1_700_000_000_000_000_000


def ping_payload(k: int, size: int = 56) -> bytes:
    """What iputils ping sends: a timestamp then an incrementing pattern."""
    return (T0 // 1000 + k).to_bytes(8, "little") + bytes((0x10 + i) % 256 for i in range(size - 8))


def base(points: Mapping[str, str], skew: Mapping[str, float] | None) -> Capture:
    return Capture(points=dict(points), skew_s=dict(skew or {}))
