"""One node's clock measured against another: the one clock record of the whole project.

The capture side measures it (SSH round trips before capturing), the run bundle's manifest
stores it per node, the correlation engine starts its offset estimates from it and the views
print it. ``offset_ns`` is the node's clock minus the measuring clock, so a timestamp is
corrected as ``ts - offset_ns``. Cristian's algorithm (Cristian 1989, "Probabilistic clock
synchronization") keeps the round trip with the smallest RTT: the remote reading happened
somewhere inside it, so its midpoint is off by at most RTT/2, ``error_ns``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netdiag.values import opt_int

__all__ = ["Clock"]


@dataclass(frozen=True, slots=True)
class Clock:
    """A node clock minus a reference clock, with its error bound; ``rtt_ns`` and ``samples``
    say what the measurement rests on (None when not recorded)."""

    offset_ns: int
    error_ns: int | None = None
    rtt_ns: int | None = None
    samples: int | None = None

    @classmethod
    def from_round_trips(cls, rounds: Sequence[tuple[int, int, int]]) -> Clock:
        """(sent, remote, received) readings -> the round trip with the smallest RTT."""
        sent, remote, received = min(rounds, key=lambda r: r[2] - r[0])
        rtt = received - sent
        return cls(remote - (sent + received) // 2, rtt // 2, rtt, len(rounds))

    def shifted(self, by_ns: int) -> Clock:
        """The same measurement of a clock that runs ``by_ns`` ahead (a simulated skew)."""
        return Clock(self.offset_ns + by_ns, self.error_ns, self.rtt_ns, self.samples)

    def to_json(self) -> dict[str, int | None]:
        return {
            "offset_ns": self.offset_ns,
            "error_ns": self.error_ns,
            "rtt_ns": self.rtt_ns,
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, raw: object) -> Clock | None:
        """A clock as :meth:`to_json` writes it; None for anything without an offset."""
        if not isinstance(raw, Mapping) or raw.get("offset_ns") is None:
            return None
        return cls(
            int(raw["offset_ns"]),
            opt_int(raw.get("error_ns")),
            opt_int(raw.get("rtt_ns")),
            opt_int(raw.get("samples")),
        )
