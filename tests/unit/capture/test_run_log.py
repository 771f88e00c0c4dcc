"""Every run directory keeps run.log (what was sent to which node, when), and `capture --json`
prints one document a script can act on."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from netdiag.cli._env import Env, ExitCode
from netdiag.cli.capture import conclude
from netdiag.orchestrator import RunOptions, run_capture
from tests.unit.capture.fake_cluster import Cluster, NodeBehaviour, inventory, plan

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ")


async def _run(tmp_path: Path, cluster: Cluster) -> Path:
    out = tmp_path / "run"
    opts = RunOptions(out=out, factory=cluster.factory, run_id="RUN1", min_linger=0)
    await run_capture(inventory(tmp_path), plan(tmp_path), opts)
    return out


async def test_run_log_names_each_node_and_command_with_a_utc_time(tmp_path: Path) -> None:
    out = await _run(tmp_path, Cluster())
    lines = (out / "run.log").read_text().splitlines()
    assert lines, "run.log is empty"
    assert all(STAMP.match(line) for line in lines), lines[:3]
    text = "\n".join(lines)
    for node in ("client", "node1", "node2"):
        assert f"{node} connect " in text
        # the tcpdump each one was sent, its supervisor script summarised on the INFO line
        assert re.search(rf"INFO .* {node} run sh -c '<script: \d+ lines>' .* tcpdump -i ", text)
        assert re.search(rf"{node} fetch /tmp/netdiag-cap-RUN1\.\S+ -> {out}/pcaps/", text)
        assert f"{node} stop {node}/" in text  # the SIGINT that ends its tcpdump
        assert f"{node} release {node}/" in text
    assert "run RUN1: done" in text
    # the probe, on the node it ran on
    assert re.search(r"client run ping ", text)


async def test_run_log_holds_no_key_or_secret(tmp_path: Path) -> None:
    out = await _run(tmp_path, Cluster())
    text = (out / "run.log").read_text()
    assert "id_do_not_leak" not in text  # the inventory's identity file
    assert "/secret" not in text


async def test_capture_json_is_one_document_with_the_bundle_and_every_node(
    tmp_path: Path,
) -> None:
    cluster = Cluster(node2=NodeBehaviour(tcpdump_missing=True))
    out = tmp_path / "run"
    opts = RunOptions(out=out, factory=cluster.factory, run_id="RUN1", min_linger=0)
    record = await run_capture(inventory(tmp_path), plan(tmp_path), opts)
    env = Env(io.StringIO(), io.StringIO())
    code = conclude(record, out, env, analysis=False, interrupted=False, as_json=True)
    doc = json.loads(env.stdout.getvalue())  # type: ignore[attr-defined]  # one document
    assert code == ExitCode.PARTIAL
    assert doc["schema"] == "netdiag.capture/1"
    assert (doc["outcome"], doc["exit_code"], doc["run_id"]) == ("partial", 4, "RUN1")
    assert doc["bundle"] == str(out)
    assert doc["run_log"] == str(out / "run.log")
    assert {n["name"]: n["status"] for n in doc["nodes"]}["node2"] == "no-tcpdump"
    assert doc["messages"], "a partial run says why"
    assert doc["probes"][0]["exit_status"] == 0
    # the warnings still reach stderr, the human lines nowhere on stdout
    assert "netdiag: warning:" in env.stderr.getvalue()  # type: ignore[attr-defined]
