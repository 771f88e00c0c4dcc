"""Properties the answer must keep: the same captures in another order, one node's clock off
by seconds, one frame recorded twice at its point — the journeys, their hop order, the
translations and the anomalies do not change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.correlate import Options, analyze
from netdiag.report.json import to_dict
from tests.support import builder, paths
from tests.support import scenarios as sc

SCENARIOS: dict[str, Callable[[], builder.Capture]] = {
    "fip-ingress": lambda: sc.fip_ingress(count=3, drop={1: 2}),
    "fip-egress": lambda: sc.fip_egress(count=2),
    "lb-dnat": lambda: sc.lb_dnat(retransmit=True),
    "geneve": lambda: sc.cross_node("geneve", count=3, drop={2: 3}),
    "vxlan": lambda: sc.cross_node("vxlan", count=2),
    "nodeport-overlay": lambda: paths.nodeport_overlay(count=2),
    "nodeport-any": lambda: paths.nodeport_overlay(count=2, link="sll2"),
    "asymmetric": lambda: paths.nodeport_overlay(masquerade=False, reply_direct=True),
    "hairpin": lambda: paths.hairpin(count=2),
    "drop-after-decap": lambda: paths.overlay_ping(count=3, drop={1: 5}),
    "masquerade": lambda: paths.masqueraded_tcp(mid_connection=True),
    "udp": paths.udp_partly_answered,
    # one SYN-ACK sent twice, the first slow between ovn0 and eth1, the second right behind it
    "same-synack": lambda: paths.same_synack(
        [[0, 110_000, 678_000, 701_000], [626_000, 721_000, 763_000, 766_000]]
    ),
}
TABLES = {name: builder.table(make()) for name, make in SCENARIOS.items()}


def _canonical(table: pd.DataFrame, shift: dict[str, int] | None = None) -> dict[str, Any]:
    """The analysis with every sighting named by (point, capture time on a true clock), so
    that ids, reference node and clock offsets do not matter."""
    shift = shift or {}
    doc = to_dict(analyze(table, Options()))

    def sighting(s: dict[str, Any]) -> tuple[str, int]:
        node = s["point"].split("/", 1)[0]
        return s["point"], s["ts_ns"] - shift.get(node, 0)

    journeys = {}
    for j in doc["journeys"]:
        path = tuple(sighting(s) for s in j["sightings"] if s["copy"] is None)
        copies = tuple(sorted((sighting(s), s["copy"]) for s in j["sightings"] if s["copy"]))
        changes = tuple(
            tuple(sorted((c["kind"], str(c.get("before")), str(c.get("after")))
                         for c in t["changes"]))
            for t in j["transforms"]
        )  # fmt: skip
        journeys[j["id"]] = (path, copies, changes)
    by_id = {jid: v[0][0] for jid, v in journeys.items()}
    anomalies = sorted(
        (a["kind"], a.get("point"), a.get("expected_point"), by_id.get(a["journey"]))
        for a in doc["anomalies"]
    )
    flows = sorted(
        (by_id[f["request"]], by_id[f["reply"]], f["symmetric"], tuple(f["missing_reverse_nat"]))
        for f in doc["flows"]
    )
    translations = sorted(
        (t["kind"], t["node"], tuple(t.get("between", ())), t["before"], t["after"], t["packets"])
        for t in doc["translations"]
    )
    return {
        "journeys": sorted(journeys.values()),
        "anomalies": anomalies,
        "flows": flows,
        "translations": translations,
    }


BASELINE = {name: _canonical(t) for name, t in TABLES.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCENARIOS)), seed=st.integers(0, 2**31))
def test_input_order_does_not_matter(name: str, seed: int) -> None:
    table = TABLES[name]
    rng = np.random.default_rng(seed)
    shuffled = table.iloc[rng.permutation(len(table))].reset_index(drop=True)
    assert _canonical(shuffled) == BASELINE[name]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SCENARIOS)),
    pick=st.integers(0, 10),
    seconds=st.floats(-6.0, 6.0).filter(lambda x: abs(x) > 0.001),
)
def test_one_node_clock_off_by_seconds_does_not_matter(
    name: str, pick: int, seconds: float
) -> None:
    table = TABLES[name]
    nodes = sorted(set(table["node"].astype(str)))
    node = nodes[pick % len(nodes)]
    delta = round(seconds * 1e9)
    shifted = table.copy()
    on_node = (shifted["node"].astype(str) == node).to_numpy()
    shifted.loc[on_node, "ts_ns"] = shifted.loc[on_node, "ts_ns"] + delta
    assert _canonical(shifted, {node: delta}) == BASELINE[name]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCENARIOS)), pick=st.integers(0, 10_000))
def test_a_frame_recorded_twice_changes_nothing_but_its_copy(name: str, pick: int) -> None:
    table = TABLES[name]
    ip_rows = np.flatnonzero(table["ip_version"].notna().to_numpy())
    row = int(ip_rows[pick % len(ip_rows)])
    twice = pd.concat([table, table.iloc[[row]]], ignore_index=True)
    twice.loc[len(twice) - 1, "ts_ns"] = int(table["ts_ns"].iloc[row]) + 3_000
    got = _canonical(twice)
    dup = (str(table["point"].iloc[row]), int(table["ts_ns"].iloc[row]) + 3_000)
    got["journeys"] = sorted(
        (path, tuple(c for c in copies if c != (dup, "duplicate")), changes)
        for path, copies, changes in got["journeys"]
    )
    assert got == BASELINE[name]


RECORDED = ("nodeport-overlay", "clusterip-hairpin", "nodeport-asymmetric", "overlay-drop",
            "pod-egress-snat", "nodeport-overlay-any")  # fmt: skip


def _recorded_table(name: str) -> pd.DataFrame:
    from netdiag.bundle import load_input
    from tests.support.lab_runs import lab_run

    return load_input([lab_run(name)]).table


RECORDED_TABLES = {name: _recorded_table(name) for name in RECORDED}
RECORDED_BASELINE = {name: _canonical(t) for name, t in RECORDED_TABLES.items()}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(RECORDED),
    seed=st.integers(0, 2**31),
    pick=st.integers(0, 10),
    seconds=st.floats(-6.0, 6.0).filter(lambda x: abs(x) > 0.001),
)
def test_real_lab_runs_keep_their_answer_shuffled_and_skewed(
    name: str, seed: int, pick: int, seconds: float
) -> None:
    """The same on real captures of the lab (no clock samples: the packets must do it)."""
    table = RECORDED_TABLES[name]
    rng = np.random.default_rng(seed)
    nodes = sorted(set(table["node"].astype(str)))
    node = nodes[pick % len(nodes)]
    delta = round(seconds * 1e9)
    changed = table.iloc[rng.permutation(len(table))].reset_index(drop=True)
    on_node = (changed["node"].astype(str) == node).to_numpy()
    changed.loc[on_node, "ts_ns"] = changed.loc[on_node, "ts_ns"] + delta
    assert _canonical(changed, {node: delta}) == RECORDED_BASELINE[name]
