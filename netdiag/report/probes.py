"""What each probe of a run did, in words: ``ping ×3 client → 172.19.0.11: 3/3 replies``.

Read from the run manifest's probe records and the output each probe left in the bundle
(``probes/NODE__NAME.txt``, headed by the command and its exit status). Pure: the caller reads
the files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from netdiag.bundle.manifest import ProbeRun

__all__ = ["ProbeLine", "probe_line"]

# iputils and busybox: "3 packets transmitted, 3 received" / "3 packets received"
_PING = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_HOP = re.compile(r"^\s*(\d+)\s+(.*)$")


@dataclass(frozen=True)
class ProbeLine:
    """One probe for people: what was sent and what came of it; ``ok`` False is a failure."""

    what: str
    result: str
    ok: bool

    @property
    def text(self) -> str:
        return f"{self.what}: {self.result}"


def _count(argv: Sequence[str]) -> str:
    for flag, value in itertools.pairwise(argv):
        if flag == "-c":
            return value
    return "?"


def _ping(argv: Sequence[str], output: str, status: int | None) -> tuple[str, bool]:
    m = _PING.search(output)
    if m is None:
        return (f"no summary in its output (exit status {status})", False)
    sent, got = int(m.group(1)), int(m.group(2))
    word = "reply" if sent == 1 else "replies"
    return (f"{got}/{sent} {word}", got == sent and sent > 0)


def _traceroute(target: str, output: str, status: int | None) -> tuple[str, bool]:
    hops = [m for line in output.splitlines() if (m := _HOP.match(line))]
    if not hops:
        return (f"no hop in its output (exit status {status})", False)
    last_no, last = hops[-1].group(1), hops[-1].group(2)
    if target and target in last:
        return (f"reached {target} in {last_no} hop(s)", True)
    return (f"did not reach {target or 'the target'} ({last_no} hop(s) tried)", False)


def probe_line(probe: ProbeRun, output: str) -> ProbeLine:
    """``probe`` as the run manifest recorded it; ``output`` what it printed (may be empty)."""
    kind, argv, node, status, detail = (
        probe.kind,
        list(probe.argv),
        probe.node,
        probe.exit_status,
        probe.detail,
    )
    target = argv[-1] if argv else ""
    if kind == "ping":
        what = f"ping ×{_count(argv)} {node} → {target}"
    elif kind == "tcp" and len(argv) >= 2:  # ... bash -c SCRIPT TARGET PORT
        what = f"tcp connect {node} → {argv[-2]}:{argv[-1]}"
    else:
        what = f"{kind} {node} → {target}"
    if detail.startswith("not run"):
        return ProbeLine(what, detail, False)
    if kind == "ping":
        result, ok = _ping(argv, output, status)
    elif kind == "traceroute":
        result, ok = _traceroute(target, output, status)
    elif status == 0:
        result, ok = ("connected" if kind == "tcp" else "exit status 0"), True
    else:
        result, ok = f"failed (exit status {status})", False
    return ProbeLine(what, result + (f"; {detail}" if detail else ""), ok)
