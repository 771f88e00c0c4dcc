"""What a run bundle's manifest tells the analysis besides the pcaps: node MACs, which nodes
are end hosts, where each pod's address lives, and the reference node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from netdiag.bundle import load_input
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


def test_manifest_facts_reach_the_analysis_options(tmp_path: Path) -> None:
    data = load_input([_bundle(tmp_path)])
    options = data.options(window_ns=1_000_000_000)
    assert options.window_ns == 1_000_000_000
    assert options.node_macs == {sc.CP: ("00:00:00:21:44:fd",), "client": ()}
    assert options.endpoint_nodes == frozenset({"client"})
    assert options.point_addresses == {sc.VETH: ("192.168.0.6",)}
    assert options.reference_node in {"client", sc.CP}
    assert data.options(reference_node=sc.CP).reference_node == sc.CP
