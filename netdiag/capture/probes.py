"""Run a plan's probes (ping, traceroute, tcp connect) and keep their output as captured.

The command lines come from :func:`netdiag.plan.resolve` (argv lists, never shell text); a
probe inside a pod runs through the transport's netns support (``ip netns exec POD``). A probe
that "fails" (no reply, connection refused) is a finding, not an error: its exit status and
output are saved for the report.
"""

from __future__ import annotations

from pathlib import Path

from netdiag.bundle.layout import probe_name
from netdiag.capture.results import ProbeResult
from netdiag.errors import TransportError
from netdiag.plan import ResolvedProbe
from netdiag.transport import Transport
from netdiag.transport.aio import bounded

__all__ = ["probe_result", "run_probe"]


def probe_result(probe: ResolvedProbe) -> ProbeResult:
    """The record of a probe before it runs (output path relative to the bundle)."""
    return ProbeResult(
        node=probe.node,
        name=probe.name,
        kind=probe.kind,
        argv=list(probe.argv),
        output=probe_name(probe.node, probe.name),
        netns=probe.netns,
    )


async def run_probe(
    transport: Transport, probe: ResolvedProbe, result: ProbeResult, out: Path
) -> None:
    """Run one probe to completion (bounded by its budget) and write its output file."""
    try:
        res = await bounded(
            transport.run(
                probe.argv, netns=probe.netns, check=False, timeout=probe.timeout, sudo=None
            ),
            probe.timeout + 15,
        )
    except (TransportError, TimeoutError) as exc:
        result.detail = f"{exc}"
        text = f"# {' '.join(probe.argv)}\n# not completed: {exc}\n"
    else:
        result.exit_status = res.exit_status
        text = f"# {' '.join(probe.argv)}\n# exit status {res.exit_status}\n{res.stdout}"
        if res.stderr.strip():
            text += f"# stderr:\n{res.stderr}"
    path = out / result.output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
