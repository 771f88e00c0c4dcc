"""The views on the correlation engine's own output, not only on the hand-written fixture."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

from netdiag.bundle.open import open_run
from netdiag.report.html import render_html
from netdiag.report.pcapng import export_pcapng
from netdiag.report.verdict import verdicts


def test_bundle_without_analysis_is_analysed_once(seed_dir: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(seed_dir, tmp_path / "run"))
    (run / "analysis.json").unlink()
    view = open_run([run])
    assert view.document is not None
    assert view.document["schema"] == "netdiag.analysis/1"
    texts = [v.text for v in verdicts(view.analysis, view.manifest)]
    assert texts[0].startswith("kube-ovn-worker: unreachable")  # the seed's failed node
    assert texts[1] == (
        "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane; "
        "replies leave through the same node"
    )
    html = render_html(view)
    assert "un-DNAT 192.168.0.6 -&gt; 172.19.0.11" in html
    stats = export_pcapng(view, tmp_path / "merged.pcapng")
    assert (stats.packets, stats.commented) == (8, 8)  # every sighting found its frame


def test_plain_pcaps_with_point_names(seed_dir: Path) -> None:
    pcaps = seed_dir / "pcaps"
    view = open_run(
        [
            Path(f"client/eth0={pcaps / 'client__eth0.pcap'}"),
            pcaps / "kube-ovn-control-plane__eth1.pcap",
            pcaps / "kube-ovn-control-plane__dd2b931fc304_h.pcap",
        ]
    )
    assert view.manifest is None
    assert set(view.pcaps) == {
        "client/eth0",
        "kube-ovn-control-plane/eth1",
        "kube-ovn-control-plane/dd2b931fc304_h",
    }
    kinds = {t.kind for t in view.analysis.translations}
    assert "dnat" in kinds


def test_saved_packet_table_gives_exact_frames(seed_dir: Path, tmp_path: Path) -> None:
    from netdiag.cli import main
    from netdiag.cli._env import Env

    run = Path(shutil.copytree(seed_dir, tmp_path / "run"))
    (run / "analysis.json").unlink()
    assert main(["analyze", str(run), "--save"], Env(io.StringIO(), io.StringIO())) == 0
    view = open_run([run])
    j1 = view.analysis.journeys["j1"]
    assert [view.frame_of(s) for s in j1.sightings] == [1, 1, 1]  # first frame of each file
    j2 = view.analysis.journeys["j2"]
    assert [view.frame_of(s) for s in j2.sightings] == [2, 2, 2]
    stats = export_pcapng(view, tmp_path / "merged.pcapng")
    assert stats.commented == stats.packets == 8


def test_every_view_counts_each_anomaly_once(tmp_path: Path) -> None:
    """The document lists each anomaly at the top and again under its journey: the verdict,
    the HTML section and the TUI overview must count it once."""
    from netdiag.correlate import Options, analyze
    from netdiag.report.document import parse_analysis
    from netdiag.report.json import to_dict
    from tests.support import builder, paths

    cap = paths.overlay_ping(count=3, drop={0: 5, 1: 5, 2: 5})
    cap.arp(paths.N2_VETH, paths.T0 + 3 * 10**9, "request", paths.WEB_MAC, paths.WEB, "10.2.0.1")
    doc = to_dict(
        analyze(builder.table(cap), Options(point_addresses={paths.N2_VETH: (paths.WEB,)}))
    )
    assert len(doc["anomalies"]) == 4  # three drops, one ARP
    assert sum(len(j["anomalies"]) for j in doc["journeys"]) == 3
    analysis = parse_analysis(doc)
    assert len(analysis.all_anomalies) == 4
    (line,) = [v.text for v in verdicts(analysis) if "anomal" in v.text]
    assert line.startswith("4 anomalies: 3 dropped, 1 arp-unanswered")


def test_copies_stay_off_the_drawn_path(seed_doc: dict[str, Any]) -> None:
    """A side copy or a duplicate recording is listed, never drawn as a hop."""
    from netdiag.report.describe import arrivals
    from netdiag.report.document import parse_analysis

    doc = seed_doc
    journey = doc["journeys"][0]
    extra = dict(journey["sightings"][1], copy="duplicate")
    journey["sightings"].append(extra)
    parsed = parse_analysis(doc).journeys[journey["id"]]
    assert len(parsed.path) == len(journey["sightings"]) - 1
    assert [s.copy for s in parsed.copies] == ["duplicate"]
    assert arrivals(parsed)[-1] is None
