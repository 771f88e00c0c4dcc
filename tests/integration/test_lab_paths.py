"""The lab reproduces the seed's evidence: SSH into every node with three clients, the FIP path
(IP ID kept, DNAT to the pod, router MAC, TTL-1), egress SNAT and the VXLAN overlay."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncssh
import dpkt
import paramiko
import pytest

from netdiag.lab import LabState

pytestmark = pytest.mark.integration

CP, WORKER, CLIENT = "kube-ovn-control-plane", "kube-ovn-worker", "client"
ROUTER_POD_MAC = bytes.fromhex("00000091ccaa")
ROUTER_EXT_MAC = bytes.fromhex("0000002144fd")
CLIENT_MAC = bytes.fromhex("024257dba9c6")
POD1_MAC = bytes.fromhex("000000decb07")


def _ssh(lab: LabState, node: str, command: str) -> str:
    proc = subprocess.run(
        [*lab.ssh_argv(node), command], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, f"ssh {node} {command!r}: {proc.stderr}"
    return proc.stdout


@contextmanager
def _capture(lab: LabState, node: str, iface: str, out: Path, bpf: str) -> Iterator[Path]:
    """tcpdump on one interface of a node's namespace, confirmed listening, stopped by SIGINT."""
    argv = ["ip", "netns", "exec", lab.node(node).netns, "tcpdump", "-i", iface, "-w", str(out)]
    argv += ["-U", "--immediate-mode", "-nn", "-Z", "root", bpf]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on" in line, line
        yield out
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def _frames(path: Path) -> list[dpkt.ethernet.Ethernet]:
    with path.open("rb") as fh:
        return [dpkt.ethernet.Ethernet(buf) for _, buf in dpkt.pcap.Reader(fh)]


def _icmp(frames: list[dpkt.ethernet.Ethernet], icmp_type: int) -> list[dpkt.ethernet.Ethernet]:
    return [
        f
        for f in frames
        if isinstance(f.data, dpkt.ip.IP)
        and isinstance(f.data.data, dpkt.icmp.ICMP)
        and f.data.data.type == icmp_type
    ]


def _arp(frames: list[dpkt.ethernet.Ethernet], op: int | None) -> list[tuple[bytes, bytes]]:
    """(sender IP, sender MAC) of every ARP message (of operation ``op``, if given)."""
    return [
        (f.data.spa, f.data.sha)
        for f in frames
        if isinstance(f.data, dpkt.arp.ARP) and op in (None, f.data.op)
    ]


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def test_system_ssh_reaches_every_node_with_its_own_hostname(lab: LabState) -> None:
    for node in lab.node_names:
        assert _ssh(lab, node, "hostname").strip() == node


async def test_asyncssh_verifies_host_keys_and_runs_commands(lab: LabState) -> None:
    for node in lab.nodes:
        async with asyncssh.connect(
            node.mgmt_ip,
            username="root",
            client_keys=[lab.key_path],
            known_hosts=lab.known_hosts_path,
        ) as conn:
            result = await conn.run("hostname", check=True)
            assert str(result.stdout).strip() == node.name


def test_paramiko_rejects_unknown_hosts_and_runs_commands(lab: LabState) -> None:
    for node in lab.nodes:
        client = paramiko.SSHClient()
        client.load_host_keys(lab.known_hosts_path)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                node.mgmt_ip,
                username="root",
                key_filename=lab.key_path,
                allow_agent=False,
                look_for_keys=False,
                timeout=10,
            )
            _, stdout, _ = client.exec_command("hostname")
            assert stdout.read().decode().strip() == node.name
        finally:
            client.close()


def test_a_node_session_sees_its_own_pods_and_private_tmp(lab: LabState) -> None:
    out = _ssh(
        lab,
        CP,
        "ip netns list; echo ---; ip netns exec fip-busybox01 ip -br -4 addr show dev eth0;"
        "echo ---; touch /tmp/netdiag-private-probe && ls /tmp",
    )
    netns, addr, tmp = out.split("---\n")
    assert sorted(line.split()[0] for line in netns.splitlines()) == ["fip-busybox01", "lb-backend"]
    assert "192.168.0.6/24" in addr
    assert "netdiag-private-probe" in tmp
    try:
        assert "netdiag-private-probe" not in _ssh(lab, WORKER, "ls -a /tmp")
        assert not Path("/tmp/netdiag-private-probe").exists()
    finally:
        _ssh(lab, CP, "rm /tmp/netdiag-private-probe")


def test_fip_path_shows_the_seeds_evidence(lab: LabState, tmp_path: Path) -> None:
    bpf = "icmp or arp"
    # Forget neighbours first so the ARP exchanges of the seed happen again.
    _ssh(lab, CP, "ip netns exec fip-busybox01 ip neigh flush dev eth0")
    with (
        _capture(lab, CP, "eth1", tmp_path / "eth1.pcap", bpf),
        _capture(lab, CP, "dd2b931fc304_h", tmp_path / "veth.pcap", bpf),
    ):
        out = _ssh(lab, CLIENT, "ip neigh flush dev eth0; ping -c 3 -i 0.2 -W 2 172.19.0.11")
        assert "3 received" in out
    eth1, veth = _frames(tmp_path / "eth1.pcap"), _frames(tmp_path / "veth.pcap")
    # ARP: the FIP is answered with the router's external MAC; towards the pod the gateway
    # 192.168.0.1 speaks with the router's pod-side MAC (who asks first is up to the kernel).
    assert (b"\xac\x13\x00\x0b", ROUTER_EXT_MAC) in _arp(eth1, dpkt.arp.ARP_OP_REPLY)
    assert (b"\xc0\xa8\x00\x01", ROUTER_POD_MAC) in _arp(veth, None)
    requests_in = {f.data.id: f for f in _icmp(eth1, 8)}
    requests_out = {f.data.id: f for f in _icmp(veth, 8)}
    assert len(requests_in) == 3
    assert requests_in.keys() == requests_out.keys(), "the IP ID survives the DNAT"
    for ip_id, seen in requests_in.items():
        fwd = requests_out[ip_id]
        assert (_ip(seen.data.src), _ip(seen.data.dst)) == ("172.19.0.1", "172.19.0.11")
        assert (_ip(fwd.data.src), _ip(fwd.data.dst)) == ("172.19.0.1", "192.168.0.6")
        assert seen.src == CLIENT_MAC
        assert (fwd.src, fwd.dst) == (ROUTER_POD_MAC, POD1_MAC)
        assert fwd.data.ttl == seen.data.ttl - 1
    replies_pod = {f.data.id: f for f in _icmp(veth, 0)}
    replies_out = {f.data.id: f for f in _icmp(eth1, 0)}
    assert len(replies_pod) == 3
    assert replies_pod.keys() == replies_out.keys()
    for ip_id, reply in replies_out.items():
        assert _ip(replies_pod[ip_id].data.src) == "192.168.0.6"
        assert (_ip(reply.data.src), _ip(reply.data.dst)) == ("172.19.0.11", "172.19.0.1")
        assert reply.src == ROUTER_EXT_MAC
        assert reply.data.ttl == replies_pod[ip_id].data.ttl - 1


@pytest.mark.parametrize(
    ("pod_node", "pod_netns", "expected_src"),
    [(CP, "fip-busybox01", "172.19.0.11"), (WORKER, "fip-busybox02", "172.19.0.7")],
)
def test_pod_egress_is_snated(
    lab: LabState, tmp_path: Path, pod_node: str, pod_netns: str, expected_src: str
) -> None:
    with _capture(lab, CLIENT, "eth0", tmp_path / "client.pcap", "icmp"):
        _ssh(lab, pod_node, f"ip netns exec {pod_netns} ping -c 1 -W 2 172.19.0.1")
    requests = _icmp(_frames(tmp_path / "client.pcap"), 8)
    assert [_ip(f.data.src) for f in requests] == [expected_src]


def test_pod_to_pod_across_nodes_is_vxlan_encapsulated_on_the_underlay(
    lab: LabState, tmp_path: Path
) -> None:
    with _capture(lab, WORKER, "eth1", tmp_path / "underlay.pcap", "udp port 4789"):
        _ssh(lab, CP, "ip netns exec fip-busybox01 ping -c 1 -W 2 192.168.0.7")
    outer = [f for f in _frames(tmp_path / "underlay.pcap") if isinstance(f.data, dpkt.ip.IP)]
    requests = []
    for frame in outer:
        udp = frame.data.data
        vni = int.from_bytes(bytes(udp.data)[4:7], "big")
        inner = dpkt.ethernet.Ethernet(bytes(udp.data)[8:])
        icmp = inner.data.data if isinstance(inner.data, dpkt.ip.IP) else None
        if isinstance(icmp, dpkt.icmp.ICMP) and icmp.type == 8:
            requests.append((frame, vni, inner))
    assert len(requests) == 1
    frame, vni, inner = requests[0]
    assert (_ip(frame.data.src), _ip(frame.data.dst)) == ("172.19.0.6", "172.19.0.7")
    assert vni == 1
    assert (_ip(inner.data.src), _ip(inner.data.dst)) == ("192.168.0.6", "192.168.0.7")
    assert inner.data.ttl == 64, "switched across the overlay: no routed hop"
    assert inner.src == POD1_MAC


def test_load_balancer_dnat_rewrites_address_and_port(lab: LabState, tmp_path: Path) -> None:
    bpf = "tcp"
    with (
        _capture(lab, CP, "eth1", tmp_path / "eth1.pcap", bpf),
        _capture(lab, CP, "3a5e1d7c9f02_h", tmp_path / "veth.pcap", bpf),
    ):
        # The backend's answer (SYN-ACK from its server, or RST were none listening) is the
        # reply, un-DNATed on the way out.
        _ssh(lab, CLIENT, "timeout 3 bash -c 'exec 3<>/dev/tcp/172.19.0.10/8080' || true")

    def tcp(path: Path) -> list[tuple[str, int, str, int, int, int, int]]:
        out = []
        for f in _frames(path):
            if isinstance(f.data, dpkt.ip.IP) and isinstance(f.data.data, dpkt.tcp.TCP):
                seg = f.data.data
                src, dst = _ip(f.data.src), _ip(f.data.dst)
                out.append((src, seg.sport, dst, seg.dport, seg.flags, seg.seq, seg.ack))
        return out

    outside, inside = tcp(tmp_path / "eth1.pcap"), tcp(tmp_path / "veth.pcap")
    syn_out = next(s for s in outside if s[4] & dpkt.tcp.TH_SYN)
    syn_in = next(s for s in inside if s[4] & dpkt.tcp.TH_SYN)
    assert syn_out[2:4] == ("172.19.0.10", 8080)
    assert syn_in[2:4] == ("192.168.0.3", 80)
    assert syn_in[5] == syn_out[5], "same segment (sequence number) on both sides"
    # the backend's first answer to that SYN, on each side of the un-DNAT
    reply_in = next(s for s in inside if s[4] & dpkt.tcp.TH_ACK and s[6] == syn_out[5] + 1)
    reply_out = next(s for s in outside if s[4] & dpkt.tcp.TH_ACK and s[6] == syn_out[5] + 1)
    assert reply_in[:2] == ("192.168.0.3", 80)
    assert reply_out[:2] == ("172.19.0.10", 8080)
    assert reply_out[4] == reply_in[4], "the same answer (SYN-ACK or RST) on both sides"


def test_traceroute_from_the_pod_shows_the_router_then_the_client(lab: LabState) -> None:
    out = _ssh(lab, CP, "ip netns exec fip-busybox01 traceroute -n -w 1 -q 1 172.19.0.1")
    hops = [line.split()[1] for line in out.splitlines()[1:]]
    assert hops == ["192.168.0.1", "172.19.0.1"]
