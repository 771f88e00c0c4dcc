"""`inventory from-kubectl` on recorded-shape kubectl JSON, and through a stand-in kubectl."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from netdiag.cli import Env, ExitCode, main
from netdiag.discover.kubectl import inventory_yaml, parse_nodes, parse_pods
from netdiag.errors import InputError
from netdiag.inventory import parse_inventory
from tests.unit.discover.discover_fixtures import HERE, fixture


def _kube_ovn() -> str:
    return inventory_yaml(
        fixture("kubeovn_nodes.txt"), fixture("kubeovn_pods.txt"), fixture("kubeovn_ds.txt"), "t"
    )


def test_kube_ovn_cluster_becomes_a_loadable_inventory() -> None:
    inv = parse_inventory(_kube_ovn(), Path("cluster.yaml"))
    cp = inv.node("kube-ovn-control-plane")
    assert (cp.host, dict(cp.labels)) == (
        "172.18.0.3",
        {"role": "control-plane", "cni": "kube-ovn", "pod_cidrs": "10.244.0.0/24"},
    )
    assert dict(cp.devices) == {"join": "ovn0", "tunnel": "genev_sys_6081"}
    assert inv.node("kube-ovn-worker").labels["role"] == "worker"
    pods = {p.name: p for p in inv.pods}
    # host-network kube-ovn-cni and the unscheduled pod are left out
    assert set(pods) == {
        "default/fip-busybox01",
        "default/fip-busybox02",
        "kube-system/coredns-787d4945fb-5fdk7",
    }
    assert (pods["default/fip-busybox01"].node, pods["default/fip-busybox01"].ips) == (
        "kube-ovn-control-plane",
        ("192.168.0.6",),
    )


def test_multihomed_pod_from_network_status_annotation() -> None:
    (pod,) = parse_pods(fixture("ovnk8s_pods.txt"))
    assert pod.ips == ("10.124.1.7", "10.33.2.3")
    assert pod.mac == "0a:58:0a:7c:01:07"
    assert [i[:3] for i in pod.interfaces] == [
        ("eth0", ("10.124.1.7",), "ovn-kubernetes"),
        ("eth1", ("10.33.2.3",), "kube-system/l3-network"),
    ]
    text = inventory_yaml(
        fixture("ovnk8s_nodes.txt"), fixture("ovnk8s_pods.txt"), fixture("ovnk8s_ds.txt"), "t"
    )
    assert "  # eth1: 10.33.2.3 0a:58:0a:21:02:03 on kube-system/l3-network\n" in text
    inv = parse_inventory(text, Path("c.yaml"))
    assert inv.node("work001").labels["external_ip"] == "10.20.30.101"
    assert inv.node("work001").labels["cni"] == "ovn-kubernetes"
    assert inv.pod("default/nginx1-l3").mac == "0a:58:0a:7c:01:07"


def test_nodes_roles_and_bad_json() -> None:
    roles = [n.roles for n in parse_nodes(fixture("kubeovn_nodes.txt"))]
    assert roles == [("control-plane",), ()]
    with pytest.raises(InputError, match="not JSON"):
        parse_nodes("NAME STATUS ROLES\n")
    with pytest.raises(InputError, match="expected a List"):
        parse_pods('{"kind": "Pod"}')


FAKE = """#!/bin/sh
# stand-in kubectl: answers from the recorded fixtures, or fails like a bad context does
case "$*" in
  *--context\\ broken*) echo 'error: context "broken" does not exist' >&2; exit 1 ;;
  *"get nodes"*) f=kubeovn_nodes.txt ;;
  *"get pods"*) f=kubeovn_pods.txt; echo "$*" > "$LOG" ;;
  *"get ds"*) f=kubeovn_ds.txt ;;
esac
grep -v '^# ' "$FIX/$f"
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "kubectl"
    exe.write_text(FAKE)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FIX", str(HERE))
    monkeypatch.setenv("LOG", str(tmp_path / "pods-args"))
    return tmp_path


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), Env(out, err)), out.getvalue(), err.getvalue()


def test_cli_writes_the_inventory(fake_kubectl: Path) -> None:
    code, out, err = _run("inventory", "from-kubectl", "--context", "kind", "-l", "app=web")
    assert code == ExitCode.OK, err
    assert out == inventory_yaml(
        fixture("kubeovn_nodes.txt"),
        fixture("kubeovn_pods.txt"),
        fixture("kubeovn_ds.txt"),
        "kubectl --context kind",
    )
    args = (fake_kubectl / "pods-args").read_text().split()
    assert args == ["--context", "kind", "get", "pods", "-A", "-o", "json", "-l", "app=web"]


def test_cli_kubectl_failure_is_one_clear_line(fake_kubectl: Path) -> None:
    code, out, err = _run("inventory", "from-kubectl", "--context", "broken")
    assert (code, out) == (ExitCode.FAILURE, "")
    assert err.count("\n") == 1
    assert 'context "broken" does not exist; check --context' in err


def test_cli_without_kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = _run("inventory", "from-kubectl")
    assert code == ExitCode.FAILURE
    assert "kubectl not found on PATH; install kubectl" in err
