"""Naming capture points (``[POINT=]PATH``) and loading ifindex -> name maps (``ip -j link``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from netdiag.errors import InputError
from netdiag.files import printable, read_text, stat_mode


@dataclass(frozen=True)
class PointSpec:
    """A capture file and the point it was taken at: ``node/iface``."""

    point: str
    node: str
    iface: str
    path: str


def _split_stem(stem: str) -> tuple[str, str]:
    """``node1__eth1`` -> (node1, eth1); without ``__`` the whole stem is the node."""
    node, sep, iface = stem.partition("__")
    return (node, iface) if sep else (stem, "")


def parse_point_spec(spec: str) -> PointSpec:
    """``[POINT=]PATH``: ``node1__eth1.pcap`` -> point node1/eth1; ``client/eth0=x.pcap`` ->
    node client, iface eth0; ``client=x.pcap`` -> node client, iface from the file name or ''.

    A ``=`` is taken as the separator only if what precedes it contains no path separator, so
    paths with ``=`` in a directory name still work.
    """
    name, sep, path = spec.partition("=")
    if not sep or ("/" in name and stat_mode(spec) is not None):
        name, path = "", spec
    if not path or (sep and not name):
        raise InputError(f"{spec!r}: expected [POINT=]PATH, e.g. node1/eth1=node1.pcap")
    file_node, file_iface = _split_stem(Path(path).stem)
    if not name:
        node, iface = file_node, file_iface
    elif "/" in name:
        node, _, iface = name.partition("/")
    else:
        node, iface = name, file_iface
    node, iface = printable(node), printable(iface)
    point = f"{node}/{iface}" if iface else node
    return PointSpec(point=point, node=node, iface=iface, path=path)


def ifmap_from_links(links: object) -> dict[int, str]:
    """``ip -j link`` JSON (already parsed) -> {ifindex: ifname}; anything else -> {}."""
    result: dict[int, str] = {}
    if isinstance(links, list):
        for entry in links:
            if isinstance(entry, dict) and isinstance(entry.get("ifindex"), int):
                result[entry["ifindex"]] = str(entry.get("ifname", ""))
    return result


def load_ifmap(path: str | Path) -> dict[int, str]:
    """ifindex -> ifname from the JSON of ``ip -j link`` (recorded on the node at capture time:
    a LINUX_SLL2 capture holds only the capturing namespace's interface indexes)."""
    text = read_text(path, "interface map", 64 << 20)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            f"{path}: not JSON ({exc}); give the output of `ip -j link` saved on the node"
        ) from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: expected the JSON list printed by `ip -j link`")
    result = ifmap_from_links(data)
    if not result:
        raise InputError(f"{path}: no interfaces in it; give the output of `ip -j link`")
    return result


def check_ifmap_nodes(ifmaps: Mapping[str, object], nodes: Collection[str]) -> None:
    """Refuse an interface map for a node none of the inputs is from: it would silently apply to
    nothing (a file ``any.pcap`` is node ``any``; name it ``node1=any.pcap``)."""
    stray = sorted(set(ifmaps) - set(nodes))
    if stray:
        known = ", ".join(sorted(n for n in nodes if n)) or "none"
        raise InputError(
            f"--ifmap {stray[0]}: no input is from node {stray[0]!r} (the inputs' nodes: "
            f"{known}); name the capture after its node, e.g. {stray[0]}=any.pcap or "
            f"{stray[0]}__any.pcap"
        )


def device_name(ifindex: int, ifmap: Mapping[int, str]) -> str:
    """The device of an interface index: its name in the map, else ``if<N>``."""
    return ifmap.get(ifindex) or f"if{ifindex}"
