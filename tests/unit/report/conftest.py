"""The report unit tests read the committed seed 001 bundle of the UI tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "ui" / "fixtures"
sys.path.insert(0, str(FIXTURES))

import make_seed001  # noqa: E402


@pytest.fixture
def seed_dir() -> Path:
    return FIXTURES / "seed001"


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed 001 bundle."""
    return Path(shutil.copytree(FIXTURES / "seed001", tmp_path / "run"))


@pytest.fixture
def seed_doc() -> dict[str, Any]:
    """A fresh copy of the seed 001 analysis document (tests may alter it)."""
    return make_seed001.analysis()


@pytest.fixture
def seed_manifest() -> dict[str, Any]:
    return make_seed001.manifest()


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    """A bundle whose node name, interface name, summary and detail try to inject markup."""
    doc, man = make_seed001.hostile_docs()
    return make_seed001.build(tmp_path / "hostile", doc, man)
