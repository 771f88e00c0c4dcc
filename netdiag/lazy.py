"""Names a package resolves on first use (PEP 562), so importing it stays cheap.

``import netdiag`` must not load pandas or an SSH library, and ``capture`` writes manifests
through :mod:`netdiag.bundle` without loading the correlation engine.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``where[name]`` (a module) to resolve ``name``."""

    def resolve(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return resolve
