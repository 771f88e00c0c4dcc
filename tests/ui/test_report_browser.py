"""The HTML report in a real browser (Debian chromium, driven by playwright).

Checks what a colleague opening the mailed file sees: the verdict and translation text, one
section per flow, the filter working under the strict CSP, no console error, no request leaving
the page, and that hostile strings from nodes and packets never execute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netdiag.bundle.open import open_run
from netdiag.report.html import render_html

from .conftest import HOSTILE_IFACE, HOSTILE_NODE, HOSTILE_TEXT

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium (make deps)"),
]


@dataclass
class Page:
    """A loaded report and everything the browser reported while loading it."""

    page: Any
    url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def open_report(browser: Any, run: Path, out: Path) -> Page:
    out.write_text(render_html(open_run([run])), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    loaded = Page(page, out.as_uri())
    page.on("console", lambda m: loaded.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: loaded.errors.append(str(e)))
    page.on("request", lambda r: loaded.requests.append(r.url))

    def on_dialog(dialog: Any) -> None:  # alert(), confirm(): an injected script ran
        loaded.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(loaded.url, wait_until="load")
    return loaded


def test_report_renders_the_story(browser: Any, seed_dir: Path, tmp_path: Path) -> None:
    report = open_report(browser, seed_dir, tmp_path / "report.html")
    page = report.page
    summary = page.inner_text("#summary")
    assert (
        "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane; "
        "replies leave through the same node" in summary
    )
    translations = page.inner_text("#translations")
    assert "172.19.0.11" in translations
    assert "192.168.0.6" in translations
    assert page.locator("details.flow").count() == 2
    assert page.locator("#flow-f1 svg.flowsvg text.nat").first.text_content() == (
        "DNAT 172.19.0.11 -> 192.168.0.6"
    )
    assert page.inner_text("#flow-count") == "2 of 2 flows shown"  # the script ran under CSP
    page.fill("#flow-filter", "dropped")
    assert page.inner_text("#flow-count") == "1 of 2 flows shown"
    assert page.locator("#flow-f1").is_hidden()
    page.fill("#flow-filter", "")
    page.click("#collapse-all")
    assert not page.eval_on_selector("#flow-f2", "e => e.open")
    page.click("#anomalies a[href='#flow-f2']")
    assert page.eval_on_selector("#flow-f2", "e => e.open")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert report.console == []
    assert report.errors == []
    assert report.requests == [report.url]  # nothing but the file itself
    page.close()


def test_hostile_strings_do_not_execute(browser: Any, hostile_dir: Path, tmp_path: Path) -> None:
    report = open_report(browser, hostile_dir, tmp_path / "hostile.html")
    page = report.page
    assert page.evaluate("() => window.__pwned") is None
    assert report.dialogs == []
    assert report.errors == []
    assert report.console == []  # a blocked inline script would be reported here by the CSP
    assert report.requests == [report.url]  # the <img src=x> never became an element
    text = page.inner_text("body")
    assert HOSTILE_NODE in text  # shown as text, exactly as the node calls itself
    assert HOSTILE_IFACE.split(">")[0] in text
    assert HOSTILE_TEXT.strip("<!-") in text
    assert page.locator("script").count() == 2  # the data block and our own script
    assert page.locator("img").count() == 0
    page.close()


def test_at_1400_px_the_verdict_and_the_failures_are_above_the_fold(
    browser: Any, seed_dir: Path, tmp_path: Path
) -> None:
    """What a colleague sees without scrolling: what was captured and when, how the run went,
    and every verdict line, the failed node first."""
    out = tmp_path / "report.html"
    out.write_text(render_html(open_run([seed_dir])), encoding="utf-8")
    fold = 900
    page = browser.new_page(viewport={"width": 1400, "height": fold})
    page.goto(out.as_uri(), wait_until="load")
    shot = tmp_path / "fold.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    items = page.locator("#summary .verdicts li")
    texts = items.all_inner_texts()
    assert texts[0].startswith("kube-ovn-worker: unreachable")
    assert any("1 anomaly: 1 dropped" in t for t in texts)
    for i in range(items.count()):
        box = items.nth(i).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= fold, texts[i]
    for selector in ("h1", "dl.facts", "nav.toc"):
        box = page.locator(selector).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= fold, selector
    assert "partial: kube-ovn-worker unreachable" in page.inner_text("dl.facts")
    assert "1/2 replies" in page.inner_text("dl.facts")
    # the path diagrams are drawn at their own size: their labels stay readable
    sizes = page.eval_on_selector_all(
        "svg.flowsvg text.chg",
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize) * "
        "e.ownerSVGElement.getBoundingClientRect().width / e.ownerSVGElement.width.baseVal.value)",
    )
    assert sizes
    assert min(sizes) >= 12, sizes
    # node and device names are never broken over lines (hop tables, capture points)
    lines = page.eval_on_selector_all(
        "details.flow table td:first-child, details.flow table td:nth-child(2), "
        "#points td:first-child",
        "els => els.map(e => { const r = document.createRange(); r.selectNodeContents(e); "
        "const tops = Array.from(r.getClientRects(), b => Math.round(b.top)); "
        "return [e.innerText, new Set(tops).size]; })",
    )
    assert lines
    assert all(n == 1 for _, n in lines), [t for t, n in lines if n != 1]
    page.close()


def test_printing_opens_every_section_and_hides_the_controls(
    browser: Any, seed_dir: Path, tmp_path: Path
) -> None:
    report = open_report(browser, seed_dir, tmp_path / "report.html")
    page = report.page
    page.click("#collapse-all")
    assert not page.eval_on_selector("#flow-f1", "e => e.open")
    page.emulate_media(media="print")
    page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    assert page.eval_on_selector_all("details", "els => els.every(d => d.open)")
    assert page.locator(".toolbar").is_hidden()
    assert page.locator("nav.toc").is_hidden()
    pdf = page.pdf()
    assert pdf.startswith(b"%PDF")
    assert report.errors == []
    page.close()
