"""What a node's recorder listing says, and which ring files a time window needs (pure).

The listing (:data:`netdiag.record.scripts.LIST`) gives per ring file its size, its mtime
(the last packet written: tcpdump runs with ``-U``) and its first 40 bytes (``head -v`` of
all the ring's files at once): the pcap header and the first record header, i.e. the time of
its first packet. A file holds the packets
from its first packet's time to its mtime, so the files a window needs are known before
anything is fetched.
"""

from __future__ import annotations

import bisect
import contextlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from netdiag.capture.tcpdump import CaptureStats, parse_stats
from netdiag.pcap.blocks import PCAP_MAGIC

#: file mtimes come from the kernel's coarse clock (one tick behind, 4 ms at HZ=250): a file's
#: last packet may be stamped a little after its mtime
MTIME_SLACK_NS = 50_000_000
HEAD = 40  # a pcap file's header (24 bytes) and its first record's header (16)
NS = 1_000_000_000
LAG_NS = NS  # a captured packet is in its ring file well within this (-U, immediate mode)

__all__ = [
    "COUNTS_MARK",
    "HEAD",
    "Listing",
    "Recorder",
    "RingFile",
    "WindowCounts",
    "count_samples",
    "counts_in_window",
    "first_packet_ns",
    "next_file",
    "parse_counts",
    "parse_listing",
    "select_files",
    "split_heads",
    "unanswered_mark",
]


@dataclass(frozen=True)
class RingFile:
    """One ``ring.pcapN`` as listed: size, mtime (ns: a bound on its last packet's time) and
    its first packet's time (ns), when its first bytes were read (``head_read``)."""

    name: str
    size: int
    mtime_ns: int
    first_ns: int | None  # None: no complete first record yet, or its first bytes not read
    head_read: bool = True

    @property
    def has_packets(self) -> bool:
        """A whole first record: as read, or as the size shows when it was not read."""
        return self.first_ns is not None or (not self.head_read and self.size >= HEAD)


@dataclass(frozen=True)
class Recorder:
    """One recorder directory on one node: a capture point's ring or a continuous probe."""

    node: str
    directory: str
    alive: bool
    meta: dict[str, str] = field(default_factory=dict)
    files: tuple[RingFile, ...] = ()
    stats: CaptureStats | None = None
    last_probe: str = ""
    # tcpdump's counts sampled, (node ns, counts); the last time it was asked for them in vain
    samples: tuple[tuple[int, CaptureStats], ...] = ()
    unanswered_ns: int | None = None

    @property
    def name(self) -> str:
        return self.meta.get("name", "?")

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "cap")

    @property
    def label(self) -> str:
        """The point's label (``eth1``, ``fip-busybox01:eth0``) or the probe's name."""
        return self.meta.get("label", self.directory.rsplit("/", 1)[-1])

    @property
    def point(self) -> str:
        return f"{self.node}/{self.label}"

    def _int(self, key: str) -> int | None:
        try:
            return int(self.meta[key])
        except (KeyError, ValueError):
            return None

    @property
    def expires_s(self) -> int | None:
        return self._int("expires")

    @property
    def started_s(self) -> int | None:
        return self._int("started")

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def oldest_ns(self) -> int | None:
        firsts = [f.first_ns for f in self.files if f.first_ns is not None]
        return min(firsts) if firsts else None

    @property
    def newest_ns(self) -> int | None:
        times = [max(f.mtime_ns, f.first_ns or 0) for f in self.files if f.has_packets]
        return max(times) if times else None


@dataclass(frozen=True)
class Listing:
    """A node's answer: its recorders, the orphans it removed, and its clock when it listed."""

    node: str
    recorders: tuple[Recorder, ...]
    swept: tuple[str, ...]
    now_ns: int | None


def first_packet_ns(head: bytes) -> int | None:
    """The first packet's time from a pcap file's first 40 bytes; None without a whole record
    header (or for anything but pcap)."""
    if len(head) < HEAD:
        return None
    (magic,) = struct.unpack_from("<I", head)
    if magic not in PCAP_MAGIC:
        return None
    big_endian, units = PCAP_MAGIC[magic]
    sec, frac = struct.unpack_from(">II" if big_endian else "<II", head, 24)
    return int(sec) * 1_000_000_000 + int(frac) * (1_000_000_000 // units)


def _mtime_ns(text: str) -> int:
    """``1796195802.127883303`` (stat %.9Y) -> ns, without float rounding."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


@dataclass
class _Building:
    directory: str
    alive: bool
    meta: dict[str, str] = field(default_factory=dict)
    files: list[RingFile] = field(default_factory=list)
    stats: list[str] = field(default_factory=list)
    probe: str = ""
    fstat: list[tuple[int, int, str]] = field(default_factory=list)  # size, mtime, path
    heads: bytes = b""

    def done(self, node: str) -> Recorder:
        heads = split_heads(self.heads, [path for _, _, path in self.fstat])
        for size, mtime, path in self.fstat:
            first = first_packet_ns(heads[path]) if path in heads else None
            self.files.append(RingFile(path.rsplit("/", 1)[-1], size, mtime, first))
        return Recorder(node, self.directory, self.alive, self.meta, tuple(self.files),
                        parse_stats(self.stats), self.probe)  # fmt: skip


def split_heads(blob: bytes, paths: Sequence[str]) -> dict[str, bytes]:
    """``head -v -c 40 PATH...`` output -> the first bytes of each file.

    GNU head writes ``==> PATH <==\\n`` before each file (``\\n==> PATH <==\\n`` after the
    first); the paths are known (the listing's ``@fstat`` lines, same order), and a head is at
    most 40 bytes, so each marker is looked for exactly where it must be. A file that vanished
    in between (no marker) ends the split: the files after it have no head.
    """
    out: dict[str, bytes] = {}
    pos = 0
    for i, path in enumerate(paths):
        marker = (b"\n" if i else b"") + b"==> " + path.encode() + b" <==\n"
        if blob[pos : pos + len(marker)] != marker:
            break
        pos += len(marker)
        if i + 1 < len(paths):
            after = b"\n==> " + paths[i + 1].encode() + b" <==\n"
            end = blob.find(after, pos, pos + 40 + len(after))
            end = end if end >= 0 else min(len(blob), pos + 40)
        else:
            end = min(len(blob), pos + 40)
        out[path] = blob[pos:end]
        pos = end
    return out


def _ring_file(rest: str) -> RingFile | None:
    """``SIZE MTIME HEAD40HEX NAME`` -> a RingFile (None for a line it cannot read)."""
    parts = rest.split(" ", 3)
    if len(parts) < 4:
        return None
    size, mtime, head_hex, name = parts
    try:
        return RingFile(name, int(size), _mtime_ns(mtime), first_packet_ns(bytes.fromhex(head_hex)))
    except ValueError:
        return None


def parse_listing(node: str, text: str) -> Listing:
    """The LIST script's output -> a :class:`Listing`; unknown lines are ignored."""
    recorders: list[Recorder] = []
    swept: list[str] = []
    now_ns: int | None = None
    cur: _Building | None = None
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "@rec":
            if cur is not None:
                recorders.append(cur.done(node))
            alive, _, directory = rest.partition(" ")
            cur = _Building(directory, alive == "1")
        elif tag == "@swept":
            swept.append(rest)
        elif tag == "@now":
            now_ns = int(rest) if rest.strip().isdigit() else None
        elif cur is None:
            continue
        elif tag == "@meta":
            key, _, value = rest.partition("=")
            cur.meta[key] = value
        elif tag == "@fstat":
            size, _, more = rest.partition(" ")
            mtime, _, path = more.partition(" ")
            with contextlib.suppress(ValueError):
                cur.fstat.append((int(size), _mtime_ns(mtime), path))
        elif tag == "@heads":
            with contextlib.suppress(ValueError):
                cur.heads = bytes.fromhex(rest)
        elif tag == "@file":
            ring_file = _ring_file(rest)
            if ring_file is not None:
                cur.files.append(ring_file)
        elif tag == "@stat":
            cur.stats.append(rest)
        elif tag == "@probe":
            cur.probe = rest
    if cur is not None:
        recorders.append(cur.done(node))
    return Listing(node, tuple(recorders), tuple(swept), now_ns)


def parse_counts(node: str, text: str) -> Listing:
    """The snapshot dialog's "stats" answer (``@alive 0|1 DIR``, ``@err DIR/tcpdump.err:LINE``,
    ``@now NS``) -> a Listing of recorders without files: liveness, tcpdump's last counts and
    the samples of its counts that were sent (:func:`count_samples`)."""
    alive: dict[str, bool] = {}
    lines: dict[str, list[str]] = {}
    now_ns: int | None = None
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "@alive":
            flag, _, directory = rest.partition(" ")
            alive[directory] = flag == "1"
        elif tag == "@err":
            path, sep, said = rest.partition("/tcpdump.err:")
            if sep:
                lines.setdefault(path, []).append(said)
        elif tag == "@now":
            now_ns = int(rest) if rest.strip().isdigit() else None
    recorders = tuple(
        Recorder(node, d, up, stats=parse_stats(lines.get(d, [])),
                 samples=tuple(count_samples("\n".join(lines.get(d, [])))),
                 unanswered_ns=unanswered_mark(lines.get(d, [])))
        for d, up in alive.items()
    )  # fmt: skip
    return Listing(node, recorders, (), now_ns)


def select_files(
    files: Sequence[RingFile], from_ns: int, to_ns: int, *, slack_ns: int = 0
) -> list[RingFile]:
    """The files that may hold packets in [from_ns - slack, to_ns + slack] (node clock), oldest
    first. A file holds [its first packet, its mtime]: known from the listing alone.

    A file whose first packet was not read (listed over SFTP) starts after the last packet of
    the file written before it, i.e. no earlier than that file's mtime (less ``LAG_NS``, what
    tcpdump may take to write a packet): it is kept unless that is after the window. So of the
    files after the window at most the first is kept (with files closed within one second of
    each other, mtimes in whole seconds, the few closed in that second).
    """
    lo, hi = from_ns - slack_ns, to_ns + slack_ns
    by_mtime = sorted(f.mtime_ns for f in files if f.has_packets)

    def may_start_by_hi(f: RingFile) -> bool:
        if f.first_ns is not None:
            return f.first_ns <= hi
        i = bisect.bisect_left(by_mtime, f.mtime_ns)
        return i == 0 or by_mtime[i - 1] - NS - LAG_NS <= hi  # previous mtime, whole seconds

    chosen = [
        f
        for f in files
        if f.has_packets and f.mtime_ns + MTIME_SLACK_NS >= lo and may_start_by_hi(f)
    ]
    return sorted(chosen, key=lambda f: (f.first_ns or f.mtime_ns, f.mtime_ns, f.name))


def next_file(files: Sequence[RingFile], f: RingFile, lo: int) -> RingFile | None:
    """For a file listed without its first packet whose mtime (whole seconds) may be before
    ``lo``: the file written right after it, whose first packet bounds ``f``'s last (tcpdump
    writes a ring in order) and so tells whether ``f`` reaches ``lo`` at all. None when there
    is nothing to ask: ``f``'s first packet is known, its mtime is surely after ``lo``, or no
    single file follows it (several closed in the same second)."""
    if f.first_ns is not None or f.mtime_ns - NS >= lo:
        return None
    later = sorted((g for g in files if g.has_packets and g.mtime_ns > f.mtime_ns),
                   key=lambda g: g.mtime_ns)  # fmt: skip
    if not later or (len(later) > 1 and later[1].mtime_ns == later[0].mtime_ns):
        return None
    return later[0]


COUNTS_MARK = "netdiag-counts "  # the supervisor's and the snapshot's sample marker


def count_samples(text: str) -> list[tuple[int, CaptureStats]]:
    """A recorder's ``tcpdump.err`` -> (node time ns, tcpdump's counts) per sample: each counts
    line tcpdump printed after a ``netdiag-counts NS`` line (its SIGUSR1 answer), timed by
    the last such line before it; oldest first. Lines cut in half (the file is trimmed to its
    end when it grows) are skipped."""
    out: list[tuple[int, CaptureStats]] = []
    at: int | None = None
    for line in text.splitlines():
        if line.startswith(COUNTS_MARK):
            stamp = line[len(COUNTS_MARK) :].strip()
            at = int(stamp) if stamp.isdigit() else None
            continue
        if at is not None:
            counts = parse_stats([line])
            if counts is not None:
                out.append((at, counts))
                at = None
    return sorted(out, key=lambda s: s[0])


def unanswered_mark(lines: Sequence[str]) -> int | None:
    """The time of a last ``netdiag-counts NS`` marker that no counts line follows: tcpdump
    was asked (SIGUSR1) and has not answered. None when it answered the last one."""
    pending: int | None = None
    for line in lines:
        if line.startswith(COUNTS_MARK):
            stamp = line[len(COUNTS_MARK) :].strip()
            pending = int(stamp) if stamp.isdigit() else pending
        elif pending is not None and parse_stats([line]) is not None:
            pending = None
    return pending


@dataclass(frozen=True)
class WindowCounts:
    """tcpdump's counts between two samples around a window (node clock): ``from_ns`` None
    when no sample precedes the window (the counts are then from the recorder's start)."""

    stats: CaptureStats
    from_ns: int | None
    to_ns: int


def counts_in_window(
    samples: Sequence[tuple[int, CaptureStats]], lo: int, hi: int
) -> WindowCounts | None:
    """The counts from the last sample at or before ``lo`` to the first at or after ``hi`` (the
    latest, when none is that late); None without samples."""
    if not samples:
        return None
    before = [s for s in samples if s[0] <= lo]
    after = [s for s in samples if s[0] >= hi]
    end = after[0] if after else samples[-1]
    if not before:
        return WindowCounts(end[1], None, end[0])
    start = before[-1]
    a, b = start[1], end[1]
    delta = CaptureStats(
        max(0, b.captured - a.captured),
        max(0, b.received - a.received),
        max(0, b.dropped - a.dropped),
    )
    return WindowCounts(delta, start[0], end[0])
