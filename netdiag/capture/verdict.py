"""What a finished (or recovered) run amounts to: ok, partial or failed, and what to tell the user.

Pure: it reads a :class:`RunRecord` and returns words; the CLI prints them and picks the exit
code. Capture points and nodes are counted apart ("3 capture point(s) on 1 node failed"), and
every file a node still keeps for the grace period comes with the command that fetches it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from netdiag.capture.results import CaptureResult, RunRecord

__all__ = ["USABLE", "Verdict", "usable", "verdict"]

# Statuses of a capture whose file is in the run directory and worth analysing.
USABLE = ("ok", "incomplete", "recovered")


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["ok", "partial", "failed"]
    messages: tuple[str, ...]  # warnings (partial) or the error first (failed)


def usable(record: RunRecord) -> list[CaptureResult]:
    """Captures whose file holds packets of this run (complete or not)."""
    return [c for c in record.captures if c.status in USABLE]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def kept_hint(record: RunRecord, out: Path) -> str | None:
    """Which nodes still keep files of this run, and the command that fetches them."""
    kept = [c for c in record.captures if c.kept]
    if not kept:
        return None
    nodes = sorted({c.node for c in kept})
    return (
        f"{', '.join(nodes)} {'keeps' if len(nodes) == 1 else 'keep'} the "
        f"{_plural(len(kept), 'file')} netdiag could not fetch for {record.grace_s:g} s after "
        f"losing netdiag: `netdiag capture --recover {out}` fetches them"
    )


def verdict(record: RunRecord, out: Path) -> Verdict:
    """ok: every point captured whole and every probe ran; failed: no usable capture at all."""
    hint = kept_hint(record, out)
    if not usable(record):
        first = "no capture succeeded; see the node and capture statuses above"
        return Verdict("failed", (first, hint) if hint else (first,))
    messages: list[str] = []
    bad = [c for c in record.captures if c.status not in ("ok", "recovered")]
    if bad:
        nodes = {c.node or c.point for c in bad}
        kinds = Counter(c.status for c in bad)
        how = ", ".join(f"{n} {status}" for status, n in sorted(kinds.items()))
        messages.append(
            f"{_plural(len(bad), 'capture point')} on {_plural(len(nodes), 'node')} failed "
            f"({how}); the others' results are kept"
        )
    failed = {c.node for c in bad}
    pointless = [
        n
        for n in record.nodes.values()
        if n.status not in ("ok", "recovered") and n.name not in failed
    ]
    messages.extend(f"node {n.name}: {n.status}: {n.detail}" for n in pointless)
    late = [c for c in record.captures if c.status == "recovered"]
    if late:
        messages.append(
            f"{_plural(len(late), 'capture point')} recovered after the run lost "
            f"{'it' if len(late) == 1 else 'them'}: packets after that moment, and tcpdump's "
            "own counts, are missing"
        )
    if hint:
        messages.append(hint)
    unrun = [p.name for p in record.probes if p.detail.startswith("not run")]
    if unrun:  # e.g. its pod was found on no node: the run lacks the traffic it was for
        messages.append(f"probe(s) {', '.join(unrun)} did not run (see the probes table)")
    return Verdict("partial" if messages else "ok", tuple(messages))
