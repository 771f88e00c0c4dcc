"""The coordinated run against scripted nodes: ordering, statuses, clean-up, the manifest."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from netdiag.capture.protocol import SUPERVISOR
from netdiag.capture.results import RunRecord
from netdiag.capture.sweep import SWEEP
from netdiag.errors import AuthError, InputError
from netdiag.orchestrator import RunOptions, run_capture
from netdiag.transport.process import KILL_ONE
from tests.unit.capture.fake_cluster import (
    Cluster,
    NodeBehaviour,
    inventory,
    plan,
    unreachable,
)


def options(tmp_path: Path, cluster: Cluster, **kw: Any) -> RunOptions:
    kw.setdefault("min_linger", 0)
    return RunOptions(out=tmp_path / "run", factory=cluster.factory, run_id="RUN1", **kw)


async def go(tmp_path: Path, cluster: Cluster, **kw: Any) -> RunRecord:
    return await run_capture(inventory(tmp_path), plan(tmp_path), options(tmp_path, cluster, **kw))


def manifest(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "run" / "manifest.json").read_text())
    return data


def signals(cluster: Cluster, node: str) -> list[tuple[str, ...]]:
    return [c.argv for c in cluster.nodes[node].calls if c.argv[:3] == ("sh", "-c", KILL_ONE)]


async def test_no_probe_is_sent_before_every_capture_listens(tmp_path: Path) -> None:
    cluster = Cluster(node2=NodeBehaviour(listen_delay=0.3))
    record = await go(tmp_path, cluster)
    listening = cluster.events("listening")
    probes = cluster.events("probe")
    assert len(listening) == 3
    assert len(probes) == 1
    assert probes[0][0] >= max(t for t, _, _ in listening)
    assert all(c.status == "ok" for c in record.captures)
    assert [n.status for n in record.nodes.values()] == ["ok", "ok", "ok"]


async def test_healthy_run_writes_bundle_and_cleans_every_node(tmp_path: Path) -> None:
    cluster = Cluster()
    await go(tmp_path, cluster)
    m = manifest(tmp_path)
    assert m["schema"] == "netdiag.run/1"
    assert m["run_id"] == "RUN1"
    assert m["phase"] == "done"
    assert m["finished_ns"] >= m["started_ns"]
    for cap in m["captures"]:
        assert cap["status"] == "ok"
        assert cap["stats"] == {"captured": 2, "received": 2, "dropped": 0}
        assert (tmp_path / "run" / cap["file"]).stat().st_size > 24
    assert m["nodes"]["node1"]["interfaces"][2]["ifname"] == "eth1"
    assert m["tool_versions"]["nodes"]["node1"] == {"tcpdump": "4.99.3", "kernel": "6.1.0-test"}
    cmd = m["nodes"]["node1"]["commands"][0]
    assert cmd[:6] == ["timeout", "-s", "INT", "-k", "10", "30"]
    assert cmd[cmd.index("-w") + 1].startswith("/tmp/netdiag-cap-RUN1.")
    assert m["probes"][0]["exit_status"] == 0
    assert (tmp_path / "run" / m["probes"][0]["output"]).read_text().count("received") == 1
    for name, node in cluster.nodes.items():
        assert len(signals(cluster, name)) == 1  # SIGINT by PID, once per capture
        assert node.closed
    # dead runs are swept by the supervisor (same session); every supervisor said it removed
    # its directory, so no node pays another session for a final sweep of our marker
    sups = [c.argv for c in cluster.nodes["node1"].calls if c.argv[2:3] == (SUPERVISOR,)]
    assert sups[0][8] == SWEEP
    assert cluster.events("sweep") == []


async def test_secrets_never_reach_the_manifest(tmp_path: Path) -> None:
    await go(tmp_path, Cluster())
    text = (tmp_path / "run" / "manifest.json").read_text()
    assert "id_do_not_leak" not in text
    assert "/secret" not in text


async def test_failed_nodes_get_statuses_and_the_others_results_are_kept(tmp_path: Path) -> None:
    cluster = Cluster(
        node1=NodeBehaviour(tcpdump_missing=True),
        node2=unreachable(),
    )
    record = await go(tmp_path, cluster)
    nodes = manifest(tmp_path)["nodes"]
    assert nodes["node1"]["status"] == "no-tcpdump"
    assert "install it or set tcpdump" in nodes["node1"]["detail"]
    assert nodes["node2"]["status"] == "unreachable"
    assert "cannot reach" in nodes["node2"]["detail"]
    assert nodes["client"]["status"] == "ok"
    by_point = {c.point: c.status for c in record.captures}
    assert by_point == {
        "client/eth0": "ok",
        "node1/eth1": "not-started",
        "node2/eth1": "not-started",
    }
    assert record.probes[0].exit_status == 0  # the probe still ran: client's capture listened


async def test_auth_failure_is_its_own_status(tmp_path: Path) -> None:
    cluster = Cluster(node1=NodeBehaviour(connect_error=AuthError("node1: refused our key")))
    await go(tmp_path, cluster)
    assert manifest(tmp_path)["nodes"]["node1"]["status"] == "auth-failed"


async def test_missing_interface_is_reported_without_starting_tcpdump(tmp_path: Path) -> None:
    links = [{"ifindex": 1, "ifname": "lo"}, {"ifindex": 2, "ifname": "eth0"}]
    cluster = Cluster(node1=NodeBehaviour(links=links))
    await go(tmp_path, cluster)
    m = manifest(tmp_path)
    assert m["nodes"]["node1"]["status"] == "no-interface"
    assert "has no interface 'eth1'" in m["nodes"]["node1"]["detail"]
    assert ("node1", "start eth1") not in [e[1:] for e in cluster.log]
    assert ("node2", "start eth1") in [e[1:] for e in cluster.log]


async def test_tcpdump_that_dies_at_start_ends_its_capture_alone(tmp_path: Path) -> None:
    # Like a tcpdump without CAP_NET_RAW: it starts, fails to open the device and exits,
    # while its supervisor waits for the client to let go (as the real one does).
    err = ["tcpdump: eth1: You don't have permission to capture on that device"]
    cluster = Cluster(node1=NodeBehaviour(capture_stderr=err))
    record = await asyncio.wait_for(go(tmp_path, cluster, listen_timeout=60), 30)
    cap = next(c for c in record.captures if c.node == "node1")
    assert cap.status == "no-permission"
    assert "set sudo: true" in cap.detail
    assert record.nodes["node1"].status == "no-permission"
    assert [c.status for c in record.captures if c.node != "node1"] == ["ok", "ok"]
    assert record.probes[0].exit_status == 0  # the probe ran
    assert (tmp_path / "run" / "pcaps" / "node2__eth1.pcap").stat().st_size > 24
    assert manifest(tmp_path)["phase"] == "done"
    assert all(n.closed for n in cluster.nodes.values())


async def test_connection_lost_mid_capture_marks_the_node_lost(tmp_path: Path) -> None:
    cluster = Cluster()
    run = asyncio.create_task(go(tmp_path, cluster, min_linger=0.5))
    while not cluster.events("probe"):
        await asyncio.sleep(0.01)
    cluster.nodes["node1"].link_down = True
    record = await run
    assert record.nodes["node1"].status == "lost"
    assert "stopped answering" in record.nodes["node1"].detail
    assert {c.point: c.status for c in record.captures}["node1/eth1"] == "lost"
    assert record.nodes["client"].status == "ok"
    assert record.nodes["node2"].status == "ok"


async def test_stop_request_stops_captures_fetches_and_cleans_up(tmp_path: Path) -> None:
    cluster = Cluster()
    stop = asyncio.Event()
    slow = plan(tmp_path, _long_plan())  # lingers 600 s: only the stop can end it
    run = asyncio.create_task(
        run_capture(inventory(tmp_path), slow, options(tmp_path, cluster), stop=stop)
    )
    while len(cluster.events("probe")) < 1:
        await asyncio.sleep(0.01)
    stop.set()
    record = await asyncio.wait_for(run, 10)
    assert record.interrupted
    assert manifest(tmp_path)["interrupted"] is True
    assert all(c.status == "ok" for c in record.captures)
    assert all(len(signals(cluster, n)) == 1 for n in cluster.nodes)
    assert all(n.closed for n in cluster.nodes.values())


def _long_plan() -> str:
    return (
        "version: 1\nname: t\ncapture: {interfaces: [uplink], duration: 300}\n"
        "probes:\n  - ping: {from: client, target: 172.19.0.11}\nlinger: 600\n"
    )


async def test_simulated_clock_skew_shifts_pcaps_and_is_labelled(tmp_path: Path) -> None:
    await go(tmp_path, Cluster())
    m = manifest(tmp_path)
    assert m["nodes"]["node2"]["simulated_clock_offset_ns"] == 2_500_000_000
    assert m["nodes"]["node1"]["simulated_clock_offset_ns"] == 0
    assert any("SIMULATED" in n and "node2" in n for n in m["notes"])
    # the fake nodes share our clock; scheduling noise is far below the 2.5 s simulated skew
    assert abs(m["nodes"]["node2"]["clock"]["offset_ns"] - 2_500_000_000) < 500_000_000
    assert abs(m["nodes"]["node1"]["clock"]["offset_ns"]) < 500_000_000

    def first_ts(name: str) -> tuple[int, int]:
        data = (tmp_path / "run" / "pcaps" / name).read_bytes()
        sec, usec = struct.unpack_from("<II", data, 24)
        return sec, usec

    assert first_ts("node1__eth1.pcap") == (1_700_000_000, 250_000)
    assert first_ts("node2__eth1.pcap") == (1_700_000_002, 750_000)


async def test_a_used_run_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        await go(tmp_path, Cluster())


def sessions_before(cluster: Cluster, node: str, event: str) -> int:
    """SSH sessions (each a login shell on a real node) ``node`` opened before ``event``."""
    mine = [e for e in cluster.log if e[1] == node]
    until = next(i for i, e in enumerate(mine) if e[2].startswith(event))
    return sum(1 for e in mine[:until] if e[2] == "session")


async def test_preflight_clock_and_capture_share_one_session_per_node(tmp_path: Path) -> None:
    cluster = Cluster()
    record = await go(tmp_path, cluster, clock_rounds=5)
    for name in ("client", "node1", "node2"):
        assert sessions_before(cluster, name, "listening") == 1
        node = record.nodes[name]
        assert node.status == "ok"
        assert node.tcpdump == "4.99.3"
        assert node.kernel == "6.1.0-test"
        assert node.clock is not None
        assert node.clock.samples == 5
        # no separate clock loop, before or after the captures started
        assert not [c for c in cluster.nodes[name].calls if "while read" in " ".join(c.argv)]


async def test_a_sudo_node_is_preflighted_on_its_own_first(tmp_path: Path) -> None:
    # Under sudo the checks must see the login user and `sudo -n` itself is checked, so the
    # preflight keeps its own sessions there (checks, clock); the other nodes still use one.
    inv = inventory(tmp_path)
    nodes = [n if n.name != "node1" else type(n)(**{**vars(n), "sudo": True}) for n in inv.nodes]
    inv = type(inv)(**{**vars(inv), "nodes": nodes})
    cluster = Cluster()
    record = await run_capture(inv, plan(tmp_path), options(tmp_path, cluster))
    assert record.nodes["node1"].status == "ok"
    assert sessions_before(cluster, "node1", "listening") == 3
    assert sessions_before(cluster, "client", "listening") == 1
    sudo_calls = [c for c in cluster.nodes["node1"].calls if c.argv == ("sudo", "-n", "true")]
    assert len(sudo_calls) == 1
    assert all(c.status == "ok" for c in record.captures)


ROLE_PLAN = """\
version: 1
name: t
capture:
  interfaces: [{node: "node*", devices: [uplink, tun0]}, {node: client, devices: [eth0]}]
  duration: 30
probes:
  - ping: {from: client, target: 172.19.0.11, count: 3, interval: 0.2}
linger: 0
"""


async def test_roles_are_discovered_and_a_missing_one_is_a_status_not_a_failure(
    tmp_path: Path,
) -> None:
    cluster = Cluster(node2=NodeBehaviour(default_dev="eth0"))
    opts = options(tmp_path, cluster)
    await run_capture(inventory(tmp_path), plan(tmp_path, ROLE_PLAN), opts)
    m = manifest(tmp_path)
    caps = {c["point"]: c for c in m["captures"]}
    assert {p: (c["status"], c["resolved_from"], c["role"]) for p, c in caps.items()} == {
        "node1/<tun0>": ("no-device", "discovery", "tun0"),
        "node2/<tun0>": ("no-device", "discovery", "tun0"),
        "node1/eth1": ("ok", "discovery", "uplink"),
        "node2/eth0": ("ok", "discovery", "uplink"),  # discovery wins over the inventory's eth1
        "client/eth0": ("ok", "name", None),
    }
    assert caps["node1/<tun0>"]["detail"].startswith(
        "no tun0 device found on node node1; discovered: uplink=eth1"
    )
    assert "node1: ip -j route" in caps["node1/eth1"]["discovery"]
    assert {n: v["status"] for n, v in m["nodes"].items()} == dict.fromkeys(
        ["client", "node1", "node2"], "ok"
    )
    assert m["probes"][0]["exit_status"] == 0
    assert ("node2", "eth0", "discovery") in [
        (p["node"], p["iface"], p["resolved_from"]) for p in m["plan"]["points"]
    ]


async def test_roles_and_a_pod_to_discover_with_every_node_unreachable(tmp_path: Path) -> None:
    cluster = Cluster(client=unreachable(), node1=unreachable(), node2=unreachable())
    by_role = (
        "version: 1\nname: t\ncapture:\n  interfaces: [{pod: default/web},"
        ' {node: "*", devices: [uplink]}]\n  duration: 30\n'
        "probes:\n  - ping: {from: client, target: 172.19.0.11}\nlinger: 0\n"
    )
    record = await run_capture(
        inventory(tmp_path), plan(tmp_path, by_role), options(tmp_path, cluster)
    )
    m = manifest(tmp_path)
    assert m["phase"] == "done"
    assert {n: v["status"] for n, v in m["nodes"].items()} == dict.fromkeys(
        ["client", "node1", "node2"], "unreachable"
    )
    caps = {c.point: c for c in record.captures}  # a pod found on no node names no node
    assert caps["<pod default/web>"].status == "no-device"
    assert caps["<pod default/web>"].detail.startswith("pod default/web not searched: ")
    assert caps["node1/eth1"].status == "not-started"


async def test_two_pods_captured_inside_one_node_are_two_points(tmp_path: Path) -> None:
    from netdiag.inventory import parse_inventory
    from tests.unit.capture.fake_cluster import INVENTORY

    pods = (
        "pods:\n"
        "- {name: default/web, node: node1, ips: [10.1.0.5], netns: web, iface: eth0}\n"
        "- {name: default/db, node: node1, ips: [10.1.0.6], netns: db, iface: eth0}\n"
    )
    inv = parse_inventory(INVENTORY + pods, tmp_path / "inv.yaml")
    text = (
        "version: 1\nname: t\ncapture:\n  nodes: [node1]\n  interfaces:\n"
        "    - {pod: default/web, inside: true}\n    - {pod: default/db, inside: true}\n"
        "  duration: 30\nprobes: []\nlinger: 0\n"
    )
    record = await run_capture(inv, plan(tmp_path, text), options(tmp_path, Cluster()))
    caps = {c.point: (c.status, c.iface, c.netns, c.file) for c in record.captures}
    assert caps == {
        "node1/web:eth0": ("ok", "eth0", "web", "pcaps/node1__web_eth0.pcap"),
        "node1/db:eth0": ("ok", "eth0", "db", "pcaps/node1__db_eth0.pcap"),
    }
    assert (tmp_path / "run" / "pcaps" / "node1__db_eth0.pcap").stat().st_size > 24


async def test_a_file_short_of_tcpdumps_count_on_a_full_disk_is_incomplete(
    tmp_path: Path,
) -> None:
    cluster = Cluster(node1=NodeBehaviour(captured=84, free_kb=0))
    record = await go(tmp_path, cluster)
    cap = next(c for c in record.captures if c.node == "node1")
    assert cap.status == "incomplete"
    assert cap.detail.startswith("disk full on node1:/tmp: file holds 2 of 84 captured packets")
    assert (tmp_path / "run" / cap.file).stat().st_size > 24  # what it holds is kept
    assert manifest(tmp_path)["captures"][1]["frames"] == 2


async def test_fetched_files_are_released_and_a_failed_fetch_is_kept_for_recovery(
    tmp_path: Path,
) -> None:
    cluster = Cluster(node1=NodeBehaviour(file_missing=True))
    record = await go(tmp_path, cluster, grace_s=60)
    caps = {c.node: c for c in record.captures}
    assert caps["node1"].status == "fetch-failed"
    assert caps["node1"].kept
    assert not caps["node2"].kept
    node1 = cluster.nodes["node1"].supervisors[0].stdin
    node2 = cluster.nodes["node2"].supervisors[0].stdin
    assert node2.endswith(b"x")  # fetched: the node removes it now
    assert not node1.endswith(b"x")  # EOF alone: the node keeps it for the grace period
    assert manifest(tmp_path)["grace_s"] == 60
    assert cluster.events("sweep") == []  # a sweep of the run would remove what is kept


def test_a_run_abandoned_while_it_winds_down_says_so_in_its_manifest(tmp_path: Path) -> None:
    # The user's second Ctrl-C while a node does not answer the stop: netdiag gives up the
    # clean-up; the manifest must not claim the run is done, and points are left to the nodes.
    cluster = Cluster()
    stop = asyncio.Event()
    opts = options(tmp_path, cluster, grace_s=60)

    async def user() -> None:
        slow = plan(tmp_path, _long_plan())
        run = asyncio.create_task(run_capture(inventory(tmp_path), slow, opts, stop=stop))
        while not cluster.events("probe"):
            await asyncio.sleep(0.01)
        cluster.nodes["node1"].stalled = True
        stop.set()  # first Ctrl-C
        while manifest_phase(tmp_path) != "capturing" or not _stopping(cluster):
            await asyncio.sleep(0.01)
        run.cancel()  # second Ctrl-C; asyncio.run then cancels the clean-up still running
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(user())
    m = manifest(tmp_path)
    assert m["phase"] == "abandoned"
    node1 = next(c for c in m["captures"] if c["node"] == "node1")
    assert (node1["status"], node1["kept"]) == ("lost", True)
    assert "the node keeps it for 60 s" in node1["detail"]


def manifest_phase(tmp_path: Path) -> str:
    return str(manifest(tmp_path)["phase"])


def _stopping(cluster: Cluster) -> bool:
    return any(c.argv[:3] == ("sh", "-c", KILL_ONE) for c in cluster.nodes["node2"].calls)
