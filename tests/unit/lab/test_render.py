"""The commands and files that build the lab, read before anything touches the system."""

from __future__ import annotations

from netdiag.lab import render
from netdiag.lab.topology import default_spec

SPEC = default_spec()
CP = SPEC.node("kube-ovn-control-plane")
WORKER = SPEC.node("kube-ovn-worker")


def test_fip_is_dnated_and_snated_only_on_the_pods_node() -> None:
    rules = render.iptables_rules(SPEC, CP)
    assert "-A PREROUTING -i eth1 -d 172.19.0.11/32 -j DNAT --to-destination 192.168.0.6" in rules
    assert "-A POSTROUTING -s 192.168.0.6/32 -o eth1 -j SNAT --to-source 172.19.0.11" in rules
    # the specific FIP SNAT must win over the subnet-wide MASQUERADE
    assert rules.index("SNAT --to-source") < rules.index("-s 192.168.0.0/24 -o eth1 -j MASQUERADE")
    assert "DNAT" not in render.iptables_rules(SPEC, WORKER)
    assert "-s 192.168.0.0/24 -o eth1 -j MASQUERADE" in render.iptables_rules(SPEC, WORKER)


def test_load_balancer_vip_is_dnated_with_ports() -> None:
    rules = render.iptables_rules(SPEC, CP)
    lb = "-d 172.19.0.10/32 -p tcp --dport 8080 -j DNAT --to-destination 192.168.0.3:80"
    assert lb in rules
    assert (
        "addr add 172.19.0.10/32 dev eth1" in render.netns_batches(SPEC)[SPEC.node_netns(CP.name)]
    )


def test_nodeports_dnat_to_the_worker_pod_and_only_one_of_them_masquerades() -> None:
    rules = render.iptables_rules(SPEC, CP).splitlines()
    np = "-A PREROUTING -i eth1 -d 172.19.0.6/32 -p tcp --dport {} -j {}"
    assert np.format(30080, "DNAT --to-destination 192.168.0.7:80") in rules
    assert np.format(30081, "DNAT --to-destination 192.168.0.7:80") in rules
    # kube-proxy's mark, set before the DNAT; masqueraded first thing in POSTROUTING
    assert rules.index(np.format(30080, "MARK --set-xmark 0x4000/0x4000")) < rules.index(
        np.format(30080, "DNAT --to-destination 192.168.0.7:80")
    )
    assert np.format(30081, "MARK --set-xmark 0x4000/0x4000") not in rules
    postrouting = [r for r in rules if r.startswith("-A POSTROUTING")]
    assert postrouting[0] == "-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE"


def test_clusterip_hairpin_is_dnated_from_the_pods_and_masqueraded_only_for_the_backend() -> None:
    rules = render.iptables_rules(SPEC, CP).splitlines()
    svc = "-d 10.96.0.10/32 -p tcp --dport 80"
    assert f"-A PREROUTING -i br-pods {svc} -j DNAT --to-destination 192.168.0.6:80" in rules
    mark = f"-A PREROUTING -i br-pods -s 192.168.0.6/32 {svc} -j MARK --set-xmark 0x4000/0x4000"
    assert mark in rules
    # the worker has no services: plain subnet masquerade only
    assert "MARK" not in render.iptables_rules(SPEC, WORKER)


def test_veths_are_created_in_place_with_the_seeds_names_and_indexes() -> None:
    lines = render.host_links_batch(SPEC)
    pod = next(line for line in lines if "dd2b931fc304_h" in line)
    assert "eth0 index 22 netns netdiag-pod-fip-busybox01 address 00:00:00:de:cb:07" in pod
    assert "peer name dd2b931fc304_h index 23 netns netdiag-kube-ovn-control-plane" in pod
    assert any("eth1 index 81 netns netdiag-kube-ovn-control-plane" in line for line in lines)
    # exactly one interface lands in the host namespace
    host = [
        line
        for line in lines
        if line.startswith("link add") and " netns " not in line.split(" type ")[0]
    ]
    assert host == ["link add netdiag-mgmt type veth peer name mg-host netns netdiag-sw"]


def test_cross_node_pods_are_reached_through_the_tunnel_and_the_join_network() -> None:
    cp = render.netns_batches(SPEC)["netdiag-kube-ovn-control-plane"]
    assert "link add br-pods address 00:00:00:91:cc:aa type bridge" in cp
    assert "route add 192.168.0.7/32 via 100.64.0.3 dev ovn0" in cp
    assert any(line.startswith("link add vxlan0 type vxlan id 1 local 172.19.0.6") for line in cp)
    fdb = render.bridge_batches(SPEC)["netdiag-kube-ovn-control-plane"]
    assert "fdb add 00:00:00:a2:70:8d dev vxlan0 self dst 172.19.0.7" in fdb
    assert "fdb append 00:00:00:00:00:00 dev ovn0 self dst 172.19.0.7" in fdb


def test_sshd_listens_only_on_mgmt_and_accepts_only_keys() -> None:
    cfg = render.sshd_config(SPEC, CP).splitlines()
    assert "ListenAddress 10.250.0.11" in cfg
    assert "PasswordAuthentication no" in cfg
    assert "PermitRootLogin prohibit-password" in cfg
    assert "UsePAM no" in cfg
    assert "StrictModes no" in cfg


def test_launch_script_gives_the_node_its_pods_and_private_dirs_then_execs_sshd() -> None:
    script = render.launch_script(SPEC, CP).splitlines()
    paths = render.node_paths(SPEC, CP.name)
    assert script[1] == "hostname kube-ovn-control-plane"
    pod_bind = f"mount --bind /run/netns/netdiag-pod-fip-busybox01 {paths.run}/netns/fip-busybox01"
    assert pod_bind in script
    assert not any("fip-busybox02" in line for line in script), "only its own pods"
    assert script.index(pod_bind) < script.index(f"mount --rbind {paths.run} /run")
    assert script[-1].startswith("exec /usr/sbin/sshd -D -f ")


def test_nodes_forward_and_ipv6_is_off_everywhere() -> None:
    node = render.sysctls(SPEC, "netdiag-kube-ovn-worker")
    assert "net.ipv4.ip_forward=1" in node
    # no redirect for the hairpin; the bridge stays L2-only whether or not br_netfilter is loaded
    assert "net.ipv4.conf.all.send_redirects=0" in node
    assert "net.bridge.bridge-nf-call-iptables=0" in node
    assert "net.ipv4.ip_forward=1" not in render.sysctls(SPEC, "netdiag-client")
    assert "net.ipv6.conf.all.disable_ipv6=1" in render.sysctls(SPEC, "netdiag-sw")
