"""The fuzz suite's fixtures: one fork server per session, a scratch directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.forkserver import Forkserver


@pytest.fixture(scope="session")
def forkserver() -> Iterator[Forkserver]:
    server = Forkserver.start()
    yield server
    server.close()


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for one test; examples clear what they write in it."""
    return tmp_path_factory.mktemp("fuzz")
