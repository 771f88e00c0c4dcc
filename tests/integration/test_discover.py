"""`netdiag discover` live on the lab: node, host veth, netns (+ a secondary eth1), path devices."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator

import pytest

from netdiag.cli import Env, ExitCode, main
from netdiag.lab import LabState

pytestmark = pytest.mark.integration

SECONDARY_HOST = "ndtnet1_h"  # host side of the test's extra veth (a multus-like second network)


@pytest.fixture
def multihomed(lab: LabState) -> Iterator[LabState]:
    """Give default/fip-busybox01 a second interface eth1 (10.33.2.3/24) for the test only."""
    pod = next(p for p in lab.pods if p.name == "default/fip-busybox01")
    node_ns = next(n.netns for n in lab.nodes if n.name == pod.node)

    def ip(*argv: str) -> None:
        subprocess.run(["ip", *argv], check=True, capture_output=True)

    ip("link", "add", SECONDARY_HOST, "netns", node_ns, "type", "veth",
       "peer", "name", "eth1", "netns", pod.host_netns)  # fmt: skip
    try:
        ip("-n", pod.host_netns, "addr", "add", "10.33.2.3/24", "dev", "eth1")
        ip("-n", pod.host_netns, "link", "set", "eth1", "up")
        ip("-n", node_ns, "link", "set", SECONDARY_HOST, "up")
        yield lab
    finally:
        ip("-n", node_ns, "link", "del", SECONDARY_HOST)  # takes the pod's eth1 with it


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err))
    return code, out.getvalue(), err.getvalue()


def test_discover_finds_pod_node_veth_netns_and_path(multihomed: LabState) -> None:
    inv = multihomed.inventory_path
    code, out, err = _run(
        "discover", "--inventory", inv, "--json", "192.168.0.6", "pod:default/fip-busybox02",
        "kube-ovn-worker", "192.168.0.99",
    )  # fmt: skip
    assert code == ExitCode.PARTIAL, err  # 192.168.0.99 exists nowhere
    by_target = {t["target"]: t for t in json.loads(out)["targets"]}
    pod = by_target["192.168.0.6"]
    assert (pod["node"], pod["host_iface"]) == ("kube-ovn-control-plane", "dd2b931fc304_h")
    assert pod["netns"]["name"] == "fip-busybox01"
    ifaces = {i["name"]: i for i in pod["netns"]["interfaces"]}
    assert ifaces["eth0"]["mac"] == "00:00:00:de:cb:07"
    assert (ifaces["eth1"]["ips"], ifaces["eth1"]["host_iface"]) == (["10.33.2.3"], SECONDARY_HOST)
    roles = {(d["role"], d["name"]) for d in pod["path"]}
    assert {("uplink", "eth1"), ("join", "ovn0"), ("tunnel", "vxlan0")} <= roles
    assert "kube-ovn-control-plane: ip -j route get 192.168.0.6" in pod["commands"]
    other = by_target["pod:default/fip-busybox02"]
    assert (other["node"], other["host_iface"]) == ("kube-ovn-worker", "6f1e0c3a9b57_h")
    assert by_target["kube-ovn-worker"]["netns"] is None
    assert by_target["192.168.0.99"]["node"] is None


def test_discover_text_and_bad_target(lab: LabState) -> None:
    code, out, _ = _run("discover", "--inventory", lab.inventory_path, "192.168.0.3")
    assert code == ExitCode.OK
    assert out.startswith("192.168.0.3: on node kube-ovn-control-plane behind 3a5e1d7c9f02_h\n")
    code, _, err = _run("discover", "--inventory", lab.inventory_path, "pod:default/nope")
    assert code == ExitCode.INPUT
    assert "pod 'default/nope' is not in" in err
    assert len(err.strip().splitlines()) == 1
