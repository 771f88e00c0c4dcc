"""The sweep script run on this machine (sh, grep, kill): what it stops and what it spares."""

from __future__ import annotations

import subprocess
from pathlib import Path

from netdiag.capture.sweep import sweep
from netdiag.inventory import NodeSpec
from netdiag.transport.local import LocalTransport


def _sleeper(marker: str) -> subprocess.Popen[bytes]:
    """A process whose command line carries ``marker`` (as an orphaned tcpdump's would)."""
    return subprocess.Popen(["sh", "-c", "sleep 60", marker])


async def test_sweep_matches_the_directory_as_text_not_as_a_pattern(tmp_path: Path) -> None:
    capdir = tmp_path / "cap|x.y"  # '|' and '.' mean something to pgrep -f, nothing to us
    capdir.mkdir()
    orphan = capdir / "netdiag-cap-19700101T000000Z-dead00.Ab12Cd"
    orphan.mkdir()
    (orphan / "supervisor.pid").write_text("999999\n")  # its supervisor is long gone
    mine = _sleeper(f"{orphan}/eth1.pcap")
    bystander = _sleeper(f"{tmp_path}/cap-other")  # matched the regex 'TMP/cap|x...'
    try:
        node = NodeSpec(name="here", host="localhost", capture_dir=str(capdir))
        async with LocalTransport(node) as t:
            swept = await sweep(t)
        assert mine.wait(timeout=10) is not None
        assert bystander.poll() is None, "a process outside the capture dir was stopped"
        assert [line.split()[1] for line in swept] == [str(orphan)]
        assert not orphan.exists()
    finally:
        for p in (mine, bystander):
            p.kill()
            p.wait()
