"""Reproducers of the bugs the fuzz suite knows about (contract.KNOWN_BUGS), each as small as it
gets. Marked as expected failures, strictly: once the fix lands a reproducer passes, pytest
reports that as a failure, and the mark and the signature in contract.py go."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from netdiag.cli import DEBUG_ENV, Env, main


def one_packet_pcap(path: Path) -> Path:
    """A pcap holding a single ICMP echo request: fewer than two sightings of anything."""
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", id=1) / ICMP(id=1, seq=1))
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    return path


@pytest.mark.xfail(
    strict=True,
    raises=KeyError,
    reason="correlate: translations() reads dst_kind from hops that compute_hops built "
    "without it when there are fewer than two sightings",
)
@pytest.mark.parametrize(
    ("command", "target"),
    [
        ("analyze", []),
        ("report", ["--html", "{tmp}/r.html"]),
        ("export", ["--pcapng", "{tmp}/m.pcapng"]),
    ],
)
def test_a_capture_with_one_packet_analyses(
    tmp_path: Path, command: str, target: list[str]
) -> None:
    pcap = one_packet_pcap(tmp_path / "node1__eth0.pcap")
    out = io.StringIO()
    env = Env(out, out, environ={DEBUG_ENV: "1"})  # the traceback, not the one-line report
    argv = [command, str(pcap), *(arg.format(tmp=tmp_path) for arg in target)]
    assert main(argv, env) == 0, out.getvalue()


@pytest.mark.xfail(strict=True, reason="the same bug, seen from the TUI")
async def test_the_tui_opens_a_capture_with_one_packet(tmp_path: Path) -> None:
    from netdiag.tui.app import make_app
    from netdiag.tui.screens.overview import OverviewScreen
    from tests.ui.helpers import settle

    app = make_app([one_packet_pcap(tmp_path / "node1__eth0.pcap")])
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.load_error is None, app.load_error
        assert isinstance(app.screen, OverviewScreen)
