"""The public API is exactly netdiag.__all__, the pure core stays free of I/O libraries, and
data flows one way: inputs -> capture -> bundle -> packet table -> analysis -> document -> views."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import netdiag

PACKAGE = Path(netdiag.__file__).parent

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
        "netdiag.report.html, netdiag.bundle, netdiag.bundle.open; "
        "from netdiag.correlate import analyze"
    )
    assert not loaded & {"asyncssh", "paramiko", "textual"}


def _imports_of(package: str) -> dict[str, set[str]]:
    """Every netdiag module each file of ``package`` imports, at the top or inside a function."""
    found: dict[str, set[str]] = {}
    for path in sorted(
        (PACKAGE / package.removeprefix("netdiag.").replace(".", "/")).rglob("*.py")
    ):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(PACKAGE.parent))] = {n for n in names if n.startswith("netdiag")}
    return found


@pytest.mark.parametrize(
    ("package", "downstream"),
    [
        # the engine takes packet tables: it neither reads run directories nor shows itself
        ("netdiag.correlate", ("netdiag.bundle", "netdiag.report", "netdiag.capture")),
        # the reader knows capture files only
        ("netdiag.pcap", ("netdiag.bundle", "netdiag.report", "netdiag.correlate")),
    ],
)
def test_data_flows_one_way(package: str, downstream: tuple[str, ...]) -> None:
    def below(name: str) -> bool:
        return any(name == d or name.startswith(d + ".") for d in downstream)

    wrong = {
        file: sorted(filter(below, names))
        for file, names in _imports_of(package).items()
        if any(map(below, names))
    }
    assert wrong == {}
