"""SCENARIOS.md S2-S5 as synthetic captures: pod-to-pod across nodes through tunnels
(geneve, vxlan, IP-in-IP), OpenShift's service DNAT before tun0, flannel host-gw, and
ovn-kubernetes layer2 vs layer3 secondary networks. Knobs as in scenarios.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tests.support.builder import Capture, Packet, Tunnel, step
from tests.support.common import T0, base, ping_payload


def cross_node(
    kind: str,
    count: int = 1,
    skew: Mapping[str, float] | None = None,
    drop: Mapping[int, int] | None = None,
) -> Capture:
    """S2/S4 pod-to-pod across nodes through a tunnel: geneve (kube-ovn), vxlan (flannel, port
    8472, routed on both nodes), ipip (calico tunl0). Request and reply cross the underlay."""
    a_ip, b_ip = {
        "geneve": ("10.16.0.7", "10.16.0.9"),
        "vxlan": ("10.244.0.5", "10.244.1.7"),
        "ipip": ("172.25.0.130", "172.25.0.193"),
    }[kind]
    n1, n2 = ("node1", "10.0.0.1"), ("node2", "10.0.0.2")
    dev = {"geneve": "genev_sys_6081", "vxlan": "flannel.1", "ipip": "tunl0"}[kind]
    va, vb = (
        f"node1/{'veth_a' if kind != 'ipip' else 'cali1a'}",
        f"node2/{'veth_b' if kind != 'ipip' else 'cali2b'}",
    )
    points = {
        va: "sll2",
        f"node1/{dev}": "sll2",
        "node1/eth0": "sll2",
        "node2/eth0": "sll2",
        f"node2/{dev}": "sll2",
        vb: "sll2",
    }
    cap = base(points, skew)
    routed = kind != "geneve"
    vni = {"geneve": 7, "vxlan": 1, "ipip": None}[kind]
    port = 8472 if kind == "vxlan" else None
    drop = drop or {}

    def path(src_node: tuple[str, str], dst_node: tuple[str, str], sv: str, dv: str) -> list:  # type: ignore[type-arg]
        out_t = Tunnel(kind, src_node[1], dst_node[1], vni=vni, port=port, outer_id=900)
        ttl1, ttl2 = (63, 62) if routed else (64, 64)
        return [
            step(sv, direction="other"),
            step(f"{src_node[0]}/{dev}", 30, "out", ttl=ttl1),
            step(f"{src_node[0]}/eth0", 20, "out", tunnel=out_t),
            step(f"{dst_node[0]}/eth0", 150, "in"),
            step(f"{dst_node[0]}/{dev}", 20, "in", tunnel=None),
            step(
                dv,
                30,
                "out",
                ttl=ttl2,
                eth_src="0a:58:00:00:00:b1" if routed else "0a:58:00:00:00:a1",
            ),
        ]

    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        payload = ping_payload(k)
        req = Packet(
            "icmp",
            a_ip,
            b_ip,
            ip_id=5000 + k,
            payload=payload,
            icmp_type=8,
            icmp_id=77,
            icmp_seq=k + 1,
            eth_src="0a:58:00:00:00:a1",
            eth_dst="0a:58:00:00:00:b0",
        )
        cap.send(req, t0, path(n1, n2, va, vb), drop_after=drop.get(k))
        if k in drop:
            continue
        rep = dataclasses.replace(
            req,
            src=b_ip,
            dst=a_ip,
            ip_id=9000 + k,
            icmp_type=0,
            df=False,
            eth_src="0a:58:00:00:00:b2",
            eth_dst="0a:58:00:00:00:a0",
        )
        cap.send(rep, t0 + 500_000, path(n2, n1, vb, va))
    return cap


def openshift_service(skew: Mapping[str, float] | None = None) -> Capture:
    """S3: pod -> service 172.30.229.30:9200, DNAT to 10.131.2.45:9200 before tun0, then VXLAN."""
    v1, tun0, e1, e2, v2 = (
        "node1/veth1a2b3c4d",
        "node1/tun0",
        "node1/eth0",
        "node2/eth0",
        "node2/vethd0d3571b",
    )
    cap = base({v1: "sll2", tun0: "sll2", e1: "sll2", e2: "sll2", v2: "sll2"}, skew)
    t = Tunnel("vxlan", "10.0.0.1", "10.0.0.2", vni=0x4A1, outer_id=11)
    syn = Packet(
        "tcp",
        "10.128.0.5",
        "172.30.229.30",
        ip_id=3333,
        sport=51000,
        dport=9200,
        tcp_seq=777,
        tcp_flags="S",
    )
    cap.send(
        syn,
        T0,
        [
            step(v1, direction="other"),
            step(tun0, 40, "out", dst="10.131.2.45", ttl=63),
            step(e1, 20, "out", tunnel=t),
            step(e2, 150, "in"),
            step(v2, 40, "out", tunnel=None),
        ],
    )
    back = Tunnel("vxlan", "10.0.0.2", "10.0.0.1", vni=0x4A1, outer_id=12)
    synack = Packet(
        "tcp",
        "10.131.2.45",
        "10.128.0.5",
        ip_id=0,
        sport=9200,
        dport=51000,
        tcp_seq=9999,
        tcp_ack=778,
        tcp_flags="SA",
    )
    cap.send(
        synack,
        T0 + 600_000,
        [
            step(v2, direction="other"),
            step(e2, 30, "out", tunnel=back),
            step(e1, 150, "in"),
            step(tun0, 20, "in", tunnel=None),
            step(v1, 40, "out", src="172.30.229.30", ttl=63),
        ],
    )
    return cap


def flannel_host_gw(
    count: int = 1, ipv6: bool = False, skew: Mapping[str, float] | None = None
) -> Capture:
    """S4 host-gw: routed node to node without encapsulation (TTL 64 -> 63 -> 62, MACs change)."""
    a, b = ("fd00:244::5", "fd00:244:1::7") if ipv6 else ("10.244.0.5", "10.244.1.7")
    pts = ("node1/veth_a", "node1/eth0", "node2/eth0", "node2/veth_b")
    cap = base(dict.fromkeys(pts, "sll2"), skew)
    proto, rq, rp = ("icmp6", 128, 129) if ipv6 else ("icmp", 8, 0)
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        req = Packet(
            proto,
            a,
            b,
            ip_id=0 if ipv6 else 6100 + k,
            payload=ping_payload(k),
            icmp_type=rq,
            icmp_id=55,
            icmp_seq=k + 1,
            eth_src="0a:00:00:00:00:a1",
        )
        cap.send(
            req,
            t0,
            [
                step(pts[0], direction="other"),
                step(pts[1], 30, "out", ttl=63, eth_src="0a:00:00:00:01:01"),
                step(pts[2], 120, "in"),
                step(pts[3], 30, "out", ttl=62, eth_src="0a:00:00:00:02:02"),
            ],
        )
        rep = dataclasses.replace(
            req,
            src=b,
            dst=a,
            ip_id=0 if ipv6 else 6900 + k,
            icmp_type=rp,
            ttl=64,
            eth_src="0a:00:00:00:00:b1",
        )
        cap.send(
            rep,
            t0 + 500_000,
            [
                step(pts[3], direction="other"),
                step(pts[2], 30, "out", ttl=63, eth_src="0a:00:00:00:02:01"),
                step(pts[1], 120, "in"),
                step(pts[0], 30, "out", ttl=62, eth_src="0a:00:00:00:01:02"),
            ],
        )
    return cap


def ovnk8s(topology: str, skew: Mapping[str, float] | None = None) -> Capture:
    """S5 multi-homing seen from the pods' own eth1: layer3 routes (TTL 63, router MACs),
    layer2 switches (TTL 64, MACs kept); the underlay is geneve between the nodes."""
    pa, g1, g2, pb = (
        "node1/pod-a.eth1",
        "node1/genev_sys_6081",
        "node2/genev_sys_6081",
        "node2/pod-b.eth1",
    )
    cap = base(dict.fromkeys((pa, g1, g2, pb), "sll2"), skew)
    l3 = topology == "layer3"
    req = Packet(
        "icmp",
        "10.33.2.3",
        "10.33.1.3",
        ip_id=4242,
        payload=ping_payload(0),
        icmp_type=8,
        icmp_id=9,
        icmp_seq=1,
        eth_src="0a:58:0a:21:02:03",
    )
    cap.send(
        req,
        T0,
        [
            step(pa, direction="out"),
            step(
                g1,
                30,
                "out",
                ttl=63 if l3 else 64,
                eth_src="0a:58:0a:21:01:01" if l3 else "0a:58:0a:21:02:03",
            ),
            step(g2, 150, "in"),
            step(pb, 30, "in"),
        ],
    )
    rep = dataclasses.replace(
        req,
        src="10.33.1.3",
        dst="10.33.2.3",
        ip_id=2424,
        icmp_type=0,
        ttl=64,
        eth_src="0a:58:0a:21:01:03",
    )
    cap.send(
        rep,
        T0 + 400_000,
        [
            step(pb, direction="out"),
            step(
                g2,
                30,
                "out",
                ttl=63 if l3 else 64,
                eth_src="0a:58:0a:21:02:01" if l3 else "0a:58:0a:21:01:03",
            ),
            step(g1, 150, "in"),
            step(pa, 30, "in"),
        ],
    )
    return cap
