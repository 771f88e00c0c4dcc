"""The TUI opened on one capture file, or on an empty one (what `netdiag tui FILE` does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdiag.tui.app import make_app
from netdiag.tui.screens.overview import OverviewScreen
from tests.support import scenarios as sc
from tests.support.builder import one_packet_pcap, write_pcaps

from .helpers import settle

SIZE = (120, 36)


async def test_one_capture_file_opens_on_the_overview(tmp_path: Path) -> None:
    paths = list(write_pcaps(sc.fip_ingress(count=2), tmp_path).values())
    app = make_app([paths[1]])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert app.load_error is None


async def test_an_empty_capture_ends_with_one_error_line(tmp_path: Path) -> None:
    paths = list(write_pcaps(sc.fip_ingress(count=2), tmp_path).values())
    empty = tmp_path / "n1__eth0.pcap"
    empty.write_bytes(paths[0].read_bytes()[:24])
    app = make_app([empty])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.load_error is not None
    assert "the capture files hold no packets" in app.load_error
    assert not app.load_error_internal


async def test_a_bug_while_loading_ends_with_its_one_line_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("dst_kind")

    monkeypatch.setattr("netdiag.tui.app.open_run", broken)
    app = make_app([tmp_path])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.load_error_internal
    assert app.load_error is not None
    assert app.load_error.startswith("internal error (KeyError: 'dst_kind') at netdiag/")


async def test_a_capture_with_one_packet_opens_on_the_overview(tmp_path: Path) -> None:
    app = make_app([one_packet_pcap(tmp_path / "node1__eth0.pcap")])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.load_error is None, app.load_error
        assert isinstance(app.screen, OverviewScreen)
