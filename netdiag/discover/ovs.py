"""Open vSwitch output: ``ovs-vsctl --format=json find Interface ...``, ``ovs-vsctl show``,
``ovs-ofctl dump-ports-desc``, and the ``external_ids`` conventions CNIs put on pod ports.

kube-ovn sets ``iface-id=<pod>.<namespace>`` plus ``pod_name``/``pod_namespace``/``ip``;
ovn-kubernetes sets ``iface-id=<namespace>_<pod>`` (secondary networks prefix the NAD:
``<nad-namespace>.<nad>_<namespace>_<pod>``) plus ``iface-id-ver`` and ``sandbox``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from netdiag.errors import InputError

__all__ = [
    "OvsBridge",
    "OvsPort",
    "PodPort",
    "iface_ids",
    "parse_dump_ports_desc",
    "parse_vsctl_find",
    "parse_vsctl_show",
    "pod_ports",
]


@dataclass(frozen=True)
class OvsPort:
    """A port of an OVS bridge as ``ovs-vsctl show`` prints it."""

    name: str
    type: str = ""  # "", internal, patch, geneve, vxlan
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OvsBridge:
    name: str
    ports: tuple[OvsPort, ...]
    datapath_type: str = ""


@dataclass(frozen=True)
class PodPort:
    """An OVS interface that belongs to a pod, from its ``external_ids``."""

    iface: str
    namespace: str | None
    pod: str | None
    iface_id: str
    ofport: int | None = None
    ips: tuple[str, ...] = ()
    vendor: str = ""


def iface_ids(namespace: str, pod: str) -> tuple[str, str]:
    """The ``iface-id`` of a pod's primary port: (kube-ovn, ovn-kubernetes)."""
    return f"{pod}.{namespace}", f"{namespace}_{pod}"


def _decode(value: object) -> object:
    """OVSDB JSON: ["map", [[k, v], ...]], ["set", [...]], ["uuid", u], or a scalar."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        tag, body = value
        if tag == "map" and isinstance(body, list):
            return {str(k): _decode(v) for k, v in body}
        if tag == "set" and isinstance(body, list):
            return [_decode(v) for v in body]
        if tag in ("uuid", "named-uuid"):
            return body
    return value


def parse_vsctl_find(text: str) -> list[dict[str, object]]:
    """``ovs-vsctl --format=json find ...`` (or ``list``): one dict per row, values decoded."""
    try:
        doc = json.loads(text)
        headings, data = doc["headings"], doc["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(
            "ovs-vsctl output is not --format=json table output; run it with --format=json"
        ) from exc
    return [{str(h): _decode(v) for h, v in zip(headings, row, strict=False)} for row in data]


def pod_ports(rows: list[dict[str, object]]) -> tuple[PodPort, ...]:
    """Pod ports among Interface rows, recognised by kube-ovn or ovn-kubernetes external_ids."""
    out = []
    for row in rows:
        ext = row.get("external_ids")
        if not isinstance(ext, Mapping) or "iface-id" not in ext:
            continue
        iid = str(ext["iface-id"])
        ns, pod, vendor = ext.get("pod_namespace"), ext.get("pod_name"), str(ext.get("vendor", ""))
        if not (ns and pod):
            m = re.fullmatch(r"(?:[^_]+\.[^_]+_)?([a-z0-9-]+)_([a-z0-9.-]+)", iid)
            if m and ("iface-id-ver" in ext or "sandbox" in ext):
                ns, pod, vendor = m.group(1), m.group(2), vendor or "ovn-kubernetes"
            elif "." in iid:
                pod, _, ns = iid.rpartition(".")
        ofport = row.get("ofport")
        ips = str(ext.get("ip", ext.get("ip_addresses", "")))
        out.append(
            PodPort(
                iface=str(row.get("name", "")),
                namespace=str(ns) if ns else None,
                pod=str(pod) if pod else None,
                iface_id=iid,
                ofport=ofport if isinstance(ofport, int) and ofport > 0 else None,
                ips=tuple(i.split("/")[0] for i in re.split(r"[,\s]+", ips) if i),
                vendor=vendor,
            )
        )
    return tuple(out)


def parse_vsctl_show(text: str) -> tuple[OvsBridge, ...]:
    """``ovs-vsctl show``: bridges, their ports, each port's interface type and options."""
    bridges: list[OvsBridge] = []
    name: str | None = None
    dp = ""
    ports: list[OvsPort] = []
    port: dict[str, str] | None = None

    def flush_port() -> None:
        nonlocal port
        if port is not None and port["name"]:  # a blog-mangled "Port " line has no name
            opts = tuple(re.findall(r'([\w-]+)="?([^",}]*)"?', port.get("options", "")))
            ports.append(OvsPort(port["name"], port.get("type", ""), opts))
        port = None

    def flush_bridge() -> None:
        nonlocal name, ports, dp
        flush_port()
        if name is not None:
            bridges.append(OvsBridge(name, tuple(ports), dp))
        name, ports, dp = None, [], ""

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if m := re.match(r'^Bridge "?([^"\s]+)"?$', line):
            flush_bridge()
            name = m.group(1)
        elif name is None:
            continue
        elif m := re.match(r'^Port\b\s*"?([^"\s]*)"?$', line):
            flush_port()
            port = {"name": m.group(1)}
        elif port is not None and (m := re.match(r"^(type|options): (.*)$", line)):
            port[m.group(1)] = m.group(2)
        elif m := re.match(r"^datapath_type: (\S+)", line):
            dp = m.group(1)
        elif line.startswith("ovs_version"):
            flush_bridge()
    flush_bridge()
    return tuple(bridges)


def parse_dump_ports_desc(text: str) -> dict[int | str, tuple[str, str | None]]:
    """``ovs-ofctl dump-ports-desc BR``: OpenFlow port number (or LOCAL) -> (name, MAC).

    Tolerates the seed's mangled copy where several records share a line.
    """
    out: dict[int | str, tuple[str, str | None]] = {}
    for m in re.finditer(r"(\d+|LOCAL)\(([^)]+)\): addr:([0-9a-f:]{17})", text):
        key: int | str = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
        out[key] = (m.group(2), m.group(3))
    return out
