"""How every command ends: a proper error is one line; a bug says so, and shows its traceback
only when asked; damage found while reading is a warning on stderr, never mixed into the output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from netdiag.cli import DEBUG_ENV, Env, ExitCode, main
from tests.support import scenarios as sc
from tests.support.builder import write_pcaps


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err, environ=environ or {}))
    return code, out.getvalue(), err.getvalue()


def _broken_loader(*inputs: object) -> None:
    raise KeyError("dst_kind")


def test_a_bug_is_one_line_that_says_internal_error_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("netdiag.bundle.pipeline.load_input", _broken_loader)
    code, out, err = run_cli("analyze", str(tmp_path / "a.pcap"))
    assert code == ExitCode.INTERNAL == 70
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("netdiag: error: internal error (KeyError: 'dst_kind') at netdiag/")
    assert "please report it" in err
    assert "--debug" in err


@pytest.mark.parametrize(
    ("argv", "environ"),
    [(["--debug"], {}), ([], {DEBUG_ENV: "1"})],
    ids=["--debug", DEBUG_ENV],
)
def test_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], environ: dict[str, str]
) -> None:
    monkeypatch.setattr("netdiag.bundle.pipeline.load_input", _broken_loader)
    with pytest.raises(KeyError, match="dst_kind"):
        run_cli(*argv, "analyze", str(tmp_path / "a.pcap"), environ=environ)


def test_out_of_memory_is_a_failure_not_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*inputs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("netdiag.bundle.pipeline.load_input", exhausted)
    code, _, err = run_cli("analyze", str(tmp_path / "a.pcap"))
    assert code == ExitCode.FAILURE
    assert err.startswith("netdiag: error: out of memory;")
    assert "internal error" not in err


@pytest.fixture
def damaged_pcaps(tmp_path: Path) -> list[str]:
    """The FIP scenario with the last capture cut inside its last record."""
    paths = write_pcaps(sc.fip_ingress(count=4), tmp_path)
    last = Path(list(paths.values())[-1])
    last.write_bytes(last.read_bytes()[:-5])
    return [f"{point}={path}" for point, path in paths.items()]


def test_analyze_warns_about_damage_on_stderr(damaged_pcaps: list[str]) -> None:
    code, out, err = run_cli("analyze", *damaged_pcaps)
    assert code == ExitCode.OK
    (warning,) = err.splitlines()
    assert warning.startswith("netdiag: warning: ")
    assert "frame 8 at byte" in warning
    assert "cut short" in warning
    assert "cut short" not in out
    assert "note:" not in out


@pytest.mark.parametrize("command", ["report", "export"])
def test_report_and_export_warn_about_damage_on_stderr(
    tmp_path: Path, damaged_pcaps: list[str], command: str
) -> None:
    target = ["--html", str(tmp_path / "r.html")]
    if command == "export":
        target = ["--pcapng", str(tmp_path / "all.pcapng")]
    files = [spec.partition("=")[2] for spec in damaged_pcaps]
    code, out, err = run_cli(command, *files, *target)
    assert code == ExitCode.OK, err
    (warning,) = err.splitlines()
    assert warning.startswith("netdiag: warning: ")
    assert "frame 8 at byte" in warning
    assert out.startswith("wrote ")


def test_a_file_name_with_a_newline_still_gives_one_line(tmp_path: Path) -> None:
    odd = tmp_path / "a\nb\r\udcff.pcap"
    odd.write_bytes(b"GET / HTTP/1.1\r\n")
    code, _, err = run_cli("analyze", str(odd))
    assert code == ExitCode.INPUT
    assert err.count("\n") == 1
    assert "a\\nb\\r\\udcff.pcap: not a pcap or pcapng capture" in err


def test_ctrl_c_while_the_commands_load_is_interrupted_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C right after Enter lands in the imports of the sub-commands (most of the first
    half second)."""

    def loading() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("netdiag.cli.build_parser", loading)
    code, out, err = run_cli("record", "snapshot", "--last", "60s")
    assert code == ExitCode.INTERRUPTED == 130
    assert (out, err) == ("", "netdiag: error: interrupted\n")
