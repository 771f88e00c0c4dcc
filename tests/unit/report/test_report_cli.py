"""`netdiag report` and `netdiag export` on the command line: files written, one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from netdiag.cli import main
from netdiag.cli._env import Env, ExitCode


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err))
    return code, out.getvalue(), err.getvalue()


def test_report_writes_html_and_json(seed_dir: Path, tmp_path: Path) -> None:
    html, js = tmp_path / "r.html", tmp_path / "a.json"
    code, out, err = run("report", str(seed_dir), "--html", str(html), "--json", str(js))
    assert (code, err) == (ExitCode.OK, "")
    assert f"wrote {html}" in out
    assert "FIP 172.19.0.11 is DNATed" in html.read_text()
    assert js.read_text() == (seed_dir / "analysis.json").read_text()


def test_report_defaults_to_the_bundle(seed_copy: Path) -> None:
    code, _, _ = run("report", str(seed_copy))
    assert code == ExitCode.OK
    assert (seed_copy / "report.html").is_file()


def test_export_command(seed_dir: Path, tmp_path: Path) -> None:
    code, out, _ = run("export", str(seed_dir), "--pcapng", str(tmp_path / "m.pcapng"))
    assert code == ExitCode.OK
    assert "8 packets from 3 capture points, 8 commented" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "/nonexistent/run", "--html", "x.html"], "no such file or directory"),
        (["export", "{tmp}", "--pcapng", "{tmp}/x.pcapng"], "not a run directory"),
        (["report", "{tmp}/notes.txt", "--html", "{tmp}/x.html"], "not a run directory"),
        (["report", "{seed}", "--html", "/nonexistent/dir/x.html"], "cannot write"),
        (["tui", "{seed}"], "needs a terminal"),
    ],
)
def test_bad_input_is_one_line(
    seed_dir: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    args = [a.format(tmp=tmp_path, seed=seed_dir) for a in argv]
    code, _, err = run(*args)
    assert code == ExitCode.INPUT
    assert message in err
    assert err.count("\n") == 1
    assert err.startswith("netdiag: error: ")
