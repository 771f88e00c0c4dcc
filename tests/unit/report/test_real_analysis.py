"""The views on the correlation engine's own output, not only on the hand-written fixture."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from netdiag.report.bundle import open_input
from netdiag.report.html import render_html
from netdiag.report.pcapng import export_pcapng
from netdiag.report.verdict import verdicts


def test_bundle_without_analysis_is_analysed_once(seed_dir: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(seed_dir, tmp_path / "run"))
    (run / "analysis.json").unlink()
    view = open_input([run])
    assert view.document is not None
    assert view.document["schema"] == "netdiag.analysis/1"
    texts = [v.text for v in verdicts(view.analysis, view.manifest)]
    assert texts[0] == (
        "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane; "
        "replies leave through the same node"
    )
    html = render_html(view)
    assert "un-DNAT 192.168.0.6 -&gt; 172.19.0.11" in html
    stats = export_pcapng(view, tmp_path / "merged.pcapng")
    assert (stats.packets, stats.commented) == (8, 8)  # every sighting found its frame


def test_plain_pcaps_with_point_names(seed_dir: Path) -> None:
    pcaps = seed_dir / "pcaps"
    view = open_input(
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
    view = open_input([run])
    j1 = view.analysis.journeys["j1"]
    assert [view.frame_of(s) for s in j1.sightings] == [1, 1, 1]  # first frame of each file
    j2 = view.analysis.journeys["j2"]
    assert [view.frame_of(s) for s in j2.sightings] == [2, 2, 2]
    stats = export_pcapng(view, tmp_path / "merged.pcapng")
    assert stats.commented == stats.packets == 8
