"""Messages the TUI's workers and screens send each other (small dataclasses, as in posting)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from netdiag.bundle.open import OpenedRun
from netdiag.report.describe import FlowRow
from netdiag.report.verdict import Verdict


@dataclass
class RunLoaded(Message):
    """The loader worker finished: the run and its precomputed flow rows."""

    view: OpenedRun
    rows: list[FlowRow]
    verdicts: list[Verdict]


@dataclass
class LoadFailed(Message):
    """The input could not be opened; ``error`` is the one-line message for the user,
    ``internal`` says whether it reports a bug (see ``netdiag.errors.internal_error``)."""

    error: str
    internal: bool = False


@dataclass
class LoadProgress(Message):
    """How far the loader got (journeys parsed so far)."""

    section: str
    count: int


@dataclass
class FlowsFiltered(Message):
    """The filter/sort worker's result for one generation of the query."""

    generation: int
    rows: list[FlowRow]


@dataclass
class Dissected(Message):
    """The packet detail worker's dissection of the selected frame."""

    key: str
    text: str
