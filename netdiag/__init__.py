"""netdiag: coordinated packet capture over SSH and cross-node packet correlation.

The public API is exactly ``__all__`` (pinned by tests/unit/test_public_api.py). Names are
resolved lazily (PEP 562) so that ``import netdiag`` — and every CLI start — stays cheap and the
pure core never drags in SSH or UI libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdiag.errors import (
    AnalysisInputError,
    CaptureError,
    CaptureFormatError,
    InputError,
    InventoryError,
    NetdiagError,
    PlanError,
    TransportError,
)
from netdiag.lazy import lazy_attributes

if TYPE_CHECKING:
    from netdiag.correlate import Analysis, Options, analyze
    from netdiag.inventory import Inventory, load_inventory
    from netdiag.orchestrator import RunOptions, run_capture
    from netdiag.pcap import (
        Capture,
        CaptureInfo,
        ReadWarning,
        parse_point_spec,
        read_capture,
        read_captures,
    )
    from netdiag.plan import Plan, load_plan

__version__ = "0.1.0.dev0"

_LAZY: dict[str, str] = {
    "Analysis": "netdiag.correlate",
    "Options": "netdiag.correlate",
    "analyze": "netdiag.correlate",
    "Capture": "netdiag.pcap",
    "CaptureInfo": "netdiag.pcap",
    "ReadWarning": "netdiag.pcap",
    "parse_point_spec": "netdiag.pcap",
    "read_capture": "netdiag.pcap",
    "read_captures": "netdiag.pcap",
    "Inventory": "netdiag.inventory",
    "load_inventory": "netdiag.inventory",
    "Plan": "netdiag.plan",
    "load_plan": "netdiag.plan",
    "RunOptions": "netdiag.orchestrator",
    "run_capture": "netdiag.orchestrator",
}

__all__ = [
    "Analysis",
    "AnalysisInputError",
    "Capture",
    "CaptureError",
    "CaptureFormatError",
    "CaptureInfo",
    "InputError",
    "Inventory",
    "InventoryError",
    "NetdiagError",
    "Options",
    "Plan",
    "PlanError",
    "ReadWarning",
    "RunOptions",
    "TransportError",
    "__version__",
    "analyze",
    "load_inventory",
    "load_plan",
    "parse_point_spec",
    "read_capture",
    "read_captures",
    "run_capture",
]


__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
