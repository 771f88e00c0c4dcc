"""The ovs-geneve topology as data, and its CLI options, without root or OVS."""

from __future__ import annotations

import argparse
import io

import pytest

from netdiag.cli import lab as lab_cli
from netdiag.cli._env import Env
from netdiag.discover.ovs import iface_ids
from netdiag.errors import InputError, LabError
from netdiag.lab import ovs
from netdiag.lab.topology import STATE_ROOT


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netdiag")
    lab_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_every_namespace_carries_the_lab_prefix_so_down_sweeps_it() -> None:
    lab = ovs.ovs_spec("ndovs", STATE_ROOT)
    assert len(lab.netns()) == len(set(lab.netns())) == 4
    assert all(ns.startswith("ndovs-") for ns in lab.netns())
    assert lab.state_dir == f"{STATE_ROOT}/ndovs"


def test_pod_ports_carry_kube_ovn_iface_ids_that_discovery_recognises() -> None:
    lab = ovs.ovs_spec("ndovs", STATE_ROOT)
    assert {p.node for p in lab.pods} == {n.name for n in lab.nodes}
    for pod in lab.pods:
        assert pod.iface_id == iface_ids(pod.namespace, pod.pod)[0]
        assert len(pod.host_iface) == 14
        assert pod.host_iface.endswith("_h")


def test_tunnels_point_at_the_other_node_and_fit_interface_names() -> None:
    lab = ovs.ovs_spec("ndovs", STATE_ROOT)
    a, b = lab.nodes
    assert lab.tunnel_port(a.name) == f"ovn-{b.name}"
    assert lab.tunnel_port(b.name) == f"ovn-{a.name}"
    assert all(len(lab.tunnel_port(n.name)) <= 15 for n in lab.nodes)
    assert a.underlay_ip != b.underlay_ip


def test_ovs_commands_use_the_private_database_and_socket_paths_fit() -> None:
    lab = ovs.ovs_spec("abcdefghij", STATE_ROOT)  # longest name
    for node in lab.nodes:
        d = lab.ovs_dir(node.name)
        assert d.startswith(lab.state_dir)
        assert f"--db=unix:{d}/db.sock" in lab.vsctl(node.name, "show")
        assert lab.appctl(node.name, "version")[:3] == ["ovs-appctl", "-t", f"{d}/ovs-vswitchd.ctl"]
        assert len(f"{d}/ovs-vswitchd.ctl") < 108  # sun_path


def test_missing_ovs_binaries_are_named_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "ovs-vswitchd" else tool)
    assert "ovs-vswitchd" in ovs.missing_tools()
    with pytest.raises(LabError, match=r"ovs-vswitchd.*openvswitch-switch"):
        ovs.build(ovs.ovs_spec("ndovs", STATE_ROOT))


def test_stray_pids_only_match_ovs_daemons_naming_the_state_dir() -> None:
    assert ovs.stray_ovs_pids("/run/netdiag-lab/no-such-lab-here") == []


@pytest.mark.parametrize("extra", [["--clock-offset", "n=1ms"], ["--inventory", "x.yaml"]])
def test_default_only_options_are_refused_with_ovs_geneve(extra: list[str]) -> None:
    env = Env(io.StringIO(), io.StringIO())
    with pytest.raises(InputError, match="default topology only"):
        lab_cli.run(_parse(["lab", "up", "--topology", "ovs-geneve", *extra]), env)


def test_ovs_geneve_has_its_own_default_name() -> None:
    args = _parse(["lab", "up", "--topology", "ovs-geneve"])
    assert args.name is None
    assert _parse(["lab", "up"]).topology == "default"
