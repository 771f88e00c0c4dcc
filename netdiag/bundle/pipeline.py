"""The one road from a run to its analysis: inputs -> packet table -> analysis -> document.

``netdiag analyze``, a capture's own analysis step, ``report``, ``tui``, ``export`` and
``trace`` all call :func:`analyse`, so they read the same inputs, choose the same reference
node (the correlation engine's rule, :class:`netdiag.correlate.Options`) and write the same
document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdiag.bundle.inputs import BundleInput, IfMaps, load_input
from netdiag.bundle.layout import Layout

if TYPE_CHECKING:
    from netdiag.correlate import Analysis, Options
    from netdiag.report.document import AnalysisDocument

__all__ = ["BundleAnalysis", "analyse"]


@dataclass(frozen=True)
class BundleAnalysis:
    """What was read, the engine's result, and the analysis document made from it."""

    input: BundleInput
    result: Analysis
    #: the ``netdiag.analysis/1`` document as plain values (what ``--json`` writes)
    document: dict[str, Any]

    @cached_property
    def parsed(self) -> AnalysisDocument:
        """The document as the views read it."""
        from netdiag.report.document import parse_analysis

        return parse_analysis(self.document, "analysis")

    def json_text(self) -> str:
        """The document as JSON text (indented when small enough for people to read)."""
        from netdiag.report.json import dumps

        return dumps(self.document)

    def save(self, root: Path) -> Layout:
        """Write ``analysis.json`` and ``packets.parquet`` into the run directory ``root``;
        OSError when it cannot."""
        layout = Layout(root)
        layout.analysis.write_text(self.json_text(), encoding="utf-8")
        self.input.table.to_parquet(layout.packets)
        return layout


def _options(data: BundleInput, given: Options | None) -> Options:
    """The user's knobs plus what the run directory knows; the user's values win."""
    from netdiag.correlate import Options

    given = given or Options()
    return Options(
        window_ns=given.window_ns,
        reference_node=given.reference_node,
        clocks={**data.clocks, **given.clocks},
        kernel_dropped={**data.kernel_dropped, **given.kernel_dropped},
        node_addresses=given.node_addresses,
        node_macs={**data.node_macs, **given.node_macs},
        endpoint_nodes=data.endpoint_nodes | given.endpoint_nodes,
        point_addresses={**data.point_addresses, **given.point_addresses},
        outward={**data.outward, **given.outward},
        capture_until={**data.capture_until, **given.capture_until},
    )


def analyse(
    inputs: Sequence[str | Path] | str | Path,
    options: Options | None = None,
    *,
    ifmaps: IfMaps | None = None,
    max_journeys: int | None = None,
) -> BundleAnalysis:
    """Read a run directory or ``[POINT=]PATH`` capture files, correlate, write the document.

    ``options`` carries the user's knobs (window, reference node); the run directory adds its
    clocks, drop counts, MACs, end hosts and pod addresses. ``ifmaps`` names the devices of
    all-device captures (``--ifmap``); ``max_journeys`` bounds the journeys the document holds.
    """
    from netdiag.correlate import analyze
    from netdiag.report.json import DEFAULT_MAX_JOURNEYS, to_dict

    paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    data = load_input(paths, ifmaps)
    result = analyze(data.table, _options(data, options))
    limit = DEFAULT_MAX_JOURNEYS if max_journeys is None else max_journeys
    return BundleAnalysis(data, result, to_dict(result, max_journeys=limit))
