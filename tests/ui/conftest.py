"""Fixtures of the UI tests: the seed 001 bundle (committed) and a hostile copy of it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SEED001 = FIXTURES / "seed001"
sys.path.insert(0, str(FIXTURES))

import make_seed001  # noqa: E402 - the fixture builder lives next to the fixtures

# Strings an attacker controls: a node's hostname, an interface name, a packet summary.
HOSTILE_NODE = "cp<script>window.__pwned=1</script>"
HOSTILE_IFACE = 'veth"><img src=x onerror="window.__pwned=2">'
HOSTILE_TEXT = "</script><script>window.__pwned=3</script><!--"


@pytest.fixture
def seed_dir() -> Path:
    """The committed seed 001 run bundle (read-only: tests write elsewhere)."""
    return SEED001


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed 001 bundle."""
    return Path(shutil.copytree(SEED001, tmp_path / "run"))


def hostile_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed 001 documents with hostile node, interface and summary strings."""
    doc, man = make_seed001.analysis(), make_seed001.manifest()
    files = [c["file"] for c in man["captures"]]

    def poison(value: Any) -> Any:
        text = json.dumps(value)
        text = text.replace("kube-ovn-control-plane", json.dumps(HOSTILE_NODE)[1:-1])
        text = text.replace("dd2b931fc304_h", json.dumps(HOSTILE_IFACE)[1:-1])
        return json.loads(text)

    doc, man = poison(doc), poison(man)
    for cap, file in zip(man["captures"], files, strict=True):
        cap["file"] = file  # the files on disk keep sane names
    doc["journeys"][0]["summary"] += HOSTILE_TEXT
    doc["anomalies"][0]["detail"] += HOSTILE_TEXT
    man["nodes"]["client"]["commands"].append(["echo", HOSTILE_TEXT])
    return doc, man


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    """A bundle whose node name, interface name, summary and detail try to inject markup."""
    doc, man = hostile_docs()
    return make_seed001.build(tmp_path / "hostile", doc, man)


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blinking cursors make snapshots differ from run to run."""
    from textual.reactive import reactive
    from textual.widgets import Input

    no_blink: reactive[bool] = reactive(False, init=False)
    no_blink.__set_name__(Input, "cursor_blink")
    monkeypatch.setattr(Input, "cursor_blink", no_blink)
