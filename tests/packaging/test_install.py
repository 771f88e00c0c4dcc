"""`pip install .` into a fresh virtualenv, then `netdiag demo --recorded` far from the checkout.

What a user who installs the package gets: the C walker built, the recorded demo, the report
templates and the analysis schema inside the wheel, the console script on PATH, and the
versions of constraints.txt. It needs no root; pip takes wheels from its cache or the package
registry the machine reaches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_pip_install_then_recorded_demo_outside_the_checkout(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environ["PIP_CONSTRAINT"] = str(REPO / "constraints.txt")
    environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"),
         str(REPO)],
        capture_output=True, text=True, env=environ, timeout=800, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = subprocess.run(
        [str(env_dir / "bin" / "netdiag"), "demo", "--recorded", "--out", "d", "--json"],
        capture_output=True, text=True, env=environ, cwd=work, timeout=120, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    doc = json.loads(demo.stdout)
    assert doc["schema"] == "netdiag.demo/1"
    report = work / doc["report"]  # as given: relative to where netdiag ran
    assert report.is_file()
    assert "FIP 172.19.0.11 is DNATed to 192.168.0.6" in report.read_text()
    # the installed package answered, not the checkout
    where = subprocess.run(
        [str(python), "-c", "import netdiag, sys; print(netdiag.__file__)"],
        capture_output=True, text=True, cwd=work, check=True,
    )  # fmt: skip
    assert str(REPO) not in where.stdout
    # the capture supervisor is package data: the installed package reads it
    script = subprocess.run(
        [str(python), "-c", "from netdiag.capture.protocol import SUPERVISOR; print(SUPERVISOR)"],
        capture_output=True, text=True, cwd=work, check=True,
    )  # fmt: skip
    assert "netdiag: capture exit" in script.stdout
    assert str(env_dir) in where.stdout
    assert sys.prefix != str(env_dir)
