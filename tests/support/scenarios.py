"""The paths of SCENARIOS.md as synthetic captures (builder.py), with knobs: S1 here, S2-S5
in overlays.py (re-exported).

Every function returns a ``Capture``; ``builder.table(cap)`` gives the expected packet table
and ``builder.write_pcaps(cap, dir)`` the per-point pcaps. Common knobs: ``count`` packets (one
per second), ``skew`` seconds per node (either sign), ``drop`` = {packet index: sightings kept}.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tests.support.builder import Capture, Packet, l3, step
from tests.support.common import T0, base, ping_payload
from tests.support.overlays import cross_node, flannel_host_gw, openshift_service, ovnk8s

CP = "kube-ovn-control-plane"
CLIENT, ETH1, VETH = "client/eth0", f"{CP}/eth1", f"{CP}/dd2b931fc304_h"
LB_VETH = f"{CP}/5e1f0a2b3c4d_h"
CLIENT_MAC, EXT_MAC, LRP_MAC, POD_MAC = (
    "02:42:57:db:a9:c6",
    "00:00:00:21:44:fd",
    "00:00:00:91:cc:aa",
    "00:00:00:de:cb:07",
)


def fip_ingress(  # noqa: PLR0917
    count: int = 1,
    skew: Mapping[str, float] | None = None,
    drop: Mapping[int, int] | None = None,
    arp_answered: bool = True,
    reply_via: str | None = None,
    collide: bool = False,
) -> Capture:
    """S1 as in seed 001: 172.19.0.1 pings FIP 172.19.0.11 (DNAT to 192.168.0.6).

    ``reply_via``: the reply leaves through this point instead of ETH1 (asymmetric return);
    ``collide``: a second client sends a packet with the same IP ID, length, seq and payload
    at the same moment (an IP ID collision the fingerprint cannot tell apart).
    """
    points = {CLIENT: "ether", ETH1: "sll2", VETH: "sll2"}
    if reply_via:
        points[reply_via] = "sll2"
    cap = base(points, skew)
    drop = drop or {}
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        payload = ping_payload(k)
        req = Packet(
            "icmp",
            "172.19.0.1",
            "172.19.0.11",
            ip_id=28471 + k,
            payload=payload,
            icmp_type=8,
            icmp_id=3846,
            icmp_seq=k + 1,
            eth_src=CLIENT_MAC,
            eth_dst=EXT_MAC,
        )
        cap.send(
            req,
            t0,
            [
                step(CLIENT, direction="out"),
                step(ETH1, 60, "other"),
                step(VETH, 41, "out", dst="192.168.0.6", ttl=63, eth_src=LRP_MAC, eth_dst=POD_MAC),
            ],
            drop_after=drop.get(k),
        )
        if k in drop:
            continue
        rep = Packet(
            "icmp",
            "192.168.0.6",
            "172.19.0.1",
            ip_id=37678 + k,
            df=False,
            payload=payload,
            icmp_type=0,
            icmp_id=3846,
            icmp_seq=k + 1,
            eth_src=POD_MAC,
            eth_dst=LRP_MAC,
        )
        cap.send(
            rep,
            t0 + 200_000,
            [
                step(VETH, direction="other"),
                step(
                    reply_via or ETH1,
                    40,
                    "out",
                    src="172.19.0.11",
                    ttl=63,
                    eth_src=EXT_MAC,
                    eth_dst=CLIENT_MAC,
                ),
                step(CLIENT, 60, "in"),
            ],
        )
        if collide:
            other = dataclasses.replace(req, src="172.19.0.2", dst="172.19.0.12", icmp_id=99)
            cap.send(other, t0 + 20_000, [step(ETH1, direction="other")])
    cap.arp(ETH1, T0 - 1_000_000, "request", CLIENT_MAC, "172.19.0.1", "172.19.0.11")
    if arp_answered:
        cap.arp(ETH1, T0 - 990_000, "reply", EXT_MAC, "172.19.0.11", "172.19.0.1", "out")
    return cap


def fip_egress(count: int = 1, skew: Mapping[str, float] | None = None) -> Capture:
    """S1 egress: pod 192.168.0.6 pings 172.19.0.1, SNAT to 172.19.0.11 (seed 001 ids)."""
    cap = base({CLIENT: "ether", ETH1: "sll2", VETH: "sll2"}, skew)
    for k in range(count):
        t0 = T0 + k * 1_000_000_000
        payload = ping_payload(k)
        req = Packet(
            "icmp",
            "192.168.0.6",
            "172.19.0.1",
            ip_id=14373 + k,
            payload=payload,
            icmp_type=8,
            icmp_id=20900,
            icmp_seq=k + 1,
            eth_src=POD_MAC,
            eth_dst=LRP_MAC,
        )
        cap.send(
            req,
            t0,
            [
                step(VETH, direction="other"),
                step(
                    ETH1, 45, "out", src="172.19.0.11", ttl=63, eth_src=EXT_MAC, eth_dst=CLIENT_MAC
                ),
                step(CLIENT, 60, "in"),
            ],
        )
        rep = Packet(
            "icmp",
            "172.19.0.1",
            "172.19.0.11",
            ip_id=42193 + k,
            df=False,
            payload=payload,
            icmp_type=0,
            icmp_id=20900,
            icmp_seq=k + 1,
            eth_src=CLIENT_MAC,
            eth_dst=EXT_MAC,
        )
        cap.send(
            rep,
            t0 + 300_000,
            [
                step(CLIENT, direction="out"),
                step(ETH1, 60, "other"),
                step(VETH, 40, "out", dst="192.168.0.6", ttl=63, eth_src=LRP_MAC, eth_dst=POD_MAC),
            ],
        )
    return cap


def lb_dnat(skew: Mapping[str, float] | None = None, retransmit: bool = False) -> Capture:
    """S1 router LB: TCP 172.19.0.1:40000 -> 172.19.0.10:8080 DNAT to 192.168.0.3:80.

    The SYN-ACK carries IP ID 0 (Linux, DF set); ``retransmit`` repeats the request segment
    with a new IP ID, as a kernel retransmission does.
    """
    cap = base({CLIENT: "ether", ETH1: "sll2", LB_VETH: "sll2"}, skew)
    cseq, sseq = 1_000_000, 5_000_000
    seg = b"GET / HTTP/1.1\r\nHost: 172.19.0.10\r\n\r\n"

    def c2s(ip_id: int, t: int, **kw: object) -> None:
        p = Packet(
            "tcp",
            "172.19.0.1",
            "172.19.0.10",
            ip_id=ip_id,
            sport=40000,
            dport=8080,
            eth_src=CLIENT_MAC,
            eth_dst=EXT_MAC,
            **kw,
        )  # type: ignore[arg-type]
        cap.send(
            p,
            t,
            [
                step(CLIENT, direction="out"),
                step(ETH1, 60, "other"),
                step(
                    LB_VETH,
                    50,
                    "out",
                    dst="192.168.0.3",
                    dport=80,
                    ttl=63,
                    eth_src=LRP_MAC,
                    eth_dst="00:00:00:aa:bb:03",
                ),
            ],
        )

    def s2c(ip_id: int, t: int, **kw: object) -> None:
        p = Packet(
            "tcp",
            "192.168.0.3",
            "172.19.0.1",
            ip_id=ip_id,
            sport=80,
            dport=40000,
            eth_src="00:00:00:aa:bb:03",
            eth_dst=LRP_MAC,
            **kw,
        )  # type: ignore[arg-type]
        cap.send(
            p,
            t,
            [
                step(LB_VETH, direction="other"),
                step(
                    ETH1,
                    45,
                    "out",
                    src="172.19.0.10",
                    sport=8080,
                    ttl=63,
                    eth_src=EXT_MAC,
                    eth_dst=CLIENT_MAC,
                ),
                step(CLIENT, 60, "in"),
            ],
        )

    c2s(4001, T0, tcp_seq=cseq, tcp_flags="S")
    s2c(0, T0 + 300_000, tcp_seq=sseq, tcp_ack=cseq + 1, tcp_flags="SA")
    c2s(4002, T0 + 600_000, tcp_seq=cseq + 1, tcp_ack=sseq + 1, tcp_flags="A")
    c2s(4003, T0 + 700_000, tcp_seq=cseq + 1, tcp_ack=sseq + 1, tcp_flags="PA", payload=seg)
    if retransmit:
        c2s(4004, T0 + 300_000_000, tcp_seq=cseq + 1, tcp_ack=sseq + 1, tcp_flags="PA", payload=seg)
    s2c(31000, T0 + 301_000_000, tcp_seq=sseq + 1, tcp_ack=cseq + 1 + len(seg), tcp_flags="A")
    return cap


def udp_port_unreachable(skew: Mapping[str, float] | None = None) -> Capture:
    """UDP 172.19.0.1:5353 -> 172.19.0.10:53 DNAT to 192.168.0.3:53; nothing listens there, the
    pod answers ICMP port unreachable quoting the datagram, un-DNATed on the way out."""
    cap = base({CLIENT: "ether", ETH1: "sll2", LB_VETH: "sll2"}, skew)
    q = Packet(
        "udp",
        "172.19.0.1",
        "172.19.0.10",
        ip_id=777,
        sport=5353,
        dport=53,
        payload=b"\x12\x34" + bytes(30),
        eth_src=CLIENT_MAC,
        eth_dst=EXT_MAC,
    )
    cap.send(
        q,
        T0,
        [
            step(CLIENT, direction="out"),
            step(ETH1, 60, "other"),
            step(LB_VETH, 50, "out", dst="192.168.0.3", ttl=63, eth_src=LRP_MAC),
        ],
    )
    quoted = bytes(l3(dataclasses.replace(q, dst="192.168.0.3", ttl=63)))[:28]
    err = Packet(
        "icmp",
        "192.168.0.3",
        "172.19.0.1",
        ip_id=4321,
        icmp_type=3,
        icmp_code=3,
        payload=quoted,
        eth_src="00:00:00:aa:bb:03",
        df=False,
    )
    cap.send(
        err,
        T0 + 200_000,
        [
            step(LB_VETH, direction="other"),
            step(ETH1, 45, "out", src="172.19.0.10", ttl=63, eth_src=EXT_MAC),
            step(CLIENT, 60, "in"),
        ],
    )
    return cap


__all__ = [
    "CLIENT", "CP", "ETH1", "LB_VETH", "T0", "VETH", "cross_node", "fip_egress", "fip_ingress",
    "flannel_host_gw", "lb_dnat", "openshift_service", "ovnk8s", "ping_payload",
    "udp_port_unreachable",
]  # fmt: skip
