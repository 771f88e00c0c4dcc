"""The OVS dataplane of the ``ovs-geneve`` lab: Open vSwitch (userspace datapath) and Geneve.

The lab around it is the ordinary one (``LabSpec`` with ``dataplane="ovs"``, see
``topology.ovs_spec``): namespaces, the switch, the client, sshd and the inventory are built by
``lifecycle`` exactly as for the default lab. This module adds what differs on each node:

    pod ns: eth0 192.168.0.6/24 ── veth ── <12 hex>_h  port of br-int
        (external_ids iface-id=<pod>.<namespace>, pod_name, pod_namespace, ip: kube-ovn's keys)
    br-int (datapath_type=netdev): pod ports, ``ovn0`` (internal port, the pods' gateway
        192.168.0.1 with the logical router's MAC), ``ovn-<peer>`` type=geneve remote_ip=<peer>
    br-phy (datapath_type=netdev): port eth1 (the uplink veth to the switch), internal port
        br-phy with the node's MAC, underlay IP 172.19.0.6/16 and FIP 172.19.0.11/32
    Open_vSwitch external_ids: system-id (the OVN chassis name), hostname, ovn-encap-type/-ip

Each node runs its *own* ``ovsdb-server`` and ``ovs-vswitchd`` (started with ``ip netns exec``
so they live in the node's network namespace) with every file in the node's private ``/run``
source, ``<state>/nodes/<node>/run/openvswitch``: inside an SSH session on the node that is
``/run/openvswitch``, so plain ``ovs-vsctl``/``ovs-appctl``/``ovs-ofctl`` work there unchanged.
A system Open vSwitch (Debian's ``openvswitch-switch`` service) is never used or disturbed.

Why ``br-phy``: the netdev datapath sends tunnel packets itself (OVS "userspace tunnelling"),
only out of a bridge whose internal port holds the local tunnel IP, so the IP moves from eth1
to br-phy; ``ovs/route/add`` pins the underlay route to it and ``tnl/neigh/set`` gives it the
peer's MAC, so the first packet does not wait for OVS's own ARP. ``key`` is a fixed VNI here;
OVN uses ``key=flow`` and sets the tunnel id per logical switch.

The node kernel plays the logical router: ``ovn0`` is the pods' gateway (on a real kube-ovn node
ovn0 is the join-network port and OVN's router is the gateway), iptables does the FIP
DNAT/SNAT and pod-subnet MASQUERADE out of br-phy. Every node's ovn0 has the same IP and MAC
(a distributed router's port does too), so two OpenFlow rules on br-int keep each node's
gateway local: frames from the tunnel with the router MAC as source, and ARP for the gateway IP
arriving from the tunnel, are dropped; all else is the NORMAL (learning switch) action. What a
node's kernel routes to a pod on the other node (a NodePort's DNAT) is the exception: the router
knows remote pods' MACs statically, and the receiving node sends such frames straight to the
pod's port. The senders' TX checksum offload is turned off (netdiag.lab.offload), or TCP
through the userspace datapath would arrive with unfinished checksums. The
netdev datapath reads its ports (eth1, the pods' veths) with AF_PACKET, so the node kernel sees
their traffic too: they have ARP off and IP dropped in raw PREROUTING (``render.iptables_rules``),
or the kernel answers the FIP itself before OVS hands the packet to br-phy.

The first node also runs OVN's northbound and southbound databases (``/run/ovn``, where
``ovn-nbctl``/``ovn-sbctl`` look by default, as in kube-ovn's ovn-central) holding the cluster
router ``ovn-cluster`` with the gateway port ``ovn-cluster-external`` and its gateway chassis
(each node's ``system-id``, first node highest priority), the FIP's ``dnat_and_snat`` and one SB
Chassis per node: what ``discover`` reads to name the gateway node. There is no ovn-northd or
ovn-controller: the databases describe the lab, they do not program it.

Pods' namespaces are *unnamed* from the node's view (not under its ``/run/netns``, as with
docker-style runtimes); each holds a pause-like ``sleep infinity``, so the only way in is a PID:
``lsns``/``nsenter``. What differs from a real kube-ovn node: no kernel OVS datapath, hence no
``genev_sys_6081`` device (the tunnel is visible encapsulated on eth1 only), no OVN
northd/controller/flows, no join network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

from netdiag.errors import LabError
from netdiag.lab import render, sshd
from netdiag.lab.system import LAB_MARK, alive, ip_batch, netns_ids, pids_in_netns, run
from netdiag.lab.topology import LabNode, LabSpec

__all__ = [
    "OVS_TOOLS",
    "build_dataplane",
    "chassis_id",
    "missing_tools",
    "ovn_dir",
    "ovs_dir",
    "require_ovs",
    "stray_ovs_pids",
    "tunnel_port",
]

OVS_TOOLS = (
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-appctl",
    "ovs-ofctl",
    "ovn-nbctl",
    "ovn-sbctl",
)
_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
_OVN_SCHEMAS = {"nb": "/usr/share/ovn/ovn-nb.ovsschema", "sb": "/usr/share/ovn/ovn-sb.ovsschema"}
ROUTER = "ovn-cluster"
GATEWAY_PORT = "ovn-cluster-external"
GATEWAY_PORT_IP = "172.19.0.4/16"  # seed 001: vpc-75989-external
JOIN = "ovn0"


def missing_tools() -> list[str]:
    """The OVS binaries (Debian package openvswitch-switch) not installed here."""
    out = [t for t in OVS_TOOLS if shutil.which(t) is None]
    out += [p for p in (_SCHEMA, *_OVN_SCHEMAS.values()) if not os.path.exists(p)]
    return out


def ovs_dir(spec: LabSpec, node: str) -> str:
    """The node's ``/run/openvswitch`` as the host sees it."""
    return f"{render.node_paths(spec, node).run}/openvswitch"


def chassis_id(spec: LabSpec, node: str) -> str:
    """The node's OVS ``system-id`` (OVN's chassis name): stable per lab and node name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"netdiag-lab:{spec.name}:{node}"))


def tunnel_port(node: str) -> str:
    """The br-int Geneve port towards ``node`` (ovn-controller names them ``ovn-<chassis>``)."""
    return f"ovn-{node}"[:15]


def _env(spec: LabSpec, node: str) -> dict[str, str]:
    """Point every default OVS path at the node's private dir (never /var/run/openvswitch)."""
    d = ovs_dir(spec, node)
    env = dict(os.environ)
    env.update(OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
    env[LAB_MARK] = spec.state_dir  # `down` finds the daemons by it (system.marked_pids)
    return env


def _in(spec: LabSpec, node: str, argv: list[str], what: str, stdin: str | None = None) -> str:
    full = ["ip", "netns", "exec", spec.node_netns(node), *argv]
    proc = subprocess.run(
        full,
        input=stdin,
        env=_env(spec, node),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise LabError(
            f"lab {spec.name}, {node}: {what} failed: {err}; run `netdiag lab "
            f"down --name {spec.name}` and retry"
        )
    return proc.stdout


def _vsctl(spec: LabSpec, node: str, *args: str) -> list[str]:
    return ["ovs-vsctl", f"--db=unix:{ovs_dir(spec, node)}/db.sock", "--timeout=10", *args]


def _start_daemons(spec: LabSpec, node: str) -> None:
    d = ovs_dir(spec, node)
    run(["ovsdb-tool", "create", f"{d}/conf.db", _SCHEMA], what="ovsdb-tool create")
    common = ["--detach", "--no-chdir", "--no-self-confinement"]
    # Explicit paths on the command line: `down` finds stray daemons by the state dir in them.
    _in(
        spec,
        node,
        [
            "ovsdb-server",
            f"{d}/conf.db",
            f"--remote=punix:{d}/db.sock",
            f"--pidfile={d}/ovsdb-server.pid",
            f"--log-file={d}/ovsdb-server.log",
            *common,
        ],
        "ovsdb-server",
    )
    _in(spec, node, _vsctl(spec, node, "--no-wait", "init"), "ovs-vsctl init")
    _in(
        spec,
        node,
        [
            "ovs-vswitchd",
            f"unix:{d}/db.sock",
            f"--pidfile={d}/ovs-vswitchd.pid",
            f"--log-file={d}/ovs-vswitchd.log",
            *common,
        ],
        "ovs-vswitchd",
    )


def _ovs_nodes(spec: LabSpec) -> tuple[LabNode, ...]:
    return tuple(n for n in spec.nodes if n.is_node)


def _bridges(spec: LabSpec, node: LabNode) -> None:
    n = node.name
    args = [
        "set", "open_vswitch", ".", f"external_ids:system-id={chassis_id(spec, n)}",
        f"external_ids:hostname={n}", "external_ids:ovn-encap-type=geneve",
        f"external_ids:ovn-encap-ip={node.uplink_ip}",
        "--", "add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
        "--", "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
        f"other-config:hwaddr=\"{node.uplink_mac}\"",
        "--", "add-port", "br-phy", node.uplink,
        "--", "add-port", "br-int", JOIN, "--", "set", "interface", JOIN, "type=internal",
        f"mac=\"{node.bridge_mac}\"",
    ]  # fmt: skip
    for peer in _ovs_nodes(spec):
        if peer.name != n:
            port = tunnel_port(peer.name)
            args += ["--", "add-port", "br-int", port, "--", "set", "interface", port,
                     "type=geneve", f"options:remote_ip={peer.uplink_ip}",
                     f"options:key={spec.pod_vni}"]  # fmt: skip
    for p in spec.pods_on(n):
        ns, _, pod = p.name.partition("/")
        args += ["--", "add-port", "br-int", p.host_iface, "--", "set", "interface",
                 p.host_iface, f"external_ids:iface-id={pod}.{ns}", f"external_ids:ip={p.ip}",
                 f"external_ids:pod_name={pod}", f"external_ids:pod_namespace={ns}"]  # fmt: skip
    _in(spec, n, _vsctl(spec, n, *args), "ovs-vsctl add-br")
    ip_batch(
        [
            f"addr add {node.uplink_ip}/{spec.ext_prefixlen} dev br-phy",
            *(f"addr add {ip}/32 dev br-phy" for ip in node.extra_uplink_ips),
            "link set br-phy up",
            f"addr add {spec.pod_gateway}/{spec.pod_prefixlen} dev {JOIN}",
            f"link set {JOIN} up",
            # the node routes to remote pods itself (a NodePort's DNAT): their ARP answer
            # would go to the remote node's own gateway port, so the router knows them
            *(
                f"neigh add {p.ip} lladdr {p.mac} dev {JOIN} nud permanent"
                for p in spec.pods
                if p.node != n
            ),
        ],
        netns=spec.node_netns(n),
    )
    net = f"{node.uplink_ip.rsplit('.', 2)[0]}.0.0/{spec.ext_prefixlen}"
    _route_add(spec, n, ["ovs-appctl", "-t", "ovs-vswitchd", "ovs/route/add", net, "br-phy"])
    tunnels = [tunnel_port(p.name) for p in _ovs_nodes(spec) if p.name != n]
    flows = [f"priority=100,in_port={t},dl_src={node.bridge_mac},actions=drop" for t in tunnels] + [
        f"priority=100,arp,in_port={t},arp_tpa={spec.pod_gateway},actions=drop" for t in tunnels
    ]
    # ...except what the other node's router routed to a pod here: straight to the pod's port,
    # never learned (the router's MAC must stay on the local ovn0 port)
    flows += [
        f"priority=110,in_port={t},dl_src={node.bridge_mac},dl_dst={p.mac},"
        f"actions=output:{p.host_iface}"
        for t in tunnels
        for p in spec.pods_on(n)
    ]
    if flows:
        argv = ["ovs-ofctl", "add-flows", "br-int", "-"]
        _in(spec, n, argv, "ovs-ofctl add-flows", stdin="\n".join(flows) + "\n")


def _route_add(spec: LabSpec, node: str, argv: list[str], timeout: float = 5.0) -> None:
    """``ovs/route/add`` once vswitchd has seen br-phy's new address.

    vswitchd learns addresses from netlink notifications, after ``ip addr add`` returns; until
    then it refuses the route ("Error while inserting route"), more often on a busy machine.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            _in(spec, node, argv, "ovs/route/add")
            return
        except LabError as exc:
            if "inserting route" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _seed_tunnel_neighbours(spec: LabSpec) -> None:
    """Tell each vswitchd the peers' br-phy MACs (``tnl/neigh/set``).

    Otherwise the first tunnelled packet waits about a second while the userspace datapath
    resolves the remote IP by ARP itself, which shows up as a 1 s first ping in captures.
    """
    for node in _ovs_nodes(spec):
        for peer in _ovs_nodes(spec):
            if peer.name != node.name:
                argv = ["ovs-appctl", "-t", "ovs-vswitchd", "tnl/neigh/set", "br-phy"]
                _in(spec, node.name, [*argv, peer.uplink_ip, peer.uplink_mac], "tnl/neigh/set")


def _start_holders(spec: LabSpec, timeout: float = 5.0) -> None:
    """A pause-like process in every unnamed pod namespace: what ``lsns`` finds it by.

    Returns only once each holder is inside its namespace: `down` finds lab processes by
    namespace, and a holder still on its way in (``ip netns exec`` has not done setns yet)
    would be missed and then live on in a namespace nobody can name.
    """
    waiting: dict[int, tuple[str, set[tuple[int, int]]]] = {}
    for pod in spec.pods:
        if not pod.named:
            ns = spec.pod_netns(pod)
            argv = ["ip", "netns", "exec", ns, "sleep", "infinity"]
            pid = sshd.track(
                subprocess.Popen(
                    argv,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), LAB_MARK: spec.state_dir},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            waiting[pid] = (ns, netns_ids([ns]))
    deadline = time.monotonic() + timeout
    while waiting:
        for pid, (ns, ids) in list(waiting.items()):
            if pid in pids_in_netns(ids):
                del waiting[pid]
            elif not alive(pid):
                raise LabError(f"lab {spec.name}: the holder process of {ns} exited at start")
        if waiting and time.monotonic() > deadline:
            raise LabError(
                f"lab {spec.name}: holder processes not in their namespaces after {timeout:.0f} s"
            )
        time.sleep(0.002)


def require_ovs() -> None:
    """Refuse before building anything when Open vSwitch is not installed."""
    if missing := missing_tools():
        raise LabError(
            f"the ovs-geneve lab needs {', '.join(missing)}; install "
            "openvswitch-switch and ovn-central (e.g. `make deps`)"
        )


def build_dataplane(spec: LabSpec) -> None:
    """OVS daemons, bridges, addresses, flows on every node; holders in unnamed pod netns."""
    require_ovs()
    nodes = _ovs_nodes(spec)
    for n in nodes:
        _start_daemons(spec, n.name)
    for n in nodes:
        _bridges(spec, n)
    _seed_tunnel_neighbours(spec)
    _ovn_central(spec, nodes[0])
    _start_holders(spec)


def ovn_dir(spec: LabSpec, node: str) -> str:
    """The node's ``/run/ovn`` as the host sees it (where ovn-nbctl/sbctl look by default)."""
    return f"{render.node_paths(spec, node).run}/ovn"


def _ovn_central(spec: LabSpec, central: LabNode) -> None:
    """OVN's northbound and southbound databases on the first node, as in kube-ovn's
    ovn-central, holding what `discover` asks: the cluster router, its gateway port with
    gateway chassis (every node, first node highest priority), the FIP NAT, the pod switch,
    and one SB Chassis per node. No northd or ovn-controller: nothing programs br-int from it.
    """
    n = central.name
    d = ovn_dir(spec, n)
    os.makedirs(d, mode=0o755, exist_ok=True)
    for db, schema in _OVN_SCHEMAS.items():
        run(["ovsdb-tool", "create", f"{d}/ovn{db}_db.db", schema], what=f"ovsdb-tool create {db}")
        _in(
            spec,
            n,
            [
                "ovsdb-server",
                f"{d}/ovn{db}_db.db",
                f"--remote=punix:{d}/ovn{db}_db.sock",
                f"--pidfile={d}/ovn{db}_db.pid",
                f"--unixctl={d}/ovn{db}_db.ctl",
                f"--log-file={d}/ovsdb-server-{db}.log",
                "--detach",
                "--no-chdir",
                "--no-self-confinement",
            ],
            f"ovsdb-server ({db})",
        )
    nodes = _ovs_nodes(spec)
    nb = ["ovn-nbctl", f"--db=unix:{d}/ovnnb_db.sock", "--timeout=10"]
    args = ["lr-add", ROUTER,
            "--", "lrp-add", ROUTER, GATEWAY_PORT, central.uplink_mac, GATEWAY_PORT_IP,
            "--", "lrp-add", ROUTER, f"{ROUTER}-ovn-default", str(central.bridge_mac),
            f"{spec.pod_gateway}/{spec.pod_prefixlen}",
            "--", "ls-add", "ovn-default"]  # fmt: skip
    for prio, node in zip(range(len(nodes), 0, -1), nodes, strict=True):
        args += ["--", "lrp-set-gateway-chassis", GATEWAY_PORT, chassis_id(spec, node.name),
                 str(prio)]  # fmt: skip
    for pod in spec.pods:
        ns, _, name = pod.name.partition("/")
        port = f"{name}.{ns}"
        args += ["--", "lsp-add", "ovn-default", port,
                 "--", "lsp-set-addresses", port, f"{pod.mac} {pod.ip}"]  # fmt: skip
        if pod.fip:
            args += ["--", "lr-nat-add", ROUTER, "dnat_and_snat", pod.fip, pod.ip]
    _in(spec, n, [*nb, *args], "ovn-nbctl (logical topology)")
    sb = ["ovn-sbctl", f"--db=unix:{d}/ovnsb_db.sock", "--timeout=10"]
    args = []
    for node in nodes:
        cid = chassis_id(spec, node.name)
        args += ["--", "chassis-add", cid, "geneve", node.uplink_ip,
                 "--", "set", "chassis", cid, f"hostname={node.name}"]  # fmt: skip
    _in(spec, n, [*sb, *args[1:]], "ovn-sbctl chassis-add")


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
