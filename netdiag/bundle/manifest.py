"""The run directory's ``manifest.json`` (schema ``netdiag.run/1``) as frozen records.

``netdiag capture`` writes it after every phase (so a run that fails half-way still leaves one
in which every node has a status); ``analyze`` reads the nodes' clocks, interface lists and
tcpdump's drop counts from it; the views show it. All of them go through these records, so
the document has one shape: :meth:`Manifest.to_json` writes it, :meth:`Manifest.from_json`
reads it back (tolerating absent keys: a manifest from an older netdiag still opens).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from netdiag.clock import Clock
from netdiag.errors import AnalysisInputError
from netdiag.values import opt_int, opt_str

__all__ = [
    "RUN_SCHEMA",
    "CaptureRun",
    "Manifest",
    "NodeRun",
    "ProbeRun",
    "read_manifest",
    "split_point",
    "write_manifest",
]

RUN_SCHEMA = "netdiag.run/1"


def split_point(name: str) -> tuple[str, str]:
    """``node/iface`` -> (node, iface); interface names never contain "/", hostnames might."""
    node, sep, iface = name.rpartition("/")
    return (node, iface) if sep else (name, "")


def _plain(value: Any) -> Any:
    """A record's field as JSON values: tuples as lists, a clock as its object."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Clock):
        return value.to_json()
    return value


def _fields_json(record: Any, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A record's fields in declaration order (the order the manifest writes them)."""
    return {
        f.name: _plain(getattr(record, f.name)) for f in fields(record) if f.name not in leave_out
    }


def _words(raw: Mapping[str, Any], **defaults: str) -> dict[str, Any]:
    """Text fields that are never null, each with its default for an absent or empty value."""
    return {key: str(raw.get(key) or default) for key, default in defaults.items()}


def _texts(raw: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: opt_str(raw.get(key)) for key in keys}


def _counts(raw: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: opt_int(raw.get(key)) for key in keys}


@dataclass(frozen=True, slots=True)
class NodeRun:
    """What happened on one node: its status, the commands netdiag ran there, its devices."""

    name: str
    status: str
    detail: str = ""
    commands: tuple[tuple[str, ...], ...] = ()
    #: ``ip -j link`` as the node printed it: names the devices of an all-device capture
    interfaces: tuple[Any, ...] = ()
    clock: Clock | None = None  # the node's clock vs the capturing host's
    simulated_clock_offset_ns: int = 0
    tcpdump: str | None = None  # tcpdump's version on the node (under tool_versions)
    kernel: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self, leave_out=("name", "tcpdump", "kernel"))

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any], versions: Any = None) -> NodeRun:
        interfaces = raw.get("interfaces")
        return cls(
            name=name,
            **_words(raw, status="unknown", detail=""),
            commands=tuple(tuple(str(a) for a in argv) for argv in raw.get("commands") or ()),
            interfaces=tuple(interfaces) if isinstance(interfaces, list) else (),
            clock=Clock.from_json(raw.get("clock")),
            simulated_clock_offset_ns=int(raw.get("simulated_clock_offset_ns") or 0),
            **_texts(versions if isinstance(versions, Mapping) else {}, "tcpdump", "kernel"),
        )


#: tcpdump's own counts, written together as a capture's "stats"
_STATS = ("captured", "received", "dropped")


@dataclass(frozen=True, slots=True)
class CaptureRun:
    """One tcpdump at one point: the file it produced and the counts it printed."""

    point: str
    node: str
    iface: str
    netns: str | None = None
    file: str | None = None  # relative to the run directory: pcaps/<node>__<label>.pcap
    status: str = "unknown"
    detail: str = ""
    #: "captured", "received by filter", "dropped by kernel"; None when tcpdump printed none
    captured: int | None = None
    received: int | None = None
    dropped: int | None = None
    frames: int | None = None  # frames in the fetched file (fewer than captured: cut short)
    free_bytes: int | None = None  # free space in the node's capture directory at the end
    remote_dir: str | None = None
    kept: bool = False  # not fetched: the node keeps the file for the run's grace period
    #: the capture is known to have run until then (its node's clock, ns) even where its file
    #: holds no later packet: a recorder's snapshot window ends there
    until_ns: int | None = None
    stderr: str = ""
    resolved_from: str = ""  # inventory | discovery | name ("" in older manifests)
    role: str | None = None
    pod: str | None = None
    discovery: tuple[str, ...] = ()  # the commands that placed it

    @property
    def found_by(self) -> str:
        """How the point was chosen, for people: "discovery: pod default/x", "inventory: uplink"."""
        what = f"pod {self.pod}" if self.pod else self.role or ""
        if not self.resolved_from:
            return "-"
        return f"{self.resolved_from}: {what}" if what else self.resolved_from

    @property
    def stats(self) -> dict[str, int] | None:
        """tcpdump's counts as the manifest writes them."""
        if self.captured is None or self.received is None or self.dropped is None:
            return None
        return {"captured": self.captured, "received": self.received, "dropped": self.dropped}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in _fields_json(self).items():
            if key in _STATS:
                out["stats"] = self.stats  # where the first count stands
            else:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CaptureRun:
        point = str(raw.get("point") or f"{raw.get('node', '?')}/{raw.get('iface', '?')}")
        node, iface = split_point(point)
        stats = raw.get("stats")
        return cls(
            point=point,
            node=str(raw.get("node") or node),
            iface=str(raw.get("iface") or iface),
            kept=bool(raw.get("kept")),
            **_words(raw, status="unknown", detail="", stderr="", resolved_from=""),
            discovery=tuple(str(c) for c in raw.get("discovery") or ()),
            **_texts(raw, "netns", "file", "remote_dir", "role", "pod"),
            **_counts(raw, "frames", "free_bytes", "until_ns"),
            **_counts(stats if isinstance(stats, Mapping) else {}, *_STATS),
        )


@dataclass(frozen=True, slots=True)
class ProbeRun:
    """One probe (ping, traceroute, tcp) sent from a node or pod, and where its output is."""

    node: str
    name: str
    kind: str = "probe"  # ping, traceroute, tcp, udp
    netns: str | None = None
    argv: tuple[str, ...] = ()
    output: str = ""  # relative to the run directory: probes/<node>__<name>.txt
    exit_status: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProbeRun:
        status = raw.get("exit_status")
        return cls(
            netns=opt_str(raw.get("netns")),
            argv=tuple(str(a) for a in raw.get("argv") or ()),
            exit_status=status if isinstance(status, int) else None,
            **_words(raw, node="?", name="", kind="probe", output="", detail=""),
        )


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: the run, its plan and inventory (no secrets), every node, capture
    point and probe."""

    run_id: str
    #: how far the run got: starting ... done; "recovered" after ``capture --recover``
    phase: str = ""
    interrupted: bool = False
    started_ns: int | None = None
    finished_ns: int | None = None
    #: the capturing machine's zone when the run started: {"name": "CET", "utc_offset_s": 3600}
    timezone: Mapping[str, Any] = field(default_factory=dict)
    heartbeat_s: float = 0.0
    grace_s: float = 0.0  # how long a node keeps what netdiag did not fetch
    transport: str = ""
    plan: Mapping[str, Any] = field(default_factory=dict)
    inventory: Mapping[str, Any] = field(default_factory=dict)
    nodes: Mapping[str, NodeRun] = field(default_factory=dict)
    captures: tuple[CaptureRun, ...] = ()
    probes: tuple[ProbeRun, ...] = ()
    notes: tuple[str, ...] = ()
    netdiag_version: str = ""

    @property
    def tool_versions(self) -> dict[str, Any]:
        """netdiag's version and each node's tcpdump and kernel."""
        return {
            "netdiag": self.netdiag_version,
            "nodes": {
                n.name: {"tcpdump": n.tcpdump, "kernel": n.kernel} for n in self.nodes.values()
            },
        }

    @property
    def utc_offset_s(self) -> int | None:
        """The capturing machine's offset from UTC when the run started, if recorded."""
        value = self.timezone.get("utc_offset_s")
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def timezone_name(self) -> str:
        return str(self.timezone.get("name") or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RUN_SCHEMA,
            "run_id": self.run_id,
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "timezone": dict(self.timezone),
            "phase": self.phase,
            "interrupted": self.interrupted,
            "heartbeat_s": self.heartbeat_s,
            "grace_s": self.grace_s,
            "transport": self.transport,
            "plan": self.plan,
            "inventory": self.inventory,
            "tool_versions": self.tool_versions,
            "nodes": {name: n.to_json() for name, n in self.nodes.items()},
            "captures": [c.to_json() for c in self.captures],
            "probes": [p.to_json() for p in self.probes],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, raw: Any, source: str = "manifest.json") -> Manifest:
        """A decoded manifest; refuses other documents and malformed entries, naming them."""
        if not isinstance(raw, Mapping) or raw.get("schema") != RUN_SCHEMA:
            got = raw.get("schema") if isinstance(raw, Mapping) else type(raw).__name__
            raise AnalysisInputError(
                f"{source}: schema is {got!r}, expected {RUN_SCHEMA!r}; "
                "give a run directory written by `netdiag capture --out DIR`"
            )
        try:
            return cls._parse(raw)
        except (TypeError, ValueError, AttributeError) as exc:
            raise AnalysisInputError(f"{source}: malformed node or capture entry ({exc})") from exc

    @classmethod
    def _parse(cls, raw: Mapping[str, Any]) -> Manifest:
        versions = raw.get("tool_versions")
        versions = versions if isinstance(versions, Mapping) else {}
        node_versions = versions.get("nodes")
        node_versions = node_versions if isinstance(node_versions, Mapping) else {}
        nodes = {
            str(k): NodeRun.from_json(str(k), v, node_versions.get(k))
            for k, v in (raw.get("nodes") or {}).items()
        }
        timezone, plan, inventory = (raw.get(k) for k in ("timezone", "plan", "inventory"))
        heartbeat, grace = raw.get("heartbeat_s"), raw.get("grace_s")
        return cls(
            run_id=str(raw.get("run_id") or ""),
            **_counts(raw, "started_ns", "finished_ns"),
            nodes=nodes,
            captures=tuple(CaptureRun.from_json(c) for c in raw.get("captures") or ()),
            probes=tuple(
                ProbeRun.from_json(p) for p in raw.get("probes") or () if isinstance(p, Mapping)
            ),
            timezone=dict(timezone) if isinstance(timezone, Mapping) else {},
            phase=str(raw.get("phase") or ""),
            interrupted=bool(raw.get("interrupted")),
            heartbeat_s=float(heartbeat) if isinstance(heartbeat, int | float) else 0.0,
            grace_s=float(grace) if isinstance(grace, int | float) else 0.0,
            transport=str(raw.get("transport") or ""),
            plan=dict(plan) if isinstance(plan, Mapping) else {},
            inventory=dict(inventory) if isinstance(inventory, Mapping) else {},
            notes=tuple(str(n) for n in raw.get("notes") or ()),
            netdiag_version=str(versions.get("netdiag") or ""),
        )


def read_manifest(path: Path) -> Manifest:
    """Read and parse ``DIR/manifest.json``; AnalysisInputError says what is wrong with it."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisInputError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise AnalysisInputError(
            f"{path}: not valid JSON ({exc}); the run bundle is damaged"
        ) from exc
    return Manifest.from_json(raw, str(path))


def write_manifest(path: Path, manifest: Manifest) -> Path:
    """Write ``manifest`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
