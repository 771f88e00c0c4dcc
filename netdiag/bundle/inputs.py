"""Reading what an analysis is given: a run directory or ``[POINT=]PATH`` capture files.

A run directory (``netdiag capture --out DIR``) holds ``manifest.json`` and
``pcaps/<node>__<iface>.pcap``. The manifest adds what capture files cannot say: which node each
file belongs to, interface maps for all-device (LINUX_SLL2) captures, tcpdump's kernel drop
counts, the nodes' clocks, their MAC addresses, which nodes are end hosts and where each pod's
addresses live. A directory without a usable manifest (copied by hand, half-written) is read
from its capture file names alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from netdiag.bundle.layout import Layout, is_capture_name
from netdiag.bundle.manifest import Manifest, read_manifest
from netdiag.clock import Clock
from netdiag.errors import AnalysisInputError, InputError
from netdiag.files import is_directory, is_regular, require_regular
from netdiag.pcap.points import ifmap_from_links

__all__ = ["BundleInput", "load_input"]

IfMaps = Mapping[str, Mapping[int, str]]


@dataclass(frozen=True)
class BundleInput:
    """The packet table plus what the run directory says about it."""

    table: pd.DataFrame
    clocks: Mapping[str, Clock] = field(default_factory=dict)
    kernel_dropped: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    root: Path | None = None  # the run directory; None for capture files
    #: node -> {ifindex: device}: what named the devices of all-device captures
    ifmaps: IfMaps = field(default_factory=dict)
    node_macs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    endpoint_nodes: frozenset[str] = frozenset()
    point_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: per pod point, the captured points further out on its node (``Options.outward``)
    outward: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: point -> until when (its node's clock) its capture is known to have run
    capture_until: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """What to read and what is known about it, gathered before reading."""

    specs: list[str] = field(default_factory=list)
    ifmaps: dict[str, dict[int, str]] = field(default_factory=dict)
    clocks: dict[str, Clock] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    macs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outward: dict[str, tuple[str, ...]] = field(default_factory=dict)
    until: dict[str, int] = field(default_factory=dict)
    unfinished: str = ""  # the phase of a run that never finished (netdiag killed), else ""
    grace_s: float = 0.0
    statuses: list[str] = field(default_factory=list)  # of the captures the manifest lists


def _read_manifest(layout: Layout, plan: _Plan) -> bool:
    if not is_regular(layout.manifest):
        return False
    try:
        manifest = read_manifest(layout.manifest)
    except AnalysisInputError as exc:
        plan.warnings.append(f"{exc}; reading the pcaps by file name")
        return False
    for node in manifest.nodes.values():
        plan.ifmaps[node.name] = ifmap_from_links(list(node.interfaces))
        plan.macs[node.name] = _macs(node.interfaces)
        if node.clock is not None:
            plan.clocks[node.name] = node.clock
    _inventory_facts(manifest, plan)
    if manifest.phase not in ("done", "recovered"):
        plan.unfinished = manifest.phase or "unknown"
        plan.grace_s = manifest.grace_s
    root = layout.root
    listed = set()
    for cap in manifest.captures:
        if not cap.file or not cap.point:
            continue
        file = root / cap.file
        listed.add(file)
        plan.statuses.append(cap.status)
        if not is_regular(file) or file.stat().st_size == 0:
            plan.warnings.append(f"{cap.point}: no capture file ({cap.status}); left out")
            continue
        plan.specs.append(f"{cap.point}={file}")
        if cap.dropped is not None:
            plan.dropped[cap.point] = cap.dropped
        if cap.until_ns is not None:
            plan.until[cap.point] = cap.until_ns
    # files the manifest does not list (copied in by hand): named by their file names
    if layout.pcaps.is_dir():
        for extra in sorted(layout.pcaps.iterdir()):
            if is_capture_name(extra) and extra not in listed and extra.stat().st_size:
                plan.specs.append(str(extra))
    if plan.unfinished and plan.specs:
        plan.warnings.append(
            f"{root}: the run did not finish (manifest phase {plan.unfinished!r}); analysing "
            "the files it holds"
        )
    return True


def _macs(links: Sequence[object]) -> tuple[str, ...]:
    """The unicast MAC addresses of an ``ip -j link`` list (loopback and all-zero left out)."""
    found = []
    for link in links:
        if isinstance(link, dict) and link.get("link_type") == "ether":
            mac = str(link.get("address") or "")
            if len(mac) == 17 and mac != "00:00:00:00:00:00":
                found.append(mac)
    return tuple(dict.fromkeys(found))


def _inventory_facts(manifest: Manifest, plan: _Plan) -> None:
    """External clients (role=external: end hosts that never rewrite a packet) and, for each
    capture point that belongs to a pod, the pod's addresses."""
    inventory = manifest.inventory
    for node in inventory.get("nodes") or []:
        labels = node.get("labels") if isinstance(node, dict) else None
        if isinstance(labels, dict) and labels.get("role") == "external":
            plan.endpoints.add(str(node.get("name")))
    ips: dict[str, tuple[str, ...]] = {}
    for pod in inventory.get("pods") or []:
        if isinstance(pod, dict) and isinstance(pod.get("ips"), list):
            ips[str(pod.get("name"))] = tuple(str(ip) for ip in pod["ips"])
    # Where each pod's address lives: its own interface (a capture inside its namespace), else
    # the host side of its veth.
    home: dict[str, tuple[bool, str]] = {}
    for cap in manifest.captures:
        if cap.pod in ips and cap.point:
            inside = bool(cap.netns)
            pod = cap.pod
            if pod not in home or (inside and not home[pod][0]):
                home[pod] = (inside, cap.point)
    plan.addresses = {point: ips[pod] for pod, (_, point) in home.items()}
    plan.outward = _outward(manifest, {pod: point for pod, (_, point) in home.items()})


def _outward(manifest: Manifest, home: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Per pod home point, the captured points further out on its node, nearest first: the
    host end of its veth (when the home is inside the pod), then the bridge that veth is a
    port of, and that bridge's own master (``ip -j link``'s ``master``)."""
    host: dict[str, tuple[str, str]] = {}  # pod -> (node, host end of its veth)
    for pod in manifest.inventory.get("pods") or []:
        if isinstance(pod, dict) and pod.get("host_iface") and pod.get("node"):
            host[str(pod.get("name"))] = (str(pod["node"]), str(pod["host_iface"]))
    captured: dict[tuple[str, str], str] = {}  # (node, device) -> point, host side only
    for cap in manifest.captures:
        if cap.point and not cap.netns:
            captured[(cap.node, cap.iface)] = cap.point
            if cap.pod:
                host[cap.pod] = (cap.node, cap.iface)
    masters = {  # node -> device -> the device it is a port of
        node.name: {
            str(link.get("ifname")): str(link["master"])
            for link in node.interfaces
            if isinstance(link, dict) and link.get("master")
        }
        for node in manifest.nodes.values()
    }
    out: dict[str, tuple[str, ...]] = {}
    for pod, point in home.items():
        if pod not in host:
            continue
        node, device = host[pod]
        chain: list[str] = []
        for _ in range(4):  # veth -> bridge -> its master: never a long chain
            found = captured.get((node, device))
            if found and found != point and found not in chain:
                chain.append(found)
            if device not in masters.get(node, {}):
                break
            device = masters[node][device]
        if chain:
            out[point] = tuple(chain)
    return out


def _bundle_plan(root: Path) -> _Plan:
    plan = _Plan()
    layout = Layout(root)
    manifest = _read_manifest(layout, plan)
    if not manifest:
        base = layout.pcaps if is_directory(layout.pcaps) else root
        files = sorted(
            p for p in base.iterdir() if is_capture_name(p) and is_regular(p) and p.stat().st_size
        )
        plan.specs = [str(p) for p in files]
    if not plan.specs and plan.unfinished:
        raise AnalysisInputError(
            f"{root}: the run did not finish (manifest phase {plan.unfinished!r}: netdiag "
            "stopped before it fetched any file) and holds no capture file; its nodes keep "
            f"their files for {plan.grace_s:g} s after losing netdiag: run "
            f"`netdiag capture --recover {root}`, then analyse"
        )
    if not plan.specs and manifest:
        counts = Counter(plan.statuses)
        seen = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
        raise AnalysisInputError(
            f"{root}: no capture file of this run is here (capture statuses in its manifest: "
            f"{seen}); see `netdiag capture`'s node statuses for why"
        )
    if not plan.specs:
        raise AnalysisInputError(
            f"{root}: no capture files found (expected manifest.json or pcaps/*.pcap); "
            "give the directory written by `netdiag capture --out DIR` or pcap files"
        )
    return plan


def load_input(inputs: Sequence[str | Path], ifmaps: IfMaps | None = None) -> BundleInput:
    """Read a run directory, or ``[POINT=]PATH`` files, into one packet table.

    ``ifmaps`` (node -> {ifindex: name}, as ``--ifmap``) names the devices of all-device
    (``tcpdump -i any``) captures; for a run directory it overrides the ``ip -j link`` its
    manifest recorded per node. Such a capture becomes one point per device.
    """
    from netdiag.pcap import check_ifmap_nodes, parse_point_spec, read_captures

    if not inputs:
        raise AnalysisInputError("no input given; pass a run directory or capture files")
    first = Path(str(inputs[0]))
    root: Path | None = None
    if len(inputs) == 1 and is_directory(first):
        root = first
        plan = _bundle_plan(first)
    else:
        plan = _Plan(specs=[str(i) for i in inputs])
        for spec in plan.specs:
            path = Path(parse_point_spec(spec).path)
            if is_directory(path):
                raise AnalysisInputError(
                    f"{path}: a directory among capture files; give one run directory alone"
                )
            require_regular(path, "capture file", AnalysisInputError)
    given = {node: dict(m) for node, m in (ifmaps or {}).items()}
    try:
        check_ifmap_nodes(given, {parse_point_spec(s).node for s in plan.specs} | set(plan.ifmaps))
    except InputError as exc:
        raise AnalysisInputError(str(exc)) from exc
    plan.ifmaps.update(given)
    try:
        table, infos = read_captures(plan.specs, ifmaps=plan.ifmaps)
    except AnalysisInputError:
        raise
    except InputError as exc:
        raise AnalysisInputError(str(exc)) from exc
    warnings = list(plan.warnings)
    for spec, info in zip(plan.specs, infos, strict=True):
        warnings.extend(str(w) for w in info.warnings)
        warnings.extend(info.notes)
        point = parse_point_spec(spec).point
        if info.kernel_dropped and point not in plan.dropped:
            plan.dropped[point] = info.kernel_dropped
    if table.empty:
        if warnings:  # damaged or cut short before the first packet: say so first
            raise AnalysisInputError(
                f"the capture files hold no usable packet ({'; '.join(warnings)}); if they are "
                "whole, check the capture filter and that traffic was sent"
            )
        raise AnalysisInputError(
            "the capture files hold no packets; check the capture filter and that traffic was sent"
        )
    return BundleInput(
        table, plan.clocks, plan.dropped, tuple(warnings), root, plan.ifmaps,
        node_macs=plan.macs, endpoint_nodes=frozenset(plan.endpoints),
        point_addresses=plan.addresses, outward=plan.outward, capture_until=plan.until,
    )  # fmt: skip
