"""Correlation: recognise the same packet at every capture point and explain each hop.

``analyze(table, Options(...)) -> Analysis`` is the whole engine; it is pure (no I/O) and takes
a packet table only: reading run directories is :mod:`netdiag.bundle`'s job, writing the
analysis document :mod:`netdiag.report`'s.
"""

from __future__ import annotations

from netdiag.correlate.engine import analyze
from netdiag.correlate.model import Analysis, Options

__all__ = ["Analysis", "Options", "analyze"]
