"""A trace's plan as an ordinary ``probes/*.yaml`` file: rerunnable with ``netdiag capture
--plan``, editable, and commented with what the trace found (the nodes, why each one, the
devices its roles were found as), so the file explains itself when read later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from netdiag.trace.model import Endpoint, Proto, Stop, TraceRequest

__all__ = ["plan_name", "render_plan"]

_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$|^\d{1,3}(?:\.\d{1,3}){3}$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
PING_INTERVAL = 0.2
TIMEOUT = {"icmp": 2.0, "tcp": 3.0, "udp": 3.0}  # per reply, per connect, per datagram
TRACEROUTE_HOPS, TRACEROUTE_WAIT = 8, 1.0
LINGER = 2.0


def scalar(value: str | int | float) -> str:
    """A YAML scalar: bare when it reads back as the same string, else JSON-quoted."""
    if not isinstance(value, str):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if _BARE.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


Value = str | int | float | dict[str, str]


def flow(items: Sequence[tuple[str, Value]]) -> str:
    parts = []
    for key, value in items:
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {scalar(v)}" for k, v in value.items())
            parts.append(f"{key}: {{{inner}}}")
        else:
            parts.append(f"{key}: {scalar(value)}")
    return "{" + ", ".join(parts) + "}"


def plan_name(request: TraceRequest) -> str:
    """``trace-<FROM>-to-<TO>`` in the characters a plan name allows."""
    words = f"trace-{request.source}-to-{request.dest}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", words).strip("-")[:120]


def _comment(text: str, indent: str = "# ", more: str = "") -> list[str]:
    """``text`` as comment lines of at most ~100 characters; ``more`` indents the next ones."""
    out, line, prefix = [], "", indent
    for word in text.split(" "):
        if line and len(prefix) + len(line) + 1 + len(word) > 100:
            out.append(prefix + line)
            line, prefix = word, indent + more
        else:
            line = f"{line} {word}" if line else word
    out.append(prefix + line)
    return [one.rstrip() for one in out]


def _header(
    request: TraceRequest,
    *,
    source: Endpoint,
    dest: Endpoint,
    stops: Sequence[Stop],
    notes: Sequence[str],
    inventory: Path,
    plan_path: Path,
) -> list[str]:
    asked = " ".join(
        [
            "netdiag trace",
            request.source,
            request.dest,
            *([f"--proto {request.proto}"] if request.proto else []),
            *([f"--port {request.port}"] if request.port else []),
        ]
    )
    lines = [f"# Made by `{asked}` from what the nodes showed when it ran. Rerun it with"]
    lines.append(f"#   netdiag capture --inventory {inventory} --plan {plan_path}")
    lines += _comment(f"FROM {source.what}", more="     ")
    lines += _comment(f"TO   {dest.what}", more="     ")
    lines.append("# Where it captures (devices: what each role was found as when it ran):")
    for stop in stops:
        devices = [f"{r} {d or '?'}" for r, d in zip(stop.roles, stop.devices, strict=True)]
        for pod, device in zip(stop.pods, stop.pod_devices, strict=True):
            devices.append(f"pod {pod} ({device or 'device found at capture time'})")
        devices += [f"pod device {p}" for p in stop.ports]
        lines += _comment(f"{stop.node}: {', '.join(devices) or 'nothing found'}", "#   ", "  ")
        lines += _comment("; ".join(stop.reasons), "#       ")
    for note in notes:
        lines += _comment(f"note: {note}", more="      ")
    return lines


def render_plan(
    request: TraceRequest,
    *,
    source: Endpoint,
    dest: Endpoint,
    proto: Proto,
    port: int | None,
    count: int,
    stops: Sequence[Stop],
    notes: Sequence[str],
    inventory: Path,
    plan_path: Path,
) -> str:
    """The plan file's text (``version: 1``, the format of ``probes/fip-ingress.yaml``)."""
    assert dest.ip is not None
    lines = _header(
        request, source=source, dest=dest, stops=stops, notes=notes, inventory=inventory,
        plan_path=plan_path,
    )  # fmt: skip
    lines += [
        "version: 1",
        f"name: {scalar(plan_name(request))}",
        f"description: {scalar(f'netdiag trace {request.source} {request.dest}')}",
        "capture:",
        "  interfaces:",
    ]
    for stop in stops:
        lines += [f"    - {flow([('pod', pod)])}" for pod in stop.pods]
        devices = [*stop.roles, *stop.ports]
        if devices:
            names = ", ".join(scalar(d) for d in devices)
            lines.append(f"    - {{node: {scalar(stop.node)}, devices: [{names}]}}")
    traceroute_s = TRACEROUTE_HOPS * TRACEROUTE_WAIT + 5 if request.traceroute else 0
    lines += [
        f"  duration: {60 + int(traceroute_s)}",
        "  max_packets: 10000",
        "  max_file_mb: 20",
        "probes:",
    ]
    origin: str | dict[str, str] = source.node or ""
    if source.pod is not None:
        origin = {"pod": source.pod}
    target, wait = dest.ip, TIMEOUT[proto]
    if proto == "icmp":
        body: list[tuple[str, Value]] = [("from", origin), ("target", target), ("count", count)]
        body += [("interval", PING_INTERVAL), ("timeout", wait)]
        lines.append(f"  - ping: {flow(body)}")
    else:
        assert port is not None
        for i in range(count):
            body = [("name", f"{proto}-{i + 1}"), ("from", origin), ("target", target)]
            lines.append(f"  - {proto}: {flow([*body, ('port', port), ('timeout', wait)])}")
    if request.traceroute:
        body = [("from", origin), ("target", target), ("max_hops", TRACEROUTE_HOPS)]
        lines.append(f"  - traceroute: {flow([*body, ('timeout', TRACEROUTE_WAIT)])}")
    lines.append(f"linger: {LINGER:g}")
    return "\n".join(lines) + "\n"
