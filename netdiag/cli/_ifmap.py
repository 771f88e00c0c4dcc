"""``--ifmap NODE=ip-link.json``: names for the devices of ``tcpdump -i any`` captures.

Shared by every command that reads capture files (packets, analyze, report, tui, export). A
LINUX_SLL2 file records only interface indexes of the namespace it was taken in; the node's
``ip -j link`` saved at capture time names them (a run bundle carries it in its manifest).
"""

from __future__ import annotations

import argparse

from netdiag.errors import InputError

IfMaps = dict[str, dict[int, str]]


def add_ifmap_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ifmap", action="append", default=[], metavar="NODE=ip-link.json",
        help="interface names for the LINUX_SLL2 (tcpdump -i any) captures of NODE: `ip -j link` "
        "saved on that node; each device becomes its own point (repeatable; a run directory "
        "brings its own)",
    )  # fmt: skip


def parse_ifmaps(specs: list[str]) -> IfMaps:
    """``["node1=links.json", ...]`` -> {node: {ifindex: name}}."""
    from netdiag.pcap import load_ifmap

    maps: IfMaps = {}
    for spec in specs:
        node, sep, path = spec.partition("=")
        if not sep or not node or not path:
            raise InputError(f"--ifmap {spec!r}: expected NODE=PATH (the `ip -j link` of NODE)")
        maps[node] = load_ifmap(path)
    return maps
