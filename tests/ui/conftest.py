"""Fixtures of the UI tests: the seed 001 bundle (committed) and a hostile copy of it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SEED001 = FIXTURES / "seed001"
sys.path.insert(0, str(FIXTURES))

import make_seed001  # noqa: E402 - the fixture builder lives next to the fixtures

HOSTILE_NODE = make_seed001.HOSTILE_NODE
HOSTILE_IFACE = make_seed001.HOSTILE_IFACE
HOSTILE_TEXT = make_seed001.HOSTILE_TEXT


@pytest.fixture
def seed_dir() -> Path:
    """The committed seed 001 run bundle (read-only: tests write elsewhere)."""
    return SEED001


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed 001 bundle."""
    return Path(shutil.copytree(SEED001, tmp_path / "run"))


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    """A bundle whose node name, interface name, summary and detail try to inject markup."""
    doc, man = make_seed001.hostile_docs()
    return make_seed001.build(tmp_path / "hostile", doc, man)


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blinking cursors make snapshots differ from run to run."""
    from textual.reactive import reactive
    from textual.widgets import Input

    no_blink: reactive[bool] = reactive(False, init=False)
    no_blink.__set_name__(Input, "cursor_blink")
    monkeypatch.setattr(Input, "cursor_blink", no_blink)
