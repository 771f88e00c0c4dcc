"""After a run: analyse the bundle at once, so the user sees what happened without a 2nd command.

This is the same path as ``netdiag analyze DIR --save`` (bundle reader, correlation engine,
analysis JSON, packet table), then ``netdiag report``'s HTML renderer when it is installed.
Each stage is imported only here: a capture still succeeds — and says why there is no summary —
when the analysis half is missing or fails on this bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdiag.errors import NetdiagError

__all__ = ["AnalysisOutcome", "analyse_bundle"]


@dataclass
class AnalysisOutcome:
    """What the analysis step produced; ``problem`` explains a missing piece in one line."""

    analysis: Any = None  # netdiag.correlate.Analysis
    warnings: tuple[str, ...] = ()
    json_path: Path | None = None
    parquet_path: Path | None = None
    html_path: Path | None = None
    problems: list[str] = field(default_factory=list)


def analyse_bundle(out: Path, *, html: bool = True) -> AnalysisOutcome:
    """Analyse DIR, write DIR/analysis.json + DIR/packets.parquet (+ DIR/report.html)."""
    outcome = AnalysisOutcome()
    try:
        from netdiag.bundle import load_input
        from netdiag.correlate import analyze
        from netdiag.report.json import dumps
    except ImportError as exc:
        outcome.problems.append(f"analysis not available ({exc}); run `netdiag analyze {out}`")
        return outcome
    try:
        data = load_input([out])
        outcome.analysis = analyze(data.table, data.options())
        outcome.warnings = data.warnings
        path = out / "analysis.json"
        path.write_text(dumps(outcome.analysis), encoding="utf-8")
        outcome.json_path = path
        data.table.to_parquet(out / "packets.parquet")
        outcome.parquet_path = out / "packets.parquet"
    except (NetdiagError, OSError, ValueError) as exc:
        outcome.problems.append(f"analysis failed: {exc}")
        return outcome
    if html:
        _html(out, outcome)
    return outcome


def _html(out: Path, outcome: AnalysisOutcome) -> None:
    try:
        from netdiag.report.bundle import open_input
        from netdiag.report.html import render_html
    except ImportError:
        return  # the HTML report is optional; the JSON path is shown instead
    try:
        path = out / "report.html"
        path.write_text(render_html(open_input([out])), encoding="utf-8")
        outcome.html_path = path
    except (NetdiagError, OSError, ValueError) as exc:
        outcome.problems.append(f"HTML report not written: {exc}; try `netdiag report {out}`")
