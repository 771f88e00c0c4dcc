"""Open what the user points a view at: a run bundle, an analysis file, or plain pcaps.

Every view (tui, report, export) starts here, so they all accept the same inputs and give the
same error for a bad one. When no analysis exists yet, the correlation stage is called once here,
never inside a widget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from netdiag.errors import AnalysisInputError
from netdiag.files import is_directory, is_regular, require_regular, stat_mode
from netdiag.report.document import Analysis, Sighting, parse_analysis
from netdiag.report.loader import Progress, load_analysis
from netdiag.report.manifest import Manifest, load_manifest

_PCAP_SUFFIXES = (".pcap", ".pcapng", ".cap")


@dataclass(frozen=True)
class RunView:
    """Everything the views show: the analysis, the manifest (if any), and where pcaps are."""

    analysis: Analysis
    manifest: Manifest | None = None
    root: Path | None = None
    pcaps: dict[str, Path] = field(default_factory=dict)
    source: str = ""
    #: Where the analysis document came from (a file), or the document itself (fresh analysis),
    #: so ``report --json`` writes exactly what was analysed.
    document_path: Path | None = None
    document: Mapping[str, Any] | None = None
    #: Damage found while reading the captures of a fresh analysis (frames before it are kept).
    warnings: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def analysis_json(self) -> str:
        """The analysis document as JSON text."""
        if self.document_path is not None:
            return self.document_path.read_text(encoding="utf-8")
        return json.dumps(self.document, indent=1) + "\n"

    def probe_output(self, relative: str, limit: int = 20_000) -> str:
        """The text a probe printed (``probes/node__name.txt``), cut at ``limit`` characters."""
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
            parquet = self.root / "packets.parquet" if self.root is not None else None
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


def _pcaps_of(root: Path, manifest: Manifest | None, analysis: Analysis) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if manifest is not None:
        for cap in manifest.captures:
            if cap.file:
                found[cap.point] = root / cap.file
    for point in analysis.points:
        if point.name not in found:
            stem = f"{point.node}__{point.iface}"
            for suffix in _PCAP_SUFFIXES:
                if is_regular(root / "pcaps" / f"{stem}{suffix}"):
                    found[point.name] = root / "pcaps" / f"{stem}{suffix}"
                    break
    return found


@dataclass(frozen=True)
class FreshAnalysis:
    """What :func:`run_analysis` produced: the parsed analysis, its document, the read damage."""

    analysis: Analysis
    document: Mapping[str, Any]
    warnings: tuple[str, ...]


def run_analysis(paths: Sequence[Path | str]) -> FreshAnalysis:
    """Correlate a bundle without ``analysis.json``, or ``[POINT=]PATH`` capture files.

    The one place the views call the correlation stage (as ``netdiag analyze`` does), so a
    widget never has to; the document is the same one ``analyze --json`` writes.
    """
    from netdiag.bundle import load_input
    from netdiag.correlate import Options, analyze
    from netdiag.report.json import to_dict

    data = load_input([str(p) for p in paths])
    nodes = set(data.table["node"].astype(str))
    reference = data.reference_node if data.reference_node in nodes else None
    options = Options(
        reference_node=reference,
        clock_samples=data.clock_samples,
        kernel_dropped=data.kernel_dropped,
    )
    document = to_dict(analyze(data.table, options))
    return FreshAnalysis(parse_analysis(document, str(paths[0])), document, data.warnings)


def open_input(paths: Sequence[Path], progress: Progress | None = None) -> RunView:
    """A bundle dir, an analysis/manifest JSON file, or pcap files -> :class:`RunView`."""
    if not paths:
        raise AnalysisInputError("no input given; pass a run directory, analysis.json or pcaps")
    for path in paths:
        if stat_mode(path) is None and "=" not in str(path):
            raise AnalysisInputError(f"{path}: no such file or directory; check the path")
    first = paths[0]
    if len(paths) == 1 and is_directory(first):
        return _open_dir(first, progress)
    if len(paths) == 1 and first.suffix == ".json":
        require_regular(first, "analysis or manifest JSON", AnalysisInputError)
        if first.name == "manifest.json":
            return _open_dir(first.parent, progress)
        analysis = load_analysis(first, progress)
        root = first.parent
        manifest = (
            load_manifest(root / "manifest.json") if is_regular(root / "manifest.json") else None
        )
        pcaps = _pcaps_of(root, manifest, analysis)
        return RunView(analysis, manifest, root, pcaps, str(first), document_path=first)
    from netdiag.pcap import parse_point_spec

    specs = [parse_point_spec(str(p)) for p in paths]
    bad = [
        s.path for s in specs if is_directory(s.path) or Path(s.path).suffix not in _PCAP_SUFFIXES
    ]
    if bad:
        raise AnalysisInputError(
            f"{bad[0]}: not a run directory, an analysis .json or a .pcap/.pcapng file"
        )
    fresh = run_analysis(paths)
    pcaps = {s.point: Path(s.path) for s in specs}
    source = ", ".join(str(p) for p in paths)
    return RunView(
        fresh.analysis,
        None,
        first.parent,
        pcaps,
        source,
        document=fresh.document,
        warnings=fresh.warnings,
    )


def _open_dir(root: Path, progress: Progress | None) -> RunView:
    manifest_path = root / "manifest.json"
    analysis_path = root / "analysis.json"
    if not is_regular(manifest_path) and not is_regular(analysis_path):
        raise AnalysisInputError(
            f"{root}: not a run directory (no manifest.json or analysis.json); "
            "give the directory written by `netdiag capture --out DIR`"
        )
    manifest = load_manifest(manifest_path) if is_regular(manifest_path) else None
    if is_regular(analysis_path):
        analysis = load_analysis(analysis_path, progress)
        pcaps = _pcaps_of(root, manifest, analysis)
        return RunView(analysis, manifest, root, pcaps, str(root), document_path=analysis_path)
    fresh = run_analysis([root])
    pcaps = _pcaps_of(root, manifest, fresh.analysis)
    return RunView(
        fresh.analysis,
        manifest,
        root,
        pcaps,
        str(root),
        document=fresh.document,
        warnings=fresh.warnings,
    )
