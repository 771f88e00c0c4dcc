"""What a run bundle's manifest tells the analysis besides the pcaps: node MACs, which nodes
are end hosts, where each pod's address lives, and the reference node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from netdiag.bundle import analyse, load_input
from netdiag.correlate import Options
from tests.support import builder
from tests.support import scenarios as sc


def _bundle(tmp_path: Path) -> Path:
    cap = sc.fip_ingress(count=1)
    run = tmp_path / "run"
    (run / "pcaps").mkdir(parents=True)
    paths = builder.write_pcaps(cap, tmp_path)
    captures = []
    for point, path in paths.items():
        name = point.replace("/", "__") + ".pcap"
        shutil.copy(path, run / "pcaps" / name)
        node, iface = point.split("/", 1)
        pod = "default/fip-busybox01" if iface.endswith("_h") else None
        captures.append({"point": point, "node": node, "iface": iface, "file": f"pcaps/{name}",
                         "status": "ok", "netns": None, "pod": pod})  # fmt: skip
    links = [
        {"ifindex": 1, "ifname": "lo", "link_type": "loopback", "address": "00:00:00:00:00:00"},
        {"ifindex": 2, "ifname": "eth1", "link_type": "ether", "address": "00:00:00:21:44:fd"},
    ]
    manifest = {
        "schema": "netdiag.run/1",
        "nodes": {sc.CP: {"status": "ok", "interfaces": links}, "client": {"status": "ok"}},
        "inventory": {
            "nodes": [{"name": "client", "labels": {"role": "external"}},
                      {"name": sc.CP, "labels": {"role": "node"}}],
            "pods": [{"name": "default/fip-busybox01", "node": sc.CP, "ips": ["192.168.0.6"]}],
        },
        "captures": captures,
    }  # fmt: skip
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def test_manifest_facts_reach_the_analysis(tmp_path: Path) -> None:
    data = load_input([_bundle(tmp_path)])
    assert data.node_macs == {sc.CP: ("00:00:00:21:44:fd",), "client": ()}
    assert data.endpoint_nodes == frozenset({"client"})
    assert data.point_addresses == {sc.VETH: ("192.168.0.6",)}


def test_the_reference_node_is_the_first_input_with_ip_packets_unless_asked(
    tmp_path: Path,
) -> None:
    run = _bundle(tmp_path)
    table = load_input([run]).table
    first_ip_node = str(table.dropna(subset=["ip_version"])["node"].iloc[0])
    assert analyse(run).document["reference_node"] == first_ip_node
    asked = analyse(run, Options(window_ns=1_000_000_000, reference_node=sc.CP)).document
    assert (asked["reference_node"], asked["window_ns"]) == (sc.CP, 1_000_000_000)


def _with_more_points(run: Path, *, inside: bool) -> None:
    """Add to the run's manifest a capture of the bridge the pod's veth is a port of (``ip -j
    link`` says so with ``master``), and with ``inside`` one in the pod's own namespace."""
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    node = manifest["nodes"][sc.CP]
    node["interfaces"] += [
        {"ifindex": 5, "ifname": "br-pods", "link_type": "ether", "address": "00:00:00:91:cc:aa"},
        {"ifindex": 6, "ifname": "dd2b931fc304_h", "link_type": "ether",
         "address": "0a:11:22:33:44:55", "master": "br-pods"},
        {"ifindex": 7, "ifname": "vxlan0", "link_type": "ether",
         "address": "0a:11:22:33:44:66", "master": "br-pods"},
    ]  # fmt: skip
    extra = [{"point": f"{sc.CP}/br-pods", "node": sc.CP, "iface": "br-pods", "status": "ok",
              "file": "pcaps/none.pcap", "netns": None, "pod": None}]  # fmt: skip
    if inside:
        extra.append({"point": f"{sc.CP}/fip-busybox01:eth0", "node": sc.CP, "iface": "eth0",
                      "status": "ok", "file": "pcaps/none2.pcap", "netns": "pod-ns",
                      "pod": "default/fip-busybox01"})  # fmt: skip
    manifest["captures"] += extra
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_the_points_further_out_from_a_pod_come_from_its_veths_master(tmp_path: Path) -> None:
    run = _bundle(tmp_path)
    _with_more_points(run, inside=False)
    data = load_input([run])
    assert data.point_addresses == {sc.VETH: ("192.168.0.6",)}
    assert data.outward == {sc.VETH: (f"{sc.CP}/br-pods",)}


def test_a_pod_captured_inside_has_its_veth_then_the_bridge_further_out(tmp_path: Path) -> None:
    run = _bundle(tmp_path)
    _with_more_points(run, inside=True)
    data = load_input([run])
    pod = f"{sc.CP}/fip-busybox01:eth0"
    assert data.point_addresses == {pod: ("192.168.0.6",)}
    assert data.outward == {pod: (sc.VETH, f"{sc.CP}/br-pods")}


def test_no_bridge_captured_no_points_further_out(tmp_path: Path) -> None:
    data = load_input([_bundle(tmp_path)])
    assert data.outward == {}
