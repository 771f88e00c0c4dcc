"""Run a synthetic capture through the engine, from its table or end to end from pcaps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netdiag.correlate import Analysis, Options, analyze
from netdiag.report.json import to_dict
from tests.support.builder import Capture, table, write_pcaps

Run = Callable[..., dict[str, Any]]


def _read(cap: Capture, directory: Path) -> Any:
    from netdiag.pcap import read_captures

    paths = write_pcaps(cap, directory)
    tab, _ = read_captures([f"{point}={path}" for point, path in paths.items()])
    return tab


@pytest.fixture(params=["table", "pcap"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Run:
    """``run(cap, **options) -> analysis JSON dict`` (the ``Analysis`` is under ``"_a"``)."""

    def go(cap: Capture, **options: Any) -> dict[str, Any]:
        tab = table(cap) if request.param == "table" else _read(cap, tmp_path)
        analysis: Analysis = analyze(tab, Options(**options))
        doc = to_dict(analysis)
        doc["_a"] = analysis
        return doc

    return go


def path_of(journey: dict[str, Any]) -> list[str]:
    return [s["point"] for s in journey["sightings"]]


def changes_of(journey: dict[str, Any]) -> list[list[tuple[Any, ...]]]:
    """Per transform, the changes as tuples (kind, field-or-None, before, after)."""
    return [
        [(c["kind"], c.get("field") or c.get("encap"), c.get("before"), c.get("after"))
         for c in t["changes"]]
        for t in journey["transforms"]
    ]  # fmt: skip
