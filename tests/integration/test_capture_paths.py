"""`netdiag capture` over SSH on the lab's harder paths, and what the analysis must say of them.

The paths (see tests/fixtures/lab-runs/README.md): a NodePort to a pod on the other node through
the overlay, the same NodePort captured on node 1 with `tcpdump -i any`, a ClusterIP hairpin
back to the calling pod, a NodePort reply leaving the other node un-NATed, a drop after
decapsulation, and pod egress SNAT. Each plan runs once per module (the session's lab); one test
checks the lab really carried the path (from the packets alone), another that the analysis
states the facts of tests/support/lab_facts.py.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from netdiag.bundle import load_input
from netdiag.cli._env import ExitCode
from netdiag.lab import LabState
from tests.support import lab_facts as facts
from tests.support.lab_runs import DROP_RULE, SCENARIOS
from tests.support.record_lab_runs import capture

pytestmark = pytest.mark.integration

#: every recorded scenario except the one needing a lab with a skewed clock
LIVE = sorted(n for n, s in SCENARIOS.items() if not s.clock_offsets)


@dataclass(frozen=True)
class Run:
    out: Path
    manifest: dict[str, Any]
    doc: dict[str, Any]
    table: pd.DataFrame

    def probe_exit(self) -> int | None:
        (probe,) = (p for p in self.manifest["probes"] if p["kind"] != "traceroute")
        status: int | None = probe["exit_status"]
        return status


class CaptureFailed(RuntimeError):
    """`netdiag capture` itself failed: never an expected failure of the analysis."""


@pytest.fixture(scope="module")
def run_of(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    """Capture a scenario on the session's lab the first time a test asks for it."""
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in done:
            out = tmp_path_factory.mktemp(name) / "run"
            code, _, err = capture(lab, SCENARIOS[name], out)
            if code != ExitCode.OK or not (out / "analysis.json").is_file():
                raise CaptureFailed(f"{name}: netdiag capture exited {code}:\n{err}")
            manifest = json.loads((out / "manifest.json").read_text())
            doc = json.loads((out / "analysis.json").read_text())
            done[name] = Run(out, manifest, doc, load_input([out]).table)
        return done[name]

    return get


@pytest.mark.parametrize("name", LIVE)
def test_the_analysis_states_the_facts_of_the_path(name: str, run_of: Callable[[str], Run]) -> None:
    run = run_of(name)
    facts.CHECKS[name](run.doc, run.table)


# -- the lab carried each path (packets only, no analysis) ----------------------------------


def _some(table: pd.DataFrame, point: str, **where: object) -> bool:
    return not facts.packets(table, point, **where).empty


def test_nodeport_reaches_the_worker_pod_masqueraded_through_the_overlay(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("nodeport-overlay")
    assert run.probe_exit() == 0, "the connect through the NodePort completes"
    t = run.table
    assert _some(t, facts.W_VETH, src="100.64.0.2", dst="192.168.0.7", dport=80, tcp_flags=0x02)
    assert _some(t, facts.CP_ETH1, encap="vxlan", vni=100, dst="192.168.0.7")
    assert _some(t, facts.CLIENT, src="172.19.0.6", sport=30080, tcp_flags=0x12)


def test_any_capture_is_recorded_with_the_node_interfaces_and_split_by_device(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("nodeport-overlay-any")
    cp = facts.CP
    (any_capture,) = (c for c in run.manifest["captures"] if c["node"] == cp)
    assert (any_capture["iface"], any_capture["status"]) == ("any", "ok")
    assert "LINUX_SLL2" in any_capture["stderr"]
    names = {i["ifname"] for i in run.manifest["nodes"][cp]["interfaces"]}
    assert {"eth1", "ovn0"} <= names
    points = {p["name"] for p in run.doc["points"] if p["node"] == cp}
    assert {facts.CP_ETH1, facts.CP_OVN0} <= points
    assert f"{cp}/any" not in points


def test_hairpin_connect_leaves_and_reenters_the_pods_veth_masqueraded(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("clusterip-hairpin")
    assert run.probe_exit() == 0
    t = run.table
    assert _some(t, facts.CP_VETH, src="192.168.0.6", dst="10.96.0.10", tcp_flags=0x02)
    assert _some(t, facts.CP_VETH, src="192.168.0.1", dst="192.168.0.6", dport=80, tcp_flags=0x02)


def test_unmasqueraded_nodeport_reply_leaves_the_worker_and_never_crosses_node_1(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("nodeport-asymmetric")
    assert run.probe_exit() != 0, "the client drops a reply from the pod's own address"
    t = run.table
    assert _some(t, facts.W_ETH1, src="192.168.0.7", sport=80, dst="172.19.0.1")
    assert _some(t, facts.CLIENT, src="192.168.0.7", sport=80)
    for point in (facts.CP_ETH1, facts.CP_OVN0):
        assert not _some(t, point, src="192.168.0.7", sport=80)


def test_drop_after_decapsulation_loses_one_request_and_is_removed_afterwards(
    lab: LabState, run_of: Callable[[str], Run]
) -> None:
    run = run_of("overlay-drop")
    t = run.table
    arrived = facts.packets(t, facts.W_VETH, dst="192.168.0.7", icmp_type=8)
    decapsulated = facts.packets(t, facts.W_OVN0, dst="192.168.0.7", icmp_type=8)
    assert (len(decapsulated), sorted(arrived["icmp_seq"])) == (3, [1, 3])
    rules = subprocess.run(
        ["ip", "netns", "exec", lab.node(facts.WORKER).netns, "iptables", "-S", "FORWARD"],
        capture_output=True, text=True, check=True, timeout=20,
    ).stdout  # fmt: skip
    assert "DROP" not in rules, "the scenario's rule is gone after the run"
    assert DROP_RULE[0] == "FORWARD"


def test_pod_egress_reaches_the_client_only_as_the_fip(run_of: Callable[[str], Run]) -> None:
    run = run_of("pod-egress-snat")
    assert run.probe_exit() == 0
    sources = set(facts.packets(run.table, facts.CLIENT, dst="172.19.0.1")["src"])
    assert sources == {"172.19.0.11"}
