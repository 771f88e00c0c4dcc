"""netdiag: coordinated packet capture over SSH and cross-node packet correlation.

The public API is exactly ``__all__`` (pinned by tests/unit/test_public_api.py).
"""

from __future__ import annotations

from netdiag.errors import (
    CaptureFormatError,
    InputError,
    NetdiagError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "CaptureFormatError",
    "InputError",
    "NetdiagError",
    "__version__",
]
