"""The values the correlation engine takes and returns: `Options` in, a frozen `Analysis` out.

Everything is a DataFrame of integer codes and numbers so that large runs stay vectorized; text
forms (addresses, MACs, summaries) are produced only by the report layer, for the rows it writes
(:mod:`netdiag.report.json` turns an :class:`Analysis` into the analysis document).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from netdiag.clock import Clock


@dataclass(frozen=True)
class Options:
    """Knobs of one analysis; the defaults suit a handful of nodes and a few seconds of capture."""

    window_ns: int = 2_000_000_000
    #: The node whose clock every corrected time is on. None: the node of the first input row
    #: that holds an IP packet (what the user named first, when that capture saw any traffic).
    reference_node: str | None = None
    #: Clocks measured per node (a run manifest's round trips), all against one host's clock.
    clocks: Mapping[str, Clock] = field(default_factory=dict)
    #: Kernel drop counts per point, from tcpdump's "dropped by kernel" statistics.
    kernel_dropped: Mapping[str, int] = field(default_factory=dict)
    #: Addresses owned by each node (text), used to tell a tunnel's sending node from the receiver.
    node_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: MAC addresses of each node's interfaces (text), used to tell who sent a frame to whom.
    node_macs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Nodes that are end hosts (an external client): they send and receive, never rewrite.
    endpoint_nodes: frozenset[str] = frozenset()
    #: Addresses that live behind a capture point (a pod's IPs behind its veth), by point name.
    point_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Per point of ``point_addresses``, the capture points further out on the same node,
    #: nearest first (a pod's own interface -> the host end of its veth -> the bridge that is
    #: a port of): one frame seen at two of them at the same instant went outwards when it came
    #: from there, inwards when it went there.
    outward: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Per point, until when (its node's clock, ns) its capture is known to have run, even if
    #: its last frame came earlier (a flight recorder's snapshot window): a packet missing
    #: there before then was dropped, not merely after the capture's end.
    capture_until: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """The result of correlating one packet table; every frame is indexed by plain integers.

    - ``points``: point, node, iface, packets, kernel_dropped, clock_offset_ns, clock_error_ns,
      clock_source.
    - ``sightings``: one row per IP frame that joined a journey, in path order: ``row`` (index
      in the input table), ``journey``, ``hop`` (0-based position in the journey), ``ts_corr``
      (reference clock), ``copy`` (0 on the path, 1 side copy, 2 duplicate recording; copies
      follow the path rows), ``how`` (``order.ORDER_KINDS`` code: why this row follows the
      previous one) and the numeric fields the reports print.
    - ``journeys``: first, last (positions in ``sightings``), sightings, key, first_ts_ns,
      confidence, ambiguous.
    - ``hops``: journey, hop, a/b (positions in ``sightings``), latency_ns, src_kind /
      dst_kind (0 none, 1 snat / dnat, 2 un-dnat / un-snat), mac_src, mac_dst, ttl, encap,
      decap, order.
    - ``flows``: request, reply, kind, points, symmetric, enter_point, leave_point,
      reverse_nat_point, from_client, reached_sender, undnat_missing, unsnat_missing.
    - ``translations``: kind, node ("" when between two nodes), between ("A|B"), proto, before,
      after, packets (text, complete).
    - ``anomalies``: kind, journey (-1 when none), point, expected_point, detail, cause,
      points, count.
    - ``clocks``: node, offset_ns, error_ns, source, samples.
    - ``traceroutes``: probe, answer (journeys), ttl, src, dst, sport, dport (-1: none), hop,
      reached.
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
    window_ns: int  # as asked (``--window``), exactly
    notes: tuple[str, ...] = ()
    traceroutes: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the window sightings were grouped in: ``window_ns`` plus the coarse clock margin
    #: (at most ``window_ns`` again); 0 when unknown
    window_used_ns: int = 0
