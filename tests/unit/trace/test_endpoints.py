"""FROM and TO as typed on the command line, against the lab's inventory."""

from __future__ import annotations

import pytest

from netdiag.errors import InputError
from netdiag.trace.endpoints import Spec, parse_endpoint
from tests.unit.trace.replay import inventory

INV = inventory("kernel")


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("pod:default/fip-busybox01", Spec("pod:default/fip-busybox01", "pod",
                                           "default/fip-busybox01", "192.168.0.6")),
        ("pod:default/fip-busybox02:80", Spec("pod:default/fip-busybox02:80", "pod",
                                              "default/fip-busybox02", "192.168.0.7", 80)),
        ("kube-ovn-worker", Spec("kube-ovn-worker", "node", "kube-ovn-worker")),
        ("kube-ovn-worker:30080", Spec("kube-ovn-worker:30080", "node", "kube-ovn-worker",
                                       None, 30080)),
        ("10.96.0.10:80", Spec("10.96.0.10:80", "ip", None, "10.96.0.10", 80)),
        ("fd00::0a", Spec("fd00::0a", "ip", None, "fd00::a")),
        ("[fd00::a]:443", Spec("[fd00::a]:443", "ip", None, "fd00::a", 443)),
    ],
)  # fmt: skip
def test_each_form_is_understood(text: str, spec: Spec) -> None:
    assert parse_endpoint(text, INV, "TO") == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fd00::a]443", "expected [IPv6]:PORT"),
        ("10.96.0.10:http", "port 'http' is not a number 1-65535"),
        ("pod:default/nope", "pod 'default/nope' is not in"),
        ("kube-ovn-worker:0", "port '0' is not a number 1-65535"),
    ],
)
def test_mistakes_name_the_argument_and_what_to_give(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_endpoint(text, INV, "TO")
    assert str(info.value).startswith(f"TO {text!r}")
    assert message in str(info.value)
