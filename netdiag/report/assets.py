"""Report templates and static assets, shipped in the wheel as the package ``netdiag._reports``.

In a checkout the files live in the top-level ``reports/`` directory; until packaging maps it to
``netdiag._reports`` this loader falls back to that directory (the only place that knows it).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from netdiag.errors import NetdiagError


@cache
def asset(name: str) -> str:
    """The text of the report asset ``name`` (``report.html``, ``report.css``, ``report.js``)."""
    try:
        return resources.files("netdiag._reports").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        checkout = Path(__file__).resolve().parents[2] / "reports" / name
        try:
            return checkout.read_text(encoding="utf-8")
        except OSError as exc:
            raise NetdiagError(
                f"report asset {name} is missing from this installation; reinstall netdiag"
            ) from exc
