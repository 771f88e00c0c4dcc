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
from tests.support.builder import Packet, step
from tests.support.common import T0, base
from tests.unit.correlate.conftest import Run

N2_OVN0 = "node2/ovn0"
ROUTE = (ps.N2_VETH, N2_OVN0, ps.N2_ETH1, ps.CLIENT)
POD_MAC, ROUTER_MAC, CLIENT_MAC = "0a:58:0a:f4:01:07", "0a:58:0a:f4:01:01", "02:42:ac:13:00:01"


def _synack() -> Packet:
    return Packet("tcp", ps.WEB, "172.19.0.1", ip_id=0, sport=80, dport=40000, tcp_seq=9_000,
                  tcp_ack=7_001, tcp_flags="SA", eth_src=POD_MAC, eth_dst=ROUTER_MAC)  # fmt: skip


def _sent(times: list[list[int]]) -> builder.Capture:
    """The same SYN-ACK sent once per row of ``times`` (ns since T0 at each point of ROUTE)."""
    cap = base(dict.fromkeys(ROUTE, "ether"), None)
    for at in times:
        gaps = [0, *(b - a for a, b in itertools.pairwise(at))]
        changes = [{}, {}, {"ttl": 63, "eth_src": "02:00:00:00:02:01", "eth_dst": CLIENT_MAC},
                   {}]  # fmt: skip
        steps = [step(p, g / 1000, **c) for p, g, c in zip(ROUTE, gaps, changes, strict=True)]
        cap.send(_synack(), T0 + at[0], steps)
    return cap


def _journeys(doc: dict[str, object]) -> set[tuple[tuple[str, int], ...]]:
    out = set()
    for j in doc["journeys"]:  # type: ignore[attr-defined]
        out.add(tuple((s["point"], s["ts_ns"] - T0) for s in j["sightings"] if s["copy"] is None))
    return out


def _expected(times: list[list[int]]) -> set[tuple[tuple[str, int], ...]]:
    return {tuple(zip(ROUTE, at, strict=True)) for at in times}


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
        for p in range(1, len(ROUTE)):
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
