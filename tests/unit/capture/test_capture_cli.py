"""`netdiag demo --recorded` and `netdiag capture`'s input errors (no network, no root needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode
from netdiag.cli.demo import demo_data

REPO = Path(__file__).resolve().parents[3]


def env() -> Env:
    return Env(io.StringIO(), io.StringIO())


def test_recorded_demo_says_what_it_did_and_finds_the_fip_dnat(tmp_path: Path) -> None:
    e = env()
    code = main(["demo", "--recorded", "--out", str(tmp_path / "d")], e)
    out = e.stdout.getvalue()  # type: ignore[attr-defined]
    assert code == ExitCode.OK, e.stderr.getvalue()  # type: ignore[attr-defined]
    assert out.startswith("netdiag demo: RECORDED")
    analysis = json.loads((tmp_path / "d" / "analysis.json").read_text())
    text = json.dumps(analysis)
    assert "172.19.0.11" in text
    assert "192.168.0.6" in text
    assert "dnat" in out
    assert "report: " in out


def test_shipped_recording_is_a_complete_bundle_of_the_shipped_plan() -> None:
    data = demo_data()
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["schema"] == "netdiag.run/1"
    assert all(n["status"] == "ok" for n in manifest["nodes"].values())
    for cap in manifest["captures"]:
        assert cap["status"] == "ok"
        assert (data / cap["file"]).stat().st_size > 24
    # the demo runs the lab's FIP plan: the copy in the package must not drift from probes/
    shipped = (data / "fip-ingress.yaml").read_text()
    assert shipped == (REPO / "probes" / "fip-ingress.yaml").read_text()


def test_capture_input_errors_are_one_line(tmp_path: Path) -> None:
    e = env()
    code = main(["capture", "--inventory", str(tmp_path / "nope.yaml"), "--plan", "x.yaml"], e)
    err = e.stderr.getvalue()  # type: ignore[attr-defined]
    assert code == ExitCode.INPUT
    assert err.count("\n") == 1
    assert "nope.yaml: cannot read the inventory" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["capture", "--plan", "x.yaml"], "capture needs --inventory FILE and --plan FILE"),
        (["capture", "--recover", "RUN", "--plan", "x.yaml"], "leave out --plan and --out"),
        (["capture", "--recover", "RUN"], "RUN: no manifest.json; give the directory"),
        (["capture", "--inventory", "i", "--plan", "p", "--grace", "-1"], "--grace -1: give"),
    ],
)
def test_capture_and_recover_arguments_say_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "RUN").mkdir()
    e = env()
    code = main(argv, e)
    err = e.stderr.getvalue()  # type: ignore[attr-defined]
    assert code == ExitCode.INPUT
    assert err.count("\n") == 1
    assert says in err
