"""The public API is exactly netdiag.__all__: adding or removing a name is a deliberate change."""

import netdiag

EXPECTED = {
    "CaptureFormatError",
    "InputError",
    "NetdiagError",
    "__version__",
}


def test_public_api_is_pinned() -> None:
    assert set(netdiag.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in netdiag.__all__:
        assert getattr(netdiag, name) is not None, name
