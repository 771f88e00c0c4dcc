"""Reading back values netdiag wrote as JSON: null stays None, anything else is converted."""

from __future__ import annotations

from typing import Any

__all__ = ["opt_int", "opt_str"]


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
