"""What the user is told at the end of a run, and while it waits for a slow node."""

from __future__ import annotations

from pathlib import Path

from netdiag.capture.progress import waiting_lines
from netdiag.capture.results import CaptureResult, NodeResult, RunRecord
from netdiag.capture.run_steps import point_failure
from netdiag.capture.verdict import verdict

OUT = Path("run1")


def record(*captures: tuple[str, str, str], nodes: dict[str, str] | None = None) -> RunRecord:
    names = {node for node, _, _ in captures} | set(nodes or {})
    rec = RunRecord(
        "R", OUT, {}, {"nodes": [{"name": "n2", "host": "10.0.0.12", "port": None}]},
        "asyncssh", {n: NodeResult(n, status=(nodes or {}).get(n, "ok")) for n in names},
        grace_s=600,
    )  # fmt: skip
    for node, iface, status in captures:
        rec.captures.append(CaptureResult(node, iface, None, f"pcaps/{node}__{iface}.pcap", status))
    return rec


def test_points_and_nodes_are_counted_apart() -> None:
    rec = record(
        ("n1", "eth1", "ok"),
        ("n2", "eth1", "lost"),
        ("n2", "ovn0", "lost"),
        ("n2", "vxlan0", "incomplete"),
        nodes={"n2": "lost"},
    )
    v = verdict(rec, OUT)
    assert v.outcome == "partial"
    assert v.messages[0] == (
        "3 capture points on 1 node failed (1 incomplete, 2 lost); the others' results are kept"
    )


def test_files_a_node_keeps_come_with_the_command_that_fetches_them() -> None:
    rec = record(("n1", "eth1", "ok"), ("n2", "eth1", "lost"), nodes={"n2": "lost"})
    rec.captures[1].kept = True
    (_, hint) = verdict(rec, OUT).messages
    assert hint == (
        "n2 keeps the 1 file netdiag could not fetch for 600 s after losing netdiag: "
        "`netdiag capture --recover run1` fetches them"
    )


def test_nothing_usable_is_a_failure_and_a_clean_run_is_ok() -> None:
    assert verdict(record(("n1", "eth1", "no-permission")), OUT).outcome == "failed"
    assert verdict(record(("n1", "eth1", "ok")), OUT).outcome == "ok"


def test_a_failed_point_names_its_node_once() -> None:
    r = CaptureResult("cp", "eth1", None, "pcaps/cp__eth1.pcap", "lost")
    r.detail = "cp: cannot open a channel (closed); the connection may have dropped"
    assert (
        point_failure(r)
        == "cp/eth1: cannot open a channel (closed); the connection may have dropped"
    )


def test_a_slow_node_is_named_with_how_long_it_may_still_take() -> None:
    rec = record(("n1", "eth1", "ok"), ("n2", "eth1", "ok"))
    rec.nodes["n2"].enter("connecting", limit=10)
    rec.nodes["n1"].enter("connecting", limit=10)
    since = rec.nodes["n2"].state_since
    rec.nodes["n1"].state_since = since + 5  # n1 answered late but is not slow yet
    assert waiting_lines(rec, since + 6) == {
        "n2": "waiting for n2 (10.0.0.12:22): connecting, no answer for 6 s; gives up after 10 s"
    }


def test_the_live_table_says_when_a_capture_dir_fills_up() -> None:
    from rich.console import Console

    from netdiag.capture.progress import ProgressTable

    rec = record(("n1", "eth1", "listening"), ("n2", "eth1", "listening"))
    rec.captures[1].free_bytes = 0  # what the supervisor said with the last live count
    console = Console(width=200, record=True)
    console.print(ProgressTable(rec))
    row = next(ln for ln in console.export_text().splitlines() if ln.startswith("│ n2"))
    assert "capture_dir is full" in row
