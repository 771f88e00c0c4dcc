"""Reading what ``analyze`` is given: a run bundle directory or ``[POINT=]PATH`` capture files.

A bundle (``netdiag capture --out DIR``) holds ``manifest.json`` and ``pcaps/<node>__<iface>.pcap``.
The manifest adds what pcaps cannot say: which node each file belongs to, interface maps for
LINUX_SLL2 captures, tcpdump's kernel drop counts and the orchestrator's clock samples. A bundle
without a manifest (copied by hand, half-written run) is read from its pcap file names alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from netdiag.correlate.model import ClockSample
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


@dataclass
class _Plan:
    specs: list[str] = field(default_factory=list)
    ifmaps: dict[str, dict[int, str]] = field(default_factory=dict)
    clocks: dict[str, ClockSample] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
        clock = info.get("clock")
        if isinstance(clock, dict) and isinstance(clock.get("offset_ns"), int):
            plan.clocks[node] = ClockSample(
                int(clock["offset_ns"]), int(clock.get("error_ns") or 0)
            )
    for cap in manifest.get("captures") or []:
        if not isinstance(cap, dict) or not cap.get("file") or not cap.get("point"):
            continue
        file = root / str(cap["file"])
        if not is_regular(file) or file.stat().st_size == 0:
            plan.warnings.append(
                f"{cap['point']}: no capture file ({cap.get('status', '?')}); left out"
            )
            continue
        plan.specs.append(f"{cap['point']}={file}")
        stats = cap.get("stats")
        if isinstance(stats, dict) and isinstance(stats.get("dropped"), int):
            plan.dropped[str(cap["point"])] = int(stats["dropped"])
    return True


def _bundle_plan(root: Path) -> _Plan:
    plan = _Plan()
    if not _read_manifest(root, plan):
        base = root / "pcaps" if is_directory(root / "pcaps") else root
        files = sorted(
            p
            for p in base.iterdir()
            if p.suffix in PCAP_SUFFIXES and is_regular(p) and p.stat().st_size
        )
        plan.specs = [str(p) for p in files]
    if not plan.specs:
        raise AnalysisInputError(
            f"{root}: no capture files found (expected manifest.json or pcaps/*.pcap); "
            "give the directory written by `netdiag capture --out DIR` or pcap files"
        )
    return plan


def load_input(inputs: Sequence[str | Path]) -> Input:
    """Read a bundle directory, or ``[POINT=]PATH`` files, into one packet table."""
    from netdiag.pcap import parse_point_spec, read_captures

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
    try:
        table, infos = read_captures(plan.specs, ifmaps=plan.ifmaps)
    except AnalysisInputError:
        raise
    except InputError as exc:
        raise AnalysisInputError(str(exc)) from exc
    warnings = list(plan.warnings)
    for spec, info in zip(plan.specs, infos, strict=True):
        warnings.extend(str(w) for w in info.warnings)
        point = parse_point_spec(spec).point
        if info.kernel_dropped and point not in plan.dropped:
            plan.dropped[point] = info.kernel_dropped
    if table.empty:
        raise AnalysisInputError(
            "the capture files hold no packets; check the capture filter and that traffic was sent"
        )
    reference = parse_point_spec(plan.specs[0]).node or None
    return Input(table, reference, plan.clocks, plan.dropped, tuple(warnings), root)
