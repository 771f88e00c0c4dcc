"""SVG snapshots of every screen on the seed 001 run (``--snapshot-update`` to accept changes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from netdiag.tui.app import make_app

from .helpers import settle

SIZE = (120, 36)
Compare = Callable[..., bool]


def _keys(keys: Sequence[str]) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


class TestOverview:
    def test_overview(self, snap_compare: Compare, seed_dir: Path) -> None:
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys([]))


class TestFlows:
    def test_flows_list(self, snap_compare: Compare, seed_dir: Path) -> None:
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(["f"]))

    def test_flows_filtered(self, snap_compare: Compare, seed_dir: Path) -> None:
        keys = ["f", "slash", *"dropped", "enter"]
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(keys))


class TestFlowPath:
    def test_flow_path_with_packet_detail(self, snap_compare: Compare, seed_dir: Path) -> None:
        keys = ["f", "enter", "down", "down"]
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(keys))


class TestTranslations:
    def test_translations(self, snap_compare: Compare, seed_dir: Path) -> None:
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(["t"]))


class TestAnomalies:
    def test_anomalies(self, snap_compare: Compare, seed_dir: Path) -> None:
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(["a"]))


class TestHelp:
    def test_help(self, snap_compare: Compare, seed_dir: Path) -> None:
        keys = ["question_mark"]
        assert snap_compare(make_app([seed_dir]), terminal_size=SIZE, run_before=_keys(keys))
