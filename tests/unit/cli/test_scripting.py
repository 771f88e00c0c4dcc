"""What a script relies on: --json is one document on stdout, -v logs on stderr, colours can
be turned off, progress is plain text, help names INPUT and the exit codes, completion works."""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from netdiag.capture.watch import Activity, Wait
from netdiag.cli import _logging, build_parser, leaf_parsers, main
from netdiag.cli._env import Env, ExitCode
from netdiag.cli._progress import Progress
from netdiag.cli.demo import demo_data

COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[25];[0-9;]+|9[0-7])m")


def env(*, tty: bool = False, environ: dict[str, str] | None = None) -> Env:
    return Env(io.StringIO(), io.StringIO(), stdout_isatty=tty, environ=environ or {})


def out(e: Env) -> str:
    return e.stdout.getvalue()  # type: ignore[attr-defined,no-any-return]


def err(e: Env) -> str:
    return e.stderr.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_data(), tmp_path / "run"))


# -- one JSON document on stdout ----------------------------------------------------------------


def test_recorded_demo_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    e = env()
    assert main(["demo", "--recorded", "--out", str(tmp_path / "d"), "--json"], e) == 0
    doc = json.loads(out(e))
    assert doc["schema"] == "netdiag.demo/1"
    assert (doc["mode"], doc["exit_code"]) == ("recorded", 0)
    assert Path(doc["report"]).is_file()
    assert Path(doc["analysis"]).is_file()
    assert "RECORDED" in err(e)  # the human sentence moved to stderr


def test_export_json(run_dir: Path, tmp_path: Path) -> None:
    e = env()
    target = tmp_path / "m.pcapng"
    assert main(["export", str(run_dir), "--pcapng", str(target), "--json"], e) == 0
    doc = json.loads(out(e))
    assert doc["schema"] == "netdiag.export/1"
    assert doc["pcapng"] == str(target)
    assert doc["packets"] == 19
    assert doc["interfaces"] == 4


def test_analyze_json_dash_is_the_analysis_alone_and_the_window_is_exact(run_dir: Path) -> None:
    e = env()
    assert main(["analyze", str(run_dir), "--json", "-", "--window", "2"], e) == 0
    doc = json.loads(out(e))
    assert doc["schema"] == "netdiag.analysis/1"
    assert doc["window_ns"] == 2_000_000_000
    assert doc["window_used_ns"] >= doc["window_ns"]  # plus the clocks' margin


def test_report_json_dash_writes_the_analysis_on_stdout(run_dir: Path, tmp_path: Path) -> None:
    e = env()
    html = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--html", str(html), "--json", "-"], e) == 0
    assert json.loads(out(e))["schema"] == "netdiag.analysis/1"
    assert html.is_file()
    assert f"wrote {html}" in err(e)


def test_inventory_show_json_has_a_schema() -> None:
    e = env()
    repo = Path(__file__).resolve().parents[3]
    assert main(["inventory", "show", str(repo / "inventory" / "lab.yaml"), "--json"], e) == 0
    doc = json.loads(out(e))
    assert doc["schema"] == "netdiag.inventory/1"
    assert [n["name"] for n in doc["nodes"]][:1] == ["client"]


# -- logging, colour, progress ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["analyze", "x"], 0),
        (["-v", "analyze", "x"], 1),
        (["analyze", "x", "-v"], 1),
        (["analyze", "x", "-vv"], 2),
        (["lab", "up", "--verbose"], 1),
    ],
)
def test_verbose_is_taken_before_or_after_the_command(argv: list[str], level: int) -> None:
    assert build_parser().parse_args(argv).verbose == level


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([], set()),
        (["-v"], {"INFO"}),
        (["--debug"], {"INFO", "DEBUG"}),
    ],
)
def test_log_lines_reach_stderr_at_the_level_asked(argv: list[str], shown: set[str]) -> None:
    e = env()
    args = build_parser().parse_args([*argv, "analyze", "x"])
    with _logging(args, e):
        logging.getLogger("netdiag.remote").info("INFO node1 run ip -j link")
        logging.getLogger("netdiag.remote").debug("DEBUG node1 exit 0")
    seen = {word for word in ("INFO", "DEBUG") if word in err(e)}
    assert seen == shown
    assert out(e) == ""


def test_no_color_flag_and_no_color_variable_remove_colours(run_dir: Path) -> None:
    coloured = env(tty=True)
    assert main(["analyze", str(run_dir)], coloured) == 0
    assert COLOUR.search(out(coloured))
    for e, argv in (
        (env(tty=True), ["analyze", str(run_dir), "--no-color"]),
        (env(tty=True, environ={"NO_COLOR": "1"}), ["analyze", str(run_dir)]),
    ):
        assert main(argv, e) == 0
        assert not COLOUR.search(out(e)), argv
        assert "kube-ovn-control-plane" in out(e)


def test_progress_lines_are_timestamped_when_not_a_terminal() -> None:
    stream = io.StringIO()
    Progress(stream, isatty=False).say("connecting to 3 node(s)")
    assert re.fullmatch(r"\d\d:\d\d:\d\d connecting to 3 node\(s\)\n", stream.getvalue())
    stream = io.StringIO()
    Progress(stream, isatty=True).say("connecting")
    assert stream.getvalue() == "connecting\n"


def test_a_step_is_announced_once_it_outlasts_its_quiet_time() -> None:
    stream = io.StringIO()
    progress = Progress(stream, isatty=False)
    announced = threading.Event()
    with progress.step("correlating 5 packets", after=0.0):
        for _ in range(500):  # the announcement comes from a timer thread
            if "correlating 5 packets ..." in stream.getvalue():
                announced.set()
                break
            threading.Event().wait(0.01)
    assert announced.is_set()
    assert "correlating 5 packets: done in" in stream.getvalue()
    quiet = io.StringIO()
    with Progress(quiet, isatty=False).step("quick", after=3600):
        pass
    assert quiet.getvalue() == ""


def test_waits_name_the_node_its_address_and_the_limit() -> None:
    activity = Activity()
    activity.waits[1] = Wait("node2", "10.0.0.12:22", "connecting", since=100.0, limit=10.0)
    activity.waits[2] = Wait("node3", "10.0.0.13:22", "running `ip -j link`", 104.0, None)
    assert activity.lines(101.0, after=3.0) == {}
    assert activity.lines(105.0, after=3.0) == {
        "node2": "waiting for node2 (10.0.0.12:22): connecting, 5 s; gives up after 10 s"
    }


# -- help, names, completion --------------------------------------------------------------------


def test_every_command_help_lists_the_exit_codes() -> None:
    parser = build_parser()
    for leaf in leaf_parsers(parser):
        text = leaf.format_help()
        assert "exit codes:" in text, leaf.prog
        assert "4    partial" in text, leaf.prog


@pytest.mark.parametrize("command", ["packets", "analyze", "report", "tui", "export"])
def test_commands_that_read_captures_call_them_input(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    usage = sub.choices[command].format_usage()
    assert "INPUT [INPUT ...]" in usage


def _script(shell: str) -> str:
    e = env()
    assert main(["completion", shell], e) == ExitCode.OK
    return out(e)


def _bash_complete(script: Path, *words: str, cwd: Path | None = None) -> list[str]:
    program = (
        f"source {script}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _netdiag\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", program, "bash", *words], capture_output=True, text=True, check=True,
        cwd=cwd,
    )  # fmt: skip
    return done.stdout.split()


def test_bash_completion_completes_commands_options_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "netdiag.bash"
    script.write_text(_script("bash"))
    assert _bash_complete(script, "netdiag", "an") == ["analyze"]
    assert _bash_complete(script, "netdiag", "lab", "") == ["up", "down", "status"]
    assert _bash_complete(script, "netdiag", "lab", "up", "--topology", "") == [
        "default",
        "ovs-geneve",
    ]
    assert _bash_complete(script, "netdiag", "-v", "packets", "--format", "c") == ["csv"]
    assert "--no-color" in _bash_complete(script, "netdiag", "report", "run1", "--no")
    (tmp_path / "run1").mkdir()
    assert _bash_complete(script, "netdiag", "analyze", "ru", cwd=tmp_path) == ["run1"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_completes_commands_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "netdiag.fish"
    script.write_text(_script("fish"))

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("netdiag an") == ["analyze"]
    assert complete("netdiag lab up --topology ") == ["default", "ovs-geneve"]
    assert set(complete("netdiag lab ")) == {"up", "down", "status"}


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_loads_and_defines_every_command(tmp_path: Path) -> None:
    """Loaded as a user's .zshrc would (after compinit): one function per command, registered
    for netdiag. (Driving the completion itself needs a pseudo-terminal; bash and fish above
    check what is offered.)"""
    script = tmp_path / "_netdiag"
    script.write_text(_script("zsh"))
    program = (
        f"autoload -U compinit; compinit -u -d {tmp_path}/dump; source {script}; "
        "whence -w _netdiag_lab_up _netdiag_completion; print -r -- $_comps[netdiag]; "
        "functions _netdiag"
    )
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "_netdiag_lab_up: function" in done.stdout
    assert "_netdiag_completion: function" in done.stdout
    assert "\n_netdiag\n" in done.stdout
    assert "'analyze:follow each packet" in done.stdout
