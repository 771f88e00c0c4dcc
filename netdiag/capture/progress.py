"""What the user sees during and after a run: per-node state, packets so far, elapsed time.

:class:`ProgressTable` is a rich renderable over the live :class:`RunRecord` (``rich.live.Live``
re-renders it a few times a second; nothing is pushed). :func:`final_tables` is the summary
printed once the run is over: every node's status with what to do, every capture's counts.
"""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from netdiag.capture.complete import FULL_BELOW
from netdiag.capture.results import CaptureResult, RunRecord

__all__ = ["ProgressTable", "final_tables", "phase_line", "waiting_lines"]

_GOOD = {"ok", "listening", "ready", "connected", "probing", "lingering", "done"}
# Steps that only wait for a node (each bounded by a timeout): worth naming when they drag on.
_WAITS = ("connecting", "starting", "stopping", "fetching", "cleaning")


def waiting_lines(record: RunRecord, now: float, *, after: float = 3.0) -> dict[str, str]:
    """Per node that has been waiting in one step for ``after`` seconds or more, a line."""
    hosts = {
        str(n.get("name")): f"{n.get('host')}:{n.get('port') or 22}"
        for n in record.inventory.get("nodes", [])
        if isinstance(n, dict)
    }
    lines = {}
    for node in record.nodes.values():
        took = now - node.state_since
        if node.state not in _WAITS or took < after:
            continue
        where = f" ({hosts[node.name]})" if node.name in hosts else ""
        limit = f"; gives up after {node.state_limit:g} s" if node.state_limit else ""
        silent = "no answer for" if node.state in ("connecting", "stopping") else "for"
        lines[node.name] = (
            f"waiting for {node.name}{where}: {node.state}, {silent} {took:.0f} s{limit}"
        )
    return lines


def phase_line(record: RunRecord) -> str:
    """The run's phase in one line, with what it has reached so far."""
    caps = record.captures
    listening = sum(c.status in ("listening", "ok") for c in caps)
    nodes = len(record.nodes)
    what = {
        "connecting": f"connecting to {nodes} node(s)",
        "starting": f"starting {len(caps) or 'the'} capture(s)",
        "capturing": f"capturing: {listening}/{len(caps)} capture point(s) listening; probing",
        "done": "done: captures stopped, fetched, remote files removed",
        "abandoned": "clean-up abandoned",
    }
    return what.get(record.phase, record.phase)


def clock_text(offset_ns: int, error_ns: int | None) -> str:
    """``+0.384 ms ± 0.715 ms``: an offset and its error bound, both with their unit."""
    text = f"{offset_ns / 1e6:+.3f} ms"
    return text if error_ns is None else f"{text} ± {error_ns / 1e6:.3f} ms"


def _style(status: str) -> str:
    if status in _GOOD:
        return "green"
    if status in ("incomplete", "recovered"):  # packets to analyse, but not all of them
        return "yellow"
    if status in ("waiting", "connecting", "starting", "stopping", "fetching", "cleaning"):
        return "cyan"
    return "red"


class ProgressTable:
    """Live table: node, state, captures listening, packets so far."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.t0 = time.monotonic()

    def __rich__(self) -> RenderableType:
        rec = self.record
        now = time.monotonic()
        table = Table(
            title=f"netdiag capture {rec.run_id}  phase: {rec.phase}  "
            f"elapsed {now - self.t0:5.1f} s",
            title_justify="left",
        )
        for col in ("node", "state", "captures", "packets", "detail"):
            table.add_column(col)
        for node in rec.nodes.values():
            caps = [c for c in rec.captures if c.node == node.name]
            listening = sum(c.status in ("listening", "ok") for c in caps)
            packets = sum(c.packets or 0 for c in caps)
            known = any(c.packets is not None for c in caps)
            state = node.state
            if state in _WAITS and now - node.state_since >= 3:
                state += f" {now - node.state_since:.0f} s"
                state += f" of {node.state_limit:g}" if node.state_limit else ""
            table.add_row(
                node.name,
                Text(state, style=_style(node.state)),
                f"{listening}/{len(caps)}",
                str(packets) if known else "-",
                Text(_live_detail(node.detail, caps)[:60]),
            )
        return table


def _live_detail(detail: str, caps: list[CaptureResult]) -> str:
    """The node's detail, or a warning that its capture directory has filled up meanwhile."""
    if any(c.free_bytes is not None and c.free_bytes < FULL_BELOW for c in caps):
        return "capture_dir is full: the files stop growing"
    return detail


def final_tables(record: RunRecord) -> RenderableType:
    """Nodes with status and what to do; captures with tcpdump's counts; probes' exits."""
    nodes = Table(
        title="Nodes",
        title_justify="left",
        caption="clock vs this host: the node's clock minus this machine's, from SSH round "
        "trips (± half the best round trip); analyze states offsets against a reference node",
        caption_justify="left",
    )
    for col in ("node", "status", "tcpdump", "clock vs this host", "detail"):
        nodes.add_column(col, overflow="fold")
    for n in record.nodes.values():
        clock = "-"
        if n.clock is not None:
            clock = clock_text(n.clock.offset_ns, n.clock.error_ns)
        nodes.add_row(
            n.name, Text(n.status, style=_style(n.status)), n.tcpdump or "-", clock, n.detail
        )
    caps = Table(
        title="Captures",
        title_justify="left",
        caption="captured: what tcpdump counted; in file: frames the fetched file holds (fewer: "
        "the file was cut short); kernel drops: packets the kernel's capture buffer had no room "
        "for, in no file",
        caption_justify="left",
    )
    for col in ("point", "status", "captured", "in file", "kernel drops", "file / detail"):
        caps.add_column(col, overflow="fold")
    for c in record.captures:
        st = c.stats
        caps.add_row(
            c.point,
            Text(c.status, style=_style(c.status)),
            str(st.captured) if st else "-",
            "-" if c.frames is None else str(c.frames),
            str(st.dropped) if st else "-",
            c.file if c.status == "ok" else c.detail,
        )
    parts: list[RenderableType] = [nodes, caps]
    if record.probes:
        probes = Table(title="Probes", title_justify="left")
        for col in ("probe", "node", "exit", "output"):
            probes.add_column(col, overflow="fold")
        for p in record.probes:
            exit_text = "-" if p.exit_status is None else str(p.exit_status)
            probes.add_row(p.name, p.node, exit_text, p.detail or p.output)
        parts.append(probes)
    for note in record.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)
