"""``netdiag inventory from-ansible``: an inventory from the JSON of ``ansible-inventory --list``.

That JSON is Ansible's stable interface to any inventory (INI, YAML, plugins, scripts):
``{"_meta": {"hostvars": {HOST: {VAR: VALUE}}}, GROUP: {"hosts": [...], "children": [...],
"vars": {...}}, ...}``. ``--list`` has merged group vars into ``hostvars`` already; with
``--export`` they stay under their groups and are merged here as Ansible would (parents before
children, then ``ansible_group_priority``, then name; host vars last).

Per host: ``ansible_host`` -> host, ``ansible_user`` -> user, ``ansible_port`` -> port,
``ansible_ssh_private_key_file`` -> identity_file, ``ansible_become`` -> sudo, a ``-J`` or
``ProxyJump`` in ``ansible_ssh_common_args``/``ansible_ssh_extra_args`` -> jump, and every group
the host is in (through ``children`` too, but not ``all``/``ungrouped``) -> ``labels.group``.
When an Ansible variable has two names, the later one wins, as in Ansible's ssh connection
(``ansible_ssh_user`` over ``ansible_user``). Passwords are never copied; values Ansible would
template (``{{ ... }}``) are left out with a comment, as is a host Ansible does not reach by SSH.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.errors import InventoryError, NetdiagError
from netdiag.inventory import NAME_RE

__all__ = [
    "MAX_JSON_BYTES",
    "AnsibleHost",
    "inventory_yaml",
    "parse_ansible",
    "run_ansible_inventory",
]

#: `--list` repeats every group var in every host: bigger than a hand-written inventory.
MAX_JSON_BYTES = 64 << 20
# Ansible's ssh connection options and the variables that set them, the later one winning.
HOST_VARS = ("ansible_host", "ansible_ssh_host")
USER_VARS = ("ansible_user", "ansible_ssh_user")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
SECRET_VARS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
)
SSH_CONNECTIONS = {
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "ansible.builtin.ssh",
    "ansible.legacy.ssh",
    "ansible.builtin.paramiko_ssh",
    "ansible.legacy.paramiko_ssh",
}
# ansible.module_utils.parsing.convert_bool
TRUE = {"y", "yes", "on", "1", "true", "t"}
FALSE = {"n", "no", "off", "0", "false", "f"}
IMPLICIT_GROUPS = ("all", "ungrouped")


@dataclass
class AnsibleHost:
    """One host as netdiag will write it, with comments for what it could not carry over."""

    name: str  # Ansible's inventory hostname
    host: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    sudo: bool = False
    jump: str | None = None
    groups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skip: str | None = None  # why the host is left out, if it is


def _error(source: str, what: str) -> InventoryError:
    return InventoryError(
        f"{source}: {what}; is it the output of `ansible-inventory -i INVENTORY --list`?"
    )


def _bad(source: str, host: str, var: str, expected: str, value: object) -> InventoryError:
    return InventoryError(
        f"{source}: host {host!r}: {var}: expected {expected}, got {_kind(value)}; fix it in "
        "the Ansible inventory"
    )


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _names(value: object, source: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(source, f"{where}: expected a list of names, got {_kind(value)}")
    return list(value)


@dataclass
class _Group:
    hosts: list[str]
    children: list[str]
    vars: dict[str, object]


def _groups(doc: Mapping[str, object], source: str) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for name, body in doc.items():
        if name == "_meta":
            continue
        if isinstance(body, list):  # the older script format: a group is a list of hosts
            groups[name] = _Group(_names(body, source, f"group {name!r}"), [], {})
            continue
        if not isinstance(body, dict):
            raise _error(source, f"group {name!r}: expected a mapping, got {_kind(body)}")
        unknown = sorted(set(body) - {"hosts", "children", "vars"})
        if unknown:
            raise _error(source, f"group {name!r}: unknown key {unknown[0]!r}")
        hosts = _names(body.get("hosts", []), source, f"group {name!r}: hosts")
        children = _names(body.get("children", []), source, f"group {name!r}: children")
        group_vars = body.get("vars", {})
        if not isinstance(group_vars, dict):
            raise _error(
                source, f"group {name!r}: vars: expected a mapping, got {_kind(group_vars)}"
            )
        groups[name] = _Group(hosts, children, group_vars)
    for group in list(groups.values()):
        for child in group.children:
            groups.setdefault(child, _Group([], [], {}))  # named but empty: not listed
    return groups


def _depths(groups: Mapping[str, _Group]) -> dict[str, int]:
    """Each group's depth below ``all`` (the longest way down, as Ansible counts it)."""
    depth = dict.fromkeys(groups, 0)
    for _ in range(len(groups)):  # a cycle cannot push a depth past the number of groups
        changed = False
        for name, group in groups.items():
            for child in group.children:
                if depth[child] < depth[name] + 1:
                    depth[child] = depth[name] + 1
                    changed = True
        if not changed:
            break
    return depth


def _memberships(groups: Mapping[str, _Group]) -> dict[str, list[str]]:
    """host -> every group it is in, directly or through ``children``, in walk order."""
    parents: dict[str, list[str]] = {}
    for name, group in groups.items():
        for child in group.children:
            parents.setdefault(child, []).append(name)
    out: dict[str, list[str]] = {}
    order = ["all", *(n for n in groups if n != "all")] if "all" in groups else list(groups)
    seen_groups: set[str] = set()
    stack = list(reversed(order))
    while stack:  # depth-first from `all`, so hosts come out in the inventory's order
        name = stack.pop()
        if name in seen_groups:
            continue
        seen_groups.add(name)
        stack.extend(reversed(groups[name].children))
        for host in groups[name].hosts:
            mine = out.setdefault(host, [])
            todo = [name]
            while todo:
                member_of = todo.pop()
                if member_of not in mine:
                    mine.append(member_of)
                    todo.extend(parents.get(member_of, []))
    return out


def parse_ansible(text: str, source: str, warnings: str = "") -> list[AnsibleHost]:
    """The hosts of an ``ansible-inventory --list`` document, in the inventory's order;
    ``warnings``: what ansible-inventory said on stderr, for the "no hosts" error."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(
            source, f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise _error(source, "nested too deeply to be an inventory") from None
    if not isinstance(doc, dict):
        raise _error(source, f"expected a JSON object of groups, got {_kind(doc)}")
    meta = doc.get("_meta", {})
    if not isinstance(meta, dict):
        raise _error(source, f"_meta: expected a mapping, got {_kind(meta)}")
    hostvars = meta.get("hostvars", {})
    if not isinstance(hostvars, dict):
        raise _error(source, f"_meta.hostvars: expected a mapping, got {_kind(hostvars)}")
    groups = _groups(doc, source)
    members = _memberships(groups)
    for host in hostvars:
        members.setdefault(host, [])
    if not members:
        said = f" (ansible-inventory said: {warnings})" if warnings else ""
        raise InventoryError(
            f"{source}: no hosts in it{said}; check the inventory Ansible read "
            "(`ansible-inventory -i INVENTORY --graph` shows what it found)"
        )
    depth = _depths(groups)
    hosts = []
    for name, in_groups in members.items():
        own = hostvars.get(name, {})
        if not isinstance(own, dict):
            raise _error(source, f"_meta.hostvars.{name}: expected a mapping, got {_kind(own)}")
        hosts.append(_host(name, _merged(in_groups, groups, depth, own), in_groups, source))
    return hosts


def _merged(
    in_groups: list[str],
    groups: Mapping[str, _Group],
    depth: Mapping[str, int],
    own: Mapping[str, object],
) -> dict[str, object]:
    """Group vars (``--export``) then host vars, in Ansible's precedence."""

    def priority(name: str) -> tuple[int, int, str]:
        value = groups[name].vars.get("ansible_group_priority", 1)
        return depth[name], value if isinstance(value, int) else 1, name

    merged: dict[str, object] = {}
    for name in sorted({*in_groups, *(("all",) if "all" in groups else ())}, key=priority):
        merged.update(groups[name].vars)
    merged.update(own)
    return merged


def _last(values: Mapping[str, object], names: tuple[str, ...]) -> tuple[str, object] | None:
    """The variable Ansible would use: the last of ``names`` that is set."""
    found = None
    for name in names:
        if values.get(name) is not None:
            found = (name, values[name])
    return found


def _templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _host(
    name: str, values: Mapping[str, object], in_groups: list[str], source: str
) -> AnsibleHost:
    h = AnsibleHost(name=name, host=name)
    h.groups = sorted(g for g in in_groups if g not in IMPLICIT_GROUPS)
    connection = values.get("ansible_connection")
    if connection is not None and str(connection) not in SSH_CONNECTIONS:
        h.skip = f"ansible_connection {connection}: not reached over SSH"
        return h

    def text(names: tuple[str, ...]) -> str | None:
        got = _last(values, names)
        if got is None:
            return None
        var, value = got
        if _templated(value):
            h.notes.append(
                f"{var} is a template ({value}), which ansible-inventory does not expand"
            )
            return None
        if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
            raise _bad(source, name, var, "text", value)
        return str(value)

    h.host = text(HOST_VARS) or name
    h.user = text(USER_VARS)
    h.identity_file = text(KEY_VARS)
    port = text(PORT_VARS)
    if port is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise _bad(source, name, "ansible_port", "a port 1-65535", port)
        h.port = int(port)
    become = values.get("ansible_become")
    if become is not None and not _templated(become):
        h.sudo = _boolean(become, name, source)
    method = values.get("ansible_become_method", "sudo")
    if h.sudo and method != "sudo":
        h.sudo = False
        h.notes.append(
            f"ansible_become_method {method}: netdiag becomes root only with `sudo -n`; "
            "set sudo: true if that works on the node"
        )
    become_user = values.get("ansible_become_user")
    if h.sudo and become_user not in (None, "root"):
        h.notes.append(f"ansible_become_user {become_user}: netdiag's sudo runs as root")
    for var in ARGS_VARS:
        args = values.get(var)
        if isinstance(args, str) and not _templated(args):
            _ssh_args(h, var, args)
    for var in SECRET_VARS:
        if values.get(var) is not None:
            h.notes.append(f"{var} is set: netdiag logs in with keys only and did not copy it")
    return h


def _boolean(value: object, host: str, source: str) -> bool:
    normal = value.strip().lower() if isinstance(value, str) else value
    if isinstance(normal, bool):
        return normal
    if normal in TRUE or normal == 1:
        return True
    if normal in FALSE or normal == 0:
        return False
    raise _bad(source, host, "ansible_become", "a boolean (true/false, yes/no)", value)


def _ssh_args(h: AnsibleHost, var: str, args: str) -> None:
    """``-J X`` / ``-o ProxyJump=X`` -> jump; a ProxyCommand cannot be carried over."""
    try:
        words = shlex.split(args)
    except ValueError:
        h.notes.append(f"{var} could not be read ({args})")
        return
    options: list[str] = []
    for i, word in enumerate(words):
        if word == "-J" and i + 1 < len(words):
            h.jump = words[i + 1]
        elif word.startswith("-J") and len(word) > 2:
            h.jump = word[2:]
        elif word == "-o" and i + 1 < len(words):
            options.append(words[i + 1])
        elif word.startswith("-o") and len(word) > 2:
            options.append(word[2:])
    for option in options:
        key, _, value = option.replace("=", " ", 1).partition(" ")
        if key.lower() == "proxyjump":
            h.jump = value.strip()
        elif key.lower() == "proxycommand":
            h.notes.append(
                f"{var} has a ProxyCommand, not carried over: put it in ~/.ssh/config "
                "(netdiag reads it) or set jump"
            )


def _q(value: object) -> str:
    return json.dumps(value)  # JSON scalars and mappings are valid YAML flow values


def _node_name(name: str, taken: set[str]) -> str:
    base = name if NAME_RE.match(name) else re.sub(r"[^A-Za-z0-9._-]", "-", name).strip("-")
    base = base or "host"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}-{n}", n + 1
    taken.add(out)
    return out


def inventory_yaml(hosts: list[AnsibleHost], source: str, key_base: Path) -> str:
    """Inventory YAML (version 1); relative key paths are made absolute against ``key_base``
    (where ansible ran, as ssh would have read them from there)."""
    lines = [
        f"# Generated by `netdiag inventory from-ansible` from {source}.",
        "# Groups (with their parents) are labels: group=...; ansible_become is sudo.",
        "# Settings Ansible left unset come from ~/.ssh/config; check with",
        "# `netdiag inventory check FILE`.",
        "version: 1",
        "nodes:",
    ]
    taken: set[str] = set()
    kept = [h for h in hosts if h.skip is None]
    for h in hosts:
        if h.skip is not None:
            lines.append(f"# {h.name}: left out ({h.skip})")
    for h in kept:
        node = _node_name(h.name, taken)
        if node != h.name:
            lines.append(f"# {h.name}: renamed {node} (names are letters, digits, '.', '_', '-')")
        lines += [f"# {node}: {note}" for note in h.notes]
        lines.append(f"- name: {_q(node)}\n  host: {_q(h.host)}")
        if h.user:
            lines.append(f"  user: {_q(h.user)}")
        if h.port:
            lines.append(f"  port: {h.port}")
        if h.identity_file:
            key = Path(h.identity_file)
            if not key.is_absolute() and not h.identity_file.startswith("~"):
                lines.append(
                    f"  # identity file {h.identity_file}: relative, taken from {key_base}"
                )
                key = key_base / key
            lines.append(f"  identity_file: {_q(str(key))}")
        if h.sudo:
            lines.append("  sudo: true")
        if h.jump:
            lines.append(f"  jump: {_q(h.jump)}")
        if h.groups:
            lines.append(f"  labels: {_q({'group': ','.join(h.groups)})}")
    if not kept:
        raise InventoryError(
            f"{source}: none of its hosts is reached over SSH (see ansible_connection)"
        )
    return "\n".join(lines) + "\n"


def run_ansible_inventory(inventory: str, timeout: float = 120.0) -> tuple[str, str]:
    """``ansible-inventory -i INVENTORY --list``: its JSON and its warnings."""
    argv = ["ansible-inventory", "-i", inventory, "--list"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise NetdiagError(
            "ansible-inventory not found on PATH; install ansible-core, or run "
            f"`ansible-inventory -i {shlex.quote(inventory)} --list > inventory.json` where it "
            "is installed and pass that file"
        ) from None
    except subprocess.TimeoutExpired:
        raise NetdiagError(
            f"`{shlex.join(argv)}` did not finish within {timeout:.0f} s; a dynamic inventory "
            "plugin may be waiting on its API"
        ) from None
    warnings = "; ".join(
        line.strip().removeprefix("[WARNING]:").strip()
        for line in res.stderr.splitlines()
        if line.startswith("[WARNING]")
    )
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["no error output"])[-1]
        raise NetdiagError(f"`{shlex.join(argv)}` failed (exit {res.returncode}): {why}")
    return res.stdout, warnings
