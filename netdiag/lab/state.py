"""What a running lab is, as recorded in its state dir (`<state_root>/<name>/state.json`).

The record is written *before* anything is created (phase "building") and completed at the end
(phase "up"), so `down` after a killed `up` knows what to look for — and it also sweeps by the
name prefix, in case even this file was never written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from netdiag.errors import LabError

__all__ = ["LabState", "NodeState", "PodState", "load_state", "save_state"]

Phase = Literal["building", "up"]


@dataclass(frozen=True)
class NodeState:
    """A node as reachable from the host: SSH here with the lab's key."""

    name: str
    role: str
    netns: str
    mgmt_ip: str
    uplink: str
    uplink_ip: str
    sshd_pid: int | None = None
    clock_offset_ns: int = 0  # simulated, see netdiag.lab


@dataclass(frozen=True)
class PodState:
    name: str
    node: str
    netns: str  # as the node sees it: `ip netns exec <netns>` inside the node's SSH session
    host_netns: str  # as the host sees it
    ip: str
    mac: str
    host_iface: str
    iface: str
    fip: str | None = None


@dataclass(frozen=True)
class LabState:
    """A lab handle: everything a test or the orchestrator needs to reach and capture on it."""

    name: str
    phase: Phase
    state_dir: str
    key_path: str
    known_hosts_path: str
    inventory_path: str
    host_iface: str
    host_mgmt_ip: str
    netns: tuple[str, ...]
    nodes: tuple[NodeState, ...] = ()
    pods: tuple[PodState, ...] = ()
    build_seconds: float = 0.0
    extra_inventory_paths: tuple[str, ...] = ()
    already_running: bool = field(default=False, compare=False)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    @property
    def mgmt_addresses(self) -> dict[str, str]:
        return {n.name: n.mgmt_ip for n in self.nodes}

    def node(self, name: str) -> NodeState:
        for node in self.nodes:
            if node.name == name:
                return node
        raise LabError(f"lab {self.name} has no node {name!r}; nodes: {', '.join(self.node_names)}")

    def pod(self, name: str) -> PodState:
        for pod in self.pods:
            if name in (pod.name, pod.netns):
                return pod
        raise LabError(f"lab {self.name} has no pod {name!r}")

    def ssh_argv(self, node: str) -> list[str]:
        """The system `ssh` command line that reaches a node (strict host key checking)."""
        return [
            "ssh",
            "-i",
            self.key_path,
            "-o",
            f"UserKnownHostsFile={self.known_hosts_path}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"root@{self.node(node).mgmt_ip}",
        ]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("already_running")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        data = dict(data)
        data["nodes"] = tuple(NodeState(**n) for n in data.get("nodes", ()))
        data["pods"] = tuple(PodState(**p) for p in data.get("pods", ()))
        data["netns"] = tuple(data.get("netns", ()))
        data["extra_inventory_paths"] = tuple(data.get("extra_inventory_paths", ()))
        return cls(**data)


def state_file(state_dir: str) -> str:
    return f"{state_dir}/state.json"


def save_state(state: LabState) -> None:
    """Write atomically (rename), so a killed `up` never leaves half a JSON file."""
    path = state_file(state.state_dir)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state.to_json(), fh, indent=1)
    os.replace(tmp, path)


def load_state(state_dir: str) -> LabState | None:
    """The recorded state, or None if there is none (or it is unreadable: `down` sweeps anyway)."""
    try:
        with open(state_file(state_dir), encoding="utf-8") as fh:
            return LabState.from_json(json.load(fh))
    except (OSError, ValueError, TypeError):
        return None
