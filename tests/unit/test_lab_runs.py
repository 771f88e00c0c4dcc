"""The recorded lab runs (tests/fixtures/lab-runs) are complete bundles the loaders read."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from netdiag.bundle import analyse, load_input
from tests.support.lab_facts import CHECKS
from tests.support.lab_runs import SCENARIOS, lab_run


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_recorded_run_is_a_complete_bundle(name: str) -> None:
    path = lab_run(name)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["plan"]["name"] == SCENARIOS[name].plan
    assert all(node["status"] == "ok" for node in manifest["nodes"].values())
    for capture in manifest["captures"]:
        assert capture["status"] == "ok"
        assert (path / capture["file"]).stat().st_size > 24, capture["point"]
    for probe in manifest["probes"]:
        assert (path / probe["output"]).is_file()
    data = load_input([path])
    assert len(data.table) == sum(c["stats"]["captured"] for c in manifest["captures"])
    assert set(data.clocks) == set(manifest["nodes"])


def test_an_unknown_run_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="nodeport-overlay"):
        lab_run("nosuch")


def _analyse(name: str) -> tuple[dict[str, Any], pd.DataFrame]:
    analysed = analyse(lab_run(name))
    return analysed.document, analysed.input.table


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_run_analysis_states_the_facts(name: str) -> None:
    doc, table = _analyse(name)
    CHECKS[name](doc, table)
