"""What a capture file says about itself, besides its packets: format, interfaces, comments,
kernel drop counters, and the damage found while reading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Link types the decoder understands (LINKTYPE_* numbers of tcpdump.org/linktypes.html).
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL",
    1: "EN10MB",
    12: "RAW",
    14: "RAW",
    101: "RAW",
    108: "LOOP",
    113: "LINUX_SLL",
    228: "IPV4",
    229: "IPV6",
    276: "LINUX_SLL2",
}


def linktype_name(linktype: int) -> str:
    """``EN10MB`` for 1; unknown ones as ``LINKTYPE 160``."""
    return LINKTYPE_NAMES.get(linktype, f"LINKTYPE {linktype}")


@dataclass(frozen=True)
class ReadWarning:
    """Damage found while reading: every frame before it was kept, nothing after it."""

    path: str
    frame: int  # the first frame that could not be read (1-based)
    offset: int  # byte offset in the file where the damage starts
    message: str

    def __str__(self) -> str:
        return f"{self.path}: frame {self.frame} at byte {self.offset}: {self.message}"


@dataclass
class Interface:
    """One capture interface (pcap: the file itself; pcapng: one IDB)."""

    linktype: int
    snaplen: int = 0
    name: str = ""
    description: str = ""
    tsresol: int = 1_000_000  # timestamp units per second
    tsoffset: int = 0  # seconds added to every timestamp (pcapng if_tsoffset)
    section: int = 0
    kernel_dropped: int | None = None  # last ISB isb_ifdrop
    os_dropped: int | None = None  # last ISB isb_osdrop


@dataclass
class CaptureInfo:
    """File-level facts; ``warnings`` lists the damage (the table keeps what came before it)."""

    path: str
    format: str = "pcap"  # 'pcap' | 'pcapng'
    byte_order: str = "little"  # of the first section
    interfaces: list[Interface] = field(default_factory=list)
    section_comments: list[str] = field(default_factory=list)
    packet_comments: dict[int, list[str]] = field(default_factory=dict)
    warnings: list[ReadWarning] = field(default_factory=list)
    #: what the reader could not tell from the file alone and how to tell it (not damage)
    notes: list[str] = field(default_factory=list)
    packets: int = 0

    @property
    def linktypes(self) -> list[int]:
        """Distinct link types, in order of appearance."""
        return list(dict.fromkeys(i.linktype for i in self.interfaces))

    @property
    def kernel_dropped(self) -> int | None:
        """Sum of the interfaces' kernel drop counters, or None when no ISB recorded one."""
        drops = [i.kernel_dropped for i in self.interfaces if i.kernel_dropped is not None]
        return sum(drops) if drops else None

    @property
    def name(self) -> str:
        return Path(self.path).name
