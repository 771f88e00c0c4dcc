"""`inventory from-ansible` on recorded `ansible-inventory --list` output (ansible-core 2.19,
see tests/fixtures/ansible/README.md), malformed documents, and the CLI with a stand-in
`ansible-inventory` on PATH."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from netdiag.ansible import inventory_yaml, parse_ansible
from netdiag.cli import Env, ExitCode, main
from netdiag.errors import InventoryError
from netdiag.inventory import Inventory, parse_inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ansible"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def convert(name: str, base: Path = Path("/work")) -> tuple[str, Inventory]:
    text = inventory_yaml(parse_ansible(fixture(name), name), name, base)
    return text, parse_inventory(text, Path("/inv/cluster.yaml"))


@pytest.mark.parametrize("recorded", ["hosts-ini.list.json", "hosts-ini.export.json"])
def test_recorded_ini_inventory(recorded: str) -> None:
    text, inv = convert(recorded)
    assert [n.name for n in inv.nodes] == [
        "lonely.example.net",
        "cp-1",
        "cp-2",
        "worker-1",
        "worker-2",
        "worker-3",
        "edge-1",
        "edge-2",
    ]
    cp2 = inv.node("cp-2")
    assert (cp2.host, cp2.user, cp2.port, cp2.sudo) == ("10.20.0.12", "ops", 2222, True)
    assert cp2.identity_file == Path("~/.ssh/cluster_ed25519").expanduser()
    assert dict(cp2.labels) == {"group": "cluster,control_plane,k8s"}  # parents through children
    w3 = inv.node("worker-3")  # its own user, port and a relative key, taken from where we ran
    assert (w3.user, w3.port, w3.identity_file) == ("admin", 2200, Path("/work/keys/worker3.pem"))
    assert inv.node("worker-1").sudo  # ansible_become=true (a string from INI)
    assert not inv.node("worker-2").sudo  # become by su: not what netdiag does
    assert "# worker-2: ansible_become_method su: netdiag becomes root only with `sudo -n`" in text
    assert inv.node("edge-1").jump == "jump@bastion.example.net:2022"
    assert not inv.node("edge-1").sudo  # k8s:vars do not reach edge
    edge2 = inv.node("edge-2")
    assert edge2.host == "edge-2"  # its templated ansible_host is left out, and said so
    assert "# edge-2: ansible_host is a template ({{ inventory_hostname }}.example.net)" in text
    assert "# edge-2: ansible_password is set: netdiag logs in with keys only" in text
    assert "hunter2" not in text
    lonely = inv.node("lonely.example.net")
    assert dict(lonely.labels) == {}  # only in `ungrouped`
    assert "# controller: left out (ansible_connection local: not reached over SSH)" in text


def test_list_and_export_give_the_same_inventory() -> None:
    def body(name: str) -> str:
        return convert(name)[0].split("\n", 1)[1]  # all but the line naming the source

    assert body("hosts-ini.list.json") == body("hosts-ini.export.json")


def test_recorded_yaml_inventory() -> None:
    text, inv = convert("hosts-yaml.list.json")
    ceph1, ceph2, gpu1 = (inv.node(n) for n in ("ceph-1", "ceph-2", "gpu-1"))
    assert (ceph1.host, ceph1.port, ceph1.user) == ("10.30.0.11", 2022, "ops")  # ansible_ssh_port
    assert (ceph2.host, ceph2.user) == ("10.30.0.12", "ceph")  # ansible_ssh_user wins
    assert not ceph2.sudo  # storage's ansible_group_priority 10 beats gpu's become
    assert dict(ceph2.labels) == {"group": "gpu,storage"}
    assert (gpu1.identity_file, gpu1.jump, gpu1.sudo) == (
        Path("/etc/keys/gpu.key"),
        "admin@jump.example.net",
        True,
    )
    assert "# gpu-1: ansible_become_user svc: netdiag's sudo runs as root" in text


def test_export_vars_merge_in_ansibles_order() -> None:
    doc = {
        "_meta": {"hostvars": {"h": {"ansible_port": 2201}}},
        "all": {"children": ["a", "b"], "vars": {"ansible_user": "all", "ansible_port": 22}},
        "a": {"children": ["a1"], "vars": {"ansible_user": "a", "ansible_become": "yes"}},
        "a1": {"hosts": ["h"], "vars": {"ansible_user": "a1"}},
        "b": {"hosts": ["h"], "vars": {"ansible_become": "no", "ansible_group_priority": 5}},
    }
    (h,) = parse_ansible(json.dumps(doc), "t")
    # deeper a1 beats a and all; b (depth 1, priority 5) beats a (depth 1, priority 1)
    assert (h.user, h.port, h.sudo, h.groups) == ("a1", 2201, False, ["a", "a1", "b"])


def test_children_cycles_and_odd_names_do_not_break_it() -> None:
    doc = {"all": {"children": ["x"]}, "x": {"children": ["y"], "hosts": ["web 1", "web:1"]}}
    doc["y"] = {"children": ["x"], "hosts": ["web 1"]}
    text = inventory_yaml(parse_ansible(json.dumps(doc), "t"), "t", Path("/"))
    inv = parse_inventory(text, Path("/inv/c.yaml"))
    assert [(n.name, n.host) for n in inv.nodes] == [("web-1", "web 1"), ("web-1-2", "web:1")]
    assert dict(inv.nodes[0].labels) == {"group": "x,y"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('{"all": {', "t: not JSON (line 1 column 10: Expecting property name"),
        ("[1, 2]", "t: expected a JSON object of groups, got a list"),
        ('{"web": 3}', "t: group 'web': expected a mapping, got 3"),
        ('{"web": {"hosts": "h1"}}', "t: group 'web': hosts: expected a list of names, got 'h1'"),
        ('{"web": {"children": [1]}}', "t: group 'web': children: expected a list of names"),
        ('{"web": {"vars": []}}', "t: group 'web': vars: expected a mapping, got a list"),
        ('{"web": {"host": ["a"]}}', "t: group 'web': unknown key 'host'"),
        ('{"_meta": []}', "t: _meta: expected a mapping, got a list"),
        ('{"_meta": {"hostvars": {"a": 1}}}', "t: _meta.hostvars.a: expected a mapping, got 1"),
        ('{"all": {"children": ["ungrouped"]}}', "t: no hosts in it"),
        ("[" * 100000, "t: nested too deeply"),
    ],
)
def test_malformed_documents_say_what_is_wrong(document: str, expected: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_ansible(document, "t")
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize(
    ("hostvars", "expected"),
    [
        ({"ansible_port": "ssh"}, "host 'a': ansible_port: expected a port 1-65535, got 'ssh'"),
        ({"ansible_port": 0}, "host 'a': ansible_port: expected a port 1-65535, got '0'"),
        ({"ansible_become": "maybe"}, "host 'a': ansible_become: expected a boolean"),
        ({"ansible_user": ["x"]}, "host 'a': ansible_user: expected text, got a list"),
    ],
)
def test_bad_values_name_host_and_variable(hostvars: dict[str, object], expected: str) -> None:
    doc = json.dumps({"_meta": {"hostvars": {"a": hostvars}}, "all": {"hosts": ["a"]}})
    with pytest.raises(InventoryError) as info:
        parse_ansible(doc, "t")
    assert expected in str(info.value)
    assert str(info.value).endswith("fix it in the Ansible inventory")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(["inventory", "from-ansible", *argv], Env(out, err)), out.getvalue(), err.getvalue()


@pytest.fixture
def fake_ansible(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An `ansible-inventory` that prints a recorded --list for hosts.ini, and warns as the
    real one does (exit 0, nothing) for any other inventory."""
    exe = tmp_path / "ansible-inventory"
    exe.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$LOG"\n'
        'case "$2" in\n'
        '  hosts.ini) cat "$FIX/hosts-ini.list.json" ;;\n'
        '  *) echo \'{"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}\'\n'
        '     echo "[WARNING]: Unable to parse $2 as an inventory source" >&2 ;;\n'
        "esac\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FIX", str(FIXTURES))
    monkeypatch.setenv("LOG", str(tmp_path / "args"))
    return tmp_path


def test_cli_runs_ansible_inventory(fake_ansible: Path) -> None:
    code, out, err = run("--ansible-inventory", "hosts.ini")
    assert code == ExitCode.OK, err
    assert (fake_ansible / "args").read_text().split() == ["-i", "hosts.ini", "--list"]
    assert out.startswith("# Generated by `netdiag inventory from-ansible` from `ansible-inv")
    assert [n.name for n in parse_inventory(out, Path("/i.yaml")).nodes][:2] == [
        "lonely.example.net",
        "cp-1",
    ]


def test_cli_passes_ansibles_warnings_on(fake_ansible: Path) -> None:
    code, out, err = run("--ansible-inventory", "nope.ini")
    assert (code, out) == (ExitCode.INPUT, "")
    assert err.count("\n") == 1
    assert "no hosts in it (ansible-inventory said: Unable to parse nope.ini as an" in err


def test_cli_file_and_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    code, from_file, err = run(str(FIXTURES / "hosts-yaml.list.json"))
    assert code == ExitCode.OK, err
    stdin = io.TextIOWrapper(io.BytesIO(fixture("hosts-yaml.list.json").encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, from_stdin, err = run("-")
    assert code == ExitCode.OK, err
    assert from_stdin.split("\n", 1)[1] == from_file.split("\n", 1)[1]


@pytest.mark.parametrize("argv", [(), ("x.json", "--ansible-inventory", "hosts.ini")])
def test_cli_wants_exactly_one_source(argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == ExitCode.INPUT
    assert "give FILE" in err


def test_cli_without_ansible(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run("--ansible-inventory", "hosts.ini")
    assert code == ExitCode.FAILURE
    assert "ansible-inventory not found on PATH; install ansible-core, or run" in err
