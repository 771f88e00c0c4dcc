"""`up`, `down` and `status`: build the lab from a LabSpec, find it again, remove all of it.

`down` never trusts the state file alone: it also sweeps namespaces by the lab's name prefix,
kills every process living in them, deletes the one host veth and the state dir — so it works
after a killed or half-failed `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from netdiag.errors import LabError
from netdiag.lab import listener, offload, ovs, render, sshd
from netdiag.lab.inventory import inventory_text, key_path, known_hosts_path
from netdiag.lab.state import LabState, NodeState, PodState, load_state, save_state
from netdiag.lab.status import ovs_alive
from netdiag.lab.system import (
    alive,
    ip_batch,
    kill_and_wait,
    link_exists,
    list_netns,
    marked_pids,
    netns_ids,
    overlapping_host_networks,
    pids_in_netns,
    require_root,
    require_tools,
)
from netdiag.lab.topology import DEFAULT_NAME, STATE_ROOT, LabSpec, default_spec, validate_name

__all__ = ["DownReport", "down", "up"]


@dataclass(frozen=True)
class DownReport:
    """What `down` found and removed (all zero: the lab was not there)."""

    name: str
    namespaces: int
    processes: int
    host_links: int
    state_dir_removed: bool

    @property
    def found_anything(self) -> bool:
        return bool(self.namespaces or self.processes or self.host_links or self.state_dir_removed)


@contextlib.contextmanager
def _locked(state_root: str) -> Iterator[None]:
    """Serialise up/down of labs on this host (flock on the state root directory)."""
    while True:
        os.makedirs(state_root, mode=0o755, exist_ok=True)
        fd = os.open(state_root, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(state_root))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # `down` removed the directory while we waited: lock the new one
    try:
        yield
    finally:
        os.close(fd)


def _state_of(spec: LabSpec, phase: str, pids: dict[str, int], seconds: float) -> LabState:
    nodes = tuple(
        NodeState(
            n.name,
            n.role,
            spec.node_netns(n.name),
            n.mgmt_ip,
            n.uplink,
            n.uplink_ip,
            pids.get(n.name),
            n.clock_offset_ns,
        )
        for n in spec.nodes
    )
    pods = tuple(
        PodState(
            p.name,
            p.node,
            p.netns,
            spec.pod_netns(p),
            p.ip,
            p.mac,
            p.host_iface,
            p.iface,
            p.fip,
        )
        for p in spec.pods
    )
    return LabState(
        name=spec.name,
        phase="up" if phase == "up" else "building",
        state_dir=spec.state_dir,
        key_path=key_path(spec),
        known_hosts_path=known_hosts_path(spec),
        inventory_path=f"{spec.state_dir}/inventory.yaml",
        host_iface=spec.host_iface,
        host_mgmt_ip=spec.host_mgmt_ip,
        netns=spec.all_netns(),
        nodes=nodes,
        pods=pods,
        build_seconds=round(seconds, 3),
    )


def healthy(state: LabState) -> bool:
    """A recorded lab whose namespaces, host veth and sshd processes are all still there."""
    present = set(list_netns())
    return (
        state.phase == "up"
        and all(ns in present for ns in state.netns)
        and link_exists(state.host_iface)
        and all(n.sshd_pid is not None and alive(n.sshd_pid) for n in state.nodes)
        and all(ovs_alive(state.state_dir, n.name) is not False for n in state.nodes)
    )


def up(
    name: str = DEFAULT_NAME,
    *,
    spec: LabSpec | None = None,
    inventory_paths: tuple[str, ...] = (),
) -> LabState:
    """Build the lab (or return the running one, marked ``already_running``)."""
    require_root("netdiag lab up")
    spec = (spec or default_spec(validate_name(name))).validate()
    require_tools()
    if spec.dataplane == "ovs":
        ovs.require_ovs()
    with _locked(spec.state_root):
        existing = load_state(spec.state_dir)
        if existing is not None and healthy(existing):
            _check_same_settings(spec, existing)
            _write_inventories(spec, inventory_paths)
            return replace(existing, already_running=True)
        _down_locked(spec.name, spec.state_root)  # leftovers of a half-made lab
        clash = overlapping_host_networks(spec.mgmt_net, spec.host_iface)
        if clash:
            raise LabError(
                f"management network {spec.mgmt_net} overlaps host route(s) {', '.join(clash)}; "
                "choose another one with --mgmt-net"
            )
        start = time.monotonic()
        _make_dirs(spec)
        save_state(_state_of(spec, "building", {}, 0.0))
        try:
            pids = _build(spec)
        except BaseException:
            _down_locked(spec.name, spec.state_root)
            raise
        _write_inventories(spec, inventory_paths)
        state = _state_of(spec, "up", pids, time.monotonic() - start)
        state = replace(state, extra_inventory_paths=inventory_paths)
        save_state(state)
        return state


def _check_same_settings(spec: LabSpec, running: LabState) -> None:
    """A second `up` may only report the running lab if it asked for the same lab."""
    try:
        with open(running.inventory_path, encoding="utf-8") as fh:
            same = fh.read() == inventory_text(spec)
    except OSError:
        same = False
    if not same:
        raise LabError(
            f"lab {spec.name} is already running with other settings (management network or "
            f"clock offsets); run `netdiag lab down --name {spec.name}` first to rebuild it"
        )


def _make_dirs(spec: LabSpec) -> None:
    os.makedirs(spec.state_dir, mode=0o755)
    os.makedirs(f"{spec.state_dir}/ssh", mode=0o700)
    for node in spec.nodes:
        p = render.node_paths(spec, node.name)
        for d in (f"{p.run}/sshd", f"{p.run}/netns", render.run_mirror(spec, node.name)):
            os.makedirs(d, mode=0o755)
        os.chmod(f"{p.run}/sshd", 0o755)  # sshd's privilege-separation dir: root, not writable
        os.makedirs(p.tmp)
        os.chmod(p.tmp, 0o1777)
        os.makedirs(p.home, mode=0o700)
        for rc in (".bashrc", ".profile"):
            with contextlib.suppress(OSError):  # no /etc/skel: an empty home
                shutil.copy(f"/etc/skel/{rc}", f"{p.home}/{rc}")
        if spec.dataplane == "ovs":
            os.makedirs(f"{p.run}/openvswitch", mode=0o755)  # the node's /run/openvswitch
        for pod in spec.pods_on(node.name):
            if not pod.named:
                continue
            with open(f"{p.run}/netns/{pod.netns}", "w", encoding="ascii"):
                pass  # mount point for the pod's namespace in the node's view


def _build(spec: LabSpec) -> dict[str, int]:
    """The build proper; returns sshd pid per node."""
    keys = sshd.start_keygen(spec)  # runs while the namespaces are made
    try:
        return _build_with(spec, keys)
    except BaseException:
        keys.abandon()
        raise


def _build_with(spec: LabSpec, keys: sshd.KeyJob) -> dict[str, int]:
    ip_batch(render.host_netns_batch(spec))
    procs: list[tuple[str, subprocess.Popen[str], str]] = []
    for ns in spec.all_netns():
        node = next((n for n in spec.nodes if spec.node_netns(n.name) == ns), None)
        rules = render.iptables_rules(spec, node) if node is not None and node.is_node else ""
        # -e: the net.bridge.* keys exist only while the host has br_netfilter loaded
        script = "sysctl -q -e -w " + " ".join(render.sysctls(spec, ns))
        if rules:
            script += " && iptables-restore"
        argv = ["ip", "netns", "exec", ns, "sh", "-c", script]
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append((ns, proc, rules))
    for ns, proc, rules in procs:  # all started first: they run in parallel
        _, err = proc.communicate(rules, timeout=20)
        if proc.returncode != 0:
            raise LabError(f"sysctl/iptables in {ns} failed: {' '.join(err.split())}")
    ip_batch(render.host_links_batch(spec))
    for ns, lines in render.netns_batches(spec).items():
        ip_batch(lines, netns=ns)
    servers = listener.start(spec)  # they start while the rest is wired
    for ns, lines in render.bridge_batches(spec).items():
        ip_batch(lines, netns=ns, tool="bridge")
    if spec.dataplane == "ovs":
        ovs.build_dataplane(spec)
        offload.tx_checksum_off(spec)
    keys.wait()
    sshd.write_ssh_files(spec)
    pids = {node.name: sshd.start_sshd(spec, node) for node in spec.nodes}
    servers.wait()
    sshd.wait_ready(spec, pids)
    return pids


def _write_inventories(spec: LabSpec, extra: tuple[str, ...]) -> None:
    text = inventory_text(spec)
    for path in (f"{spec.state_dir}/inventory.yaml", *extra):
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise LabError(
                f"cannot write inventory {path}: {exc.strerror}; pick another path"
            ) from exc


def down(name: str = DEFAULT_NAME, *, state_root: str = STATE_ROOT) -> DownReport:
    """Remove every namespace, process, host link and file of the lab ``name``."""
    require_root("netdiag lab down")
    validate_name(name)
    with _locked(state_root):
        return _down_locked(name, state_root)


def _down_locked(name: str, state_root: str) -> DownReport:
    prefix = f"{name}-"
    state_dir = f"{state_root}/{name}"
    state = load_state(state_dir)
    # ovs-geneve lab: OVS daemons and pod holders, even after their netns lost its name
    ovs_daemons = set(ovs.stray_ovs_pids(state_dir)) | set(marked_pids(state_dir))
    namespaces = sorted(
        {ns for ns in list_netns() if ns.startswith(prefix)}
        | ({ns for ns in state.netns if ns in list_netns()} if state else set())
    )
    pids = set(pids_in_netns(netns_ids(namespaces))) | ovs_daemons
    if state is not None:
        pids |= {
            n.sshd_pid for n in state.nodes if n.sshd_pid and _is_lab_sshd(n.sshd_pid, state_dir)
        }
    listeners = {n.sshd_pid for n in state.nodes} if state else set()
    # Sessions first, so a still-living sshd reaps them; then the listeners, which we reap.
    left = kill_and_wait(pids - listeners) + kill_and_wait(pids & listeners)
    sshd.reap_children()
    if left:
        raise LabError(f"lab {name}: processes {left} survived SIGKILL; check `ps` and retry")
    host_iface = f"{name}-mgmt"
    links = 1 if link_exists(host_iface) else 0
    lines = [f"netns del {ns}" for ns in namespaces]
    if links:
        lines.append(f"link del {host_iface}")
    if lines:
        # A namespace's veth peers vanish with it, asynchronously: `link del` may race that and
        # fail. _sweep_late below checks again and raises if anything really remains.
        with contextlib.suppress(LabError):
            ip_batch(lines, force=True)
    removed = os.path.isdir(state_dir)
    if removed:
        shutil.rmtree(state_dir)
    with contextlib.suppress(OSError):
        os.rmdir(state_root)  # only if no other lab lives there
    swept = _sweep_late(prefix, host_iface)
    return DownReport(name, len(namespaces) + swept, len(pids), links, removed)


def _sweep_late(prefix: str, host_iface: str, passes: int = 10) -> int:
    """Remove namespaces/links that appeared while `down` ran; returns how many namespaces.

    After a SIGKILLed `up`, its `ip -batch` child lives on and may still be adding namespaces
    and the host link after the first sweep listed them.
    """
    removed = 0
    for _ in range(passes):
        still = [ns for ns in list_netns() if ns.startswith(prefix)]
        link = link_exists(host_iface)
        if not still and not link:
            return removed
        time.sleep(0.05)
        kill_and_wait(pids_in_netns(netns_ids(still)))
        lines = [f"netns del {ns}" for ns in still] + ([f"link del {host_iface}"] if link else [])
        with contextlib.suppress(LabError):  # the batch may race the same late creator
            ip_batch(lines, force=True)
        removed += len(still)
    still = [ns for ns in list_netns() if ns.startswith(prefix)]
    if still or link_exists(host_iface):
        raise LabError(
            f"lab {prefix[:-1]}: could not remove {', '.join(still) or host_iface}; "
            "check `ip netns` and retry `netdiag lab down`"
        )
    return removed


def _is_lab_sshd(pid: int, state_dir: str) -> bool:
    """Guard against pid reuse: only kill a recorded pid if its command line names our state dir."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return state_dir.encode() in fh.read()
    except OSError:
        return False
