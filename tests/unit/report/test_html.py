"""The report's HTML: one escaping choke point, a CSP that matches what is inlined, no fetch."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import make_seed001
import pytest

from netdiag.bundle.open import open_run
from netdiag.report.html import render_html
from netdiag.report.markup import Markup, el, esc, script_json


def test_esc_and_el_escape_text_and_attributes() -> None:
    assert esc("<b>&'\"") == "&lt;b&gt;&amp;&#x27;&quot;"
    assert esc(Markup("<b>")) == "<b>"  # already safe: not escaped twice
    assert el("td", {"title": '"><x>'}, "<script>") == (
        '<td title="&quot;&gt;&lt;x&gt;">&lt;script&gt;</td>'
    )
    with pytest.raises(ValueError, match="refusing attribute"):
        el("a", {"onclick": "x()"})
    with pytest.raises(ValueError, match="bad tag"):
        el("a onclick=x", None)


def test_script_json_cannot_close_the_script_element() -> None:
    text = script_json({"k": "</script><script>alert(1)</script><!-- \u2028"})
    for raw in ("<", ">", "\u2028"):
        assert raw not in text
    assert text == (
        '{"k":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e'
        '\\u003c!-- \\u2028"}'
    )


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_csp_allows_exactly_the_inlined_style_and_script(seed_dir: Path) -> None:
    html = render_html(open_run([seed_dir]))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1)
    assert policy.startswith("default-src 'none'; ")
    assert "img-src data:" in policy
    assert "unsafe-inline" not in policy
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert style is not None
    assert len(scripts) == 1
    assert f"style-src '{_sha(style.group(1))}'" in policy
    assert f"script-src '{_sha(scripts[0])}'" in policy
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing to fetch


def test_report_content(seed_dir: Path) -> None:
    html = render_html(open_run([seed_dir]))
    assert html.count('<details class="flow') == 2
    assert "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane" in html
    assert "timeout 120 tcpdump -i eth1 -U" in html  # commands run
    assert "4.99.4" in html  # tool versions
    assert "ping: ping -c 2 172.19.0.11 (exit status 1)" in html  # probes and their output
    assert "2 packets transmitted, 1 received" in html
    assert '<a href="#flow-f2">flow f2</a>' in html  # anomaly links to its flow
    only = render_html(open_run([seed_dir]), shown_flows={"f1"})
    assert only.count('<details class="flow') == 1


def test_hostile_strings_are_escaped_everywhere(tmp_path: Path) -> None:
    doc, man = make_seed001.hostile_docs()
    html = render_html(open_run([make_seed001.build(tmp_path / "run", doc, man)]))
    assert html.count("<script") == 2
    assert "<img" not in html
    assert "window.__pwned" in html  # present, but only as escaped text
    for bad in ("<script>window", 'onerror="', "</script><script>"):
        assert bad not in html


def test_points_say_how_they_were_found_with_discoverys_commands_on_hover(
    tmp_path: Path,
) -> None:
    """A manifest from a plan naming a pod and a role: the report tells the reader which point
    discovery placed (and with which commands) and which the inventory named."""
    doc, man = make_seed001.analysis(), make_seed001.manifest()
    veth, uplink = man["captures"][2], man["captures"][1]
    veth |= {
        "resolved_from": "discovery",
        "pod": "default/fip-busybox01",
        "discovery": ["kube-ovn-control-plane: ip -j -d addr", "kube-ovn-control-plane: lsns <x>"],
    }
    uplink |= {"resolved_from": "inventory", "role": "uplink", "discovery": []}
    html = render_html(open_run([make_seed001.build(tmp_path / "run", doc, man)]))
    table = html[html.index("found by</th>") : html.index('id="nodes"')]
    cells = re.findall(r"<tr><td>([^<]+)</td>.*?<td>((?:(?!<td>).)*?)</td></tr>", table, re.S)
    rows = dict(cells)
    hover = "kube-ovn-control-plane: ip -j -d addr\nkube-ovn-control-plane: lsns &lt;x&gt;"
    assert (
        rows[veth["point"]] == f'<span title="{hover}">discovery: pod default/fip-busybox01</span>'
    )
    assert rows[uplink["point"]] == "inventory: uplink"
    assert rows["client/eth0"] == "-"  # an older manifest: not recorded
