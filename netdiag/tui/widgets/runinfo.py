"""Typed access from any widget to the run the app has loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.dom import DOMNode

from netdiag.bundle.open import OpenedRun

if TYPE_CHECKING:
    from netdiag.tui.app import NetdiagApp


def netdiag_app(node: DOMNode) -> NetdiagApp:
    """The NetdiagApp running ``node``."""
    from netdiag.tui.app import NetdiagApp

    app = node.app
    assert isinstance(app, NetdiagApp)
    return app


def run_view(node: DOMNode) -> OpenedRun:
    """The loaded run; screens that need it are only reachable after loading."""
    view = netdiag_app(node).run_view
    assert view is not None, "screen shown before the run was loaded"
    return view
