"""The report's first lines (plan, time, status, probes), identical flows told once, and the
Markdown form a colleague pastes into a ticket."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import make_seed001
import pytest

from netdiag.bundle.manifest import ProbeRun
from netdiag.bundle.open import open_run
from netdiag.cli.demo import demo_data
from netdiag.report.facts import run_facts
from netdiag.report.html import render_html
from netdiag.report.markdown import render_markdown
from netdiag.report.probes import probe_line

PING = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "172.19.0.11"]


@pytest.mark.parametrize(
    ("probe", "output", "text", "ok"),
    [
        ({"kind": "ping", "node": "client", "argv": PING, "exit_status": 0},
         "3 packets transmitted, 3 received, 0% packet loss", "ping ×3 client → 172.19.0.11: "
         "3/3 replies", True),
        ({"kind": "ping", "node": "client", "argv": PING, "exit_status": 1},
         "3 packets transmitted, 1 received, 66% packet loss", "ping ×3 client → 172.19.0.11: "
         "1/3 replies", False),
        ({"kind": "traceroute", "node": "pod", "argv": ["traceroute", "-n", "172.19.0.1"],
          "exit_status": 0}, " 1  192.168.0.1  0.1 ms\n 2  172.19.0.1  0.2 ms\n",
         "traceroute pod → 172.19.0.1: reached 172.19.0.1 in 2 hop(s)", True),
        ({"kind": "tcp", "node": "client", "exit_status": 0,
          "argv": ["timeout", "5", "bash", "-c", "exec 3<>...", "172.19.0.6", "30080"]},
         "", "tcp connect client → 172.19.0.6:30080: connected", True),
        ({"kind": "ping", "node": "pod", "argv": PING, "exit_status": None,
          "detail": "not run: pod default/x was found on no node"}, "",
         "ping ×3 pod → 172.19.0.11: not run: pod default/x was found on no node", False),
    ],
)  # fmt: skip
def test_each_probe_says_what_came_of_it(
    probe: dict[str, Any], output: str, text: str, ok: bool
) -> None:
    line = probe_line(ProbeRun.from_json(probe), output)
    assert (line.text, line.ok) == (text, ok)


def test_the_title_is_the_plan_and_the_time_with_the_capturers_zone(tmp_path: Path) -> None:
    doc, man = make_seed001.analysis(), make_seed001.manifest()
    man["plan"] |= {"description": "Client pings the FIP."}
    man["timezone"] = {"name": "CET", "utc_offset_s": 3600}
    man["started_ns"] = 1_795_275_095_000_000_000  # 2026-11-21 15:31:35 UTC
    man["finished_ns"] = man["started_ns"] + 5_000_000_000
    facts = run_facts(open_run([make_seed001.build(tmp_path / "run", doc, man)]))
    assert facts.title == "fip, 2026-11-21 15:31 UTC"
    assert facts.when == (
        "2026-11-21 15:31:35 UTC (2026-11-21 16:31:35 CET, UTC+01:00 on the capturing host), "
        "for 5 s"
    )
    assert facts.description == "Client pings the FIP."
    assert facts.status == "partial: kube-ovn-worker unreachable"
    assert facts.status_level == "warn"
    (probe,) = facts.probes
    assert probe.text == "ping ×2 client → 172.19.0.11: 1/2 replies"


def test_html_starts_with_what_and_when_and_never_titles_itself_with_a_path(
    tmp_path: Path,
) -> None:
    run = Path(shutil.copytree(demo_data(), tmp_path / "run"))
    html = render_html(open_run([run]))
    assert "<title>netdiag: fip-ingress, 2026-11-21 15:31 UTC</title>" in html
    assert str(tmp_path) not in html[: html.index('id="summary"')]
    head = html[: html.index('id="summary"')]
    assert "complete: every node and all 4 capture points captured" in head
    assert "3/3 replies" in head
    assert '<nav class="toc"' in html
    assert "@media print" in html


def test_identical_flows_are_drawn_once_with_the_clock_error_by_each_latency(
    tmp_path: Path,
) -> None:
    run = Path(shutil.copytree(demo_data(), tmp_path / "run"))
    html = render_html(open_run([run]))
    # f1 (a copy was seen off the path) and f2 = f3 (the same path, the same changes)
    assert html.count('<details class="flow') == 2
    assert "2 flows, same path: " in html
    assert '<span id="flow-f3" class="anchor">' in html  # anomaly links still land
    assert "(unknown)" not in html  # tcpdump on one interface records no direction
    assert re.search(r"\+\d+(\.\d+)? µs ± 12\.5 µs", html)  # client -> node: two clocks
    assert "kube-ovn-worker/eth1 saw none of these packets" in html
    assert "kube-ovn-worker/eth1 saw only a copy of these packets, off their path" in html
    assert re.search(r"\d+ µs–\d+ µs over 2", html)  # the group's latency range


def test_markdown_has_the_verdict_translations_anomalies_and_paths(seed_dir: Path) -> None:
    text = render_markdown(open_run([seed_dir]))
    verdict = text[text.index("### Verdict") : text.index("### Translations")]
    lines = [line for line in verdict.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- ✖ **kube\\-ovn") or lines[0].startswith("- ✖ **kube-ovn")
    assert "FIP 172.19.0.11 is DNATed to 192.168.0.6" in lines[1]
    assert "| dnat | kube-ovn-control-plane | icmp | 172.19.0.11 | 192.168.0.6 |" in text
    assert re.search(r"- \*\*dropped\*\* after `[^`]+`", text)
    assert "request: client/eth0 [" in text
    assert "-> kube-ovn-control-plane/eth1" in text
    assert "**Probe:** ✖ ping ×2 client → 172.19.0.11: **1/2 replies**" in text


def test_markdown_escapes_what_nodes_and_packets_say(hostile_dir: Path) -> None:
    text = render_markdown(open_run([hostile_dir]))
    outside_code = re.sub(r"(?s)(`{3,}).*?\1|`[^`\n]*`", "", text)
    assert not re.search(r"(?<!\\)[<>\[\]]", outside_code)  # no tag, no link: all escaped
    assert "\\<script\\>" in outside_code  # shown as text
