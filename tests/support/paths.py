"""Paths real clusters take that trip a naive correlator, as synthetic captures (builder.py):
a packet that passes one point twice (NodePort through an overlay, a hairpinned service),
a reply that returns another way, a drop after decapsulation, a masqueraded connection whose
capture starts mid-way, UDP requests answered only in part.

Per-interface captures are ``ether`` (tcpdump -i DEV: no direction recorded), as on a real
node; pass ``link="sll2"`` for the ``-i any`` flavour with directions. Knobs: ``count`` packets
(one per second), ``skew`` seconds per node, ``drop`` = {packet index: sightings kept}.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from tests.support.builder import Capture, Packet, Tunnel, step
from tests.support.common import T0, base, ping_payload

CLIENT = "client/eth0"
N1_ETH1, N2_ETH1 = "node1/eth1", "node2/eth1"
N2_VXLAN, N2_VETH = "node2/flannel.1", "node2/veth_web"
N1_VXLAN = "node1/flannel.1"
N1_VETH, N1_POD = "node1/veth_a", "node1/pod-a:eth0"
CLIENT_MAC, N1_MAC, N2_MAC = "02:42:ac:13:00:01", "02:42:ac:13:00:05", "02:42:ac:13:00:06"
N2_CNI_MAC, WEB_MAC = "0a:58:0a:f4:01:01", "0a:58:0a:f4:01:07"
NODEPORT, N1_IP, N2_IP = "172.19.0.5", "172.19.0.5", "172.19.0.6"
WEB = "10.244.1.7"
N1_FLANNEL = "10.244.0.0"


def _vxlan(src: str, dst: str) -> Tunnel:
    return Tunnel("vxlan", src, dst, vni=1, port=8472, outer_id=700)


def nodeport_overlay(  # noqa: PLR0917 - scenario knobs
    count: int = 1,
    skew: Mapping[str, float] | None = None,
    drop: Mapping[int, int] | None = None,
    link: str = "ether",
    masquerade: bool = True,
    reply_direct: bool = False,
) -> Capture:
    """client 172.19.0.1:40000+k -> NodePort 172.19.0.5:30080 on node1, DNATed to the web pod
    10.244.1.7:80 on node2 (and, with ``masquerade``, SNATed to node1's flannel address) and
    sent through the VXLAN overlay: node1's eth1 sees the SYN twice, plain then encapsulated.

    ``reply_direct``: node2 routes the SYN-ACK straight out of its own eth1 to the client,
    never un-DNATed (needs ``masquerade=False``): the asymmetric return of a NodePort whose
    reply path bypasses the node that translated it.
    """
    points = {CLIENT: "ether", N1_ETH1: link, N2_ETH1: link, N2_VXLAN: link, N2_VETH: link}
    cap = base(points, skew)
    drop = drop or {}
    src_after = N1_FLANNEL if masquerade else "172.19.0.1"
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        cport = 40000 + k
        syn = Packet(
            "tcp",
            "172.19.0.1",
            NODEPORT,
            ip_id=1000 + k,
            sport=cport,
            dport=30080,
            tcp_seq=7_000_000 + k,
            tcp_flags="S",
            eth_src=CLIENT_MAC,
            eth_dst=N1_MAC,
        )
        nat = {"dst": WEB, "dport": 80, "ttl": 63}
        if masquerade:
            nat |= {"src": src_after, "sport": 20000 + k}
        cap.send(
            syn,
            t0,
            [
                step(CLIENT, direction="out"),
                step(N1_ETH1, 60, "in"),
                step(
                    N1_ETH1,
                    35,
                    "out",
                    tunnel=_vxlan(N1_IP, N2_IP),
                    eth_src=N1_MAC,
                    eth_dst=N2_MAC,
                    **nat,
                ),
                step(N2_ETH1, 90, "in"),
                step(
                    N2_VXLAN,
                    15,
                    "in",
                    tunnel=None,
                    eth_src="0a:58:0a:f4:00:00",
                    eth_dst="0a:58:0a:f4:01:00",
                ),
                step(N2_VETH, 20, "out", ttl=62, eth_src=N2_CNI_MAC, eth_dst=WEB_MAC),
            ],
            drop_after=drop.get(k),
        )
        if k in drop:
            continue
        back = Packet(
            "tcp",
            WEB,
            src_after,
            ip_id=0,
            sport=80,
            dport=20000 + k if masquerade else cport,
            tcp_seq=9_000_000 + k,
            tcp_ack=7_000_001 + k,
            tcp_flags="SA",
            eth_src=WEB_MAC,
            eth_dst=N2_CNI_MAC,
        )
        if reply_direct:
            cap.send(
                back,
                t0 + 400_000,
                [
                    step(N2_VETH, direction="in"),
                    step(N2_ETH1, 30, "out", ttl=63, eth_src=N2_MAC, eth_dst=CLIENT_MAC),
                    step(CLIENT, 60, "in"),
                ],
            )
            continue
        cap.send(
            back,
            t0 + 400_000,
            [
                step(N2_VETH, direction="in"),
                step(
                    N2_VXLAN,
                    20,
                    "out",
                    ttl=63,
                    eth_src="0a:58:0a:f4:01:00",
                    eth_dst="0a:58:0a:f4:00:00",
                ),
                step(
                    N2_ETH1, 15, "out", tunnel=_vxlan(N2_IP, N1_IP), eth_src=N2_MAC, eth_dst=N1_MAC
                ),
                step(N1_ETH1, 90, "in"),
                step(
                    N1_ETH1,
                    35,
                    "out",
                    tunnel=None,
                    ttl=62,
                    src=NODEPORT,
                    sport=30080,
                    dst="172.19.0.1",
                    dport=cport,
                    eth_src=N1_MAC,
                    eth_dst=CLIENT_MAC,
                ),
                step(CLIENT, 60, "in"),
            ],
        )
    return cap


def hairpin(
    count: int = 1, skew: Mapping[str, float] | None = None, link: str = "ether"
) -> Capture:
    """Pod A 10.244.0.5 connects to the ClusterIP 10.96.0.10:80 whose only backend is itself
    (10.244.0.5:8080): node1 routes the SYN back out of the same veth, DNATed and masqueraded to
    the bridge address 10.244.0.1, and un-NATs the SYN-ACK the same way. Seen inside the pod
    (its eth0) and on its host veth."""
    cap = base({N1_POD: link, N1_VETH: link}, skew)
    pod_mac, gw_mac = "0a:58:0a:f4:00:05", "0a:58:0a:f4:00:01"
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        port = 50000 + k
        syn = Packet(
            "tcp",
            "10.244.0.5",
            "10.96.0.10",
            ip_id=3000 + k,
            sport=port,
            dport=80,
            tcp_seq=1_000 + k,
            tcp_flags="S",
            eth_src=pod_mac,
            eth_dst=gw_mac,
        )
        cap.send(
            syn,
            t0,
            [
                step(N1_POD, direction="out"),
                step(N1_VETH, 8, "in"),
                step(
                    N1_VETH,
                    30,
                    "out",
                    src="10.244.0.1",
                    sport=61000 + k,
                    dst="10.244.0.5",
                    dport=8080,
                    ttl=63,
                    eth_src=gw_mac,
                    eth_dst=pod_mac,
                ),
                step(N1_POD, 8, "in"),
            ],
        )
        synack = Packet(
            "tcp",
            "10.244.0.5",
            "10.244.0.1",
            ip_id=0,
            sport=8080,
            dport=61000 + k,
            tcp_seq=5_000 + k,
            tcp_ack=1_001 + k,
            tcp_flags="SA",
            eth_src=pod_mac,
            eth_dst=gw_mac,
        )
        cap.send(
            synack,
            t0 + 200_000,
            [
                step(N1_POD, direction="out"),
                step(N1_VETH, 8, "in"),
                step(
                    N1_VETH,
                    30,
                    "out",
                    src="10.96.0.10",
                    sport=80,
                    dst="10.244.0.5",
                    dport=port,
                    ttl=63,
                    eth_src=gw_mac,
                    eth_dst=pod_mac,
                ),
                step(N1_POD, 8, "in"),
            ],
        )
    return cap


def overlay_ping(
    count: int = 3,
    skew: Mapping[str, float] | None = None,
    drop: Mapping[int, int] | None = None,
    link: str = "ether",
    replies: bool = True,
) -> Capture:
    """Pod 10.244.0.5 on node1 pings the web pod 10.244.1.7 on node2 through flannel's VXLAN:
    routed on both nodes (TTL 64 -> 63 -> 62). ``drop={k: 4}`` loses ping k after node2's
    flannel.1 (decapsulated, before the pod's veth), as an iptables DROP in FORWARD would."""
    points = {
        N1_VETH: link,
        N1_VXLAN: link,
        N1_ETH1: link,
        N2_ETH1: link,
        N2_VXLAN: link,
        N2_VETH: link,
    }
    cap = base(points, skew)
    drop = drop or {}
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        req = Packet(
            "icmp",
            "10.244.0.5",
            WEB,
            ip_id=4100 + k,
            payload=ping_payload(k),
            icmp_type=8,
            icmp_id=55,
            icmp_seq=k + 1,
            eth_src="0a:58:0a:f4:00:05",
            eth_dst="0a:58:0a:f4:00:01",
        )
        cap.send(
            req,
            t0,
            [
                step(N1_VETH, direction="in"),
                step(
                    N1_VXLAN,
                    25,
                    "out",
                    ttl=63,
                    eth_src="0a:58:0a:f4:00:00",
                    eth_dst="0a:58:0a:f4:01:00",
                ),
                step(
                    N1_ETH1, 10, "out", tunnel=_vxlan(N1_IP, N2_IP), eth_src=N1_MAC, eth_dst=N2_MAC
                ),
                step(N2_ETH1, 90, "in"),
                step(N2_VXLAN, 15, "in", tunnel=None),
                step(N2_VETH, 20, "out", ttl=62, eth_src=N2_CNI_MAC, eth_dst=WEB_MAC),
            ],
            drop_after=drop.get(k),
        )
        if k in drop or not replies:
            continue
        rep = Packet(
            "icmp",
            WEB,
            "10.244.0.5",
            ip_id=8100 + k,
            payload=ping_payload(k),
            icmp_type=0,
            icmp_id=55,
            icmp_seq=k + 1,
            eth_src=WEB_MAC,
            eth_dst=N2_CNI_MAC,
            df=False,
        )
        cap.send(
            rep,
            t0 + 300_000,
            [
                step(N2_VETH, direction="in"),
                step(
                    N2_VXLAN,
                    25,
                    "out",
                    ttl=63,
                    eth_src="0a:58:0a:f4:01:00",
                    eth_dst="0a:58:0a:f4:00:00",
                ),
                step(
                    N2_ETH1, 10, "out", tunnel=_vxlan(N2_IP, N1_IP), eth_src=N2_MAC, eth_dst=N1_MAC
                ),
                step(N1_ETH1, 90, "in"),
                step(N1_VXLAN, 15, "in", tunnel=None),
                step(
                    N1_VETH,
                    20,
                    "out",
                    ttl=62,
                    eth_src="0a:58:0a:f4:00:01",
                    eth_dst="0a:58:0a:f4:00:05",
                ),
            ],
        )
    return cap


def masqueraded_tcp(mid_connection: bool = False) -> Capture:
    """Pod 10.16.0.5:41080 talks to 172.21.0.2:6989 through its node's masquerade (source
    172.18.0.3:41080): handshake, then the server sends data the pod acknowledges. With
    ``mid_connection`` the capture starts after the handshake, on the server's data."""
    veth, eth0 = "node1/veth_p", "node1/eth0"
    cap = base({veth: "ether", eth0: "ether"}, None)
    pod, node, server = ("10.16.0.5", 41080), ("172.18.0.3", 41080), ("172.21.0.2", 6989)
    t = T0
    ip_c, ip_s = 2000, 6000

    def c2s(flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        nonlocal t, ip_c
        p = Packet(
            "tcp",
            pod[0],
            server[0],
            ip_id=ip_c,
            sport=pod[1],
            dport=server[1],
            tcp_seq=seq,
            tcp_ack=ack,
            tcp_flags=flags,
            payload=payload,
        )
        cap.send(p, t, [step(veth), step(eth0, 30, src=node[0], sport=node[1], ttl=63)])
        t += 10_000_000
        ip_c += 1

    def s2c(flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        nonlocal t, ip_s
        p = Packet(
            "tcp",
            server[0],
            node[0],
            ip_id=ip_s,
            sport=server[1],
            dport=node[1],
            tcp_seq=seq,
            tcp_ack=ack,
            tcp_flags=flags,
            payload=payload,
        )
        cap.send(p, t, [step(eth0), step(veth, 30, dst=pod[0], dport=pod[1], ttl=63)])
        t += 10_000_000
        ip_s += 1

    if not mid_connection:
        c2s("S", 100, 0)
        s2c("SA", 900, 101)
        c2s("A", 101, 901)
    for i in range(3):
        data = bytes([65 + i]) * 100
        s2c("PA", 901 + 100 * i, 101, data)
        c2s("A", 101, 1001 + 100 * i)
    return cap


def udp_partly_answered(answered: tuple[int, ...] = (0, 2, 4), count: int = 5) -> Capture:
    """A pod sends ``count`` DNS queries to 8.8.8.8:53 through its node's SNAT (172.18.0.3);
    only the ``answered`` ones get a response back."""
    veth, eth0 = "node1/veth_p", "node1/eth0"
    cap = base({veth: "ether", eth0: "ether"}, None)
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        q = Packet(
            "udp",
            "10.16.0.5",
            "8.8.8.8",
            ip_id=300 + k,
            sport=45000 + k,
            dport=53,
            payload=bytes([k]) * 30,
        )
        cap.send(q, t0, [step(veth), step(eth0, 30, src="172.18.0.3", ttl=63)])
        if k in answered:
            a = Packet(
                "udp",
                "8.8.8.8",
                "172.18.0.3",
                ip_id=900 + k,
                sport=53,
                dport=45000 + k,
                payload=bytes([k]) * 60,
            )
            cap.send(a, t0 + 5_000_000, [step(eth0), step(veth, 30, dst="10.16.0.5", ttl=63)])
    return cap


N2_OVN0 = "node2/ovn0"
#: The direct route of a pod on node 2 to the client, and back.
DIRECT = (N2_VETH, N2_OVN0, N2_ETH1, CLIENT)
ROUTER_MAC = "0a:58:0a:f4:01:01"


def same_synack(times: list[list[int]], skew: Mapping[str, float] | None = None) -> Capture:
    """The client's SYN to the web pod (client -> node2's eth1 -> ovn0 -> the pod's veth), then
    the pod's SYN-ACK sent once per row of ``times``, identical (IP ID 0, one sequence number:
    a retransmission), back along the same points: ``times[k][i]`` is when copy ``k`` passed
    ``DIRECT[i]`` (ns after the SYN left the client). Rows in one order at every point make
    the packets keep their order; their delays between points are free."""
    cap = base(dict.fromkeys(DIRECT, "ether"), skew)
    syn = Packet("tcp", "172.19.0.1", WEB, ip_id=4000, sport=40000, dport=80, tcp_seq=7_000,
                 tcp_flags="S", eth_src=CLIENT_MAC, eth_dst=N2_MAC)  # fmt: skip
    cap.send(syn, T0, [step(CLIENT), step(N2_ETH1, 40), step(N2_OVN0, 30, ttl=63,
                       eth_src=ROUTER_MAC, eth_dst=WEB_MAC), step(N2_VETH, 20)])  # fmt: skip
    synack = Packet("tcp", WEB, "172.19.0.1", ip_id=0, sport=80, dport=40000, tcp_seq=9_000,
                    tcp_ack=7_001, tcp_flags="SA", eth_src=WEB_MAC, eth_dst=ROUTER_MAC)  # fmt: skip
    start = 200_000  # after the SYN reached the pod
    for at in times:
        gaps = [0, *(b - a for a, b in itertools.pairwise(at))]
        changes: list[dict[str, object]] = [
            {}, {}, {"ttl": 63, "eth_src": N2_MAC, "eth_dst": CLIENT_MAC}, {}
        ]  # fmt: skip
        steps = [step(p, g / 1000, **c) for p, g, c in zip(DIRECT, gaps, changes, strict=True)]
        cap.send(synack, T0 + start + at[0], steps)
    return cap
