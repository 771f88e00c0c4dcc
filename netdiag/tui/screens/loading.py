"""Shown while the loader worker opens the run (large analyses take seconds)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator, Static


class LoadingScreen(Screen[None]):
    """A spinner and a counter; the UI stays live while the worker parses."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Opening the run…", id="loading-text")
        yield LoadingIndicator()
        yield Footer()

    def progress(self, section: str, count: int) -> None:
        """Show how many records of ``section`` were parsed so far."""
        self.query_one("#loading-text", Static).update(
            Text(f"Opening the run… {count:,} {section}")
        )
