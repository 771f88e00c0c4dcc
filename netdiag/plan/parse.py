"""Plan YAML loading and validation: text -> :class:`~netdiag.plan.model.Plan` or PlanError.

Every mistake is reported with its place in the file (via the inventory's YamlReader) so
both file formats explain errors the same way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import yaml

from netdiag.errors import PlanError
from netdiag.files import read_text
from netdiag.inventory import MAX_FILE_BYTES, NAME_RE, YamlReader, collector_paused
from netdiag.plan.model import (
    CAPTURE_KEYS,
    GLOB_CHARS,
    HEX_RE,
    IFACE_RE,
    PROBE_KEYS,
    ROLES,
    TARGET_RE,
    TOP_KEYS,
    CaptureSpec,
    IfaceSelector,
    Plan,
    Probe,
)


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    return parse_plan(read_text(path, "plan", MAX_FILE_BYTES, PlanError), path)


def parse_plan(text: str, path: Path) -> Plan:
    """Validate plan YAML ``text``; errors read ``file:line: field: expected ..., got ...``."""
    with collector_paused():
        return _parse_plan(text, path)


def _parse_plan(text: str, path: Path) -> Plan:
    r = YamlReader(path, PlanError)
    top = r.mapping(r.compose(text), "", TOP_KEYS, required=("version", "name", "capture"))
    r.integer(top["version"], "version", 1, 1)
    name = r.string(top["name"], "name", NAME_RE, "a name of letters, digits, '.', '_' or '-'")
    desc = r.string(top["description"], "description") if "description" in top else ""
    capture = _capture(r, top["capture"])
    probes: list[Probe] = []
    if "probes" in top:
        for i, item in enumerate(r.sequence(top["probes"], "probes")):
            probes.append(_probe(r, item, f"probes[{i}]", {p.name for p in probes}))
    linger = r.number(top["linger"], "linger", 0, 600) if "linger" in top else 2.0
    return Plan(path, name, desc, capture, tuple(probes), linger)


def _at(r: YamlReader, node: yaml.Node, where: str) -> str:
    return f"{r.path}:{node.start_mark.line + 1}: {where}"


def _capture(r: YamlReader, node: yaml.Node) -> CaptureSpec:
    m = r.mapping(node, "capture", CAPTURE_KEYS, required=("interfaces",))
    nodes = tuple(r.str_list(m["nodes"], "capture.nodes")) if "nodes" in m else ("*",)
    ifaces: list[IfaceSelector] = []
    for i, item in enumerate(r.sequence(m["interfaces"], "capture.interfaces", min_len=1)):
        where = f"capture.interfaces[{i}]"
        if isinstance(item, yaml.MappingNode) and _has_key(item, "devices"):
            ifaces += _roles(r, item, where)
            continue
        if isinstance(item, yaml.MappingNode):
            pm = r.mapping(item, where, ("pod", "inside"), required=("pod",))
            pod = r.string(pm["pod"], f"{where}.pod")
            inside = r.boolean(pm["inside"], f"{where}.inside") if "inside" in pm else False
            ifaces.append(IfaceSelector("pod", pod, inside, _at(r, item, where)))
            continue
        word = r.string(item, where, IFACE_RE, "an interface")
        kind: Literal["word", "glob", "any"] = (
            "any" if word == "any" else "glob" if GLOB_CHARS & set(word) else "word"
        )
        ifaces.append(IfaceSelector(kind, word, False, _at(r, item, where)))

    def opt_int(key: str, lo: int, hi: int, default: int) -> int:
        return r.integer(m[key], f"capture.{key}", lo, hi) if key in m else default

    return CaptureSpec(
        nodes=nodes,
        interfaces=tuple(ifaces),
        filter=r.string(m["filter"], "capture.filter") if "filter" in m else None,
        snaplen=opt_int("snaplen", 64, 262144, 512),
        duration=r.number(m["duration"], "capture.duration", 1, 86400) if "duration" in m else 60,
        max_packets=opt_int("max_packets", 1, 1_000_000_000, 100_000),
        max_file_mb=opt_int("max_file_mb", 1, 100_000, 100),
    )


def _has_key(node: yaml.MappingNode, key: str) -> bool:
    return any(isinstance(k, yaml.ScalarNode) and k.value == key for k, _ in node.value)


def _roles(r: YamlReader, item: yaml.Node, where: str) -> list[IfaceSelector]:
    """``{node: SELECTOR, devices: [ROLE or NAME...]}``: roles resolved by discovery at run time."""
    m = r.mapping(item, where, ("node", "devices"), required=("devices",))
    nodes = (r.string(m["node"], f"{where}.node"),) if "node" in m else ("*",)
    out = []
    what = f"a device role ({', '.join(ROLES)}) or an interface name"
    for j, dev in enumerate(r.sequence(m["devices"], f"{where}.devices", min_len=1)):
        name = r.string(dev, f"{where}.devices[{j}]", IFACE_RE, what)
        at = _at(r, dev, f"{where}.devices[{j}]")
        kind: Literal["role", "glob", "word"] = (
            "role" if name in ROLES else "glob" if GLOB_CHARS & set(name) else "word"
        )
        out.append(IfaceSelector(kind, name, False, at, nodes))
    return out


def _probe(r: YamlReader, item: yaml.Node, where: str, names: set[str]) -> Probe:
    outer = r.mapping(item, where, tuple(PROBE_KEYS))
    if len(outer) != 1:
        raise r.error(item, where, f"expected exactly one of {', '.join(PROBE_KEYS)}")
    kind, body = next(iter(outer.items()))
    where = f"{where}.{kind}"
    required = ("from", "target", "port") if kind in ("tcp", "udp") else ("from", "target")
    m = r.mapping(body, where, PROBE_KEYS[kind], required=required)
    src = m["from"]
    if isinstance(src, yaml.MappingNode):
        source = "pod:" + r.string(r.mapping(src, f"{where}.from", ("pod",), ("pod",))["pod"], "")
    else:
        source = r.string(src, f"{where}.from", NAME_RE, "a node name or {pod: namespace/name}")
    target = r.string(m["target"], f"{where}.target", TARGET_RE, "an IP address or host name")
    name = r.string(m["name"], f"{where}.name", NAME_RE, "a name") if "name" in m else ""
    name = name or f"{kind}-{len(names) + 1}"
    if name in names:
        raise r.error(m.get("name", body), f"{where}.name", f"duplicate probe name {name!r}")
    probe = Probe(kind=kind, name=name, source=source, target=target, at=_at(r, body, where))  # type: ignore[arg-type]
    values: dict[str, object] = {}
    if "count" in m:
        values["count"] = r.integer(m["count"], f"{where}.count", 1, 10000)
    if "interval" in m:
        values["interval"] = r.number(m["interval"], f"{where}.interval", 0.002, 60)
    if "pattern" in m:
        values["pattern"] = r.string(m["pattern"], f"{where}.pattern", HEX_RE, "1-16 hex bytes")
    if "port" in m:
        values["port"] = r.integer(m["port"], f"{where}.port", 1, 65535)
    if "max_hops" in m:
        values["max_hops"] = r.integer(m["max_hops"], f"{where}.max_hops", 1, 64)
    if "timeout" in m:
        values["timeout"] = r.number(m["timeout"], f"{where}.timeout", 0.1, 600)
    return replace(probe, **values)  # type: ignore[arg-type]
