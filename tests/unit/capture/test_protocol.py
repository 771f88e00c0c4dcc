"""The capture supervisor's dialog: the real script, run here, says what protocol.py parses."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdiag.capture.protocol import (
    FILE_PLACEHOLDER,
    GO,
    HEARTBEAT,
    RELEASE,
    SUPERVISOR,
    CaptureExit,
    DirMade,
    DirRemoved,
    Event,
    FreeSpace,
    Keeping,
    Listening,
    Stream,
    SupervisorArgs,
    df_line,
    dir_line,
    exit_line,
    parse,
    removed_line,
    supervisor_argv,
)

# Stands in for `timeout ... tcpdump -w FILE`: says it listens, writes its file, ends alone.
FAKE_CAPTURE = ["sh", "-c", 'echo "fake: listening on lo" >&2; echo data >"$1"; sleep 0.3', "cap"]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    argv = supervisor_argv(
        capture_dir=str(tmp_path),
        run_id="R1",
        file_name="eth1.pcap",
        heartbeat_s=5,
        capture=[*FAKE_CAPTURE, FILE_PLACEHOLDER],
        grace_s=0.2,
    )
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    yield proc
    proc.kill()
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        assert stream is not None
        stream.close()


def _until(proc: subprocess.Popen[str], stream: Stream, kind: type[Event]) -> Event:
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    while line := pipe.readline():
        if isinstance(event := parse(stream, line.rstrip("\n")), kind):
            return event
    raise AssertionError(f"the supervisor ended without a {kind.__name__} on {stream}")


def _send(proc: subprocess.Popen[str], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data.decode())
    proc.stdin.flush()


def test_a_capture_goes_through_the_whole_dialog(supervisor: subprocess.Popen[str]) -> None:
    made = _until(supervisor, "stdout", DirMade)
    assert isinstance(made, DirMade)
    assert Path(made.path).name.startswith("netdiag-cap-R1.")
    assert Path(made.path, "supervisor.pid").read_text().strip() == str(supervisor.pid)
    _send(supervisor, GO)
    assert isinstance(_until(supervisor, "stderr", Listening), Listening)
    _send(supervisor, HEARTBEAT)
    free = _until(supervisor, "stderr", FreeSpace)
    assert isinstance(free, FreeSpace)
    assert free.free_bytes > 0
    assert _until(supervisor, "stderr", CaptureExit) == CaptureExit(0)
    assert Path(made.path, "eth1.pcap").read_text() == "data\n"  # the placeholder was filled
    _send(supervisor, RELEASE)
    assert _until(supervisor, "stdout", DirRemoved) == DirRemoved(made.path)
    assert not Path(made.path).exists()
    assert supervisor.wait(timeout=10) == 0


def test_eof_without_release_keeps_the_directory_for_the_grace_period(
    supervisor: subprocess.Popen[str],
) -> None:
    made = _until(supervisor, "stdout", DirMade)
    assert isinstance(made, DirMade)
    _send(supervisor, GO)
    _until(supervisor, "stderr", CaptureExit)
    assert supervisor.stdin is not None
    supervisor.stdin.close()  # netdiag died, or its fetch failed
    assert _until(supervisor, "stderr", Keeping) == Keeping(made.path, 0.2)
    assert _until(supervisor, "stdout", DirRemoved) == DirRemoved(made.path)


def test_eof_instead_of_go_removes_the_directory_at_once(
    supervisor: subprocess.Popen[str],
) -> None:
    made = _until(supervisor, "stdout", DirMade)
    assert supervisor.stdin is not None
    supervisor.stdin.close()
    assert isinstance(made, DirMade)
    assert _until(supervisor, "stdout", DirRemoved) == DirRemoved(made.path)
    assert supervisor.wait(timeout=10) == 0


def test_the_fakes_words_are_the_parsers() -> None:
    assert parse("stdout", dir_line("/tmp/d")) == DirMade("/tmp/d")
    assert parse("stdout", removed_line("/tmp/d")) == DirRemoved("/tmp/d")
    assert parse("stderr", exit_line(124)) == CaptureExit(124)
    assert parse("stderr", df_line("tmpfs 100 1 42 1% /tmp")) == FreeSpace(42 * 1024)
    assert parse("stderr", "3 packets captured") is None  # tcpdump's words, not the supervisor's
    assert parse("stderr", dir_line("/tmp/d")) is None  # dir lines come on stdout only


def test_supervisor_argv_reads_back() -> None:
    argv = supervisor_argv(
        capture_dir="/tmp/a b", run_id="R", file_name="x.pcap", heartbeat_s=1.5,
        capture=["tcpdump", "-i", "eth0;rm -rf /"], preflight="true", clock_rounds=3,
    )  # fmt: skip
    assert SupervisorArgs.of(argv) == SupervisorArgs(
        "/tmp/a b", "R", "x.pcap", 1.5, "", "true", 3, 0.0, ("tcpdump", "-i", "eth0;rm -rf /")
    )
    assert SupervisorArgs.of(["sh", "-c", "true"]) is None


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_the_supervisor_is_shellcheck_clean() -> None:
    done = subprocess.run(
        ["shellcheck", "-s", "sh", "-"], input=SUPERVISOR, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
