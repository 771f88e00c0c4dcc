"""`reboot_node`: what a node's reboot does to the lab, for tests of what must survive one.

Every process of the node and of its pods dies at once (SIGKILL: no handler runs, as at a power
cut), the node's and its pods' network namespaces are deleted — their devices, addresses,
routes, iptables rules, neighbour and conntrack tables with them — and built again from the
lab's spec, with the same interface indexes; then the pods' servers and the node's sshd start.
The node's disk stays: its /tmp (and its /run, which a real boot would empty) is a directory of
the state dir, so files written there before the reboot are still there after it, as on a node
whose /tmp is not a tmpfs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import replace

from netdiag.errors import LabError
from netdiag.lab import listener, render, sshd
from netdiag.lab.lifecycle import _locked
from netdiag.lab.state import LabState, load_state, save_state
from netdiag.lab.system import ip_batch, kill_and_wait, list_netns, netns_ids, pids_in_netns
from netdiag.lab.topology import LabSpec

__all__ = ["reboot_node"]


def _mentions(line: str, names: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}(\s|$)", line) for n in names)


def reboot_node(spec: LabSpec, node: str) -> LabState:
    """Kill, delete and rebuild ``node`` (and its pods) of the running lab ``spec``."""
    if spec.dataplane != "kernel":
        raise LabError(f"lab {spec.name}: reboot_node knows only the kernel dataplane lab")
    wanted = spec.node(node)
    node_ns = spec.node_netns(node)
    pods = spec.pods_on(node)
    namespaces = [node_ns, *(spec.pod_netns(p) for p in pods)]
    index = [n.name for n in spec.nodes].index(node)
    ports = {f"ext-{index}", f"mg-{index}"}  # the node's two ports on the lab's switch
    with _locked(spec.state_root):
        state = load_state(spec.state_dir)
        if state is None or state.phase != "up":
            raise LabError(f"lab {spec.name} is not up; `netdiag lab up --name {spec.name}`")
        macs = {ns: _macs(ns) for ns in namespaces}  # a NIC keeps its MAC over a reboot
        # the power cut: every process in the node's and its pods' namespaces, again until none
        # is left (a process forked while the others were being killed is one of them too)
        ids = netns_ids(namespaces)
        left: list[int] = []
        for _ in range(20):
            found = pids_in_netns(ids)
            if not found:
                break
            left = kill_and_wait(found)
        sshd.reap_children()
        if left:
            raise LabError(f"lab {spec.name}: processes {left} of {node} survived SIGKILL")
        ip_batch([f"netns del {ns}" for ns in namespaces if ns in list_netns()])
        _wait_gone(spec.switch_netns, ports)
        # the boot: the same namespaces, devices, addresses and rules as `lab up` made them
        ip_batch([f"netns add {ns}" for ns in namespaces])
        for ns in namespaces:
            script = "sysctl -q -e -w " + " ".join(render.sysctls(spec, ns))
            rules = render.iptables_rules(spec, wanted) if ns == node_ns else ""
            if rules:
                script += " && iptables-restore"
            argv = ["ip", "netns", "exec", ns, "sh", "-c", script]
            done = subprocess.run(argv, input=rules, capture_output=True, text=True,
                                  check=False, timeout=20)  # fmt: skip
            if done.returncode != 0:
                raise LabError(f"sysctl/iptables in {ns} failed: {' '.join(done.stderr.split())}")
        ip_batch([ln for ln in render.host_links_batch(spec)
                  if ln.startswith("link add ") and _mentions(ln, set(namespaces))])  # fmt: skip
        batches = render.netns_batches(spec)
        for ns in namespaces:
            ip_batch(batches[ns], netns=ns)
            # the spec fixes some MACs, the kernel picked the others (mgmt0, the pods' host
            # veths): the lab's neighbours still hold those, as a real network would
            now = _macs(ns)
            again = [f"link set dev {dev} address {mac}" for dev, mac in macs[ns].items()
                     if now.get(dev) not in (None, mac)]  # fmt: skip
            if again:
                ip_batch(again, netns=ns)
        ip_batch([ln for ln in batches[spec.switch_netns] if _mentions(ln, ports)],
                 netns=spec.switch_netns)  # fmt: skip
        bridge = render.bridge_batches(spec).get(node_ns)
        if bridge:
            ip_batch(bridge, netns=node_ns, tool="bridge")
        servers = listener.start(spec, only={p.name for p in pods})
        pid = sshd.start_sshd(spec, wanted)
        servers.wait()
        sshd.wait_ready(spec, {node: pid})
        nodes = tuple(replace(n, sshd_pid=pid) if n.name == node else n for n in state.nodes)
        state = replace(state, nodes=nodes)
        save_state(state)
        return state


def _macs(netns: str) -> dict[str, str]:
    """Ethernet device -> MAC address in ``netns``."""
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    links = json.loads(out or "[]")
    return {
        str(link["ifname"]): str(link["address"])
        for link in links
        if link.get("link_type") == "ether" and link.get("address")
    }


def _wait_gone(netns: str, devices: set[str], timeout: float = 5.0) -> None:
    """A deleted namespace's veth peers vanish asynchronously; their names are reused next."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ip", "-n", netns, "-o", "link", "show"], capture_output=True,
                             text=True, check=False).stdout  # fmt: skip
        present = {d for d in devices if re.search(rf":\s{re.escape(d)}[@:]", out)}
        if not present:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{', '.join(sorted(present))} still in {netns} after {timeout:g} s")
        time.sleep(0.02)
