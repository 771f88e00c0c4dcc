"""The key bindings, in one place (``?``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# netdiag — keys

| key | where | what |
|-----|-------|------|
| `o` `f` `t` `a` | everywhere | overview, flows, translations, anomalies |
| `/` | flows | filter by address, port, protocol, anomaly (all words must match) |
| `s` / `r` | flows | sort by the next column / reverse the order |
| `n` / `p` | flows | next / previous page of a long list |
| `enter` | flows, anomalies | open the flow's hop-by-hop path |
| `↑` `↓` | a flow's path | select a sighting: its frame is dissected below |
| `escape` | a flow's path | back to the flows list |
| `e` | everywhere | write the HTML report of what is on screen |
| `?` | everywhere | this help |
| `q` | everywhere | quit |

Times in a flow's path are since its first sighting, on the reference clock
(each node's clock offset is removed). Changes are what happened on the way to that hop:
the old value in red, the new one in green.
"""


class HelpScreen(ModalScreen[None]):
    """A modal listing every binding; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
