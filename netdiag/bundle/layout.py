"""Where each file of a run directory lives: the one list of names and capture-file suffixes.

```
DIR/manifest.json               what the run did, node by node (schema netdiag.run/1)
DIR/run.log                     the whole log of the run, UTC timestamps
DIR/pcaps/<node>__<point>.pcap  one capture file per capture point
DIR/probes/<node>__<probe>.txt  what each probe printed
DIR/analysis.json               the analysis document (schema netdiag.analysis/1)
DIR/packets.parquet             the packet table the analysis was computed from
DIR/report.html                 the HTML report
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = [
    "ANALYSIS",
    "MANIFEST",
    "PACKETS",
    "PCAPS",
    "PCAP_SUFFIXES",
    "PROBES",
    "REPORT",
    "RUN_LOG",
    "Layout",
    "is_capture_name",
    "pcap_name",
    "probe_name",
]

MANIFEST = "manifest.json"
ANALYSIS = "analysis.json"
PACKETS = "packets.parquet"
REPORT = "report.html"
RUN_LOG = "run.log"
PCAPS = "pcaps"
PROBES = "probes"
#: what a capture file may be called: tcpdump's ``-w`` output, Wireshark's, and older tools'
PCAP_SUFFIXES = (".pcap", ".pcapng", ".cap")


def is_capture_name(path: Path | str) -> bool:
    """Does the file's name say it is a capture (by its suffix)?"""
    return Path(path).suffix in PCAP_SUFFIXES


def pcap_name(node: str, label: str) -> str:
    """A capture point's file, relative to the run directory (``node`` and ``label`` safe)."""
    return f"{PCAPS}/{node}__{label}.pcap"


def probe_name(node: str, probe: str) -> str:
    """A probe's output file, relative to the run directory."""
    return f"{PROBES}/{node}__{probe}.txt"


@dataclass(frozen=True)
class Layout:
    """The paths of one run directory: ``Layout(root).manifest`` is ``root/manifest.json``."""

    root: Path
    manifest: Path = field(init=False)
    analysis: Path = field(init=False)
    packets: Path = field(init=False)
    report: Path = field(init=False)
    run_log: Path = field(init=False)
    pcaps: Path = field(init=False)
    probes: Path = field(init=False)

    def __post_init__(self) -> None:
        names = (MANIFEST, ANALYSIS, PACKETS, REPORT, RUN_LOG, PCAPS, PROBES)
        paths = [f.name for f in fields(self)][1:]
        for attribute, name in zip(paths, names, strict=True):
            object.__setattr__(self, attribute, self.root / name)  # frozen: set once, here

    def pcap_candidates(self, node: str, iface: str) -> tuple[Path, ...]:
        """Where the capture of ``node/iface`` may be, by file name alone, likeliest first."""
        return tuple(self.pcaps / f"{node}__{iface}{suffix}" for suffix in PCAP_SUFFIXES)
