"""The trace's planner, plan writer and verdict are pure: no SSH library, no UI, no network."""

from __future__ import annotations

import subprocess
import sys


def test_planning_and_judging_import_no_io_or_ui_library() -> None:
    code = (
        "import sys, netdiag.trace.planner, netdiag.trace.render, netdiag.trace.verdict; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"asyncssh", "paramiko", "textual"}
