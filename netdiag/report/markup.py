"""The one place where text becomes HTML: everything else builds markup through ``el``/``esc``.

Strings from captures, nodes and inventories are hostile until escaped (a hostname can contain
``<script>``). ``esc`` is the single choke point; ``Markup`` marks text that already went through
it, so nothing is escaped twice and nothing reaches the page unescaped by accident.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9:-]*$")
# JSON inside <script type="application/json"> must not end the element (``</script>``) nor
# open a comment; \u escapes keep it valid JSON (HTML spec "restrictions for contents of script").
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class Markup(str):
    """Text that is already safe HTML."""

    __slots__ = ()


Child = Any  # str | int | Markup | None | Iterable of those


def esc(value: object) -> Markup:
    """Escape ``value`` for HTML text and attribute values (the only escaping function)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _children(children: Iterable[Child]) -> str:
    parts: list[str] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, (str, int, float)):
            parts.append(esc(child))
        else:
            parts.append(_children(child))
    return "".join(parts)


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: Child) -> Markup:
    """``<tag attr="...">children</tag>`` with every attribute value and text child escaped."""
    if not _NAME.match(tag):
        raise ValueError(f"bad tag name {tag!r}")
    text = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if not _NAME.match(name) or name.lower().startswith("on"):
            raise ValueError(f"refusing attribute {name!r}")  # no event handlers, ever
        if value is None or value is False:
            continue
        text.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    text.append(">")
    if tag in ("meta", "input", "br", "link"):
        return Markup("".join(text))
    return Markup("".join(text) + _children(children) + f"</{tag}>")


def join(parts: Iterable[Child]) -> Markup:
    """Concatenate markup fragments (text parts are escaped)."""
    return Markup(_children(parts))


def script_json(data: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return Markup(re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group()], text))
