"""Packets that share one fingerprint and pass the same points close together (a retransmitted
SYN-ACK, IP ID 0, sent again before the first one has left the node): each journey holds one
packet's sightings, in the order the packets passed each point, however unevenly they were
delayed between points."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.correlate import Options, analyze
from netdiag.correlate.journeys import _hungarian, _in_order, min_cost_assignment
from netdiag.report.json import to_dict
from tests.support import builder
from tests.support import paths as ps
from tests.support.common import T0
from tests.unit.correlate.conftest import Run

START = 200_000  # the SYN-ACKs' times are after this (paths.same_synack)


def _sent(times: list[list[int]]) -> builder.Capture:
    return ps.same_synack(times)


def _journeys(doc: dict[str, object]) -> set[tuple[tuple[str, int], ...]]:
    """The SYN-ACKs' journeys: (point, time after START) per on-path sighting."""
    out = set()
    for j in doc["journeys"]:  # type: ignore[attr-defined]
        if j["summary"].startswith("tcp SYN/ACK"):
            out.add(tuple((s["point"], s["ts_ns"] - T0 - START) for s in j["sightings"]
                          if s["copy"] is None))  # fmt: skip
    return out


def _expected(times: list[list[int]]) -> set[tuple[tuple[str, int], ...]]:
    return {tuple(zip(ps.DIRECT, at, strict=True)) for at in times}


def test_a_slow_packet_and_a_fast_one_behind_it_keep_their_order(run: Run) -> None:
    """Seen on the Open vSwitch lab: the first SYN-ACK spent 570 us in the userspace datapath
    between ovn0 and eth1, the second 42 us; at eth1 the second was nearer in time to the
    first one's anchor. The journeys were swapped there: a reply 'passing' eth1 before ovn0,
    an asymmetric return and a drop that never happened."""
    times = [[0, 110_000, 678_000, 701_000], [626_000, 721_000, 763_000, 766_000]]
    doc = run(_sent(times))
    assert _journeys(doc) == _expected(times)
    kinds = {a["kind"] for a in doc["anomalies"]}
    assert kinds <= {"tcp-retransmission", "ambiguous"}, "no drop, no asymmetric return"


def test_a_slow_first_hop(run: Run) -> None:
    times = [[0, 372_000, 513_000, 526_000], [571_000, 601_000, 653_000, 656_000]]
    doc = run(_sent(times))
    assert _journeys(doc) == _expected(times)


@st.composite
def _fifo_times(draw: st.DrawFn) -> list[list[int]]:
    """2-5 packets, each hop taking 1 us - 1.5 ms, the packets in one order at every point."""
    count = draw(st.integers(2, 5))
    times: list[list[int]] = []
    for k in range(count):
        at = [draw(st.integers(1_000, 800_000)) + (times[-1][0] if times else 0)]
        for p in range(1, len(ps.DIRECT)):
            hop = draw(st.integers(1_000, 1_500_000))
            behind = times[-1][p] + 1_000 if times else 0  # FIFO: after the one before
            at.append(max(at[-1] + hop, behind))
        times.append(at)
        del k
    return times


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=_fifo_times())
def test_identical_packets_are_told_apart_by_their_order_at_each_point(
    times: list[list[int]],
) -> None:
    doc = to_dict(analyze(builder.table(_sent(times)), Options()))
    assert _journeys(doc) == _expected(times)


def test_the_least_cost_assignment_is_the_least() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 5))
        m = int(rng.integers(n, 6))
        cost = rng.integers(0, 50, size=(n, m)).astype("float64")
        pick = min_cost_assignment(cost)
        assert len(set(pick.tolist())) == n
        best = min(sum(cost[i, c] for i, c in enumerate(cols))
                   for cols in itertools.permutations(range(m), n))  # fmt: skip
        assert sum(cost[i, c] for i, c in enumerate(pick)) == best


def test_the_in_order_matching_is_exact_for_a_convex_time_cost() -> None:
    """What a candidate with very many copies of one packet is matched by."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        m = int(rng.integers(n, 10))
        rows = np.sort(rng.integers(0, 1_000, n)).astype("float64")
        cols = np.sort(rng.integers(0, 1_000, m)).astype("float64")
        cost = np.square(rows[:, None] - cols[None, :])
        fast, exact = _in_order(cost), _hungarian(cost)
        assert list(fast) == sorted(fast)
        assert len(set(fast.tolist())) == n
        assert cost[np.arange(n), fast].sum() == cost[np.arange(n), exact].sum()


def test_a_copy_recorded_right_after_the_slow_one_is_the_copy_not_the_fast_one() -> None:
    """The slow SYN-ACK's frame at eth1 recorded twice, 3 us apart: three identical rows there,
    82 us and 3 us apart, where every other point saw two. The copy is the one 3 us after its
    frame; the fast SYN-ACK, 82 us later, is a packet. Taking the earliest close row as the
    packet made the copy a hop, and the fast SYN-ACK 'dropped' after ovn0."""
    import pandas as pd

    times = [[0, 110_000, 678_000, 701_000], [626_000, 721_000, 763_000, 766_000]]
    table = builder.table(_sent(times))
    slow_at_eth1 = T0 + START + 678_000
    row = int(np.flatnonzero((table["ts_ns"] == slow_at_eth1).to_numpy())[0])
    twice = pd.concat([table, table.iloc[[row]]], ignore_index=True)
    twice.loc[len(twice) - 1, "ts_ns"] = slow_at_eth1 + 3_000
    doc = to_dict(analyze(twice, Options()))
    assert _journeys(doc) == _expected(times)
    copies = [(s["point"], s["ts_ns"] - T0 - START, s["copy"]) for j in doc["journeys"]
              for s in j["sightings"] if s["copy"]]  # fmt: skip
    assert copies == [(ps.N2_ETH1, 681_000, "duplicate")]
    assert {a["kind"] for a in doc["anomalies"]} <= {"tcp-retransmission", "ambiguous"}


def test_a_flood_of_one_frame_is_matched_in_time_order() -> None:
    """1000 identical datagrams (IP ID 0, one payload) 1 ms apart, 100-480 us between two
    points, every tenth lost before the second: a candidate of 1000 packets. Every row
    against every anchor took 13 s and 3.9 GB at 4000 packets; in time order it is linear.
    Each packet keeps its own two sightings, the lost ones only the first (where packets
    are lost, a point's rows go to the nearest packets in order: right while the delay is
    under half their spacing; they are all flagged ambiguous anyway)."""
    from tests.support.builder import Packet, step
    from tests.support.common import base

    a, b = "a/eth0", "b/eth0"
    cap = base({a: "ether", b: "ether"}, None)
    frame = Packet("udp", "10.0.0.1", "10.0.0.2", ip_id=0, sport=5000, dport=6000, payload=b"hb")
    expected = set()
    for k in range(1000):
        delay = 100 + (k * 37) % 380  # us, uneven; one order at both points
        lost = k % 10 == 5
        cap.send(frame, T0 + k * 1_000_000, [step(a), step(b, delay)],
                 drop_after=1 if lost else None)  # fmt: skip
        at_a = k * 1_000_000
        expected.add(((a, at_a),) if lost else ((a, at_a), (b, at_a + delay * 1000)))
    doc = to_dict(analyze(builder.table(cap), Options()), max_journeys=10_000)
    got = {tuple((s["point"], s["ts_ns"] - T0) for s in j["sightings"]) for j in doc["journeys"]}
    assert got == expected
