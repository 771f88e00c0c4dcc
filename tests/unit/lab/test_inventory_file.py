"""The lab's inventory: the shared format, loadable, and the committed file kept in sync."""

from __future__ import annotations

from pathlib import Path

import yaml

from netdiag.lab.inventory import inventory_dict, inventory_text
from netdiag.lab.topology import default_spec

REPO = Path(__file__).resolve().parents[3]


def test_committed_inventory_is_what_lab_up_writes() -> None:
    committed = (REPO / "inventory" / "lab.yaml").read_text(encoding="utf-8")
    assert committed == inventory_text(default_spec()), (
        "inventory/lab.yaml is stale: regenerate it from netdiag.lab.inventory.inventory_text"
    )


def test_inventory_describes_nodes_devices_keys_and_pods() -> None:
    data = yaml.safe_load(inventory_text(default_spec("ndx", "10.250.9.0/24")))
    assert data["version"] == 1
    assert data["defaults"]["identity_file"] == "/run/netdiag-lab/ndx/ssh/id_ed25519"
    assert data["defaults"]["known_hosts"] == "/run/netdiag-lab/ndx/ssh/known_hosts"
    assert data["defaults"]["host_key_policy"] == "strict"
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["kube-ovn-control-plane"]["host"] == "10.250.9.11"
    assert nodes["kube-ovn-control-plane"]["devices"]["tunnel"] == "vxlan0"
    assert nodes["client"]["devices"]["uplink"] == "eth0"
    pod = data["pods"][0]
    assert (pod["netns"], pod["fip"], pod["mac"]) == (
        "fip-busybox01",
        "172.19.0.11",
        "00:00:00:de:cb:07",
    )
    assert "fip" not in data["pods"][1]


def test_inventory_loader_accepts_it(tmp_path: Path) -> None:
    from netdiag.inventory import load_inventory

    path = tmp_path / "lab.yaml"
    path.write_text(inventory_text(default_spec()), encoding="utf-8")
    inv = load_inventory(path)
    assert inv.node("kube-ovn-worker").host == "10.250.0.12"
    assert inv.pod("default/fip-busybox01").host_iface == "dd2b931fc304_h"


def test_labels_carry_the_simulated_clock_offset() -> None:
    spec = default_spec().with_clock_offsets({"kube-ovn-worker": -2500})
    nodes = {n["name"]: n for n in inventory_dict(spec)["nodes"]}
    assert nodes["kube-ovn-worker"]["labels"]["simulated_clock_offset_ns"] == "-2500"
