"""Capture point names: unique on a node, saying what they are, and safe as file names."""

from __future__ import annotations

from netdiag.capture.run_steps import capture_file, point_labels
from netdiag.plan import CapturePoint

NODE = "kube-ovn-control-plane"


def inside(pod: str, iface: str = "eth0", node: str = NODE) -> CapturePoint:
    return CapturePoint(node, iface, f"/proc/{len(pod)}/ns/net", pod, inside=True)


def test_two_pods_on_one_node_are_two_points_named_after_the_pods() -> None:
    a, b = inside("default/fip-busybox01"), inside("default/lb-backend")
    uplink = CapturePoint(NODE, "eth1")
    veth = CapturePoint(NODE, "dd2b931fc304_h", pod="default/fip-busybox01")  # the host side
    labels = point_labels([a, b, uplink, veth])
    assert labels == {
        a: "fip-busybox01:eth0",
        b: "lb-backend:eth0",
        uplink: "eth1",
        veth: "dd2b931fc304_h",
    }


def test_the_namespace_joins_the_name_only_where_two_pods_share_one() -> None:
    prod, dev = inside("prod/web-0"), inside("dev/web-0")
    elsewhere = inside("dev/web-0", node="kube-ovn-worker")
    labels = point_labels([prod, dev, elsewhere])
    assert labels == {prod: "web-0.prod:eth0", dev: "web-0.dev:eth0", elsewhere: "web-0:eth0"}


def test_file_names_keep_the_node_separator_and_only_safe_characters() -> None:
    assert capture_file(NODE, "fip-busybox01:eth0") == (
        "pcaps/kube-ovn-control-plane__fip-busybox01_eth0.pcap"
    )
    assert capture_file("node1", "eth1") == "pcaps/node1__eth1.pcap"
    assert capture_file("node1", "../x y") == "pcaps/node1__.._x_y.pcap"
