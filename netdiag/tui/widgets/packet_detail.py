"""The packet detail pane: scapy's dissection of the selected sighting's frame, in a worker."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from netdiag.errors import NetdiagError
from netdiag.report.dissect import dissect_frame
from netdiag.report.document import Sighting
from netdiag.tui.messages import Dissected


class PacketDetail(VerticalScroll):
    """Shows one frame; reading and dissecting happen off the UI thread."""

    BORDER_TITLE = "packet detail"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key = ""

    def compose(self) -> ComposeResult:
        yield Static("Select a sighting to dissect its frame.", id="dissection", markup=False)

    def show(self, key: str, path: Path | None, sighting: Sighting, frame: int | None) -> None:
        """Dissect ``sighting``'s frame (number ``frame``, else found by time) from ``path``."""
        self.key = key
        if path is None:
            self.query_one("#dissection", Static).update(
                f"No capture file for {sighting.point} in this run: nothing to dissect."
            )
            return
        self.query_one("#dissection", Static).update(f"Dissecting {path.name}…")
        self.dissect(key, path, sighting, frame)

    @work(thread=True, exclusive=True, group="dissect")
    def dissect(self, key: str, path: Path, sighting: Sighting, frame: int | None) -> None:
        try:
            text = dissect_frame(path, ts_ns=sighting.ts_ns, frame=frame)
        except NetdiagError as exc:
            text = str(exc)
        self.post_message(Dissected(key, text))

    def on_dissected(self, message: Dissected) -> None:
        if message.key == self.key:
            self.query_one("#dissection", Static).update(message.text)
            self.scroll_home(animate=False)
