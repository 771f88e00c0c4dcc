"""Without the C extension the reader still works (pure-Python walker), and says so once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from netdiag.pcap import read_capture, walker
from tests.unit.pcap.pcap_builders import pcap_bytes, write


def test_python_walker_fallback_gives_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [(i * 1000, bytes(Ether() / IP(id=i) / TCP() / bytes(i))) for i in range(200)]
    path = write(tmp_path, "a.pcap", pcap_bytes(frames))
    fast = read_capture(path).table
    monkeypatch.setattr(walker, "_c_walk", None)
    monkeypatch.setattr(walker, "_warned", [])
    with pytest.warns(RuntimeWarning, match="pure-Python walker"):
        slow = read_capture(path, chunk_bytes=4096).table
    pd.testing.assert_frame_equal(fast, slow)


def test_bulk_path_imports_neither_scapy_nor_the_ui() -> None:
    code = (
        "import sys, netdiag.pcap, netdiag.pcap.format;"
        "bad = [m for m in ('scapy', 'textual', 'asyncssh', 'paramiko') if m in sys.modules];"
        "sys.exit(str(bad) if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
