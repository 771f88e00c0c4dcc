"""The ``ovs-geneve`` lab topology: Open vSwitch (userspace datapath) and a Geneve tunnel.

Two node namespaces, each running its *own* ``ovsdb-server`` and ``ovs-vswitchd`` (started with
``ip netns exec``, so they live in the node's network namespace) with every run/db/log file in
``<state_root>/<lab>/ovs/<node>/``; a system Open vSwitch instance (Debian's
``openvswitch-switch`` service) is never used, contacted or disturbed — every ``ovs-vsctl`` gets
``--db=unix:<that dir>/db.sock`` and every ``ovs-appctl`` ``-t <that dir>/ovs-vswitchd.ctl``.

Per node (kube-ovn's shape where it matters to netdiag)::

    pod ns <lab>-<pod>: eth0 192.168.0.6/24 ── veth ── <12 hex>_h  port of br-int
    br-int (datapath_type=netdev): pod ports with external_ids:iface-id=<pod>.<namespace>,
        ovn-<peer>: type=geneve, options:remote_ip=<other node's underlay IP>, key=<VNI>
    br-phy (datapath_type=netdev): port eth1 (the underlay veth), internal port br-phy
        carrying the node's underlay IP 172.19.0.6/16 (.7 on the other node)

Why ``br-phy``: the netdev datapath sends tunnel packets itself (OVS "userspace tunnelling"):
it resolves the remote IP with its own route table and ARP, and only out of an OVS bridge
whose internal port holds the local tunnel IP. So the underlay veth ``eth1`` is an OVS port
(read and written with AF_PACKET) and the IP sits on ``br-phy`` (a tap device in the netdev
datapath, so ``/dev/net/tun`` is needed); ``ovs/route/add`` pins the underlay route to it and
``tnl/neigh/set`` gives it the peer's MAC, so the first packet does not wait for OVS's own ARP.
``key`` is a fixed VNI here; OVN uses ``key=flow`` and sets the tunnel id per logical switch.

What differs from a real kube-ovn node: no kernel OVS datapath and no ``genev_sys_6081``
device, so the tunnel can only be captured on the underlay (``eth1``), encapsulated; no OVN
(br-int runs the NORMAL action, pods share one L2 subnet); no ovn0/join network, NAT or sshd.
``netdiag lab down`` removes it like the default lab (namespaces by prefix, their processes,
the state dir) and also kills OVS daemons whose command line names the state dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from netdiag.errors import LabError
from netdiag.lab.system import ip_batch, list_netns, run

__all__ = [
    "OVS_TOOLS",
    "OvsLab",
    "OvsNode",
    "OvsPod",
    "build",
    "missing_tools",
    "ovs_spec",
    "stray_ovs_pids",
]

OVS_TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl")
_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


@dataclass(frozen=True)
class OvsPod:
    """A pod behind a br-int port whose iface-id is kube-ovn's ``<pod>.<namespace>``."""

    namespace: str
    pod: str
    node: str
    ip: str
    host_iface: str  # kube-ovn style `<12 hex>_h`

    @property
    def iface_id(self) -> str:
        return f"{self.pod}.{self.namespace}"


@dataclass(frozen=True)
class OvsNode:
    """A node: its namespace holds the OVS daemons, br-int, br-phy and the underlay eth1."""

    name: str
    underlay_ip: str


@dataclass(frozen=True)
class OvsLab:
    """The whole OVS lab; every namespace starts with ``<name>-`` so ``down`` sweeps it."""

    name: str
    state_root: str
    nodes: tuple[OvsNode, OvsNode]
    pods: tuple[OvsPod, ...]
    vni: int = 7
    underlay_prefixlen: int = 16
    pod_prefixlen: int = 24
    pod_mtu: int = 1400
    underlay: str = "eth1"

    @property
    def state_dir(self) -> str:
        return f"{self.state_root}/{self.name}"

    def node_netns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def pod_netns(self, pod: OvsPod) -> str:
        return f"{self.name}-{pod.pod}"

    def ovs_dir(self, node: str) -> str:
        return f"{self.state_dir}/ovs/{node}"

    def vsctl(self, node: str, *args: str) -> list[str]:
        """An ``ovs-vsctl`` argv bound to this node's private database."""
        return ["ovs-vsctl", f"--db=unix:{self.ovs_dir(node)}/db.sock", "--timeout=10", *args]

    def appctl(self, node: str, *args: str) -> list[str]:
        return ["ovs-appctl", "-t", f"{self.ovs_dir(node)}/ovs-vswitchd.ctl", *args]

    def tunnel_port(self, node: str) -> str:
        peer = next(n for n in self.nodes if n.name != node)
        return f"ovn-{peer.name}"[:15]

    def netns(self) -> tuple[str, ...]:
        return tuple(self.node_netns(n.name) for n in self.nodes) + tuple(
            self.pod_netns(p) for p in self.pods
        )


def ovs_spec(name: str, state_root: str) -> OvsLab:
    """Two nodes (kube-ovn-like names, seed-like underlay IPs), one pod on each."""
    nodes = (OvsNode("ovs-node1", "172.19.0.6"), OvsNode("ovs-node2", "172.19.0.7"))
    pods = (
        OvsPod("default", "pod-a", "ovs-node1", "192.168.0.6", "a1b2c3d4e5f6_h"),
        OvsPod("default", "pod-b", "ovs-node2", "192.168.0.7", "0f1e2d3c4b5a_h"),
    )
    return OvsLab(name, state_root, nodes, pods)


def missing_tools() -> list[str]:
    """The OVS binaries (Debian package openvswitch-switch) not installed here."""
    out = [t for t in OVS_TOOLS if shutil.which(t) is None]
    if not os.path.exists(_SCHEMA):
        out.append(_SCHEMA)
    return out


def _env(lab: OvsLab, node: str) -> dict[str, str]:
    """Point every default OVS path at the node's private dir (never /var/run/openvswitch)."""
    d = lab.ovs_dir(node)
    env = dict(os.environ)
    env.update(OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
    return env


def _in(lab: OvsLab, node: str, argv: list[str], what: str) -> str:
    full = ["ip", "netns", "exec", lab.node_netns(node), *argv]
    proc = subprocess.run(
        full, env=_env(lab, node), capture_output=True, text=True, timeout=20, check=False
    )
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise LabError(
            f"ovs lab {lab.name}, {node}: {what} failed: {err}; run `netdiag lab "
            f"down --name {lab.name}` and retry"
        )
    return proc.stdout


def _start_daemons(lab: OvsLab, node: str) -> None:
    d = lab.ovs_dir(node)
    os.makedirs(d, mode=0o700, exist_ok=True)
    run(["ovsdb-tool", "create", f"{d}/conf.db", _SCHEMA], what="ovsdb-tool create")
    common = ["--detach", "--no-chdir", "--no-self-confinement"]
    _in(
        lab,
        node,
        [
            "ovsdb-server",
            f"{d}/conf.db",
            f"--remote=punix:{d}/db.sock",
            f"--pidfile={d}/ovsdb-server.pid",
            f"--unixctl={d}/ovsdb-server.ctl",
            f"--log-file={d}/ovsdb-server.log",
            *common,
        ],
        "ovsdb-server",
    )
    _in(lab, node, lab.vsctl(node, "--no-wait", "init"), "ovs-vsctl init")
    _in(
        lab,
        node,
        [
            "ovs-vswitchd",
            f"unix:{d}/db.sock",
            f"--pidfile={d}/ovs-vswitchd.pid",
            f"--unixctl={d}/ovs-vswitchd.ctl",
            f"--log-file={d}/ovs-vswitchd.log",
            *common,
        ],
        "ovs-vswitchd",
    )


def _links(lab: OvsLab) -> None:
    """Namespaces and veths; each veth is born with both ends in place (nothing on the host)."""
    n1, n2 = (lab.node_netns(n.name) for n in lab.nodes)
    ip_batch([f"netns add {ns}" for ns in lab.netns()])
    for ns in lab.netns():  # IPv6 off before the links exist: no ND/MLD noise in captures
        run(
            ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
             "net.ipv6.conf.default.disable_ipv6=1"],
            what=f"disable IPv6 in {ns}",
        )  # fmt: skip
    lines = []
    lines.append(
        f"link add {lab.underlay} netns {n1} type veth peer name {lab.underlay} netns {n2}"
    )
    for p in lab.pods:
        lines.append(
            f"link add {p.host_iface} netns {lab.node_netns(p.node)} mtu {lab.pod_mtu} "
            f"type veth peer name eth0 netns {lab.pod_netns(p)} mtu {lab.pod_mtu}"
        )
    ip_batch(lines)
    for n in lab.nodes:
        ns = lab.node_netns(n.name)
        up = [f"link set {p.host_iface} up" for p in lab.pods if p.node == n.name]
        ip_batch(["link set lo up", f"link set {lab.underlay} up", *up], netns=ns)
    for p in lab.pods:
        ip_batch(
            ["link set lo up", f"addr add {p.ip}/{lab.pod_prefixlen} dev eth0", "link set eth0 up"],
            netns=lab.pod_netns(p),
        )


def _bridges(lab: OvsLab, node: OvsNode) -> None:
    n = node.name
    peer = next(o for o in lab.nodes if o.name != n)
    v = lab.vsctl
    args = [
        "add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
        "--", "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
        "--", "add-port", "br-phy", lab.underlay,
        "--", "add-port", "br-int", lab.tunnel_port(n), "--", "set", "interface",
        lab.tunnel_port(n), "type=geneve", f"options:remote_ip={peer.underlay_ip}",
        f"options:key={lab.vni}",
    ]  # fmt: skip
    for p in lab.pods:
        if p.node == n:
            args += ["--", "add-port", "br-int", p.host_iface, "--", "set", "interface",
                     p.host_iface, f"external_ids:iface-id={p.iface_id}",
                     f"external_ids:ip={p.ip}"]  # fmt: skip
    _in(lab, n, v(n, *args), "ovs-vsctl add-br")
    ns = lab.node_netns(n)
    ip_batch(
        [f"addr add {node.underlay_ip}/{lab.underlay_prefixlen} dev br-phy", "link set br-phy up"],
        netns=ns,
    )
    net = f"{node.underlay_ip.rsplit('.', 2)[0]}.0.0/{lab.underlay_prefixlen}"
    _in(lab, n, lab.appctl(n, "ovs/route/add", net, "br-phy"), "ovs/route/add")


def build(lab: OvsLab) -> float:
    """Build the lab; returns the seconds it took. Refuses if any ``<name>-`` namespace exists."""
    if missing := missing_tools():
        raise LabError(
            f"the ovs-geneve lab needs {', '.join(missing)}; install "
            "openvswitch-switch (e.g. `make deps`)"
        )
    if taken := [ns for ns in list_netns() if ns.startswith(f"{lab.name}-")]:
        raise LabError(
            f"lab {lab.name} already exists ({taken[0]}); run `netdiag lab down "
            f"--name {lab.name}` first"
        )
    t0 = time.monotonic()
    os.makedirs(lab.state_dir, mode=0o755, exist_ok=True)
    _links(lab)
    for n in lab.nodes:
        _start_daemons(lab, n.name)
    for n in lab.nodes:
        _bridges(lab, n)
    _seed_tunnel_neighbours(lab)
    return time.monotonic() - t0


def _seed_tunnel_neighbours(lab: OvsLab) -> None:
    """Tell each vswitchd the peer's br-phy MAC (``tnl/neigh/set``).

    Otherwise the first tunnelled packet waits about a second while the userspace datapath
    resolves the remote IP by ARP itself, which shows up as a 1 s first ping in captures.
    """
    macs = {
        n.name: _in(
            lab, n.name, ["cat", "/sys/class/net/br-phy/address"], "read br-phy MAC"
        ).strip()
        for n in lab.nodes
    }
    for n in lab.nodes:
        peer = next(o for o in lab.nodes if o.name != n.name)
        argv = lab.appctl(n.name, "tnl/neigh/set", "br-phy", peer.underlay_ip, macs[peer.name])
        _in(lab, n.name, argv, "tnl/neigh/set")


def stray_ovs_pids(state_dir: str) -> list[int]:
    """OVS daemons whose command line names ``state_dir`` (e.g. after their netns was lost)."""
    out = []
    needle = (state_dir.rstrip("/") + "/").encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and os.path.basename(argv[0]).startswith((b"ovsdb-server", b"ovs-vswitchd"))
            and any(needle in a for a in argv)
        ):
            out.append(int(entry))
    return out
