"""Load and validate inventory files (``inventory/*.yaml``): which nodes exist, how to reach them.

The format is a contract with the lab writer (see ``inventory/lab.yaml`` and the commented
examples next to it). Errors name the file, the line and the field, what was expected and what
was found, e.g. ``inventory/lab.yaml:12: nodes[1].port: expected an integer 1-65535, got 'abc'``.
Line numbers come from PyYAML's node marks: we compose the node tree and validate it ourselves
instead of loading plain dicts, which also lets us reject duplicate keys PyYAML would silently keep.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from netdiag.errors import InputError, InventoryError
from netdiag.files import read_text

__all__ = [
    "Inventory",
    "NodeSpec",
    "PodSpec",
    "YamlReader",
    "collector_paused",
    "load_inventory",
    "parse_inventory",
]

#: Inventories and probe plans are read whole: at most this many bytes (~90 bytes a node, so
#: about 90,000 nodes) ...
MAX_FILE_BYTES = 8 << 20
#: ... and nested at most this deep (the formats need 5 levels; a parser recursing on a
#: hostile file would exhaust the stack).
MAX_DEPTH = 32
#: libyaml's parser when PyYAML was built with it (the usual wheels are): 10-20x faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HostKeyPolicy = Literal["strict", "accept-new"]
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
POD_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
# Keys allowed on a node and in `defaults` (everything but name/host/labels/devices may default).
NODE_KEYS = (
    "name",
    "host",
    "user",
    "port",
    "identity_file",
    "agent",
    "known_hosts",
    "host_key_policy",
    "ssh_config",
    "sudo",
    "capture_dir",
    "tcpdump",
    "connect_timeout",
    "labels",
    "jump",
    "devices",
)
DEFAULT_KEYS = tuple(k for k in NODE_KEYS if k not in ("name", "host"))
POD_KEYS = ("name", "node", "ips", "fip", "netns", "host_iface", "iface", "mac")
TOP_KEYS = ("version", "defaults", "nodes", "pods")


@dataclass(frozen=True)
class NodeSpec:
    """One SSH-reachable node. A setting left None is taken from ssh_config as OpenSSH would
    (``user``, ``port``, ``identity_file``, ``known_hosts``, ``host_key_policy``, ``jump``), and
    ``agent`` None uses ssh-agent whenever ``SSH_AUTH_SOCK`` is set; see transport/target.py."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None
    identity_file: Path | None = None
    agent: bool | None = None
    known_hosts: Path | None = None
    host_key_policy: HostKeyPolicy | None = None
    # An OpenSSH client config file to read instead of ~/.ssh/config (``ssh -F``); "none": none.
    ssh_config: str | None = None
    sudo: bool = False
    capture_dir: str = "/tmp"
    tcpdump: str = "tcpdump"
    connect_timeout: float = 10.0
    labels: Mapping[str, str] = field(default_factory=dict)
    # Another node of the inventory (resolved), ``[user@]host[:port]`` (several separated by
    # commas, as ProxyJump takes them) or "none" to ignore a ProxyJump of ssh_config.
    jump: NodeSpec | str | None = None
    devices: Mapping[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, object]:
        """What may go into a manifest: everything but credentials' locations stays out."""
        jump = self.jump.name if isinstance(self.jump, NodeSpec) else self.jump
        return {
            "name": self.name,
            "host": self.host,
            "user": self.user,
            "port": self.port,
            "sudo": self.sudo,
            "capture_dir": self.capture_dir,
            "tcpdump": self.tcpdump,
            "labels": dict(self.labels),
            "jump": jump,
            "devices": dict(self.devices),
        }


@dataclass(frozen=True)
class PodSpec:
    """A pod whose network namespace and host-side veth live on one node."""

    name: str
    node: str
    ips: tuple[str, ...] = ()
    fip: str | None = None
    netns: str | None = None
    host_iface: str | None = None
    iface: str = "eth0"
    mac: str | None = None


def pod_record(pod: PodSpec) -> dict[str, object]:
    """What a run manifest keeps of a pod: who it is, where it runs, its addresses, the host
    end of its veth when the inventory names it."""
    record: dict[str, object] = {"name": pod.name, "node": pod.node, "ips": list(pod.ips),
                                 "fip": pod.fip}  # fmt: skip
    if pod.host_iface:
        record["host_iface"] = pod.host_iface
    return record


@dataclass(frozen=True)
class Inventory:
    """All nodes and pods of one inventory file, in file order."""

    path: Path
    nodes: tuple[NodeSpec, ...]
    pods: tuple[PodSpec, ...] = ()

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def pod(self, name: str) -> PodSpec:
        for pod in self.pods:
            if pod.name == name:
                return pod
        raise KeyError(name)


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file; raises InventoryError with file:line: field."""
    path = Path(path)
    return parse_inventory(read_text(path, "inventory", MAX_FILE_BYTES, InventoryError), path)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Composing and validating a YAML file makes ~20 objects per line and frees none until
    the end: the garbage collector's passes over them cost more than the parse (measured, an
    inventory of 50,000 nodes: 4 s with them, 1.5 s without)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory YAML ``text``; ``path`` names it in errors and anchors relative paths."""
    with collector_paused():
        return _parse_inventory(text, path)


def _parse_inventory(text: str, path: Path) -> Inventory:
    r = YamlReader(path, InventoryError)
    top = r.mapping(r.compose(text), "", TOP_KEYS, required=("version", "nodes"))
    version = r.integer(top["version"], "version", 1, 1)
    del version  # only version 1 exists; the check above rejects others
    base = path.parent
    defaults: dict[str, object] = {}
    if "defaults" in top:
        dmap = r.mapping(top["defaults"], "defaults", DEFAULT_KEYS)
        defaults = {k: _node_value(r, k, v, f"defaults.{k}", base) for k, v in dmap.items()}
    raw_nodes: list[tuple[dict[str, object], yaml.Node, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(r.sequence(top["nodes"], "nodes", min_len=1)):
        where = f"nodes[{i}]"
        nmap = r.mapping(item, where, NODE_KEYS, required=("name", "host"))
        values = dict(defaults)
        values.update({k: _node_value(r, k, v, f"{where}.{k}", base) for k, v in nmap.items()})
        name = str(values["name"])
        if name in seen:
            raise r.error(nmap["name"], f"{where}.name", f"duplicate node name {name!r}")
        seen.add(name)
        raw_nodes.append((values, nmap.get("jump", item), where))
    nodes = _build_nodes(r, raw_nodes)
    pods: list[PodSpec] = []
    pod_names: set[str] = set()
    if "pods" in top:
        for i, item in enumerate(r.sequence(top["pods"], "pods")):
            pods.append(_pod(r, item, f"pods[{i}]", seen, pod_names))
            pod_names.add(pods[-1].name)
    return Inventory(path=path, nodes=tuple(nodes), pods=tuple(pods))


def _node_value(r: YamlReader, key: str, node: yaml.Node, where: str, base: Path) -> object:
    """Validate one node/defaults key and convert it to its NodeSpec type."""
    if key == "name":
        return r.string(node, where, NAME_RE, "a name of letters, digits, '.', '_' or '-'")
    if key in ("host", "user", "capture_dir", "tcpdump", "jump"):
        return r.string(node, where)
    if key == "port":
        return r.integer(node, where, 1, 65535)
    if key in ("identity_file", "known_hosts"):
        return _path(r.string(node, where), base)
    if key == "ssh_config":
        text = r.string(node, where)
        return text if text == "none" else str(_path(text, base))
    if key in ("agent", "sudo"):
        return r.boolean(node, where)
    if key == "host_key_policy":
        return r.choice(node, where, ("strict", "accept-new"))
    if key == "connect_timeout":
        return r.number(node, where, 0.1, 3600)
    if key == "labels":
        return r.str_map(node, where)
    if key == "devices":
        return r.str_map(node, where, key_re=NAME_RE, value_re=NAME_RE)
    raise AssertionError(key)  # pragma: no cover - NODE_KEYS and this function agree


def _path(text: str, base: Path) -> Path:
    """``~`` expanded; relative paths are relative to the inventory file, not to the cwd."""
    p = Path(text).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _build_nodes(
    r: YamlReader, raw: list[tuple[dict[str, object], yaml.Node, str]]
) -> list[NodeSpec]:
    """Second pass: a ``jump`` naming another node becomes that NodeSpec (no cycles allowed)."""
    by_name = {str(v["name"]): (v, mark, where) for v, mark, where in raw}
    built: dict[str, NodeSpec] = {}

    def build(name: str, chain: tuple[str, ...]) -> NodeSpec:
        if name in built:
            return built[name]
        values, mark, where = by_name[name]
        jump = values.get("jump")
        if isinstance(jump, str) and jump in by_name:
            if jump in chain or jump == name:
                loop = " -> ".join((*chain, name, jump))
                raise r.error(mark, f"{where}.jump", f"jump hosts form a loop ({loop})")
            values = {**values, "jump": build(jump, (*chain, name))}
        built[name] = NodeSpec(**values)  # type: ignore[arg-type]
        return built[name]

    return [build(str(v["name"]), ()) for v, _, _ in raw]


def _pod(r: YamlReader, item: yaml.Node, where: str, nodes: set[str], pods: set[str]) -> PodSpec:
    pmap = r.mapping(item, where, POD_KEYS, required=("name", "node"))
    name = r.string(pmap["name"], f"{where}.name", POD_NAME_RE, "namespace/name")
    if name in pods:
        raise r.error(pmap["name"], f"{where}.name", f"duplicate pod name {name!r}")
    node = r.string(pmap["node"], f"{where}.node")
    if node not in nodes:
        known = ", ".join(sorted(nodes))
        raise r.error(pmap["node"], f"{where}.node", f"unknown node {node!r}; nodes are: {known}")
    ips = tuple(r.str_list(pmap["ips"], f"{where}.ips")) if "ips" in pmap else ()

    def opt(key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        return r.string(pmap[key], f"{where}.{key}", pattern, what) if key in pmap else None

    netns = opt("netns")
    host_iface = opt("host_iface", NAME_RE, "an interface name")
    return PodSpec(
        name=name,
        node=node,
        ips=ips,
        fip=opt("fip"),
        netns=netns,
        host_iface=host_iface,
        iface=opt("iface", NAME_RE, "an interface name") or "eth0",
        mac=opt("mac"),
    )


class YamlReader:
    """Validating walk over a composed YAML tree; every error carries ``file:line: field``.

    Shared with ``netdiag.plan`` so both file formats report mistakes the same way.
    """

    def __init__(self, path: Path, error_cls: type[InputError]) -> None:
        self.path = path
        self.error_cls = error_cls
        self._loader = yaml.SafeLoader("")

    def error(self, node: yaml.Node | None, where: str, message: str) -> InputError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        field_ = f" {where}:" if where else ""
        return self.error_cls(f"{self.path}{line}:{field_} {message}")

    def expected(self, node: yaml.Node, where: str, what: str) -> InputError:
        return self.error(node, where, f"expected {what}, got {self._show(node)}")

    def compose(self, text: str) -> yaml.Node:
        try:
            self._check_depth(yaml.parse(text, Loader=_LOADER))
            node = yaml.compose(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f":{mark.line + 1}" if mark is not None else ""
            raise self.error_cls(
                f"{self.path}{line}: not valid YAML ({_one_line(exc.problem)}); fix the syntax"
            ) from exc
        except yaml.reader.ReaderError as exc:
            at = text.count("\n", 0, exc.position) + 1
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            raise self.error_cls(
                f"{self.path}:{at}: not valid YAML (character {code:#06x}: {exc.reason}); remove it"
            ) from exc
        except yaml.YAMLError as exc:
            raise self.error_cls(
                f"{self.path}: not valid YAML ({_one_line(exc)}); fix the syntax"
            ) from exc
        if node is None:
            raise self.error_cls(f"{self.path}: the file is empty; see inventory/*.yaml examples")
        return node

    def _check_depth(self, events: Iterator[yaml.Event]) -> None:
        """Refuse nesting deeper than :data:`MAX_DEPTH` before anything recurses over it."""
        depth = 0
        for event in events:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise self.error_cls(
                        f"{self.path}:{line}: nested more than {MAX_DEPTH} levels deep (the "
                        "format needs 5); is this the file you meant?"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1

    def value(self, node: yaml.Node) -> object:
        return self._loader.construct_object(node, deep=True)

    def _show(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return repr(self.value(node))

    def mapping(
        self,
        node: yaml.Node,
        where: str,
        known: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node]:
        """A mapping with only ``known`` keys (unknown ones listed in the error), no duplicates."""
        if not isinstance(node, yaml.MappingNode):
            raise self.expected(node, where, "a mapping")
        out: dict[str, yaml.Node] = {}
        prefix = f"{where}." if where else ""
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str) or key not in known:
                raise self.error(
                    key_node, f"{prefix}{key}", f"unknown key; known keys: {', '.join(known)}"
                )
            if key in out:
                raise self.error(key_node, f"{prefix}{key}", "duplicate key")
            out[key] = value_node
        for key in required:
            if key not in out:
                raise self.error(node, f"{prefix}{key}", "missing (required)")
        return out

    def sequence(self, node: yaml.Node, where: str, min_len: int = 0) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.expected(node, where, "a list")
        if len(node.value) < min_len:
            raise self.error(node, where, f"expected at least {min_len} item(s), got none")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str, what: str) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.expected(node, where, what)
        return self.value(node)

    def string(
        self,
        node: yaml.Node,
        where: str,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
    ) -> str:
        value = self.scalar(node, where, what)
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            raise self.expected(node, where, what)
        return value

    def integer(self, node: yaml.Node, where: str, lo: int, hi: int) -> int:
        what = f"an integer {lo}-{hi}" if lo != hi else f"{lo}"
        value = self.scalar(node, where, what)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.expected(node, where, what)
        return value

    def number(self, node: yaml.Node, where: str, lo: float, hi: float) -> float:
        what = f"a number {lo:g}-{hi:g}"
        value = self.scalar(node, where, what)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.expected(node, where, what)
        return float(value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where, "true or false")
        if not isinstance(value, bool):
            raise self.expected(node, where, "true or false")
        return value

    def choice(self, node: yaml.Node, where: str, choices: tuple[str, ...]) -> str:
        what = "one of " + ", ".join(choices)
        value = self.scalar(node, where, what)
        if value not in choices:
            raise self.expected(node, where, what)
        return str(value)

    def str_list(self, node: yaml.Node, where: str) -> list[str]:
        if isinstance(node, yaml.ScalarNode):
            return [self.string(node, where)]
        return [self.string(n, f"{where}[{i}]") for i, n in enumerate(self.sequence(node, where))]

    def str_map(
        self,
        node: yaml.Node,
        where: str,
        key_re: re.Pattern[str] | None = None,
        value_re: re.Pattern[str] | None = None,
    ) -> dict[str, str]:
        """A free-form ``str -> str`` mapping (labels, devices); numbers are taken as text."""
        if not isinstance(node, yaml.MappingNode):
            raise self.expected(node, where, "a mapping of names to values")
        out: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, where, "a name")
            sub = f"{where}.{key}"
            value = self.scalar(value_node, sub, "a string")
            if isinstance(value, bool) or value is None or isinstance(value, list | dict):
                raise self.expected(value_node, sub, "a string")
            if str(key) in out:
                raise self.error(key_node, sub, "duplicate key")
            if key_re and not key_re.match(str(key)):
                raise self.expected(key_node, sub, "a name of letters, digits, '.', '_' or '-'")
            if value_re and not value_re.match(str(value)):
                raise self.expected(value_node, sub, "an interface name")
            out[str(key)] = str(value)
        return out


def _one_line(problem: object) -> str:
    """PyYAML's messages span lines (the problem, then where): errors here are one line."""
    return " ".join(str(problem).split())
