"""Read an analysis JSON file without holding the interpreter lock for seconds.

``json.loads`` of a 300 MB analysis (1M sightings) is one C call that blocks every other thread,
so a TUI loading it in a worker would freeze. Here the top-level object is decoded one key and
one array element at a time with ``JSONDecoder.raw_decode``: each call is short, so the
interpreter can switch to the UI thread between them, and journeys are parsed as they arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from netdiag.errors import AnalysisInputError
from netdiag.files import require_regular
from netdiag.report.document import (
    AnalysisDocument,
    Anomaly,
    Flow,
    Journey,
    Point,
    Translation,
    check_schema,
)

_CHUNK = 4 << 20
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()

Progress = Callable[[str, int], None]


def _read_text(path: Path) -> str:
    """The file as text, decoded in chunks so no single call runs for long."""
    require_regular(path, "analysis JSON", AnalysisInputError)  # a FIFO would block forever
    try:
        with path.open(encoding="utf-8") as fh:
            parts: list[str] = []
            while chunk := fh.read(_CHUNK):
                parts.append(chunk)
    except OSError as exc:
        raise AnalysisInputError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    except UnicodeDecodeError as exc:
        raise AnalysisInputError(f"{path}: not UTF-8 JSON at byte {exc.start}") from exc
    return "".join(parts)


class _Cursor:
    """Position in the text plus the little grammar we need around ``raw_decode``."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.pos = 0
        self.source = source

    def skip(self) -> str:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos
        return text[pos] if pos < len(text) else ""

    def expect(self, char: str) -> None:
        if self.skip() != char:
            raise AnalysisInputError(
                f"{self.source}: invalid JSON at character {self.pos} (expected {char!r}); "
                "re-run `netdiag analyze`"
            )
        self.pos += 1

    def value(self) -> Any:
        self.skip()
        try:
            value, self.pos = _DECODER.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise AnalysisInputError(
                f"{self.source}: invalid JSON at character {exc.pos} ({exc.msg}); "
                "re-run `netdiag analyze`"
            ) from exc
        except RecursionError as exc:  # Python's decoder recurses once per nesting level
            raise AnalysisInputError(
                f"{self.source}: JSON nested too deeply at character {self.pos}; "
                "re-run `netdiag analyze`"
            ) from exc
        return value

    def elements(self) -> Iterator[Any]:
        """Yield the elements of the array at the cursor one by one."""
        self.expect("[")
        if self.skip() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            sep = self.skip()
            self.pos += 1
            if sep == "]":
                return
            if sep != ",":
                raise AnalysisInputError(
                    f"{self.source}: invalid JSON at character {self.pos - 1} in an array"
                )

    def members(self) -> Iterator[str]:
        """Yield the keys of the object at the cursor; the caller consumes each value."""
        self.expect("{")
        if self.skip() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            self.expect(":")
            yield str(key)
            sep = self.skip()
            self.pos += 1
            if sep == "}":
                return
            if sep != ",":
                raise AnalysisInputError(f"{self.source}: invalid JSON at character {self.pos - 1}")


def load_analysis(path: Path, progress: Progress | None = None) -> AnalysisDocument:
    """Parse ``path`` (an analysis JSON document) into an :class:`AnalysisDocument`.

    ``progress(section, count)`` is called every few thousand journeys so a UI can show progress.
    """
    try:
        return _load(path, progress)
    except AnalysisInputError as exc:
        message = str(exc)
        if message.startswith("analysis: "):  # a record-level error: say which file
            raise AnalysisInputError(f"{path}: {message[10:]}") from exc
        raise


def _load(path: Path, progress: Progress | None) -> AnalysisDocument:
    cursor = _Cursor(_read_text(path), str(path))
    raw: dict[str, Any] = {}
    journeys: dict[str, Journey] = {}
    for key in cursor.members():
        if key == "journeys" and cursor.skip() == "[":
            for n, item in enumerate(cursor.elements(), 1):
                journey = Journey.parse(item)
                journeys[journey.id] = journey
                if n % 5000 == 0:
                    time.sleep(0)  # let the UI thread run between batches
                    if progress is not None:
                        progress("journeys", n)
        else:
            raw[key] = cursor.value()
    check_schema(raw, str(path))
    known = {"schema", "points", "journeys", "flows", "translations", "anomalies"}
    return AnalysisDocument(
        points=tuple(Point.parse(p) for p in raw.get("points") or ()),
        journeys=journeys,
        flows=tuple(Flow.parse(f, i) for i, f in enumerate(raw.get("flows") or ())),
        translations=tuple(Translation.parse(t) for t in raw.get("translations") or ()),
        anomalies=tuple(Anomaly.parse(a) for a in raw.get("anomalies") or ()),
        extra=tuple((k, v) for k, v in raw.items() if k not in known),
    )
