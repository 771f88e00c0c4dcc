"""After a run: analyse the run directory at once, so the user sees what happened without a
second command.

This is ``netdiag analyze DIR --save`` (:func:`netdiag.bundle.analyse`: packet table, analysis,
document, ``analysis.json`` and ``packets.parquet``), then ``netdiag report``'s HTML renderer.
Each stage is imported only here: a capture still succeeds — and says why there is no summary —
when the analysis half is missing or fails on this run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netdiag.bundle.layout import Layout
from netdiag.errors import NetdiagError

if TYPE_CHECKING:
    from netdiag.bundle import BundleAnalysis

__all__ = ["AnalysisOutcome", "analyse_bundle"]


@dataclass
class AnalysisOutcome:
    """What the analysis step produced; ``problems`` explain a missing piece, one line each."""

    analysis: BundleAnalysis | None = None
    warnings: tuple[str, ...] = ()
    json_path: Path | None = None
    html_path: Path | None = None
    problems: list[str] = field(default_factory=list)


def analyse_bundle(out: Path, *, html: bool = True) -> AnalysisOutcome:
    """Analyse DIR, write DIR/analysis.json + DIR/packets.parquet (+ DIR/report.html)."""
    outcome = AnalysisOutcome()
    try:
        from netdiag.bundle import analyse
    except ImportError as exc:
        outcome.problems.append(f"analysis not available ({exc}); run `netdiag analyze {out}`")
        return outcome
    try:
        analysed = analyse(out)
        outcome.analysis = analysed
        outcome.warnings = analysed.input.warnings
        outcome.json_path = analysed.save(out).analysis
    except (NetdiagError, OSError, ValueError) as exc:
        outcome.problems.append(f"analysis failed: {exc}")
        return outcome
    if html:
        _html(out, outcome)
    return outcome


def _html(out: Path, outcome: AnalysisOutcome) -> None:
    try:
        from netdiag.bundle import open_run
        from netdiag.report.html import render_html
    except ImportError:
        return  # the HTML report is optional; the JSON path is shown instead
    try:
        path = Layout(out).report
        path.write_text(render_html(open_run([out])), encoding="utf-8")
        outcome.html_path = path
    except (NetdiagError, OSError, ValueError) as exc:
        outcome.problems.append(f"HTML report not written: {exc}; try `netdiag report {out}`")
