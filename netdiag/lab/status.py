"""`netdiag lab status`: what is recorded, what is really there, and whether sshd answers."""

from __future__ import annotations

import os
from dataclasses import dataclass

from netdiag.lab.state import LabState, load_state
from netdiag.lab.system import alive, link_exists, list_netns, port_open, require_root
from netdiag.lab.topology import DEFAULT_NAME, STATE_ROOT, validate_name

__all__ = ["LabStatus", "NodeStatus", "format_status", "ovs_alive", "status"]


@dataclass(frozen=True)
class NodeStatus:
    name: str
    netns_present: bool
    sshd_pid: int | None
    sshd_alive: bool
    port_open: bool
    ovs: bool | None = None  # ovs-geneve nodes: both OVS daemons alive (None: no OVS here)


@dataclass(frozen=True)
class LabStatus:
    """``running`` means: recorded as up, every namespace there, every sshd answering."""

    name: str
    state: LabState | None
    stray_netns: tuple[str, ...]  # namespaces with the lab's prefix that the record does not list
    missing_netns: tuple[str, ...]
    host_link: bool
    nodes: tuple[NodeStatus, ...]

    @property
    def running(self) -> bool:
        return (
            self.state is not None
            and self.state.phase == "up"
            and not self.missing_netns
            and self.host_link
            and all(n.sshd_alive and n.port_open and n.ovs is not False for n in self.nodes)
        )

    @property
    def exists(self) -> bool:
        """Anything of the lab at all (a half-built one included)."""
        return self.state is not None or bool(self.stray_netns) or self.host_link


def ovs_alive(state_dir: str, node: str) -> bool | None:
    """An ovs-geneve node's ovsdb-server and ovs-vswitchd, by their pidfiles; None elsewhere."""
    d = f"{state_dir}/nodes/{node}/run/openvswitch"
    if not os.path.exists(f"{d}/conf.db"):
        return None
    for daemon in ("ovsdb-server", "ovs-vswitchd"):
        try:
            with open(f"{d}/{daemon}.pid", encoding="ascii") as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            return False
        if not alive(pid):
            return False
    return True


def status(name: str = DEFAULT_NAME, *, state_root: str = STATE_ROOT) -> LabStatus:
    require_root("netdiag lab status")
    validate_name(name)
    state = load_state(f"{state_root}/{name}")
    present = [ns for ns in list_netns() if ns.startswith(f"{name}-")]
    recorded = set(state.netns) if state else set()
    nodes: list[NodeStatus] = []
    for node in state.nodes if state else ():
        pid_ok = node.sshd_pid is not None and alive(node.sshd_pid)
        nodes.append(
            NodeStatus(
                node.name,
                node.netns in present,
                node.sshd_pid,
                pid_ok,
                pid_ok and port_open(node.mgmt_ip, 22, timeout=0.3),
                ovs_alive(state.state_dir, node.name) if state else None,
            )
        )
    return LabStatus(
        name=name,
        state=state,
        stray_netns=tuple(ns for ns in present if ns not in recorded),
        missing_netns=tuple(sorted(recorded - set(present))),
        host_link=link_exists(f"{name}-mgmt"),
        nodes=tuple(nodes),
    )


def format_status(st: LabStatus) -> str:
    """Human-readable status: nodes, pods, addresses, sshd state, how to connect."""
    if not st.exists:
        return f"lab {st.name}: not running (start it with `netdiag lab up --name {st.name}`)"
    s = st.state
    if s is None:
        what = ", ".join(st.stray_netns) or "host veth"
        return (
            f"lab {st.name}: leftovers without a record ({what}); "
            f"remove them with `netdiag lab down --name {st.name}`"
        )
    word = "running" if st.running else f"BROKEN (phase {s.phase})"
    lines = [f"lab {st.name}: {word}, built in {s.build_seconds:.2f} s, state in {s.state_dir}"]
    lines.append(f"{'NODE':24} {'MGMT':13} {'UPLINK':22} {'SSHD':16}")
    by_name = {n.name: n for n in st.nodes}
    for node in s.nodes:
        ns = by_name.get(node.name)
        sshd = "down"
        if ns is not None and ns.sshd_alive:
            sshd = f"pid {node.sshd_pid} " + ("ok" if ns.port_open else "no-port")
        up = f"{node.uplink} {node.uplink_ip}"
        ovs = "" if ns is None or ns.ovs is None else ("ovs ok" if ns.ovs else "ovs DOWN")
        lines.append(f"{node.name:24} {node.mgmt_ip:13} {up:22} {sshd:16} {ovs}".rstrip())
    lines.append(f"{'POD':24} {'NODE':24} {'IP':13} {'FIP':13} {'HOST VETH'}")
    for pod in s.pods:
        lines.append(
            f"{pod.name:24} {pod.node:24} {pod.ip:13} {pod.fip or '-':13} {pod.host_iface}"
        )
    if st.missing_netns:
        lines.append(f"missing namespaces: {', '.join(st.missing_netns)}")
    if not st.running:
        lines.append(f"repair with `netdiag lab down --name {st.name}` then `netdiag lab up`")
    lines.append(f"inventory: {s.inventory_path}")
    first = s.nodes[1].name if len(s.nodes) > 1 else s.nodes[0].name
    lines.append("ssh: " + " ".join(s.ssh_argv(first)))
    return "\n".join(lines)
