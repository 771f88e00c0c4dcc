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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from netdiag.cli import lab as lab_cli
from netdiag.cli._env import Env, ExitCode
from netdiag.errors import LabError
from netdiag.lab import LabState, default_spec, down, status, up
from netdiag.lab.topology import STATE_ROOT

if TYPE_CHECKING:  # a type only: importing `conftest` at run time could pick another dir's
    from conftest import LabSandbox

pytestmark = pytest.mark.integration  # the fixtures skip without root

REPO = Path(__file__).resolve().parents[2]


def _cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="netdiag")
    lab_cli.register(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = lab_cli.run(parser.parse_args(argv), Env(out, io.StringIO()))
    return code, out.getvalue()


def test_up_is_fast_idempotent_and_down_leaves_nothing(
    lab_sandbox: LabSandbox, tmp_path: Path
) -> None:
    name, mgmt = lab_sandbox.name, lab_sandbox.mgmt_net
    t0 = time.monotonic()
    state = up(spec=default_spec(name, mgmt), inventory_paths=(str(tmp_path / "lab.yaml"),))
    built = time.monotonic() - t0
    assert built < 2.0, f"lab up took {built:.2f} s"
    assert not state.already_running
    assert status(name).running

    again = up(spec=default_spec(name, mgmt))
    assert again.already_running
    assert [n.sshd_pid for n in again.nodes] == [n.sshd_pid for n in state.nodes]
    other = default_spec(name, mgmt).with_clock_offsets({"kube-ovn-worker": 5_000_000})
    with pytest.raises(LabError, match="already running with other settings"):
        up(spec=other)

    written = (tmp_path / "lab.yaml").read_text(encoding="utf-8")
    inv = yaml.safe_load(written)
    assert inv["defaults"]["identity_file"] == state.key_path
    assert {n["host"] for n in inv["nodes"]} == set(state.mgmt_addresses.values())
    assert Path(state.inventory_path).read_text(encoding="utf-8") == written

    code, text = _cli(["lab", "status", "--name", name])
    assert code == ExitCode.OK
    assert "running" in text
    assert "dd2b931fc304_h" in text
    assert f"pid {state.node('kube-ovn-worker').sshd_pid} ok" in text

    t0 = time.monotonic()
    code, text = _cli(["lab", "down", "--name", name])
    took = time.monotonic() - t0
    assert code == ExitCode.OK
    assert f"{len(state.netns)} namespaces" in text
    assert took < 2.0, f"lab down took {took:.2f} s"
    assert lab_sandbox.leftovers() == []
    code, text = _cli(["lab", "status", "--name", name])
    assert code == ExitCode.FAILURE
    assert "not running" in text


def test_down_of_a_lab_that_is_not_there_says_so(lab_sandbox: LabSandbox) -> None:
    code, text = _cli(["lab", "down", "--name", lab_sandbox.name])
    assert code == ExitCode.OK
    assert "nothing to remove" in text


def test_a_management_network_in_use_is_refused(lab_sandbox: LabSandbox, lab: LabState) -> None:
    taken = f"{lab.host_mgmt_ip.rsplit('.', 1)[0]}.0/24"
    with pytest.raises(LabError, match="overlaps host route"):
        up(spec=default_spec(lab_sandbox.name, taken))
    assert lab_sandbox.leftovers() == []


# Runs `up` in a child process that dies by SIGKILL at a chosen point of the build.
_CHILD = """
import os, signal, sys
from netdiag.lab import default_spec, render, sshd, up

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[3]
if point == "links":  # namespaces exist, no interface yet
    render.host_links_batch = die
elif point == "sshd":  # everything built, sshd started, `up` never completes
    sshd.wait_ready = die
up(spec=default_spec(sys.argv[1], sys.argv[2]))
"""


def _child(sandbox: LabSandbox, point: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, sandbox.name, sandbox.mgmt_net, point],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("point", ["links", "sshd", "timer"])
def test_down_cleans_up_after_up_was_killed(point: str, lab_sandbox: LabSandbox) -> None:
    child = _child(lab_sandbox, point)
    if point == "timer":
        # A real kill from outside, as soon as the build has visibly started.
        deadline = time.monotonic() + 10
        while not any(t.startswith("netns ") for t in lab_sandbox.leftovers()):
            assert time.monotonic() < deadline, "up never started"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=20) == -signal.SIGKILL
    assert lab_sandbox.leftovers(), "the killed up should have left something for down to find"
    st = status(lab_sandbox.name)
    assert st.exists
    assert not st.running
    report = down(lab_sandbox.name)
    assert report.found_anything
    assert lab_sandbox.leftovers() == []
    assert not os.path.exists(f"{STATE_ROOT}/{lab_sandbox.name}")


def test_a_second_up_repairs_a_half_built_lab(lab_sandbox: LabSandbox) -> None:
    assert _child(lab_sandbox, "sshd").wait(timeout=20) == -signal.SIGKILL
    state = up(spec=default_spec(lab_sandbox.name, lab_sandbox.mgmt_net))
    assert not state.already_running
    assert status(lab_sandbox.name).running


def test_a_failed_up_says_why_and_removes_what_it_made(
    lab_sandbox: LabSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("netdiag.lab.render.SSHD", "/nonexistent/sshd")
    with pytest.raises(LabError, match=r"sshd on lab node .* exited during start: .*nonexistent"):
        up(spec=default_spec(lab_sandbox.name, lab_sandbox.mgmt_net))
    assert lab_sandbox.leftovers() == []
