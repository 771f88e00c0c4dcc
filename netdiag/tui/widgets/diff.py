"""A change between two sightings as a coloured diff: old value red, new value green."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from netdiag.report.describe import change_label, describe_change
from netdiag.report.document import Change

_STYLES = {
    "dnat": "bold magenta",
    "snat": "bold magenta",
    "un-dnat": "bold magenta",
    "un-snat": "bold magenta",
    "encap": "bold yellow",
    "decap": "bold yellow",
}


def change_text(change: Change) -> Text:
    """``DNAT 172.19.0.11 → 192.168.0.6`` with before in red and after in green."""
    if change.kind in ("encap", "decap") or (change.before is None and change.after is None):
        return Text(describe_change(change), style=_STYLES.get(change.kind, "yellow"))
    text = Text(f"{change_label(change) or change.kind} ", style=_STYLES.get(change.kind, "bold"))
    text.append(str(change.before), style="red")
    text.append(" → ")
    text.append(str(change.after), style="green")
    return text


def changes_text(changes: Sequence[Change]) -> Text:
    """All changes of one hop, one per line (empty text when nothing changed)."""
    return Text("\n").join(change_text(c) for c in changes)
