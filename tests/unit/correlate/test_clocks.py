"""Clock offsets: from packets when traffic goes both ways, from the bundle otherwise."""

from __future__ import annotations

import pandas as pd

from netdiag.clock import Clock
from netdiag.correlate import Options, analyze
from tests.support import builder
from tests.support import scenarios as sc


def _one_way(skew: float) -> builder.Capture:
    cap = sc.fip_ingress(count=3, skew={sc.CP: skew})
    cap.sightings = [s for s in cap.sightings if s.packet.icmp_type == 8]  # requests only
    return cap


def test_one_way_traffic_gives_no_packet_estimate() -> None:
    a = analyze(builder.table(_one_way(2.0)))
    clock = a.clocks.set_index("node").loc[sc.CP]
    assert clock["source"] == "coarse"
    assert pd.isna(clock["error_ns"])
    # The median of one-way differences: the skew plus the one-way delay, not exact.
    assert abs(int(clock["offset_ns"]) - 2_000_000_000) < 1_000_000


def test_bundle_samples_fill_in_and_are_rereferenced() -> None:
    samples = {
        "client": Clock(-100_000_000, 1_000),
        sc.CP: Clock(1_900_000_000, 20_000),
    }
    a = analyze(builder.table(_one_way(2.0)), Options(clocks=samples))
    clock = a.clocks.set_index("node").loc[sc.CP]
    assert clock["source"] == "bundle"
    assert int(clock["offset_ns"]) == 2_000_000_000  # relative to client, the reference
    assert int(clock["error_ns"]) == 21_000
    j = a.journeys.iloc[0]
    hops = a.hops.loc[a.hops["journey"] == 0]
    assert int(j["sightings"]) == 3
    assert (hops["latency_ns"] >= 0).all()


def test_packets_and_bundle_intervals_are_intersected() -> None:
    samples = {sc.CP: Clock(-1_000_040_000, 50_000)}
    a = analyze(builder.table(sc.fip_ingress(count=2, skew={sc.CP: -1.0})), Options(clocks=samples))
    clock = a.clocks.set_index("node").loc[sc.CP]
    assert clock["source"] == "packets+bundle"
    assert int(clock["error_ns"]) <= 60_000
    assert abs(int(clock["offset_ns"]) + 1_000_000_000) <= int(clock["error_ns"])


def test_reference_node_choice() -> None:
    a = analyze(builder.table(sc.fip_ingress(skew={sc.CP: 0.5})), Options(reference_node=sc.CP))
    offsets = a.clocks.set_index("node")["offset_ns"]
    assert int(offsets[sc.CP]) == 0
    assert abs(int(offsets["client"]) + 500_000_000) <= 100_000
