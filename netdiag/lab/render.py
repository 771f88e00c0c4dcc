"""Turn a LabSpec into the exact commands and files that build it (pure: no system calls).

Keeping the rendering apart from running it lets the unit tests read every `ip`, `bridge` and
`iptables-restore` line, and lets the builder batch them (one `ip -batch` per namespace) — the
batching is what keeps `lab up` well under 2 seconds.
"""

from __future__ import annotations

import pwd
import shlex
from dataclasses import dataclass

from netdiag.lab.topology import LabNode, LabSpec

__all__ = [
    "NodePaths",
    "bridge_batches",
    "host_links_batch",
    "host_netns_batch",
    "iptables_rules",
    "launch_script",
    "netns_batches",
    "node_paths",
    "run_mirror",
    "sshd_config",
    "sysctls",
]

SSHD = "/usr/sbin/sshd"  # sshd refuses to re-exec itself from a relative path


@dataclass(frozen=True)
class NodePaths:
    """Where one node's files live; the same absolute paths are valid inside the node's view."""

    root: str  # <state>/nodes/<node>
    run: str  # bound over the node's /run
    tmp: str  # bound over the node's /tmp
    home: str  # bound over root's home directory: the node's own, from /etc/skel
    sshd_config: str
    sshd_log: str
    host_key: str
    pid_file: str  # as the host sees it (the node writes /run/sshd.pid)


ROOT_HOME = pwd.getpwuid(0).pw_dir  # the lab logs in as root


def node_paths(spec: LabSpec, node: str) -> NodePaths:
    root = f"{spec.state_dir}/nodes/{node}"
    return NodePaths(
        root=root,
        run=f"{root}/run",
        tmp=f"{root}/tmp",
        home=f"{root}/home",
        sshd_config=f"{root}/sshd_config",
        sshd_log=f"{root}/sshd.log",
        host_key=f"{spec.state_dir}/ssh/{node}_host_ed25519_key",
        pid_file=f"{root}/run/sshd.pid",
    )


def run_mirror(spec: LabSpec, node: str) -> str:
    """The directory in the node's /run source where the state dir is re-mounted."""
    return node_paths(spec, node).run + spec.state_dir.removeprefix("/run")


def _switch_ports(spec: LabSpec) -> list[tuple[LabNode, str, str]]:
    """(node, external-bridge port, management-bridge port) names inside the switch namespace."""
    return [(n, f"ext-{i}", f"mg-{i}") for i, n in enumerate(spec.nodes)]


def host_netns_batch(spec: LabSpec) -> list[str]:
    """`ip -batch` lines creating every namespace (first, so sysctls apply before links exist)."""
    return [f"netns add {ns}" for ns in spec.all_netns()]


def _index(ifindex: int | None) -> str:
    return f" index {ifindex}" if ifindex is not None else ""


def host_links_batch(spec: LabSpec) -> list[str]:
    """`ip -batch` lines creating every veth directly in its namespaces, plus the host side."""
    sw = spec.switch_netns
    lines: list[str] = []
    for node, ext_port, mg_port in _switch_ports(spec):
        ns = spec.node_netns(node.name)
        # On an OVS node the uplink is a bridge port; br-phy carries the node's MAC and IP.
        mac = "" if spec.l3_uplink(node) != node.uplink else f" address {node.uplink_mac}"
        lines.append(
            f"link add {node.uplink}{_index(node.uplink_ifindex)} netns {ns}{mac} "
            f"type veth peer name {ext_port} netns {sw}"
        )
        lines.append(
            f"link add {spec.mgmt_iface} netns {ns} type veth peer name {mg_port} netns {sw}"
        )
    for pod in spec.pods:
        lines.append(
            f"link add {pod.iface}{_index(pod.ifindex)} netns {spec.pod_netns(pod)} "
            f"address {pod.mac} mtu {pod.mtu} type veth peer name {pod.host_iface}"
            f"{_index(pod.host_ifindex)} netns {spec.node_netns(pod.node)} mtu {pod.mtu}"
        )
    host = spec.host_iface
    lines += [
        f"link add {host} type veth peer name mg-host netns {sw}",
        f"link set {host} addrgenmode none",  # no IPv6 link-local chatter on the host side
        f"addr add {spec.host_mgmt_ip}/{spec.mgmt_prefixlen} dev {host}",
        f"link set {host} up",
    ]
    return lines


def sysctls(spec: LabSpec, netns: str) -> list[str]:
    """IPv6 off everywhere (keeps captures to the seed's IPv4 paths). Nodes route; they send no
    ICMP redirects (a ClusterIP hairpin leaves by the bridge it came in on, and the kernel would
    tell the pod to "use itself", RFC 1812 5.2.7.2: noise no real CNI sends); and frames switched
    by their bridges skip iptables even where the host loaded br_netfilter (it would DNAT the
    hairpin at the bridge layer, unlike OVN's router, and differently on every host)."""
    values = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
    if any(spec.node_netns(n.name) == netns and n.is_node for n in spec.nodes):
        values += [
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        ]
    return values


def netns_batches(spec: LabSpec) -> dict[str, list[str]]:
    """Per namespace, the `ip -n NS -batch` lines that address and wire it."""
    out: dict[str, list[str]] = {}
    sw = ["link set lo up", "link add br-ext type bridge", "link add br-mgmt type bridge"]
    for _node, ext_port, mg_port in _switch_ports(spec):
        sw += [f"link set {ext_port} master br-ext up", f"link set {mg_port} master br-mgmt up"]
    sw += ["link set mg-host master br-mgmt up", "link set br-ext up", "link set br-mgmt up"]
    out[spec.switch_netns] = sw
    for node in spec.nodes:
        out[spec.node_netns(node.name)] = _node_lines(spec, node)
    for pod in spec.pods:
        out[spec.pod_netns(pod)] = [
            "link set lo up",
            f"addr add {pod.ip}/{spec.pod_prefixlen} dev {pod.iface}",
            f"link set {pod.iface} up",
            f"route add default via {spec.pod_gateway} dev {pod.iface}",
        ]
    return out


def _node_lines(spec: LabSpec, node: LabNode) -> list[str]:
    lines = [
        "link set lo up",
        f"addr add {node.mgmt_ip}/{spec.mgmt_prefixlen} dev {spec.mgmt_iface}",
        f"link set {spec.mgmt_iface} up",
    ]
    if spec.l3_uplink(node) != node.uplink:  # OVS: addresses go on br-phy once it exists
        # arp off: see iptables_rules; the kernel must not answer ARP on OVS's ports
        return [*lines, *(f"link set {port} arp off up" for port in _ovs_ports(spec, node))]
    lines += [
        f"addr add {node.uplink_ip}/{spec.ext_prefixlen} dev {node.uplink}",
        *(f"addr add {ip}/32 dev {node.uplink}" for ip in node.extra_uplink_ips),
        f"link set {node.uplink} up",
    ]
    if not node.is_node:
        return lines
    br, tun, join = spec.bridge, spec.tunnel, spec.join
    lines += [
        f"link add {br} address {node.bridge_mac} type bridge",
        f"addr add {spec.pod_gateway}/{spec.pod_prefixlen} dev {br}",
        *(f"link set {p.host_iface} master {br} up" for p in spec.pods_on(node.name)),
        # L2 overlay of the pod subnet: static FDB only (see bridge_batches), like OVN's tunnel
        # keys for known ports; `nolearning` so nothing is discovered by flooding.
        f"link add {tun} type vxlan id {spec.pod_vni} local {node.uplink_ip} "
        f"dstport {spec.vxlan_port} dev {node.uplink} nolearning",
        f"link set {tun} master {br} up",
        f"link set {br} up",
        f"link add {join} address {node.join_mac} type vxlan id {spec.join_vni} "
        f"local {node.uplink_ip} dstport {spec.vxlan_port} dev {node.uplink}",
        f"addr add {node.join_ip}/{spec.join_prefixlen} dev {join}",
        f"link set {join} up",
    ]
    for pod in spec.pods:
        if pod.node == node.name:
            continue
        remote = spec.node(pod.node)
        # The node itself reaches remote pods over the join network (as kube-ovn's ovn0 does),
        # so replies come back to it instead of to the remote node's copy of the gateway.
        lines.append(f"route add {pod.ip}/32 via {remote.join_ip} dev {join}")
        # Answered by the bridge (neigh_suppress) instead of flooding ARP through the tunnel.
        lines.append(f"neigh add {pod.ip} lladdr {pod.mac} dev {br} nud permanent")
    return lines


def _ovs_ports(spec: LabSpec, node: LabNode) -> list[str]:
    """The node's devices that are OVS bridge ports (uplink, pods' host veths)."""
    return [node.uplink, *(p.host_iface for p in spec.pods_on(node.name))]


def bridge_batches(spec: LabSpec) -> dict[str, list[str]]:
    """Per node, `bridge -batch` lines: where remote pods' MACs live, and who floods join ARP."""
    out: dict[str, list[str]] = {}
    for node in spec.nodes:
        if not node.is_node or spec.dataplane != "kernel":
            continue
        lines = [f"link set dev {spec.tunnel} neigh_suppress on"]
        for peer in spec.nodes:
            if peer.is_node and peer.name != node.name:
                lines.append(
                    f"fdb append 00:00:00:00:00:00 dev {spec.join} self dst {peer.uplink_ip}"
                )
        for pod in spec.pods:
            if pod.node == node.name:
                continue
            remote = spec.node(pod.node)
            lines += [
                f"fdb add {pod.mac} dev {spec.tunnel} self dst {remote.uplink_ip}",
                f"fdb add {pod.mac} dev {spec.tunnel} master static",
            ]
        out[spec.node_netns(node.name)] = lines
    return out


#: kube-proxy's KUBE-MARK-MASQ bit: marked in PREROUTING, masqueraded in POSTROUTING.
MASQ_MARK = "0x4000/0x4000"


def iptables_rules(spec: LabSpec, node: LabNode) -> str:
    """iptables-restore input for one node: FIP DNAT+SNAT for its pods, load-balancer and
    service DNAT (with kube-proxy's masquerade mark), MASQUERADE for the rest of the pod subnet."""
    up = spec.l3_uplink(node)
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]"]
    lines += [":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    for pod in spec.pods_on(node.name):
        if pod.fip:
            lines.append(f"-A PREROUTING -i {up} -d {pod.fip}/32 -j DNAT --to-destination {pod.ip}")
    masquerade = False
    for fwd in spec.port_forwards:
        if fwd.node != node.name:
            continue
        match = f"-d {fwd.vip}/32 -p {fwd.proto} --dport {fwd.port}"
        if fwd.reached_from == "pods":
            ingress = f"-i {spec.pod_gateway_iface}"
            # hairpin: the backend calling its own service must see the reply come back from
            # the gateway, so its request is masqueraded (kube-proxy's KUBE-SEP rule)
            hairpin = f"-s {fwd.pod_ip}/32 {match}"
            lines.append(f"-A PREROUTING {ingress} {hairpin} -j MARK --set-xmark {MASQ_MARK}")
            masquerade = True
        else:
            ingress = f"-i {up}"
            if fwd.masquerade:
                lines.append(f"-A PREROUTING {ingress} {match} -j MARK --set-xmark {MASQ_MARK}")
                masquerade = True
        lines.append(
            f"-A PREROUTING {ingress} {match} -j DNAT --to-destination {fwd.pod_ip}:{fwd.pod_port}"
        )
    if masquerade:  # first, as kube-proxy's KUBE-POSTROUTING: to the outgoing device's address
        lines.append(f"-A POSTROUTING -m mark --mark {MASQ_MARK} -j MASQUERADE")
    for pod in spec.pods_on(node.name):
        if pod.fip:
            lines.append(f"-A POSTROUTING -s {pod.ip}/32 -o {up} -j SNAT --to-source {pod.fip}")
    lines.append(f"-A POSTROUTING -s {spec.pod_subnet} -o {up} -j MASQUERADE")
    lines.append("COMMIT")
    if up != node.uplink:
        # The netdev datapath reads its ports with AF_PACKET, so the kernel also receives what
        # arrives on them and would answer the FIP itself (weak host model) before OVS hands the
        # packet to br-phy. Dropping IP in raw PREROUTING (after AF_PACKET taps: OVS and tcpdump
        # still see everything) makes them pure switch ports, as with the kernel datapath.
        lines += ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        lines += [f"-A PREROUTING -i {port} -j DROP" for port in _ovs_ports(spec, node)]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def sshd_config(spec: LabSpec, node: LabNode) -> str:
    """An sshd that listens only on the management address and accepts only the lab's key."""
    paths = node_paths(spec, node.name)
    return "\n".join(
        [
            f"# netdiag lab {spec.name}: sshd of node {node.name} (written by `netdiag lab up`)",
            f"ListenAddress {node.mgmt_ip}",
            "Port 22",
            f"HostKey {paths.host_key}",
            "PidFile /run/sshd.pid",
            f"AuthorizedKeysFile {spec.state_dir}/ssh/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the keys live under /run, not in a home directory
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "MaxStartups 100:30:200",  # tests open many connections at once
            "MaxSessions 64",
            "Subsystem sftp internal-sftp",  # no dependency on the sftp-server path
            "",
        ]
    )


def launch_script(spec: LabSpec, node: LabNode) -> str:
    """Shell run in the node's new mount+UTS namespace: hostname, private /run, /tmp and root's
    home, sshd.

    The home is the node's own, made from /etc/skel as on a fresh machine: a real node does not
    run this host's ``~/.bashrc`` (a developer's pyenv or cargo set-up) at every SSH session.

    The node's /run is a directory of the state dir bound over /run, carrying (1) the state dir
    itself at its usual path, so sshd finds its config and keys, and (2) bind mounts of the node's
    pods' namespace files under /run/netns, so `ip netns exec <pod>` works in an SSH session.
    """
    p = node_paths(spec, node.name)
    q = shlex.quote
    lines = ["set -e", f"hostname {q(node.name)}"]
    if spec.state_dir.startswith("/run/"):  # else it stays visible anyway
        lines.append(f"mount --bind {q(spec.state_dir)} {q(run_mirror(spec, node.name))}")
    for pod in spec.pods_on(node.name):
        if not pod.named:
            continue
        ns_file = f"{p.run}/netns/{pod.netns}"
        lines.append(f"mount --bind /run/netns/{q(spec.pod_netns(pod))} {q(ns_file)}")
    lines += [
        f"mount --rbind {q(p.run)} /run",
        f"mount --bind {q(p.tmp)} /tmp",
        f"mount --bind {q(p.home)} {q(ROOT_HOME)}",
        f"exec {SSHD} -D -f {q(p.sshd_config)} -E {q(p.sshd_log)}",
    ]
    return "\n".join(lines) + "\n"
