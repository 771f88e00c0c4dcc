"""Drive the TUI with real keystrokes on the seed 001 run and check what the user would see."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from netdiag.tui.app import NetdiagApp, make_app
from netdiag.tui.screens.anomalies import AnomaliesScreen
from netdiag.tui.screens.flow import FlowScreen
from netdiag.tui.screens.flows import FlowsScreen
from netdiag.tui.screens.help import HelpScreen
from netdiag.tui.screens.overview import OverviewScreen
from netdiag.tui.screens.translations import TranslationsScreen

from .conftest import HOSTILE_IFACE, HOSTILE_NODE
from .helpers import settle

SIZE = (120, 36)


def flow_ids(app: NetdiagApp) -> list[str]:
    table = app.screen.query_one("#flows", DataTable)
    return [str(key.value) for key in table.rows]


def cell_text(table: DataTable[object], row: int, column: int) -> str:
    value = table.get_row_at(row)[column]
    return str(getattr(value, "plain", value))


async def test_opens_on_the_overview_with_verdict_and_points(seed_dir: Path) -> None:
    app = make_app([seed_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        verdict = str(app.screen.query_one("#verdict", Static).render())
        assert "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane" in verdict
        assert "replies leave through the same node" in verdict
        points = app.screen.query_one("#points", DataTable)
        assert points.row_count == 3
        assert cell_text(points, 0, 0) == "client/eth0"
        assert cell_text(points, 0, 4) == "+2 ms ± 50 µs"
        nodes = app.screen.query_one("#nodes", DataTable)
        statuses = {cell_text(nodes, i, 0): cell_text(nodes, i, 1) for i in range(nodes.row_count)}
        assert statuses["kube-ovn-worker"] == "unreachable"


async def test_flows_filter_sort_and_open(seed_dir: Path) -> None:
    app = make_app([seed_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FlowsScreen)
        assert flow_ids(app) == ["f1", "f2"]  # by time of first sighting
        await pilot.press("slash", *"dropped", "enter")
        await settle(pilot)
        assert flow_ids(app) == ["f2"]
        assert "1 of 2 flows" in str(app.screen.query_one("#flows-status", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert flow_ids(app) == ["f1", "f2"]
        await pilot.press("slash", *"192.168.0.6", "enter")  # only f1 reached the pod
        await settle(pilot)
        assert flow_ids(app) == ["f1"]
        await pilot.press("escape", "s", "r")  # sort by flow id, reversed
        await settle(pilot)
        assert flow_ids(app) == ["f2", "f1"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowScreen)
        assert app.screen.flow_id == "f2"
        await pilot.press("escape")
        assert isinstance(app.screen, FlowsScreen)


async def test_flow_path_shows_changes_and_dissects_the_frame(seed_dir: Path) -> None:
    app = make_app([seed_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FlowScreen)
        hops = screen.query_one("#hops", DataTable)
        assert hops.row_count == 6  # 3 request sightings + 3 reply sightings
        assert cell_text(hops, 2, 2) == "kube-ovn-control-plane"
        assert cell_text(hops, 2, 3) == "dd2b931fc304_h"
        assert cell_text(hops, 2, 5) == "+161 µs"
        changes = cell_text(hops, 2, 6)
        assert "DNAT 172.19.0.11 → 192.168.0.6" in changes
        assert "src MAC 02:42:57:db:a9:c6 → 00:00:00:91:cc:aa" in changes
        assert "TTL 64 → 63" in changes
        assert "un-DNAT 192.168.0.6 → 172.19.0.11" in cell_text(hops, 4, 6)
        assert "src MAC 00:00:00:de:cb:07 → 00:00:00:21:44:fd" in cell_text(hops, 4, 6)
        await pilot.press("down", "down")
        await settle(pilot)
        dissection = str(screen.query_one("#dissection", Static).render())
        assert "kube-ovn-control-plane__dd2b931fc304_h.pcap frame 1" in dissection
        assert "id        = 28471" in dissection
        assert "ttl       = 63" in dissection
        await pilot.press("down", "down")  # the reply as it left eth1, un-DNATed
        await settle(pilot)
        dissection = str(screen.query_one("#dissection", Static).render())
        assert "src       = 172.19.0.11" in dissection
        assert "id        = 37678" in dissection


async def test_anomaly_jumps_to_its_flow(seed_dir: Path) -> None:
    app = make_app([seed_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AnomaliesScreen)
        table = app.screen.query_one(DataTable)
        assert cell_text(table, 0, 0) == "dropped"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowScreen)
        assert app.screen.flow_id == "f2"
        assert app.current_mode == "flows"


async def test_translations_help_and_quit(seed_dir: Path) -> None:
    app = make_app([seed_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TranslationsScreen)
        table = app.screen.query_one(DataTable)
        assert [cell_text(table, 0, i) for i in (0, 3, 5)] == ["dnat", "172.19.0.11", "192.168.0.6"]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, TranslationsScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.load_error is None


async def test_export_writes_the_report_of_what_is_on_screen(
    seed_dir: Path, tmp_path: Path
) -> None:
    app = make_app([seed_dir], export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")  # overview: the whole run
        await settle(pilot)
        await pilot.press("a", "enter")  # the dropped flow only
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
    whole = (tmp_path / "netdiag-report-1.html").read_text()
    one = (tmp_path / "netdiag-report-2.html").read_text()
    assert whole.count('<details class="flow') == 2
    assert one.count('<details class="flow') == 1
    assert 'id="flow-f2"' in one


async def test_bad_input_exits_with_the_error(tmp_path: Path) -> None:
    (tmp_path / "analysis.json").write_text('{"schema": "something/else"}')
    app = make_app([tmp_path / "analysis.json"])
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):  # the app exits by itself; its workers are cancelled then
            if app.load_error is not None:
                break
            await pilot.pause(0.05)
    assert app.load_error is not None
    assert "expected 'netdiag.analysis/1'" in app.load_error


async def test_real_analysis_of_a_bundle_without_analysis_json(seed_copy: Path) -> None:
    # Without analysis.json the TUI runs the correlation engine once, in its loader worker.
    (seed_copy / "analysis.json").unlink()
    app = make_app([seed_copy])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        verdict = str(app.screen.query_one("#verdict", Static).render())
        assert "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane" in verdict
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowScreen)
        hops = app.screen.query_one("#hops", DataTable)
        assert "DNAT 172.19.0.11 → 192.168.0.6" in cell_text(hops, 2, 6)
        await pilot.press("down", "down")
        await settle(pilot)
        dissection = str(app.screen.query_one("#dissection", Static).render())
        assert "id        = 28471" in dissection
        assert "dst       = 192.168.0.6" in dissection


async def test_hostile_names_are_shown_as_text(hostile_dir: Path) -> None:
    # "[/]" in an interface name would crash a DataTable that parsed cells as Rich markup.
    app = make_app([hostile_dir])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        points = app.screen.query_one("#points", DataTable)
        names = [cell_text(points, i, 0) for i in range(points.row_count)]
        assert f"{HOSTILE_NODE}/{HOSTILE_IFACE}" in names
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        hops = app.screen.query_one("#hops", DataTable)
        assert cell_text(hops, 2, 3) == HOSTILE_IFACE
        await pilot.press("down", "down")
        await settle(pilot)
        assert "id        = 28471" in str(app.screen.query_one("#dissection", Static).render())
