"""`capture --recover` continues a run from its manifest and fetches what the nodes kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netdiag.capture.recover import recover
from netdiag.capture.reload import load_record
from netdiag.capture.results import manifest
from netdiag.errors import AnalysisInputError, InputError
from netdiag.orchestrator import RunOptions, run_capture
from tests.unit.capture.fake_cluster import Cluster, NodeBehaviour, inventory, plan, tiny_pcap


async def captured(tmp_path: Path, cluster: Cluster) -> Path:
    out = tmp_path / "run"
    opts = RunOptions(out=out, factory=cluster.factory, run_id="RUN1", min_linger=0, grace_s=60)
    await run_capture(inventory(tmp_path), plan(tmp_path), opts)
    return out


async def test_the_manifest_reads_back_into_the_same_record(tmp_path: Path) -> None:
    out = await captured(tmp_path, Cluster(node1=NodeBehaviour(file_missing=True)))
    written = json.loads((out / "manifest.json").read_text())
    assert manifest(load_record(out)).to_json() == written


async def test_a_status_no_run_can_have_is_a_damaged_manifest(tmp_path: Path) -> None:
    out = await captured(tmp_path, Cluster())
    doc = json.loads((out / "manifest.json").read_text())
    doc["captures"][0]["status"] = "fine-ish"
    (out / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"damaged run manifest.*unknown capture status"):
        load_record(out)


async def test_a_kept_file_is_fetched_and_the_run_says_so(tmp_path: Path) -> None:
    cluster = Cluster(node1=NodeBehaviour(file_missing=True))
    out = await captured(tmp_path, cluster)
    record = load_record(out)
    assert [c.status for c in record.captures] == ["ok", "fetch-failed", "ok"]
    # the node still holds the file when the user comes back
    remote = f"{record.captures[1].remote_dir}/node1__eth1.pcap"
    cluster.disks["node1"][remote] = tiny_pcap(count=5)
    done = await recover(record, inventory(tmp_path), kind="asyncssh", factory=cluster.factory)
    assert (done.files, done.bytes) == (1, len(tiny_pcap(count=5)))
    again = json.loads((out / "manifest.json").read_text())
    assert again["phase"] == "recovered"
    node1_cap = again["captures"][1]
    assert (node1_cap["status"], node1_cap["frames"], node1_cap["kept"]) == ("recovered", 5, False)
    assert (out / "pcaps" / "node1__eth1.pcap").read_bytes() == tiny_pcap(count=5)
    assert [e[1:] for e in cluster.events("sweep")] == [("node1", "sweep RUN1")]
    assert not cluster.events("find")[1:]  # only the node that missed a file was asked


async def test_a_file_gone_from_its_node_is_lost_with_the_reason(tmp_path: Path) -> None:
    cluster = Cluster(node1=NodeBehaviour(file_missing=True))
    out = await captured(tmp_path, cluster)
    record = load_record(out)
    await recover(record, inventory(tmp_path), kind="asyncssh", factory=cluster.factory)
    cap = record.captures[1]
    assert cap.status == "lost"
    assert "grace period (60 s) is over" in cap.detail


def test_a_directory_without_a_manifest_is_refused_with_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no manifest\.json; give the directory"):
        load_record(tmp_path)


async def test_an_unfinished_run_is_analysed_with_what_it_holds(tmp_path: Path) -> None:
    from netdiag.bundle import load_input

    out = await captured(tmp_path, Cluster())
    doc = json.loads((out / "manifest.json").read_text())
    doc["phase"] = "capturing"  # as netdiag left it when it was killed
    (out / "manifest.json").write_text(json.dumps(doc))
    for name in ("node1__eth1.pcap", "node2__eth1.pcap"):
        (out / "pcaps" / name).unlink()
    data = load_input([out])
    assert set(data.table["point"].astype(str)) == {"client/eth0"}
    assert any("did not finish (manifest phase 'capturing')" in w for w in data.warnings)
    (out / "pcaps" / "client__eth0.pcap").unlink()
    with pytest.raises(AnalysisInputError, match=r"netdiag capture --recover .*run`, then"):
        load_input([out])
