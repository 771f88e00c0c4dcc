"""Every command that reads files, fed real and mutated ones: each ends as the contract says
(contract.py), in a real process with a time limit and a memory bound (forkserver.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdiag.pcap import read_capture
from tests.fuzz.contract import check
from tests.fuzz.forkserver import Forkserver
from tests.fuzz.inputs import (
    CaptureInput,
    capture_inputs,
    mutated,
    mutated_text,
    repo_texts,
    seed_captures,
)
from tests.fuzz.profile import fuzz_settings
from tests.support import scenarios as sc
from tests.support.builder import write_pcaps


def _scenario_captures() -> list[bytes]:
    """The FIP scenario's three points: packets that form journeys, flows and NATs."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pcaps(sc.fip_ingress(count=2, skew={sc.CP: -0.5}), Path(tmp))
        return [p.read_bytes() for p in paths.values()]


SCENARIO = _scenario_captures()
POOL = seed_captures() + SCENARIO


def _fresh(directory: Path) -> Path:
    """An empty subdirectory for one example (hypothesis reuses the test's fixtures)."""
    shutil.rmtree(directory / "x", ignore_errors=True)
    (directory / "x").mkdir()
    return directory / "x"


def _write(directory: Path, inputs: list[CaptureInput]) -> list[str]:
    """The files' command-line names (after ``--``, as a name may start with ``-``)."""
    return [item.write(directory, i) for i, item in enumerate(inputs)]


CAPTURE_SETS = st.lists(capture_inputs(POOL), min_size=1, max_size=3)


@fuzz_settings(short=8)
@given(st.lists(capture_inputs(POOL), min_size=1, max_size=2))
def test_packets(forkserver: Forkserver, workdir: Path, inputs: list[CaptureInput]) -> None:
    here = _fresh(workdir)
    check(forkserver.run(["packets", "-o", "t.csv", "--", *_write(here, inputs)], cwd=here))


@fuzz_settings(short=8)
@given(CAPTURE_SETS)
def test_analyze(forkserver: Forkserver, workdir: Path, inputs: list[CaptureInput]) -> None:
    here = _fresh(workdir)
    outcome = forkserver.run(["analyze", "--json", "a.json", "--", *_write(here, inputs)], cwd=here)
    check(outcome)
    if outcome.exit_code == 0:
        assert json.loads((here / "a.json").read_text())["schema"] == "netdiag.analysis/1"


@fuzz_settings(short=5)
@given(CAPTURE_SETS)
def test_report(forkserver: Forkserver, workdir: Path, inputs: list[CaptureInput]) -> None:
    here = _fresh(workdir)
    argv = ["report", "--html", "r.html", "--json", "r.json", "--", *_write(here, inputs)]
    outcome = forkserver.run(argv, cwd=here)
    check(outcome)
    if outcome.exit_code == 0:
        assert (here / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@fuzz_settings(short=5)
@given(CAPTURE_SETS)
def test_export(forkserver: Forkserver, workdir: Path, inputs: list[CaptureInput]) -> None:
    here = _fresh(workdir)
    outcome = forkserver.run(
        ["export", "--pcapng", "m.pcapng", "--", *_write(here, inputs)], cwd=here
    )
    check(outcome)
    if outcome.exit_code == 0:  # what export writes reads back whole
        assert read_capture(here / "m.pcapng").info.warnings == []


def _analysis_document() -> str:
    """``analyze --json`` of the FIP scenario, the document ``report`` and ``export`` open."""
    import io
    import tempfile

    from netdiag.cli import Env, main

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pcaps(sc.fip_ingress(count=2), Path(tmp))
        out = io.StringIO()
        assert main(["analyze", *map(str, paths.values()), "--json", "-"], Env(out, out)) == 0
        return out.getvalue()


ANALYSIS = [_analysis_document()]


@fuzz_settings(short=8)
@given(mutated_text(ANALYSIS))
def test_report_of_an_analysis_file(forkserver: Forkserver, workdir: Path, document: bytes) -> None:
    here = _fresh(workdir)
    (here / "analysis.json").write_bytes(document)
    check(forkserver.run(["report", "analysis.json", "--html", "r.html"], cwd=here))


MANIFEST = (Path(__file__).resolve().parents[2] / "netdiag/data/demo/manifest.json").read_text()


@fuzz_settings(short=5)
@given(mutated_text([MANIFEST]), st.lists(st.sampled_from(SCENARIO), min_size=0, max_size=3))
def test_analyze_a_run_directory(
    forkserver: Forkserver, workdir: Path, manifest: bytes, pcaps: list[bytes]
) -> None:
    here = _fresh(workdir)
    (here / "run" / "pcaps").mkdir(parents=True)
    (here / "run" / "manifest.json").write_bytes(manifest)
    names = ["client__eth0", "kube-ovn-control-plane__eth1", "kube-ovn-control-plane__ovn0"]
    for name, content in zip(names, pcaps, strict=False):
        (here / "run" / "pcaps" / f"{name}.pcap").write_bytes(content)
    check(forkserver.run(["analyze", "run"], cwd=here))


INVENTORIES = repo_texts("inventory/*.yaml", "inventory/examples/*.yaml")


@fuzz_settings(short=10)
@given(mutated_text(INVENTORIES))
def test_inventory_show(forkserver: Forkserver, workdir: Path, document: bytes) -> None:
    here = _fresh(workdir)
    (here / "inv.yaml").write_bytes(document)
    check(forkserver.run(["inventory", "show", "inv.yaml"], cwd=here))


@pytest.mark.parametrize("content", [b"", SCENARIO[0][:24]], ids=["no bytes", "header only"])
@pytest.mark.parametrize("command", ["packets", "analyze", "report", "export"])
def test_an_empty_capture(
    forkserver: Forkserver, workdir: Path, content: bytes, command: str
) -> None:
    here = _fresh(workdir)
    (here / "n1__eth0.pcap").write_bytes(content)
    target = {"report": ["--html", "r.html"], "export": ["--pcapng", "m.pcapng"]}
    check(forkserver.run([command, "n1__eth0.pcap", *target.get(command, [])], cwd=here))


def test_mutations_change_the_files() -> None:
    """The mutation strategy does mutate (a fuzz suite of unchanged seeds proves little)."""
    from hypothesis import find

    changed = find(mutated(POOL), lambda data: data not in POOL and len(data) > 100)
    assert changed not in POOL


PLANS = repo_texts("probes/*.yaml")


@fuzz_settings(short=15)
@given(mutated_text(PLANS))
def test_load_plan(workdir: Path, document: bytes) -> None:
    """No command only loads a plan (``capture`` goes on to connect), so in this process: a
    plan or one ``PlanError`` line."""
    from netdiag.errors import PlanError
    from netdiag.plan import Plan, load_plan

    path = _fresh(workdir) / "plan.yaml"
    path.write_bytes(document)
    try:
        result: Plan | str = load_plan(path)
    except PlanError as exc:
        result = str(exc)
    if isinstance(result, str):
        assert "\n" not in result
        assert result.startswith(str(path))
