"""Table cells that show text exactly as captured.

A ``str`` cell in a DataTable is parsed as Rich markup: an interface called ``eth0[/]`` would
crash the table and ``[blink]`` would style it. Everything from a capture, node or inventory goes
into the TUI through here (or as a ``rich.text.Text``), never as a bare string.
"""

from __future__ import annotations

from rich.text import Text


def cells(*values: object) -> list[Text]:
    """One ``Text`` per value; ``Text`` values (our own styling) pass through unchanged."""
    return [v if isinstance(v, Text) else Text(str(v)) for v in values]
