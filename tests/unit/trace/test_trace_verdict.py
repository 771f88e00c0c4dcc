"""The trace verdict on the analysis of recorded lab runs (tests/fixtures/lab-runs): the facts
its README states for each path, said first and in a few lines."""

from __future__ import annotations

from functools import cache
from typing import Any

from netdiag.bundle import analyse
from netdiag.trace.verdict import TraceVerdict, path_text, probe_text, trace_verdict
from tests.support.lab_facts import CLIENT, CP, CP_ETH1, CP_OVN0, CP_VETH, W_ETH1, W_OVN0, W_VETH
from tests.support.lab_runs import lab_run


@cache
def doc(name: str) -> dict[str, Any]:
    return analyse(lab_run(name)).document


def verdict(name: str, target: str, port: int | None, proto: Any) -> TraceVerdict:
    return trace_verdict(doc(name), title="A -> B", target=target, port=port, proto=proto)


def test_nodeport_through_the_overlay_every_translation_on_its_node_and_the_reply() -> None:
    v = verdict("nodeport-overlay", "172.19.0.6", 30080, "tcp")
    assert v.facts["requests"] == 1
    assert v.facts["path"] == [CLIENT, CP_ETH1, CP_OVN0, CP_ETH1, W_ETH1, W_OVN0, W_VETH]
    assert {(t["kind"], t["node"]) for t in v.facts["translations"]} == {
        ("dnat", CP), ("snat", CP), ("un-dnat", CP), ("un-snat", CP),
    }  # fmt: skip
    assert v.facts["reply_path"] == [W_VETH, W_OVN0, W_ETH1, CP_ETH1, CP_OVN0, CP_ETH1, CLIENT]
    assert v.facts["reply"]["symmetric"] is True
    assert v.lines[0] == "Trace A -> B: 1 TCP SYN seen"
    # one hop a line, each translation on the line of the point that saw it first
    assert list(v.lines[1:4]) == ["  went      1 of 1:", f"{'':12}{CLIENT}", f"{'':12}-> {CP_ETH1}"]
    assert v.lines[4].startswith(f"{'':12}-> {CP_OVN0}  ")
    assert "  DNAT 172.19.0.6:30080 -> 192.168.0.7:80, SNAT 172.19.0.1:" in v.lines[4]
    assert " -> 100.64.0.2:" in v.lines[4]
    assert "  dnat      172.19.0.6:30080 -> 192.168.0.7:80 on kube-ovn-control-plane" in v.lines
    assert (
        "  reply     1 of 1 answered; back at the sender; un-NATed at " + (f"{CP_ETH1}; symmetric:")
        in v.lines
    )


def test_a_drop_says_where_it_stopped_and_where_it_was_expected() -> None:
    v = verdict("overlay-drop", "192.168.0.7", None, "icmp")
    assert v.facts["requests"] == 3
    assert [(s["after_point"], s["expected_point"]) for s in v.facts["stopped"]] == [
        (W_OVN0, W_VETH)
    ]
    assert f"  stopped   1 of 3: last seen at {W_OVN0}, expected next at {W_VETH}" in v.lines
    assert v.facts["replies"] == 2
    assert "  NAT       none on the captured path" in v.lines


def test_an_asymmetric_return_names_where_the_reply_left_and_where_it_should_have() -> None:
    v = verdict("nodeport-asymmetric", "172.19.0.6", 30081, "tcp")
    assert [(t["kind"], t["node"]) for t in v.facts["translations"]] == [("dnat", CP)]
    assert v.facts["reply_path"] == [W_VETH, W_ETH1, CLIENT]
    assert v.facts["reply"]["missing_reverse_nat"] == ["un-dnat"]
    assert [(a["point"], a["expected_point"]) for a in v.facts["asymmetric"]] == [(W_ETH1, CP_ETH1)]
    assert (
        f"  asymmetric 1 reply left at {W_ETH1} instead of coming back through {CP_ETH1}" in v.lines
    )


def test_egress_snat_and_the_traceroute_hops() -> None:
    v = verdict("pod-egress-snat", "172.19.0.1", None, "icmp")
    pod = v.facts["path"][0]
    assert v.facts["path"] == [pod, CP_VETH, CP_ETH1, CLIENT]
    assert [t["kind"] for t in v.facts["translations"]] == ["snat", "un-snat"]
    assert v.facts["traceroute"] == {"hops": ["1 192.168.0.1", "2 172.19.0.1"], "reached": True}
    assert v.lines[-1] == "  traceroute 1 192.168.0.1, 2 172.19.0.1 (reached)"


def test_requests_that_reached_to_and_got_no_answer_say_so() -> None:
    """The lost request of overlay-drop, as if the pod itself had been asked for it: every
    request is looked at, not only the ones the engine flagged."""
    answered_doc = doc("overlay-drop")
    plain = trace_verdict(answered_doc, title="A -> B", target="192.168.0.7", port=None,
                          proto="icmp", dest_points={W_OVN0})  # fmt: skip
    assert plain.facts["last_seen"] == {W_OVN0: 1}
    silent = dict(answered_doc, flows=[])  # no reply seen at all
    v = trace_verdict(silent, title="A -> B", target="192.168.0.7", port=None, proto="icmp",
                      dest_points={W_VETH})  # fmt: skip
    assert v.facts["last_seen"] == {W_VETH: 2, W_OVN0: 1}
    assert v.facts["replies"] == 0
    assert (
        f"  reply     none seen (2 last seen at {W_VETH}, TO's own device: it got there, no "
        f"answer came; 1 last seen at {W_OVN0})"
    ) in v.lines


def test_a_run_without_the_probe_says_so_instead_of_inventing_a_path() -> None:
    v = verdict("overlay-drop", "10.9.9.9", None, "icmp")
    assert v.facts == {"requests": 0}
    assert "no echo request to 10.9.9.9 was captured" in v.lines[1]
    # a TCP trace does not take the ICMP of another probe for its own
    assert verdict("pod-egress-snat", "172.19.0.1", 80, "tcp").facts == {"requests": 0}


def test_path_text_shows_translations_and_tunnels_between_points() -> None:
    journey = {
        "sightings": [{"point": "a/x"}, {"point": "b/y"}, {"point": "c/z", "copy": "side"}],
        "transforms": [
            {"from": "a/x", "to": "b/y", "changes": [
                {"kind": "dnat", "before": "1.1.1.1", "after": "2.2.2.2"},
                {"kind": "ttl", "before": 64, "after": 63},
                {"kind": "encap", "encap": "geneve", "vni": 7, "outer_src": "9.0.0.1",
                 "outer_dst": "9.0.0.2"},
            ]},
        ],
    }  # fmt: skip
    assert (
        path_text(journey)
        == "a/x [DNAT 1.1.1.1 -> 2.2.2.2, encap geneve vni 7 outer 9.0.0.1 -> 9.0.0.2] -> b/y"
    )


def test_each_probe_says_what_its_exit_status_means() -> None:
    tcp = {"name": "tcp-1", "node": "client", "kind": "tcp", "exit_status": 124, "detail": ""}
    assert probe_text(tcp) == "tcp-1 from client: timed out (exit 124)"
    ping = {"name": "ping-1", "node": "kube-ovn-worker", "kind": "ping", "exit_status": 1}
    assert probe_text(ping) == "ping-1 from kube-ovn-worker: no reply (exit 1)"
    lost = {"name": "udp-1", "node": "", "kind": "udp", "exit_status": None,
            "detail": "not run: pod 10.0.0.9 found on no node"}  # fmt: skip
    assert probe_text(lost) == "udp-1 from ?: not run: pod 10.0.0.9 found on no node"
    v = trace_verdict(doc("nodeport-asymmetric"), title="A -> B", target="172.19.0.6", port=30081,
                      proto="tcp", probes=[tcp])  # fmt: skip
    assert v.lines[1] == "  probe     tcp-1 from client: timed out (exit 124)"
    assert v.facts["probes"] == ["tcp-1 from client: timed out (exit 124)"]
