"""Open what the user points a view at: a run directory, an analysis file, or plain pcaps.

Every view (tui, report, export) starts here, so they all accept the same inputs and give the
same error for a bad one. When no analysis exists yet, :func:`netdiag.bundle.analyse` runs once
here, never inside a widget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from netdiag.bundle.inputs import IfMaps
from netdiag.bundle.layout import MANIFEST, Layout, is_capture_name
from netdiag.bundle.manifest import Manifest, read_manifest, split_point
from netdiag.bundle.pipeline import analyse
from netdiag.errors import AnalysisInputError
from netdiag.files import is_directory, is_regular, require_regular, stat_mode
from netdiag.report.document import AnalysisDocument, Sighting
from netdiag.report.loader import Progress, load_analysis

__all__ = ["OpenedRun", "open_run"]


@dataclass(frozen=True)
class OpenedRun:
    """Everything the views show: the analysis document, the manifest (if any), and where the
    capture files are."""

    analysis: AnalysisDocument
    manifest: Manifest | None = None
    root: Path | None = None
    pcaps: dict[str, Path] = field(default_factory=dict)
    source: str = ""
    #: Where the analysis document came from (a file), or the document itself (fresh analysis),
    #: so ``report --json`` writes exactly what was analysed.
    document_path: Path | None = None
    document: Mapping[str, Any] | None = None
    #: node -> {ifindex: device}: names the devices of all-device (``-i any``) capture files
    ifmaps: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    #: what the input could not tell by itself (e.g. devices named by index), for the user
    warnings: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def analysis_json(self) -> str:
        """The analysis document as JSON text."""
        if self.document_path is not None:
            return self.document_path.read_text(encoding="utf-8")
        from netdiag.report.json import dumps

        if self.document is None:
            raise ValueError("an OpenedRun holds an analysis document or its path")
        return dumps(dict(self.document)) + "\n"  # the text `analyze --json` writes

    def probe_output(self, relative: str, limit: int = 20_000) -> str:
        """The text a probe printed (``ProbeRun.output``), cut at ``limit`` characters."""
        if self.root is None or not relative:
            return "(no output recorded)"
        try:
            text = (self.root / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"({relative} is missing from the run directory)"
        return text if len(text) <= limit else text[:limit] + "\n[... cut]"

    def frame_of(self, sighting: Sighting) -> int | None:
        """The sighting's frame number in its capture file (1-based), when it can be known.

        The analysis names a sighting's ``row`` in the packet table; ``analyze --save`` writes
        that table as ``packets.parquet``, whose ``frame`` column gives the exact frame. Without
        it the views fall back to matching timestamps.
        """
        if sighting.frame is not None:
            return sighting.frame
        row = dict(sighting.extra).get("row")
        frames = self._frames_by_row()
        if row is None or frames is None or not 0 <= int(row) < len(frames):
            return None
        return int(frames[int(row)])

    def _frames_by_row(self) -> npt.NDArray[np.int64] | None:
        cache = self._cache
        if "frames" not in cache:
            cache["frames"] = None
            parquet = Layout(self.root).packets if self.root is not None else None
            if parquet is not None and is_regular(parquet):
                import pandas as pd

                try:
                    table = pd.read_parquet(parquet, columns=["frame"])
                    cache["frames"] = table["frame"].to_numpy(dtype=np.int64)
                except (OSError, ValueError, KeyError):
                    cache["frames"] = None  # an unreadable table: match by timestamp instead
        frames: npt.NDArray[np.int64] | None = cache["frames"]
        return frames

    def pcap_of(self, point: str) -> Path | None:
        """The capture file of ``point`` (``node/iface``), if it is on disk."""
        path = self.pcaps.get(point)
        return path if path is not None and is_regular(path) else None


def _node_wide(point: str) -> bool:
    """A point that stands for a whole node's capture (``node/any``, or a bare node name)."""
    return split_point(point)[1] in ("", "any")


def _by_device(found: dict[str, Path], analysis: AnalysisDocument) -> None:
    """Points split from an all-device file (``node/eth1`` of ``node__any.pcap``) read that file."""
    wide = {split_point(p)[0]: path for p, path in found.items() if _node_wide(p)}
    for point in analysis.points:
        if point.name not in found and point.node in wide:
            found[point.name] = wide[point.node]


def _pcaps_of(root: Path, manifest: Manifest | None, analysis: AnalysisDocument) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if manifest is not None:
        for cap in manifest.captures:
            if cap.file:
                found[cap.point] = root / cap.file
    layout = Layout(root)
    for point in analysis.points:
        if point.name not in found:
            for candidate in layout.pcap_candidates(point.node, point.iface):
                if is_regular(candidate):
                    found[point.name] = candidate
                    break
    _by_device(found, analysis)
    return found


def _manifest_ifmaps(manifest: Manifest | None, given: IfMaps | None) -> dict[str, dict[int, str]]:
    """The interface maps a bundle recorded (``ip -j link`` per node), overridden by ``given``."""
    from netdiag.pcap import ifmap_from_links

    maps: dict[str, dict[int, str]] = {}
    for node in manifest.nodes.values() if manifest is not None else ():
        if links := ifmap_from_links(list(node.interfaces)):
            maps[node.name] = links
    maps.update({node: dict(m) for node, m in (given or {}).items()})
    return maps


def open_run(
    paths: Sequence[Path], progress: Progress | None = None, ifmaps: IfMaps | None = None
) -> OpenedRun:
    """A run directory, an analysis/manifest JSON file, or pcap files -> :class:`OpenedRun`.

    ``ifmaps`` (node -> {ifindex: name}, as ``--ifmap``) names the devices of all-device
    captures; a bundle brings its own, which these override.
    """
    if not paths:
        raise AnalysisInputError("no input given; pass a run directory, analysis.json or pcaps")
    for path in paths:
        if stat_mode(path) is None and "=" not in str(path):
            raise AnalysisInputError(f"{path}: no such file or directory; check the path")
    first = paths[0]
    if len(paths) == 1 and is_directory(first):
        return _open_dir(first, progress, ifmaps)
    if len(paths) == 1 and first.suffix == ".json":
        require_regular(first, "analysis or manifest JSON", AnalysisInputError)
        if first.name == MANIFEST:
            return _open_dir(first.parent, progress, ifmaps)
        analysis = load_analysis(first, progress)
        root = first.parent
        layout = Layout(root)
        manifest = read_manifest(layout.manifest) if is_regular(layout.manifest) else None
        pcaps = _pcaps_of(root, manifest, analysis)
        maps = _manifest_ifmaps(manifest, ifmaps)
        return OpenedRun(
            analysis, manifest, root, pcaps, str(first), document_path=first, ifmaps=maps
        )
    from netdiag.pcap import parse_point_spec

    specs = [parse_point_spec(str(p)) for p in paths]
    bad = [s.path for s in specs if is_directory(s.path) or not is_capture_name(s.path)]
    if bad:
        raise AnalysisInputError(
            f"{bad[0]}: not a run directory, an analysis .json or a .pcap/.pcapng file"
        )
    fresh = analyse(paths, ifmaps=ifmaps)
    pcaps = {s.point: Path(s.path) for s in specs}
    _by_device(pcaps, fresh.parsed)
    source = ", ".join(str(p) for p in paths)
    return OpenedRun(
        fresh.parsed, None, first.parent, pcaps, source,
        document=fresh.document, ifmaps=fresh.input.ifmaps, warnings=fresh.input.warnings,
    )  # fmt: skip


def _open_dir(root: Path, progress: Progress | None, ifmaps: IfMaps | None) -> OpenedRun:
    layout = Layout(root)
    manifest_path, analysis_path = layout.manifest, layout.analysis
    if not is_regular(manifest_path) and not is_regular(analysis_path):
        raise AnalysisInputError(
            f"{root}: not a run directory (no manifest.json or analysis.json); "
            "give the directory written by `netdiag capture --out DIR`"
        )
    manifest = read_manifest(manifest_path) if manifest_path.is_file() else None
    # A saved analysis is shown as it is, unless new interface maps ask for a fresh one.
    if analysis_path.is_file() and not ifmaps:
        analysis = load_analysis(analysis_path, progress)
        pcaps = _pcaps_of(root, manifest, analysis)
        return OpenedRun(
            analysis, manifest, root, pcaps, str(root), document_path=analysis_path,
            ifmaps=_manifest_ifmaps(manifest, None),
        )  # fmt: skip
    fresh = analyse(root, ifmaps=ifmaps)
    pcaps = _pcaps_of(root, manifest, fresh.parsed)
    return OpenedRun(
        fresh.parsed, manifest, root, pcaps, str(root),
        document=fresh.document, ifmaps=fresh.input.ifmaps, warnings=fresh.input.warnings,
    )  # fmt: skip
