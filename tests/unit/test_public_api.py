"""The public API is exactly netdiag.__all__, and the pure core stays free of I/O libraries."""

import subprocess
import sys

import pytest

import netdiag

EXPECTED = {
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
}


def test_public_api_is_pinned() -> None:
    assert set(netdiag.__all__) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(netdiag, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = netdiag.no_such_thing  # type: ignore[attr-defined]


def _imported_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_importing_netdiag_is_cheap() -> None:
    loaded = _imported_after("import netdiag")
    assert not loaded & {"pandas", "numpy", "asyncssh", "paramiko", "textual", "scapy"}


def test_pure_core_imports_no_io_or_ui_library() -> None:
    """pcap, correlate, the JSON/text/HTML report and bundle loading need no SSH and no TUI."""
    loaded = _imported_after(
        "import netdiag.pcap, netdiag.correlate, netdiag.report.json, netdiag.report.text, "
        "netdiag.report.html, netdiag.bundle; "
        "from netdiag.correlate import analyze"
    )
    assert not loaded & {"asyncssh", "paramiko", "textual"}
