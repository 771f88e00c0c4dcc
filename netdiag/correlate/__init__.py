"""Correlation: recognise the same packet at every capture point and explain each hop.

``analyze(table, Options(...)) -> Analysis`` is the whole engine; it is pure (no I/O).
"""

from __future__ import annotations

from netdiag.correlate.engine import analyze
from netdiag.correlate.model import Analysis, ClockSample, Options

__all__ = ["Analysis", "ClockSample", "Options", "analyze"]
