"""Inventory validation: every mistake names file, line, field, expectation and what was found."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from netdiag.errors import InputError, InventoryError
from netdiag.inventory import NodeSpec, load_inventory, parse_inventory
from netdiag.plan import load_plan

GOOD = """\
version: 1
defaults:
  user: root
  port: 22
  identity_file: keys/id_ed25519
  known_hosts: ~/lab_known_hosts
  sudo: false
  connect_timeout: 5
nodes:
  - name: bastion
    host: 10.250.0.1
  - name: kube-ovn-control-plane
    host: 10.250.0.11
    port: 2222
    labels: {role: node, cni: kube-ovn, rack: 7}
    jump: bastion
    devices: {uplink: eth1, join: ovn0}
  - name: client
    host: client.alias
    user: ops
    sudo: true
    host_key_policy: accept-new
    jump: admin@gw.example:2200
pods:
  - name: default/fip-busybox01
    node: kube-ovn-control-plane
    ips: [192.168.0.6]
    fip: 172.19.0.11
    netns: fip-busybox01
    host_iface: dd2b931fc304_h
    mac: 00:00:00:de:cb:07
"""


def parse(text: str, name: str = "lab.yaml") -> object:
    return parse_inventory(textwrap.dedent(text), Path("/inv") / name)


def error_of(text: str) -> str:
    with pytest.raises(InventoryError) as info:
        parse(text)
    return str(info.value)


def test_good_inventory_applies_defaults_overrides_and_resolves_paths() -> None:
    inv = parse_inventory(GOOD, Path("/inv/lab.yaml"))
    assert [n.name for n in inv.nodes] == ["bastion", "kube-ovn-control-plane", "client"]
    cp = inv.node("kube-ovn-control-plane")
    assert cp.port == 2222
    assert cp.user == "root"
    assert cp.identity_file == Path("/inv/keys/id_ed25519")
    assert cp.known_hosts == Path("~/lab_known_hosts").expanduser()
    assert cp.labels == {"role": "node", "cni": "kube-ovn", "rack": "7"}
    assert cp.devices == {"uplink": "eth1", "join": "ovn0"}
    assert isinstance(cp.jump, NodeSpec)
    assert cp.jump.name == "bastion"
    assert cp.connect_timeout == 5.0
    client = inv.node("client")
    assert (client.user, client.sudo, client.host_key_policy) == ("ops", True, "accept-new")
    assert client.jump == "admin@gw.example:2200"
    pod = inv.pod("default/fip-busybox01")
    assert pod.ips == ("192.168.0.6",)
    assert pod.iface == "eth0"
    assert pod.host_iface == "dd2b931fc304_h"
    assert "identity_file" not in cp.public()
    assert cp.public()["jump"] == "bastion"


def test_bad_port_names_file_line_field_and_value() -> None:
    msg = error_of(
        """\
        version: 1
        nodes:
          - name: a
            host: h
          - name: b
            host: h
            port: abc
        """
    )
    assert msg == "/inv/lab.yaml:7: nodes[1].port: expected an integer 1-65535, got 'abc'"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("    portt: 22\n", "nodes[0].portt: unknown key; known keys: name, host, user, port"),
        ("    port: 70000\n", "nodes[0].port: expected an integer 1-65535, got 70000"),
        ("    sudo: maybe\n", "nodes[0].sudo: expected true or false, got 'maybe'"),
        ("    host_key_policy: none\n", "expected one of strict, accept-new, got 'none'"),
        ("    labels: [a]\n", "nodes[0].labels: expected a mapping of names to values, got a list"),
        ("    devices: {uplink: 'eth 1'}\n", "devices.uplink: expected an interface name"),
        ("    host: again\n", "nodes[0].host: duplicate key"),
        ("    jump: a\n", "jump hosts form a loop (a -> a)"),
    ],
)
def test_node_field_errors(snippet: str, expected: str) -> None:
    msg = error_of("version: 1\nnodes:\n  - name: a\n    host: h\n" + snippet)
    assert msg.startswith("/inv/lab.yaml:5: ")
    assert expected in msg


def test_structural_errors() -> None:
    assert "version: expected 1, got 2" in error_of("version: 2\nnodes: [{name: a, host: h}]\n")
    assert "nodes: missing (required)" in error_of("version: 1\n")
    assert "expected at least 1 item" in error_of("version: 1\nnodes: []\n")
    assert ":2: nodes[0].name: expected a name of letters" in error_of(
        "version: 1\nnodes: [{name: 'a b', host: h}]\n"
    )
    assert "the file is empty" in error_of("")
    assert "not valid YAML" in error_of("version: 1\nnodes: [\n")
    dup = error_of("version: 1\nnodes:\n  - {name: a, host: h}\n  - {name: a, host: i}\n")
    assert dup.startswith("/inv/lab.yaml:4: nodes[1].name: duplicate node name 'a'")
    assert "defaults.name: unknown key" in error_of(
        "version: 1\ndefaults: {name: x}\nnodes: [{name: a, host: h}]\n"
    )
    loop = error_of(
        "version: 1\nnodes:\n  - {name: a, host: h, jump: b}\n  - {name: b, host: i, jump: a}\n"
    )
    assert "jump hosts form a loop" in loop


def test_pod_errors() -> None:
    base = "version: 1\nnodes: [{name: n1, host: h}, {name: n2, host: i}]\npods:\n"
    msg = error_of(base + "  - {name: default/p, node: n3}\n")
    assert msg == "/inv/lab.yaml:4: pods[0].node: unknown node 'n3'; nodes are: n1, n2"
    assert "pods[0].name: expected namespace/name, got 'p'" in error_of(
        base + "  - {name: p, node: n1}\n"
    )
    assert "pods[1].name: duplicate pod name" in error_of(
        base + "  - {name: a/p, node: n1}\n  - {name: a/p, node: n2}\n"
    )
    assert "pods[0].ips[1]: expected a string" in error_of(
        base + "  - {name: a/p, node: n1, ips: [1.2.3.4, [x]]}\n"
    )


def test_load_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load_inventory(tmp_path / "missing.yaml")
    f = tmp_path / "inv.yaml"
    f.write_text(GOOD)
    assert load_inventory(f).node("bastion").host == "10.250.0.1"


HOSTILE = [
    (b"version: 1\nnodes: " + b"[" * 100_000 + b"\n", r"x\.yaml:2: nested more than 32 levels"),
    (b"version: 1\nnodes:\n  - name: \xff\n", r"x\.yaml:3: not UTF-8 text \(byte 28 is 0xff\)"),
    (b"version: 1\nnodes: []\0\n", r"x\.yaml:2: NUL byte at byte 20: not a text file"),
    (
        b"version: 1\nnodes: [a: \x01]\n",
        r"x\.yaml:2: not valid YAML \(character 0x0001: control characters are not allowed\)",
    ),
    (b"#" * (9 << 20), r"x\.yaml: over the 8 MiB size limit"),
]


@pytest.mark.parametrize(("content", "message"), HOSTILE)
@pytest.mark.parametrize("load", [load_inventory, load_plan])
def test_hostile_files_give_one_line_errors(
    tmp_path: Path, load: Callable[[Path], object], content: bytes, message: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        load(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("load", [load_inventory, load_plan])
def test_a_fifo_or_a_device_is_refused_without_blocking(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    fifo = tmp_path / "inv.yaml"
    os.mkfifo(fifo)  # nobody writes to it: opening it for reading would wait forever
    with pytest.raises(InputError, match=r"inv\.yaml: not a regular file but a named pipe"):
        load(fifo)
    with pytest.raises(InputError, match="not a regular file but a character device"):
        load(Path("/dev/zero"))


def test_a_large_inventory_loads() -> None:
    nodes = "".join(
        f"- name: n{i}\n  host: 10.0.{i // 256}.{i % 256}\n  labels: {{role: node}}\n"
        for i in range(20_000)
    )
    pods = "".join(f"- {{name: default/p{i}, node: n{i}}}\n" for i in range(5_000))
    inventory = parse_inventory(f"version: 1\nnodes:\n{nodes}pods:\n{pods}", Path("big.yaml"))
    assert (len(inventory.nodes), len(inventory.pods)) == (20_000, 5_000)
    assert inventory.node("n19999").host == "10.0.78.31"


def test_ssh_settings_left_out_are_none_so_ssh_config_decides() -> None:
    inv = parse(
        """\
        version: 1
        nodes:
          - {name: a, host: h}
          - {name: b, host: h, ssh_config: ssh/config, agent: false, jump: none}
          - {name: c, host: h, ssh_config: none, host_key_policy: strict}
        """
    )
    a, b, c = inv.nodes  # type: ignore[attr-defined]
    assert (a.agent, a.host_key_policy, a.known_hosts, a.ssh_config, a.jump) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (b.ssh_config, b.agent, b.jump) == ("/inv/ssh/config", False, "none")
    assert (c.ssh_config, c.host_key_policy) == ("none", "strict")
