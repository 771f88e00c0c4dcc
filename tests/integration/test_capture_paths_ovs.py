"""The ovs-geneve lab's versions of the harder paths, captured over SSH with `netdiag capture`.

TCP crosses the userspace datapath (the lab turns the senders' checksum offload off), a ClusterIP
hairpins back to its calling pod through OVS's ovn0 port, and a NodePort's reply leaves the
backend's node un-NATed. As in test_capture_paths: one test per path that the lab carried it
(packets only), one that the analysis states the facts.
The ovs lab has no masqueraded NodePort and no drop-after-decapsulation scenario: every node's
ovn0 holds the same gateway address, so a reply to a request masqueraded to it would stay on
node 2; and OpenFlow cannot single out one echo request of three to drop.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from netdiag.bundle import load_input
from netdiag.cli._env import ExitCode
from netdiag.lab import LabState
from netdiag.lab.ovs import missing_tools
from tests.integration.test_capture_paths import CaptureFailed, Run
from tests.support import lab_facts as facts
from tests.support.lab_runs import Scenario
from tests.support.record_lab_runs import capture

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(missing_tools()),
        reason=f"Open vSwitch is not installed ({', '.join(missing_tools())}); "
        "apt-get install openvswitch-switch",
    ),
]

PLANS = ("ovs-clusterip-hairpin", "ovs-nodeport-asymmetric")


@pytest.fixture(scope="module")
def run_of(ovs_lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in done:
            out = tmp_path_factory.mktemp(name) / "run"
            code, _, err = capture(ovs_lab, Scenario(name, name), out)
            if code != ExitCode.OK or not (out / "analysis.json").is_file():
                raise CaptureFailed(f"{name}: netdiag capture exited {code}:\n{err}")
            manifest = json.loads((out / "manifest.json").read_text())
            doc = json.loads((out / "analysis.json").read_text())
            done[name] = Run(out, manifest, doc, load_input([out]).table)
        return done[name]

    return get


def _connect(lab: LabState, netns: str, target: str, port: int) -> int:
    script = 'exec 3<>"/dev/tcp/$0/$1"'
    argv = ["ip", "netns", "exec", netns, "timeout", "3", "bash", "-c", script, target, str(port)]
    return subprocess.run(argv, capture_output=True, timeout=20, check=False).returncode


def test_tcp_connects_through_the_userspace_datapath(ovs_lab: LabState) -> None:
    client = ovs_lab.node("client").netns
    pod_a = ovs_lab.pod("default/pod-a").host_netns
    assert _connect(ovs_lab, client, "172.19.0.11", 80) == 0, "client -> FIP -> pod-a (OVS)"
    assert _connect(ovs_lab, pod_a, "192.168.0.7", 80) == 0, "pod-a -> pod-b over Geneve"


def test_hairpin_connect_leaves_and_reenters_pod_a_through_ovn0(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("ovs-clusterip-hairpin")
    assert run.probe_exit() == 0
    port = facts.OVS.pod1_port
    assert not facts.packets(run.table, port, dst="10.96.0.10", tcp_flags=0x02).empty
    assert not facts.packets(run.table, port, src="192.168.0.1", dport=80, tcp_flags=0x02).empty


def test_unmasqueraded_nodeport_reply_leaves_node_2_directly(
    run_of: Callable[[str], Run],
) -> None:
    run = run_of("ovs-nodeport-asymmetric")
    assert run.probe_exit() != 0, "the client drops a reply from the pod's own address"
    t = run.table
    assert not facts.packets(t, facts.OVS.node1_uplink, encap="geneve", dst="192.168.0.7").empty
    assert not facts.packets(t, facts.OVS.node2_uplink, src="192.168.0.7", sport=80).empty
    assert facts.packets(t, facts.OVS.node1_uplink, src="192.168.0.7", sport=80).empty


@pytest.mark.parametrize("name", PLANS)
def test_the_analysis_states_the_facts_of_the_path(name: str, run_of: Callable[[str], Run]) -> None:
    run = run_of(name)
    facts.CHECKS[name](run.doc, run.table)
