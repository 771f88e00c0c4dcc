"""The state record survives a JSON round trip and a missing/garbled file reads as 'no state'."""

from __future__ import annotations

from pathlib import Path

from netdiag.lab.state import LabState, NodeState, PodState, load_state, save_state


def _state(tmp: Path) -> LabState:
    return LabState(
        name="ndx",
        phase="up",
        state_dir=str(tmp),
        key_path=f"{tmp}/ssh/id_ed25519",
        known_hosts_path=f"{tmp}/ssh/known_hosts",
        inventory_path=f"{tmp}/inventory.yaml",
        host_iface="ndx-mgmt",
        host_mgmt_ip="10.250.0.1",
        netns=("ndx-sw", "ndx-client"),
        nodes=(
            NodeState("client", "external", "ndx-client", "10.250.0.10", "eth0", "172.19.0.1", 42),
        ),
        pods=(
            PodState(
                "default/p",
                "n",
                "p",
                "ndx-pod-p",
                "192.168.0.6",
                "00:00:00:de:cb:07",
                "x_h",
                "eth0",
            ),
        ),
        build_seconds=0.2,
    )


def test_round_trip(tmp_path: Path) -> None:
    state = _state(tmp_path)
    save_state(state)
    assert load_state(str(tmp_path)) == state
    assert state.mgmt_addresses == {"client": "10.250.0.10"}
    assert state.ssh_argv("client")[-1] == "root@10.250.0.10"


def test_missing_or_garbled_state_is_none(tmp_path: Path) -> None:
    assert load_state(str(tmp_path)) is None
    (tmp_path / "state.json").write_text("{not json", encoding="utf-8")
    assert load_state(str(tmp_path)) is None
