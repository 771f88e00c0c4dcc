"""The values the correlation engine takes and returns: `Options` in, a frozen `Analysis` out.

Everything is a DataFrame of integer codes and numbers so that large runs stay vectorized; text
forms (addresses, MACs, summaries) are produced only by the report layer, for the rows it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

#: Kinds of change between two consecutive sightings (``hops`` flag columns -> JSON kinds).
#: On a reply journey an address change that undoes the request's NAT is ``un-dnat`` (the reply's
#: source goes back from the DNAT target to the address the client used) or ``un-snat`` (the
#: reply's destination goes back from the SNAT address to the original client).
CHANGE_KINDS = ("dnat", "snat", "un-dnat", "un-snat", "mac-rewrite", "ttl", "encap", "decap")

#: Anomaly kinds written in the analysis.
ANOMALY_KINDS = (
    "dropped",
    "no-reply",
    "asymmetric-return",
    "icmp-error",
    "ttl-exceeded",
    "arp-unanswered",
    "tcp-retransmission",
    "kernel-drops",
    "ambiguous",
)


@dataclass(frozen=True)
class ClockSample:
    """An external clock measurement of one node (the run bundle's round-trip samples).

    ``offset_ns`` = node clock minus the orchestrator clock (corrected = ts - offset).
    """

    offset_ns: int
    error_ns: int


@dataclass(frozen=True)
class Options:
    """Knobs of one analysis; the defaults suit a handful of nodes and a few seconds of capture."""

    window_ns: int = 2_000_000_000
    reference_node: str | None = None
    #: Known clock samples per node (from a run bundle's manifest), relative to the orchestrator.
    clock_samples: Mapping[str, ClockSample] = field(default_factory=dict)
    #: Kernel drop counts per point, from tcpdump's "dropped by kernel" statistics.
    kernel_dropped: Mapping[str, int] = field(default_factory=dict)
    #: Addresses owned by each node (text), used to tell a tunnel's sending node from the receiver.
    node_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """The result of correlating one packet table; every frame is indexed by plain integers.

    - ``points``: point, node, iface, packets, kernel_dropped, clock_offset_ns, clock_error_ns,
      clock_source.
    - ``sightings``: one row per IP frame that joined a journey: ``row`` (index in the input
      table), ``journey``, ``hop`` (0-based order in the journey), ``ts_corr_ns`` and the
      numeric fields the reports print.
    - ``journeys``: journey, key, sightings, first_ts_ns, confidence, ambiguous, reason.
    - ``hops``: journey, hop, from/to sighting rows, latency_ns and one column per change.
    - ``flows``: request, reply, kind, symmetric, enter_point, leave_point, reverse_nat_node.
    - ``translations``: kind, node, proto, before, after, packets (text, complete).
    - ``anomalies``: kind, journey (-1 when none), point, expected_point, detail.
    - ``clocks``: node, offset_ns, error_ns, source, samples.
    """

    points: pd.DataFrame
    sightings: pd.DataFrame
    journeys: pd.DataFrame
    hops: pd.DataFrame
    flows: pd.DataFrame
    translations: pd.DataFrame
    anomalies: pd.DataFrame
    clocks: pd.DataFrame
    table: pd.DataFrame
    reference_node: str
    window_ns: int
    notes: tuple[str, ...] = ()

    def to_json(self, *, max_journeys: int = 10_000) -> str:
        """The analysis JSON (``netdiag.analysis/1``); see :mod:`netdiag.report.json`."""
        from netdiag.report.json import dumps

        return dumps(self, max_journeys=max_journeys)
