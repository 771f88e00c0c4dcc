"""Reading what ``analyze`` is given: a run bundle directory or ``[POINT=]PATH`` capture files.

A bundle (``netdiag capture --out DIR``) holds ``manifest.json`` and ``pcaps/<node>__<iface>.pcap``.
The manifest adds what pcaps cannot say: which node each file belongs to, interface maps for
LINUX_SLL2 captures, tcpdump's kernel drop counts and the orchestrator's clock samples. A bundle
without a manifest (copied by hand, half-written run) is read from its pcap file names alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from netdiag.correlate.model import ClockSample, Options
from netdiag.errors import AnalysisInputError, InputError
from netdiag.files import is_directory, is_regular, require_regular
from netdiag.pcap.points import ifmap_from_links

PCAP_SUFFIXES = (".pcap", ".pcapng", ".cap")


@dataclass(frozen=True)
class Input:
    """The packet table plus the bundle's side information."""

    table: pd.DataFrame
    reference_node: str | None
    clock_samples: Mapping[str, ClockSample] = field(default_factory=dict)
    kernel_dropped: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    root: Path | None = None
    #: node -> {ifindex: device}: what named the devices of all-device captures
    ifmaps: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    node_macs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    endpoint_nodes: frozenset[str] = frozenset()
    point_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: point -> until when (its node's clock) its capture is known to have run
    capture_until: Mapping[str, int] = field(default_factory=dict)

    def options(
        self, *, window_ns: int | None = None, reference_node: str | None = None
    ) -> Options:
        """The analysis options this input implies; the one rule for the reference node: the
        one asked for, else the bundle's (or first file's) node when it holds packets."""
        nodes = set(self.table["node"].astype(str)) | set(self.table["point"].astype(str))
        default_ref = self.reference_node if self.reference_node in nodes else None
        return Options(
            window_ns=window_ns if window_ns is not None else Options.window_ns,
            reference_node=reference_node or default_ref,
            clock_samples=self.clock_samples,
            kernel_dropped=self.kernel_dropped,
            node_macs=self.node_macs,
            endpoint_nodes=self.endpoint_nodes,
            point_addresses=self.point_addresses,
            capture_until=self.capture_until,
        )


@dataclass
class _Plan:
    specs: list[str] = field(default_factory=list)
    ifmaps: dict[str, dict[int, str]] = field(default_factory=dict)
    clocks: dict[str, ClockSample] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    macs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    until: dict[str, int] = field(default_factory=dict)
    unfinished: str = ""  # the phase of a run that never finished (netdiag killed), else ""
    grace_s: float = 0.0
    statuses: list[str] = field(default_factory=list)  # of the captures the manifest lists


def _read_manifest(root: Path, plan: _Plan) -> bool:
    path = root / "manifest.json"
    if not is_regular(path):
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        plan.warnings.append(f"{path}: unreadable ({exc}); reading the pcaps by file name")
        return False
    if not isinstance(manifest, dict):
        plan.warnings.append(f"{path}: not a JSON object; reading the pcaps by file name")
        return False
    for node, info in (manifest.get("nodes") or {}).items():
        if not isinstance(info, dict):
            continue
        plan.ifmaps[node] = ifmap_from_links(info.get("interfaces"))
        plan.macs[node] = _macs(info.get("interfaces"))
        clock = info.get("clock")
        if isinstance(clock, dict) and isinstance(clock.get("offset_ns"), int):
            plan.clocks[node] = ClockSample(
                int(clock["offset_ns"]), int(clock.get("error_ns") or 0)
            )
    _inventory_facts(manifest, plan)
    phase = str(manifest.get("phase") or "")
    if phase not in ("done", "recovered"):
        plan.unfinished = phase or "unknown"
        grace = manifest.get("grace_s")
        plan.grace_s = float(grace) if isinstance(grace, int | float) else 0.0
    listed = set()
    for cap in manifest.get("captures") or []:
        if not isinstance(cap, dict) or not cap.get("file") or not cap.get("point"):
            continue
        file = root / str(cap["file"])
        listed.add(file)
        plan.statuses.append(str(cap.get("status", "?")))
        if not is_regular(file) or file.stat().st_size == 0:
            plan.warnings.append(
                f"{cap['point']}: no capture file ({cap.get('status', '?')}); left out"
            )
            continue
        plan.specs.append(f"{cap['point']}={file}")
        stats = cap.get("stats")
        if isinstance(stats, dict) and isinstance(stats.get("dropped"), int):
            plan.dropped[str(cap["point"])] = int(stats["dropped"])
        if isinstance(cap.get("until_ns"), int):
            plan.until[str(cap["point"])] = int(cap["until_ns"])
    # files the manifest does not list (copied in by hand): named by their file names
    if (root / "pcaps").is_dir():
        for extra in sorted((root / "pcaps").iterdir()):
            if extra.suffix in PCAP_SUFFIXES and extra not in listed and extra.stat().st_size:
                plan.specs.append(str(extra))
    if plan.unfinished and plan.specs:
        plan.warnings.append(
            f"{root}: the run did not finish (manifest phase {plan.unfinished!r}); analysing "
            "the files it holds"
        )
    return True


def _macs(links: object) -> tuple[str, ...]:
    """The unicast MAC addresses of an ``ip -j link`` list (loopback and all-zero left out)."""
    if not isinstance(links, list):
        return ()
    found = []
    for link in links:
        if isinstance(link, dict) and link.get("link_type") == "ether":
            mac = str(link.get("address") or "")
            if len(mac) == 17 and mac != "00:00:00:00:00:00":
                found.append(mac)
    return tuple(dict.fromkeys(found))


def _inventory_facts(manifest: Mapping[str, object], plan: _Plan) -> None:
    """External clients (role=external: end hosts that never rewrite a packet) and, for each
    capture point that belongs to a pod, the pod's addresses."""
    inventory = manifest.get("inventory")
    if not isinstance(inventory, dict):
        return
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
    captures = manifest.get("captures")
    for cap in captures if isinstance(captures, list) else []:
        if isinstance(cap, dict) and cap.get("pod") in ips and cap.get("point"):
            inside = bool(cap.get("netns"))
            pod = str(cap["pod"])
            if pod not in home or (inside and not home[pod][0]):
                home[pod] = (inside, str(cap["point"]))
    plan.addresses = {point: ips[pod] for pod, (_, point) in home.items()}


def _bundle_plan(root: Path) -> _Plan:
    plan = _Plan()
    manifest = _read_manifest(root, plan)
    if not manifest:
        base = root / "pcaps" if is_directory(root / "pcaps") else root
        files = sorted(
            p
            for p in base.iterdir()
            if p.suffix in PCAP_SUFFIXES and is_regular(p) and p.stat().st_size
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


def load_input(
    inputs: Sequence[str | Path], ifmaps: Mapping[str, Mapping[int, str]] | None = None
) -> Input:
    """Read a bundle directory, or ``[POINT=]PATH`` files, into one packet table.

    ``ifmaps`` (node -> {ifindex: name}, as ``--ifmap``) names the devices of all-device
    (``tcpdump -i any``) captures; for a bundle it overrides the ``ip -j link`` its manifest
    recorded per node. Such a capture becomes one point per device.
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
        raise AnalysisInputError(
            "the capture files hold no packets; check the capture filter and that traffic was sent"
        )
    reference = parse_point_spec(plan.specs[0]).node or None
    return Input(
        table, reference, plan.clocks, plan.dropped, tuple(warnings), root, plan.ifmaps,
        node_macs=plan.macs, endpoint_nodes=frozenset(plan.endpoints),
        point_addresses=plan.addresses, capture_until=plan.until,
    )  # fmt: skip
