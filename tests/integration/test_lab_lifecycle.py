"""`netdiag lab up|down|status` on the real kernel: fast, idempotent, and nothing left behind —
also when the process running `up` is killed half-way."""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from netdiag.cli import lab as lab_cli
from netdiag.cli._env import Env, ExitCode
from netdiag.lab import default_spec, down, status, up
from netdiag.lab.topology import STATE_ROOT

pytestmark = pytest.mark.integration  # skipped without root by the lab_leftover_check fixture

NAME = "ndcycle"  # its own name and mgmt network: may run next to the session lab
MGMT = "10.250.2.0/24"
REPO = Path(__file__).resolve().parents[2]


def _cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="netdiag")
    lab_cli.register(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = lab_cli.run(parser.parse_args(argv), Env(out, io.StringIO()))
    return code, out.getvalue()


@pytest.fixture
def clean_lab(lab_leftover_check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    down(NAME)
    yield lab_leftover_check
    down(NAME)


def test_up_is_fast_idempotent_and_down_leaves_nothing(
    clean_lab: Callable[[str], list[str]], tmp_path: Path
) -> None:
    t0 = time.monotonic()
    state = up(spec=default_spec(NAME, MGMT), inventory_paths=(str(tmp_path / "lab.yaml"),))
    built = time.monotonic() - t0
    assert built < 2.0, f"lab up took {built:.2f} s"
    assert not state.already_running
    assert status(NAME).running

    again = up(spec=default_spec(NAME, MGMT))
    assert again.already_running
    assert [n.sshd_pid for n in again.nodes] == [n.sshd_pid for n in state.nodes]

    inv = yaml.safe_load((tmp_path / "lab.yaml").read_text(encoding="utf-8"))
    assert inv["defaults"]["identity_file"] == state.key_path
    assert {n["host"] for n in inv["nodes"]} == set(state.mgmt_addresses.values())
    assert Path(state.inventory_path).read_text(encoding="utf-8") == (
        tmp_path / "lab.yaml"
    ).read_text(encoding="utf-8")

    code, text = _cli(["lab", "status", "--name", NAME])
    assert code == ExitCode.OK
    assert "running" in text
    assert "dd2b931fc304_h" in text
    assert f"pid {state.node('kube-ovn-worker').sshd_pid} ok" in text

    t0 = time.monotonic()
    code, text = _cli(["lab", "down", "--name", NAME])
    took = time.monotonic() - t0
    assert code == ExitCode.OK
    assert "6 namespaces" in text
    assert took < 2.0, f"lab down took {took:.2f} s"
    assert clean_lab(NAME) == []
    code, text = _cli(["lab", "status", "--name", NAME])
    assert code == ExitCode.FAILURE
    assert "not running" in text


def test_down_of_a_lab_that_is_not_there_says_so(clean_lab: Callable[[str], list[str]]) -> None:
    code, text = _cli(["lab", "down", "--name", NAME])
    assert code == ExitCode.OK
    assert "nothing to remove" in text


# Runs `up` in a child process that dies by SIGKILL at a chosen point of the build.
_CHILD = """
import os, signal, sys
from netdiag.lab import default_spec, lifecycle, render, sshd, up

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[3]
if point == "links":  # namespaces exist, no interface yet
    render.host_links_batch = die
elif point == "sshd":  # everything built, sshd started, `up` never completes
    sshd.wait_ready = die
up(spec=default_spec(sys.argv[1], sys.argv[2]))
"""


def _child(point: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, NAME, MGMT, point],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("point", ["links", "sshd", "timer"])
def test_down_cleans_up_after_up_was_killed(
    point: str, clean_lab: Callable[[str], list[str]]
) -> None:
    child = _child(point)
    if point == "timer":
        # A real kill from outside, as soon as the build has visibly started.
        deadline = time.monotonic() + 10
        while not any(t.startswith(f"netns {NAME}-") for t in clean_lab(NAME)):
            assert time.monotonic() < deadline, "up never started"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=20) == -signal.SIGKILL
    left = clean_lab(NAME)
    assert left, "the killed up should have left something for down to find"
    st = status(NAME)
    assert st.exists
    assert not st.running
    report = down(NAME)
    assert report.found_anything
    assert clean_lab(NAME) == []
    assert not os.path.exists(f"{STATE_ROOT}/{NAME}")


def test_a_second_up_repairs_a_half_built_lab(clean_lab: Callable[[str], list[str]]) -> None:
    assert _child("sshd").wait(timeout=20) == -signal.SIGKILL
    state = up(spec=default_spec(NAME, MGMT))
    assert not state.already_running
    assert status(NAME).running
