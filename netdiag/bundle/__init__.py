"""The run bundle: the one road from a run directory (or capture files) to every view.

- :mod:`~netdiag.bundle.layout`: where each file of a run directory lives;
- :mod:`~netdiag.bundle.manifest`: ``manifest.json`` as frozen records, written by ``capture``
  and read by everything else;
- :mod:`~netdiag.bundle.inputs`: a run directory or capture files -> the packet table and what
  the manifest knows about it;
- :mod:`~netdiag.bundle.pipeline`: :func:`analyse`, the one pipeline (packet table -> analysis
  -> document) that ``analyze``, ``capture``, ``report``, ``tui``, ``export`` and ``trace`` use;
- :mod:`~netdiag.bundle.open`: :func:`open_run`, what a view opens (a saved analysis, or a
  fresh one).

Names are resolved lazily (PEP 562): ``capture`` writes manifests through this package without
importing pandas or the correlation engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdiag.bundle.layout import Layout
from netdiag.bundle.manifest import (
    RUN_SCHEMA,
    CaptureRun,
    Manifest,
    NodeRun,
    ProbeRun,
    read_manifest,
    write_manifest,
)
from netdiag.lazy import lazy_attributes

if TYPE_CHECKING:
    from netdiag.bundle.inputs import BundleInput, load_input
    from netdiag.bundle.open import OpenedRun, open_run
    from netdiag.bundle.pipeline import BundleAnalysis, analyse

_LAZY = {
    name: module
    for module, names in {
        "netdiag.bundle.pipeline": ("BundleAnalysis", "analyse"),
        "netdiag.bundle.inputs": ("BundleInput", "load_input"),
        "netdiag.bundle.open": ("OpenedRun", "open_run"),
    }.items()
    for name in names
}

__all__ = [
    "RUN_SCHEMA",
    "BundleAnalysis",
    "BundleInput",
    "CaptureRun",
    "Layout",
    "Manifest",
    "NodeRun",
    "OpenedRun",
    "ProbeRun",
    "analyse",
    "load_input",
    "open_run",
    "read_manifest",
    "write_manifest",
]

__getattr__ = lazy_attributes(__name__, _LAZY)
