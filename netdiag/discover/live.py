"""Discovery on live nodes through the transports: the generic strategy (iproute2 only).

Per node, two batches in one SSH session each (``Transport.run_batch``): first the host's links,
routes, named namespaces and ``ip route get`` for every target IP; then ``ip -n NS -j -d addr``
for every named namespace. Everything else is the pure matching of ``match`` and ``roles``.
Every command run is listed in the result, so a user can rerun it by hand.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from netdiag.discover.cni import fdb_port, neigh_mac
from netdiag.discover.iproute import (
    lookup_route,
    parse_ip_json_links,
    parse_lsns_net,
    parse_netns_ids,
    parse_route_get,
    parse_route_json,
)
from netdiag.discover.match import attach_host_peers, find_pod, host_iface_from_route, pod_netns
from netdiag.discover.model import Discovery, Link, PathDevice, PodNetns, Route
from netdiag.discover.ovn.live import Factory, with_gateways
from netdiag.discover.ovn.model import OvnView
from netdiag.discover.ovn.parse import OVN_DB, OVS_IDS, ovn_view, ovs_ids
from netdiag.discover.ovs import (
    OvsBridge,
    iface_ids,
    parse_vsctl_find,
    parse_vsctl_show,
    pod_ports,
)
from netdiag.discover.roles import ovs_uplink, path_devices
from netdiag.discover.targets import Target
from netdiag.errors import NetdiagError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.transport import CommandResult, Transport, open_transport

__all__ = ["NodeView", "discover", "inspect_node", "resolve"]

Argv = tuple[str, ...]
OVS_FIND = ("ovs-vsctl", "--format=json", "--columns=name,ofport,external_ids", "find", "Interface")
HOST_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("ip", "-j", "-d", "addr"),
    ("ip", "-j", "route"),
    ("ip", "-j", "netns", "list-id"),
)
# On nodes with br-int: bridges and ports (the uplink under br-ex/br-phy), and the node's OVN
# identity (external_ids system-id = its chassis name, ovn-encap-ip = its tunnel endpoint).
OVS_SHOW: Argv = ("ovs-vsctl", "--timeout=5", "show")
# Namespaces without an `ip netns` name (docker-style runtimes): nsid -> a PID inside them.
LSNS: Argv = ("lsns", "-J", "-t", "net", "-o", "NS,PID,NETNSID")


@dataclass
class NodeView:
    """What one node showed: host links and routes, pod namespaces, route lookups, commands.

    Made by :meth:`parse` from the node's command results; the fields are plain values."""

    node: NodeSpec
    commands: tuple[str, ...]
    links: tuple[Link, ...]
    routes: tuple[Route, ...]
    route_get: dict[str, Route | None]
    pids: dict[int, int]  # unnamed peer namespaces: nsid -> PID inside
    namespaces: tuple[PodNetns, ...]
    bridge_port: dict[str, str] = field(default_factory=dict)  # pod IP -> bridge port
    bridges: tuple[OvsBridge, ...] = ()
    ovs_ids: dict[str, str] = field(default_factory=dict)  # Open_vSwitch external_ids
    ovn: OvnView = field(default_factory=OvnView)
    path: tuple[PathDevice, ...] = ()
    ovs_port: dict[str, str] = field(default_factory=dict)  # namespace/name -> OVS interface

    @classmethod
    def parse(
        cls, node: NodeSpec, results: Sequence[CommandResult], ips: Sequence[str]
    ) -> NodeView:
        """The view of ``node`` from what its commands answered (``ips``: the targets asked
        about); NetdiagError when a command every view needs failed."""
        by_argv = {_unsudo(r.argv): r for r in results}
        links = parse_ip_json_links(_out(by_argv, HOST_COMMANDS[0]))
        routes = parse_route_json(_out(by_argv, HOST_COMMANDS[1]))
        route_get = {
            ip: parse_route_get(by_argv[_route_get(ip)].stdout)
            for ip in ips
            if by_argv.get(_route_get(ip)) and by_argv[_route_get(ip)].ok
        }
        names = parse_netns_ids(_out(by_argv, HOST_COMMANDS[2]))
        spaces = []
        for nsid, name in sorted(names.items()):
            res = by_argv.get(_ns_addr(name))
            if res is not None and res.ok:
                ns = pod_netns(name, nsid, parse_ip_json_links(res.stdout))
                spaces.append(attach_host_peers(ns, links))
        lsns = by_argv.get(LSNS)
        pids: dict[int, int] = {}
        if lsns is not None and lsns.ok:
            peers = unnamed_peers(links, names)
            pids = {i: p for i, p in parse_lsns_net(lsns.stdout).items() if i in peers}
        for nsid, pid in sorted(pids.items()):
            res = by_argv.get(_pid_addr(pid))
            if res is not None and res.ok:
                ns = pod_netns(pid_netns(pid), nsid, parse_ip_json_links(res.stdout))
                spaces.append(attach_host_peers(ns, links))
        view = cls(
            node, tuple(f"{node.name}: {shlex.join(r.argv)}" for r in results), links, routes,
            route_get, pids, tuple(spaces),
        )  # fmt: skip
        # flannel-style fallback: a pod behind a Linux bridge, its namespace unnamed on the node
        for ip, (bridge, neigh, fdb) in view.bridge_lookups(ips).items():
            n, f = by_argv.get(neigh), by_argv.get(fdb)
            mac = neigh_mac(n.stdout, ip) if n is not None and n.ok else None
            port = fdb_port(f.stdout, mac, bridge) if mac and f is not None and f.ok else None
            if port is not None:
                view.bridge_port[ip] = port
        show, ids = by_argv.get(OVS_SHOW), by_argv.get(OVS_IDS)
        if show is not None and show.ok:
            view.bridges = parse_vsctl_show(show.stdout)
        if ids is not None and ids.ok:
            view.ovs_ids = ovs_ids(ids.stdout)
        view.ovn = ovn_view(by_argv)
        up = ovs_uplink(links, routes, view.bridges, view.ovs_ids.get("ovn-encap-ip"))
        view.path = path_devices(links, routes, node.devices, up)
        # OVS fallback (kube-ovn / ovn-kubernetes): the pod's port by its external_ids iface-id
        for r in results:
            if r.argv[: len(OVS_FIND)] == OVS_FIND and r.ok and r.stdout.startswith("{"):
                for pp in pod_ports(parse_vsctl_find(r.stdout)):
                    if pp.namespace and pp.pod and pp.iface:
                        view.ovs_port.setdefault(f"{pp.namespace}/{pp.pod}", pp.iface)
        return view

    def explains(self, ip: str) -> bool:
        """Whether a namespace, a veth route or the bridge fdb already place ``ip``."""
        return (
            find_pod(ip, self.namespaces) is not None
            or self.pod_route_dev(ip) is not None
            or ip in self.bridge_port
        )

    def pod_route_dev(self, ip: str) -> str | None:
        """The host veth of a per-pod route (calico's ``IP dev caliX scope link``). Only a host
        route counts: an on-link subnet route out of a veth (a kind node's or a lab client's
        eth0) says nothing about pods, and would claim every address of that subnet."""
        best = lookup_route(self.routes, ip)
        dst = best.dst if best is not None else "default"
        if dst == "default" or ("/" in dst and not dst.endswith(("/32", "/128"))):
            return None
        return host_iface_from_route(self.route_get.get(ip), self.links)

    def bridge_lookups(self, ips: Sequence[str]) -> dict[str, tuple[str, Argv, Argv]]:
        """IPs no named namespace holds whose route leads to a bridge: the neigh/fdb commands."""
        kinds = {link.name: link.kind for link in self.links}
        out: dict[str, tuple[str, Argv, Argv]] = {}
        for ip in ips:
            dev = (r := self.route_get.get(ip)) and r.dev
            if dev and kinds.get(dev) == "bridge" and find_pod(ip, self.namespaces) is None:
                neigh = ("ip", "-j", "neigh", "show", "to", ip, "dev", dev)
                out[ip] = (dev, neigh, ("bridge", "-j", "fdb", "show", "br", dev))
        return out

    def ovs_lookups(self, pods: Sequence[str]) -> dict[str, tuple[Argv, Argv]]:
        """Pods with an IP no namespace, route or fdb explained: ``ovs-vsctl find`` by iface-id
        (kube-ovn's and ovn-kubernetes' conventions), only on nodes that show an OVS br-int."""
        if not any(link.name == "br-int" for link in self.links):
            return {}
        out: dict[str, tuple[Argv, Argv]] = {}
        for pod in pods:
            ns, _, name = pod.partition("/")
            ko, ok8s = iface_ids(ns, name)
            out[pod] = (
                (*OVS_FIND, f"external_ids:iface-id={ko}"),
                (*OVS_FIND, f"external_ids:iface-id={ok8s}"),
            )
        return out


def _out(by_argv: dict[tuple[str, ...], CommandResult], argv: tuple[str, ...]) -> str:
    res = by_argv.get(argv)
    if res is None or not res.ok:
        why = (res.stderr.strip() if res else "") or "not run"
        raise NetdiagError(f"`{shlex.join(argv)}` failed: {why}; is iproute2 (ip -j) installed?")
    return res.stdout


SUDO: Argv = ("sudo", "-n")


def _unsudo(argv: Argv) -> Argv:
    return argv[2:] if argv[:2] == SUDO else argv


def _route_get(ip: str) -> tuple[str, ...]:
    return ("ip", "-j", "route", "get", ip)


def _ns_addr(name: str) -> tuple[str, ...]:
    return ("ip", "-n", name, "-j", "-d", "addr")


def _pid_addr(pid: int) -> tuple[str, ...]:
    return ("nsenter", "-t", str(pid), "-n", "ip", "-j", "-d", "addr")


def pid_netns(pid: int) -> str:
    """How an unnamed namespace is named in results and capture points: the path that
    ``nsenter --net=`` (the transports' netns support) enters, valid while the pod runs."""
    return f"/proc/{pid}/ns/net"


def unnamed_peers(links: Sequence[Link], names: Mapping[int, str]) -> set[int]:
    """nsids of namespaces a host veth leads to that ``ip netns`` has no name for."""
    return {
        link.link_netnsid
        for link in links
        if link.link_netnsid is not None
        and link.kind in (None, "veth")
        and link.link_netnsid not in names
    }


async def inspect_node(
    transport: Transport,
    ips: Sequence[str],
    pods: Mapping[str, Sequence[str]] | None = None,
    timeout: float = 30.0,
    *,
    ovn: bool = False,
) -> NodeView:
    """Run the batches on a connected node and parse them; later batches only when needed.

    ``ovn``: also ask OVN's databases (``netdiag discover``; not while a capture is arming,
    where an unreachable remote database could cost its ``--timeout``)."""
    first = [*HOST_COMMANDS, *(_route_get(ip) for ip in ips)]
    results = await transport.run_batch(first, timeout=timeout)
    names = parse_netns_ids(results[2].stdout) if results[2].ok else {}
    # entering a namespace (setns) and seeing every process (lsns) need root: the node's sudo
    pre: Argv = SUDO if transport.node.sudo else ()
    second = [(*pre, *_ns_addr(n)) for n in names.values()]
    links = parse_ip_json_links(results[0].stdout) if results[0].ok else ()
    if ips and unnamed_peers(links, names):
        second.append((*pre, *LSNS))
    if any(link.name == "br-int" for link in links):
        second += [(*pre, *a) for a in (OVS_SHOW, OVS_IDS, *(OVN_DB if ovn else ()))]
    if second:
        results += await transport.run_batch(second, timeout=timeout)
    view = NodeView.parse(transport.node, results, ips)
    if view.pids and not all(find_pod(ip, view.namespaces) for ip in ips):
        results += await transport.run_batch(
            [(*pre, *_pid_addr(pid)) for pid in view.pids.values()], timeout=timeout
        )
        view = NodeView.parse(transport.node, results, ips)
    lookups = view.bridge_lookups(ips)
    more = [argv for _, neigh, fdb in lookups.values() for argv in (neigh, fdb)]
    missing = [p for p, pips in (pods or {}).items() if not any(view.explains(i) for i in pips)]
    more += [argv for pair in view.ovs_lookups(missing).values() for argv in pair]
    if not more:
        return view
    results += await transport.run_batch(more, timeout=timeout)
    return NodeView.parse(transport.node, results, ips)


def resolve(target: Target, view: NodeView) -> Discovery | None:
    """The target's answer from one node's view; None when the target is not on that node."""
    base = Discovery(target.text, view.node.name, path=view.path, commands=view.commands)
    if target.kind == "node":
        return base
    for ip in target.ips:
        hit = find_pod(ip, view.namespaces)
        if hit is not None:
            ns, iface = hit
            notes: tuple[str, ...] = ()
            if not iface.host_iface:
                notes += (f"no host-side peer of {iface.name} found",)
            if ns.name.startswith("/proc/"):
                pid = ns.name.split("/")[2]
                notes += (f"namespace has no name on the node; entered by PID {pid} (lsns)",)
            return replace(base, ip=ip, host_iface=iface.host_iface, netns=ns, notes=notes)
        host = view.pod_route_dev(ip)
        if host is not None:
            note = "pod namespace has no name on the node (ip netns); host device from the route"
            return replace(base, ip=ip, host_iface=host, notes=(note,))
        port = view.bridge_port.get(ip)
        if port is not None:
            note = "pod namespace has no name on the node; port from the bridge's fdb"
            return replace(base, ip=ip, host_iface=port, strategy="bridge-fdb", notes=(note,))
    if target.pod and target.pod in view.ovs_port:
        note = "pod namespace has no name on the node; OVS port from external_ids:iface-id"
        port = view.ovs_port[target.pod]
        first = target.ips[0] if target.ips else None
        return replace(base, ip=first, host_iface=port, strategy="ovs", notes=(note,))
    return None


async def discover(
    inventory: Inventory,
    targets: Sequence[Target],
    *,
    kind: str = "asyncssh",
    factory: Factory = open_transport,
) -> list[Discovery]:
    """Ask every node any target may be on (all at once), then answer each target in order."""
    wanted: dict[str, list[str]] = {}
    pods: dict[str, dict[str, Sequence[str]]] = {}
    for t in targets:
        for n in t.nodes:
            wanted.setdefault(n, []).extend(ip for ip in t.ips if ip not in wanted.get(n, []))
            if t.pod:
                pods.setdefault(n, {})[t.pod] = t.ips

    async def one(name: str) -> NodeView | str:
        try:
            async with factory(inventory.node(name), kind) as tr:
                return await inspect_node(tr, wanted[name], pods.get(name), ovn=True)
        except NetdiagError as exc:
            return str(exc) if str(exc).startswith(name) else f"{name}: {exc}"

    views = dict(zip(wanted, await asyncio.gather(*(one(n) for n in wanted)), strict=True))
    out = []
    for t in targets:
        found, errors = None, []
        for n in t.nodes:
            view = views[n]
            if isinstance(view, str):
                errors.append(view)
                continue
            found = found or resolve(t, view)
        if found is None:
            where = ", ".join(t.nodes)
            why = tuple(errors) or (
                f"{', '.join(t.ips)} is not on {where} (no namespace holds it)",
            )
            found = Discovery(target=t.text, node=None, ip=(t.ips or (None,))[0], notes=why)
        out.append(found)
    return await with_gateways(inventory, views, targets, out, kind, factory=factory)
