"""Pure logic of the flight recorder: sizes, leases, listings, window selection, cutting."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture.protocol import CLOCK_LOOP
from netdiag.capture.tcpdump import CaptureStats, parse_stats
from netdiag.clock import Clock
from netdiag.errors import CommandError, InputError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.record.browse import list_by_transfer, ring_files
from netdiag.record.cut import Cut, StreamCut
from netdiag.record.listing import (
    RingFile,
    count_samples,
    counts_in_window,
    first_packet_ns,
    next_file,
    parse_counts,
    parse_listing,
    select_files,
)
from netdiag.record.nodes import clock_items, start_clock
from netdiag.record.ring import (
    MB,
    RingSpec,
    check_space,
    human_seconds,
    parse_duration,
    parse_ring,
    parse_size,
    validate_name,
)
from netdiag.record.scripts import (
    COUNTS_AWK,
    DIALOG,
    PREFER_BASH,
    capture_argv,
    dialog_argv,
    launch_argv,
    recorder_dir,
)
from netdiag.record.snapshot import Window, _iplink_and_kernel, take_snapshot
from netdiag.record.watch import REMOTE_LOOP, _remote_probes, parse_probe, probe_started
from netdiag.transport import RemoteEntry
from netdiag.transport.asyncssh_backend import _quiet_orphaned_sftp_io
from netdiag.transport.local import LocalTransport
from netdiag.transport.mock import MockCall, MockScript, MockTransport

S = 1_000_000_000


def pcap(records: list[tuple[int, bytes]], *, nano: bool = False, big: bool = False) -> bytes:
    """A pcap file of (time ns, frame bytes) records."""
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 512, 1)]
    for ts, data in records:
        frac = ts % S if nano else ts % S // 1000
        out.append(struct.pack(e + "IIII", ts // S, frac, len(data), len(data)) + data)
    return b"".join(out)


def frame(i: int) -> bytes:
    return bytes([i % 256]) * 60


# -- sizes, durations, names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("200M", 200 * MB), ("1.5G", 1_500_000_000), ("512MiB", 512 * 2**20), ("4000", 4000)],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", 86400), ("90s", 90), ("1h30m", 5400), ("45", 45), ("250ms", 0.25)],
)
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5 years", "-3s", "1h-"])
def test_bad_durations_say_what_to_give(text: str) -> None:
    with pytest.raises(InputError, match="give a duration such as"):
        parse_duration(text)


def test_ring_forms() -> None:
    assert parse_ring("10x20M") == RingSpec(10, 20)
    assert parse_ring("200M") == RingSpec(8, 25)
    assert parse_ring("3M") == RingSpec(3, 1)
    assert parse_ring("2x1M") == RingSpec(2, 1)
    with pytest.raises(InputError, match="whole megabytes"):
        parse_ring("3x500k")
    with pytest.raises(InputError, match="2 to 1000 files"):
        parse_ring("1x10M")


def test_ring_bound_allows_one_record_of_overshoot_per_file() -> None:
    # measured: tcpdump -C 1 wrote files of 1,000,056 bytes at snaplen 512
    ring = RingSpec(3, 1)
    assert ring.bound_bytes(512) >= 3 * 1_000_056
    assert ring.bound_bytes(512) < 3 * (MB + 600)


def test_space_check_keeps_a_margin() -> None:
    assert check_space(node="n", where="/tmp", needed=10 * MB, free=10 * 2**30) is None
    why = check_space(node="n", where="/tmp", needed=900 * MB, free=1000 * MB)
    assert why is not None
    assert "n: the ring needs 900 MB in /tmp" in why
    assert "smaller --ring" in why


@pytest.mark.parametrize("name", ["", "a.b", "x y", "a/b", "$(reboot)", "a" * 41])
def test_names_that_cannot_name_a_directory(name: str) -> None:
    with pytest.raises(InputError, match="--name"):
        validate_name(name)


def test_human_seconds() -> None:
    assert human_seconds(3725) == "1h02m05s"
    assert human_seconds(59.6) == "1m00s"
    assert human_seconds(-5) == "-5s"


# -- remote argv: user input stays data -------------------------------------------------------


def test_hostile_interface_and_filter_stay_arguments() -> None:
    argv = capture_argv(
        tcpdump="tcpdump", iface="eth0;reboot", ring=RingSpec(3, 1), snaplen=512,
        lease_s=60, bpf="host 1.2.3.4 and $(id)", netns="pod ns",
    )  # fmt: skip
    launch = launch_argv(
        directory="/tmp/x y/netdiag-rec-a.cap-eth0", meta="k=$(v)", ready="listening on",
        wait_s=15, lease_s=60, command=argv,
    )  # fmt: skip
    # the remote shell sees exactly these words back (shlex.join on the way out)
    assert shlex.split(shlex.join(launch)) == launch
    assert "eth0;reboot" in launch
    assert "$(id)" in launch
    assert "pod ns" in launch
    assert launch[launch.index("timeout") + 5] == "60"


def test_recorder_dirs_carry_name_and_point() -> None:
    assert recorder_dir("/tmp/", "nightly", "cap", "fip:eth0") == (
        "/tmp/netdiag-rec-nightly.cap-fip_eth0"
    )


# -- listings -------------------------------------------------------------------------------


def _head(ts_ns: int) -> str:
    return pcap([(ts_ns, frame(1))])[:40].hex()


LISTING = f"""@swept /tmp/netdiag-rec-old.cap-eth0
@rec 1 /tmp/netdiag-rec-a.cap-eth1
@meta name=a
@meta kind=cap
@meta label=eth1
@meta files=3
@meta expires=1800000100
@meta started=1800000000
@file 1000056 1800000010.500000000 {_head(1800000000 * S)} ring.pcap0
@file 4000 1800000012.250000001 {_head(1800000010 * S + 600_000_000)} ring.pcap1
@file 24 1800000000.000000000 d4c3b2a1020004000000000000000000000200000100 ring.pcap2
@stat tcpdump: 4000 packets captured, 4100 packets received by filter, 7 packets dropped by kernel
@rec 1 /tmp/netdiag-rec-a.probe-ping-1
@meta kind=probe
@probe 1800000011000000000 1800000011100000000 1 ping failed
@now 1800000020000000000
"""


def test_listing_parsed() -> None:
    listing = parse_listing("node1", LISTING)
    assert listing.swept == ("/tmp/netdiag-rec-old.cap-eth0",)
    assert listing.now_ns == 1800000020 * S
    cap, probe = listing.recorders
    assert cap.point == "node1/eth1"
    assert cap.alive
    assert cap.kind == "cap"
    assert [f.name for f in cap.files] == ["ring.pcap0", "ring.pcap1", "ring.pcap2"]
    assert cap.files[2].first_ns is None  # header only: nothing to fetch
    assert cap.oldest_ns == 1800000000 * S
    assert cap.newest_ns == 1800000012 * S + 250_000_001
    assert cap.stats is not None
    assert cap.stats.dropped == 7
    assert cap.expires_s == 1800000100
    assert probe.kind == "probe"
    assert probe.last_probe.endswith("ping failed")


def test_first_packet_time_in_every_precision_and_byte_order() -> None:
    t = 1800000000 * S + 123_456_789
    assert first_packet_ns(pcap([(t, b"x")], nano=True)[:40]) == t
    assert first_packet_ns(pcap([(t, b"x")], big=True)[:40]) == t - 789
    assert first_packet_ns(pcap([])[:24]) is None


def test_window_selects_only_overlapping_files() -> None:
    files = [
        RingFile("ring.pcap2", 1000, 30 * S, 20 * S),
        RingFile("ring.pcap0", 1000, 10 * S, 0),
        RingFile("ring.pcap1", 1000, 20 * S, 10 * S),
        RingFile("ring.pcap3", 24, 5 * S, None),
    ]
    assert [f.name for f in select_files(files, 12 * S, 18 * S)] == ["ring.pcap1"]
    assert [f.name for f in select_files(files, 15 * S, 25 * S)] == ["ring.pcap1", "ring.pcap2"]
    assert select_files(files, 31 * S, 40 * S) == []


# -- cutting --------------------------------------------------------------------------------


def stream(
    path: Path,
    files: list[bytes],
    lo: int,
    hi: int,
    *,
    piece: int = 1 << 20,
    window_after: int = 0,
    leave_out: tuple[int, ...] = (),
) -> tuple[bytes, Cut]:
    """``files`` through a StreamCut in ``piece``-byte pieces, the window given after
    ``window_after`` pieces (0: at the end): (the output's bytes, b"" if none; the cut)."""
    cut = StreamCut(path)
    fed = 0
    for i, data in enumerate(files):
        cut.begin(f"ring.pcap{i}")
        for at in range(0, len(data), piece):
            cut.feed(data[at : at + piece])
            fed += 1
            if fed == window_after:
                cut.window(lo, hi)
        cut.end()
    if not 0 < window_after <= fed:
        cut.window(lo, hi)
    for i in leave_out:
        cut.leave_out(f"ring.pcap{i}")
    done = cut.finish()
    return (path.read_bytes() if path.exists() else b""), done


def test_cut_keeps_the_window_and_drops_a_torn_tail(tmp_path: Path) -> None:
    a = pcap([(i * S, frame(i)) for i in range(10)])
    b = pcap([(i * S, frame(i)) for i in range(10, 20)])
    torn = b[:-30]  # tcpdump was writing the last record when it was fetched
    data, cut = stream(tmp_path / "out.pcap", [torn, a], 5 * S, 15 * S, piece=97)
    assert data == pcap([(i * S, frame(i)) for i in range(5, 16)])
    assert (cut.packets, cut.first_ns, cut.last_ns) == (11, 5 * S, 15 * S)
    assert cut.cut_tails == 1
    assert cut.rewritten  # given newest first: put in ring order again


def test_cut_of_nothing_and_of_strangers(tmp_path: Path) -> None:
    data, cut = stream(tmp_path / "none.pcap", [], 0, S)
    assert (data, cut.head) == (b"", b"")  # nothing written: the caller writes what it knows
    other = pcap([(S, frame(1))])
    other = other[:20] + struct.pack("<I", 113) + other[24:]  # LINUX_SLL
    files = [pcap([(S, frame(2))]), other, b"garbage" * 5, b"", pcap([])[:30]]
    data, cut = stream(tmp_path / "some.pcap", files, 0, 2 * S, piece=7)
    assert data == pcap([(S, frame(2))])
    assert cut.problems == (
        "ring.pcap1: another link type or time precision; left out",
        "ring.pcap2: not a pcap file; left out",
    )
    quiet, cut = stream(tmp_path / "quiet.pcap", [pcap([(5 * S, frame(5))])], 0, S)
    assert (quiet, cut.packets) == (pcap([]), 0)  # a point with nothing in the window


def test_cut_of_a_damaged_file_keeps_the_records_before(tmp_path: Path) -> None:
    damaged = pcap([(6 * S, frame(6)), (7 * S, frame(7)), (8 * S, frame(8))])
    at = 24 + 16 + 60  # the second record's header: an impossible length
    damaged = damaged[: at + 8] + struct.pack("<I", 1 << 30) + damaged[at + 12 :]
    for piece in (1, 5, 50, 10_000):
        data, cut = stream(tmp_path / f"{piece}.pcap", [damaged], 0, 10 * S, piece=piece)
        assert data == pcap([(6 * S, frame(6))])
        assert cut.problems == (f"ring.pcap0: damaged at byte {at}; records before kept",)


def ring_of(
    sizes: list[int], gaps: list[int], jitter: list[int], cuts: list[int]
) -> tuple[list[tuple[int, bytes]], list[list[tuple[int, bytes]]]]:
    """One tcpdump's stream (record i: ``sizes[i]`` bytes), rotated into files at ``cuts``:
    stamps in steps of ``gaps`` (tenths of a second), each but a file's first moved by its
    ``jitter`` (stamps a little out of order across CPUs); files start at distinct times.
    (the records, the files' records)"""
    n = len(gaps)
    base = list(itertools.accumulate(gaps))
    rotations = sorted({c for c in cuts if 0 < c < n and base[c] != base[c - 1]})
    starts = {0, *rotations}
    times = [10 + base[i] * 10 + (0 if i in starts else jitter[i]) for i in range(n)]
    recs = [(t * S // 100, bytes([i % 256]) * sizes[i]) for i, t in enumerate(times)]
    bounds = [0, *rotations, n]
    return recs, [recs[x:y] for x, y in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 3), min_size=1, max_size=40),
    sizes=st.lists(st.integers(0, 120), min_size=40, max_size=40),
    jitter=st.lists(st.integers(-4, 4), min_size=40, max_size=40),
    cuts=st.lists(st.integers(1, 39), min_size=1, max_size=4),
    window=st.tuples(st.integers(0, 1300), st.integers(0, 1300)),
    piece=st.integers(1, 700),
    window_after=st.integers(0, 30),
    leave=st.lists(st.integers(0, 4), max_size=2),
    shuffle=st.booleans(),
    perm=st.randoms(use_true_random=False),
)
def test_a_ring_cut_as_its_files_arrive_is_its_stream_in_the_window(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    gaps: list[int],
    sizes: list[int],
    jitter: list[int],
    cuts: list[int],
    window: tuple[int, int],
    piece: int,
    window_after: int,
    leave: list[int],
    shuffle: bool,
    perm: object,
) -> None:
    # the files in ring order or any other, in pieces of any size (a record's header or data
    # split, a piece inside one record), the window known early or late, files left out
    # after they came: the cut is tcpdump's stream, less those files, inside the window
    _, files = ring_of(sizes, gaps, jitter, cuts)
    order = list(range(len(files)))
    if shuffle:
        perm.shuffle(order)  # type: ignore[attr-defined]
    left = {i for i in leave if i < len(files)}
    lo, hi = (w * S // 100 for w in sorted(window))
    path = tmp_path_factory.mktemp("cut") / "out.pcap"
    data, cut = stream(
        path, [pcap(files[i]) for i in order], lo, hi, piece=piece,
        window_after=window_after, leave_out=tuple(order.index(i) for i in left),
    )  # fmt: skip
    kept = [r for i, f in enumerate(files) if i not in left for r in f if lo <= r[0] <= hi]
    assert data == (pcap(kept) if len(left) < len(files) else b"")
    assert cut.packets == len(kept)
    assert (cut.first_ns, cut.last_ns) == (
        min((t for t, _ in kept), default=None),
        max((t for t, _ in kept), default=None),
    )


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=30),
    splits=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 40)), max_size=12),
    torn=st.integers(0, 40),
    damage=st.one_of(st.none(), st.integers(0, 29)),
)
def test_a_file_in_pieces_cuts_as_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    splits: list[tuple[int, int]],
    torn: int,
    damage: int | None,
) -> None:
    # pieces split near record starts (a record header split, a piece inside one record),
    # a torn tail, an impossible length: the same records, damage and tail as one piece
    whole = pcap([(i * S, bytes([i]) * n) for i, n in enumerate(sizes)])
    whole = whole[: max(24, len(whole) - torn)]
    starts = list(itertools.accumulate((16 + n for n in sizes), initial=24))  # of each record
    at = starts[min(damage or 0, len(sizes) - 1)]
    if damage is not None and at + 12 <= len(whole):  # its length made impossible
        whole = whole[: at + 8] + struct.pack("<I", 1 << 30) + whole[at + 12 :]
    cuts = (starts[min(i, len(sizes) - 1)] + d for i, d in splits)
    bounds = sorted({0, len(whole), *(c for c in cuts if c < len(whole))})
    tmp = tmp_path_factory.mktemp("pieces")
    cut = StreamCut(tmp / "pieces.pcap")
    cut.begin("ring.pcap0")
    for x, y in itertools.pairwise(bounds):
        cut.feed(whole[x:y])
    cut.window(0, 100 * S)
    many = cut.finish()
    one_data, one = stream(tmp / "one.pcap", [whole], 0, 100 * S)
    assert (tmp / "pieces.pcap").read_bytes() == one_data
    assert (many.packets, many.cut_tails, many.problems) == (one.packets, one.cut_tails,
                                                            one.problems)  # fmt: skip
    whole_records = [r for r in range(len(sizes)) if starts[r + 1] <= len(whole)]
    assert one.packets == (len(whole_records) if damage is None or at + 12 > len(whole)
                           else min(damage, len(sizes) - 1))  # fmt: skip


def test_a_cut_keeps_each_file_as_tcpdump_wrote_it(tmp_path: Path) -> None:
    # stamps out of order inside a file (CPUs) stay as they are; the files go in ring order
    a = pcap([(1 * S, frame(1)), (3 * S, frame(3)), (2 * S + 5000, frame(9)), (5 * S, frame(5))])
    b = pcap([(6 * S, frame(6)), (5 * S + 9, frame(4))])
    for files in ([a, b], [b, a]):
        data, cut = stream(tmp_path / "out.pcap", files, 0, 10 * S, piece=33)
        assert data == a + b[24:]
        assert (cut.first_ns, cut.last_ns, cut.packets) == (1 * S, 6 * S, 6)
        assert cut.rewritten == (files[0] is b)


def test_a_stamp_with_an_impossible_fraction_is_cut_by_its_time(tmp_path: Path) -> None:
    # fractions of 1.5 s in microseconds (a broken writer): 1 s + 1.5 s is 2.5 s, inside
    # [1 s, 3 s]; 2 s + 1.5 s is 3.5 s, outside (though "2 s and a bit" looks inside)
    good = pcap([(1 * S, frame(1)), (2 * S, frame(2))])
    bad = good[:24] + struct.pack("<II", 1, 1_500_000) + good[32:100] + struct.pack(
        "<II", 2, 1_500_000
    ) + good[108:]  # fmt: skip
    data, cut = stream(tmp_path / "out.pcap", [bad], 1 * S, 3 * S)
    assert (cut.packets, cut.first_ns, cut.last_ns) == (1, 2 * S + S // 2, 2 * S + S // 2)
    assert data == bad[:100]


def test_a_short_write_goes_on_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # writev may write less than asked (a signal, a pipe); more than IOV_MAX buffers too
    from netdiag.record import cut as cut_module

    real = os.writev
    calls: list[int] = []

    def short(fd: int, buffers: list[memoryview]) -> int:
        assert len(buffers) <= cut_module.IOV_MAX
        calls.append(len(buffers))
        return real(fd, [b"".join(buffers)[:7]])

    monkeypatch.setattr(cut_module.os, "writev", short)
    pieces = [bytes([i % 256]) * (i % 5) for i in range(3000)]
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        cut_module._write_all(fd, pieces)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"".join(pieces)
    assert len(calls) == -(-len(b"".join(pieces)) // 7)


def test_a_cut_that_cannot_be_written_says_where_and_what_to_do(tmp_path: Path) -> None:
    cut = StreamCut(tmp_path / "missing" / "out.pcap")
    cut.begin("ring.pcap0")
    cut.window(0, 10 * S)
    with pytest.raises(InputError, match=r"out.pcap: cannot write .*give another output"):
        cut.feed(pcap([(1 * S, frame(1))]))


# -- watch --------------------------------------------------------------------------------


def test_probe_specs() -> None:
    from netdiag.record.watch import ProbeSpec, parse_probe

    assert parse_probe("tcp:10.0.0.5:443") == ProbeSpec("tcp", "10.0.0.5", 443)
    assert parse_probe("tcp:[fd00::1]:80") == ProbeSpec("tcp", "fd00::1", 80)
    assert parse_probe("ping:172.19.0.11") == ProbeSpec("ping", "172.19.0.11")
    for bad in ("tcp:host", "tcp:h:0", "udp:h:53", "ping:", "ping:-f", "tcp:$(x):80"):
        with pytest.raises(InputError, match="--probe"):
            parse_probe(bad)
    argv = parse_probe("tcp:10.0.0.5:443").argv(1.0)
    assert argv[-2:] == ["10.0.0.5", "443"]  # arguments of the script, not part of it


def test_trigger_rate_limits_snapshots() -> None:
    from netdiag.record.watch import Trigger

    t = Trigger(60)
    assert [t.fire(x) for x in (100, 101, 159, 160, 161, 230)] == [
        True, False, False, True, False, True,
    ]  # fmt: skip


def test_listing_reads_every_files_first_packet_from_one_head(tmp_path: Path) -> None:
    # what the node's script prints: one `stat` and one `head -v -c 40 | od` per ring
    d = tmp_path / "netdiag-rec-x.cap-eth0"
    d.mkdir()
    t0 = 1800000000 * S
    (d / "ring.pcap0").write_bytes(pcap([(t0, frame(1)), (t0 + S, frame(2))]))
    (d / "ring.pcap1").write_bytes(pcap([]))  # just opened: header only
    (d / "ring.pcap2").write_bytes(pcap([(t0 + 2 * S, b"\n==> " * 20)]))
    files = [str(d / f"ring.pcap{i}") for i in range(3)]
    fstat = subprocess.run(["stat", "-c", "@fstat %s %.9Y %n", "--", *files],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    heads = subprocess.run(["head", "-v", "-c", "40", "--", *files], capture_output=True,
                           check=True).stdout  # fmt: skip
    text = f"@rec 1 {d}\n@meta label=eth0\n{fstat}@heads {heads.hex(' ')}\n@now 1\n"
    (rec,) = parse_listing("n1", text).recorders
    assert [(f.name, f.first_ns) for f in rec.files] == [
        ("ring.pcap0", t0), ("ring.pcap1", None), ("ring.pcap2", t0 + 2 * S),
    ]  # fmt: skip
    assert [f.size for f in rec.files] == [len(Path(f).read_bytes()) for f in files]


# -- the snapshot's listing over SFTP -----------------------------------------------------------


def listed(name: str, size: int, mtime_s: int) -> RingFile:
    """A ring file as the SFTP listing gives it: first packet not read, mtime in seconds."""
    (f,) = ring_files([RemoteEntry(name, size, mtime_s, False)])
    return f


def test_files_listed_without_their_first_packet_are_chosen_by_the_mtimes() -> None:
    # a ring rotating every 2 s: files end at 10, 12, 14, 16 s (mtimes in whole seconds)
    files = [listed(f"ring.pcap{i}", 5000, 10 + 2 * i) for i in range(4)] + [
        listed("ring.pcap4", 24, 17)  # just opened: header only, no packet
    ]
    assert all(f.mtime_ns == (10 + 2 * i + 1) * S - 1 for i, f in enumerate(files[:4]))
    names = [f.name for f in select_files(files, int(12.5 * S), int(12.9 * S))]
    # pcap1 may hold packets up to 13 s (mtime 12.x); pcap2 starts after pcap1's last packet,
    # 11 s at the earliest (12 s, less what tcpdump may take to write a packet); pcap3 no
    # earlier than 13 s: after the window
    assert names == ["ring.pcap1", "ring.pcap2"]
    # a window in the past: of the files after it, only the first may start inside it
    assert [f.name for f in select_files(files, 0, int(10.2 * S))] == [
        "ring.pcap0", "ring.pcap1",
    ]  # fmt: skip
    assert select_files(files, 30 * S, 40 * S) == []


def test_the_next_files_first_packet_settles_a_file_that_may_end_before_the_window() -> None:
    files = [listed(f"ring.pcap{i}", 5000, 10 + 2 * i) for i in range(3)]
    lo = int(12.5 * S)  # pcap1's mtime (12 s) may be before or after it
    assert next_file(files, files[1], lo) == files[2]
    assert next_file(files, files[2], lo) is None  # surely after lo
    assert next_file(files, files[2], 20 * S) is None  # nothing follows it
    same_second = [*files, listed("ring.pcap3", 5000, 14)]  # two closed in one second
    assert next_file(same_second, files[1], lo) is None


def test_counts_answer_gives_liveness_and_the_last_counts() -> None:
    text = (
        "@alive 1 /tmp/netdiag-rec-x.cap-eth0\n@alive 0 /tmp/netdiag-rec-x.cap-any\n"
        "@err /tmp/netdiag-rec-x.cap-eth0/tcpdump.err:5 packets captured, 6 packets received"
        " by filter, 0 packets dropped by kernel\n"
        "@err /tmp/netdiag-rec-x.cap-eth0/tcpdump.err:9 packets captured, 12 packets received"
        " by filter, 3 packets dropped by kernel\n@now 1800000000000000000\n"
    )
    listing = parse_counts("n1", text)
    eth0, any_ = listing.recorders
    assert (eth0.alive, any_.alive) == (True, False)
    assert eth0.stats is not None
    assert (eth0.stats.captured, eth0.stats.dropped) == (9, 3)
    assert any_.stats is None
    assert listing.now_ns == 1800000000000000000


def test_start_clock_is_used_only_from_the_machine_that_measured_it() -> None:
    meta = dict(line.split("=", 1) for line in clock_items(Clock(5_000, 200)).split())
    at = int(meta["clock_at_ns"])
    got = start_clock(meta, now_ns=at + 3600 * S)
    assert got is not None
    clock, drift = got
    assert clock.offset_ns == 5_000
    assert drift == 200 + 50_000_000 + 3600 * S // 5_000  # 200 ppm of an hour: 0.72 s
    assert start_clock({**meta, "clock_host": "elsewhere"}, now_ns=at) is None
    assert start_clock({"clock_offset_ns": "x"}, now_ns=at) is None


async def test_sftp_listing_reads_rings_and_meta(tmp_path: Path) -> None:
    base = tmp_path / "cap"
    d = base / "netdiag-rec-x.cap-eth0"
    d.mkdir(parents=True)
    (base / "netdiag-rec-other.cap-eth0").mkdir()  # another recorder's name
    (d / "meta").write_text("name=x\nlabel=eth0\nfiles=3\n")
    (d / "ring.pcap0").write_bytes(pcap([(S, frame(1))]))
    (d / "ring.pcap1").write_bytes(pcap([]))
    (d / "tcpdump.err").write_text("listening on eth0\n")
    os.utime(d / "ring.pcap0", (1000, 1000))
    node = NodeSpec(name="n1", host="localhost")
    listing = await list_by_transfer(LocalTransport(node), str(base), "x")
    assert listing is not None
    (rec,) = listing.recorders
    assert rec.label == "eth0"
    assert rec.meta["files"] == "3"
    by_name = {f.name: f for f in rec.files}
    assert set(by_name) == {"ring.pcap0", "ring.pcap1"}
    assert by_name["ring.pcap0"].mtime_ns == 1001 * S - 1
    assert by_name["ring.pcap0"].has_packets
    assert not by_name["ring.pcap1"].has_packets  # 24 bytes: no record yet
    nothing = await list_by_transfer(LocalTransport(node), str(base), "nothing")
    assert nothing is not None
    assert nothing.recorders == ()
    with pytest.raises(CommandError):
        await list_by_transfer(LocalTransport(node), str(tmp_path / "missing"), "x")


async def test_a_remote_probes_failure_is_placed_by_when_the_node_started_it() -> None:
    ahead = 5 * S  # the node's clock runs 5 s ahead of ours
    started_here = time.time_ns() - 3 * S  # it started the probe 3 s ago, by our clock

    def node(call: MockCall) -> MockScript:
        if call.argv == ("sh", "-c", CLOCK_LOOP):
            return MockScript(respond=lambda _: str(time.time_ns() + ahead), until_eof=True)
        assert call.argv[:3] == ("sh", "-c", REMOTE_LOOP)
        return MockScript(stdout=[f"@ {started_here + ahead} 1"], until_signal=True)

    async with MockTransport(node) as transport:
        probes = _remote_probes(transport, parse_probe("ping:10.0.0.5"), 1.0, 1.0)
        result = await anext(probes)
        await probes.aclose()
    assert not result.ok
    assert abs(result.at - started_here / S) < 0.05  # not its arrival, 3 s later
    assert probe_started(MockTransport(node), None, "123") == pytest.approx(time.time(), abs=1)


def test_kernel_drops_are_counted_inside_the_window_from_the_samples_around_it() -> None:
    def line(captured: int, dropped: int) -> str:
        return (f"tcpdump: {captured} packets captured, {captured + dropped} packets received "
                f"by filter, {dropped} packets dropped by kernel")  # fmt: skip

    err = "\n".join([
        "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 512 bytes",
        f"netdiag-counts {10 * S}", line(100, 7),  # 7 drops long before the incident
        f"netdiag-counts {20 * S}", line(200, 7),
        f"netdiag-counts {30 * S}", f"netdiag-counts {30 * S + 1}", line(300, 9),  # two markers
        "ets dropped by kernel",  # a line cut in half when the file was trimmed
        f"netdiag-counts {40 * S}", line(400, 12),
    ])  # fmt: skip
    samples = count_samples(err)
    assert [at for at, _ in samples] == [10 * S, 20 * S, 30 * S + 1, 40 * S]
    window = counts_in_window(samples, 22 * S, 35 * S)
    assert window is not None
    assert (window.from_ns, window.to_ns) == (20 * S, 40 * S)
    assert (window.stats.captured, window.stats.dropped) == (200, 5)
    early = counts_in_window(samples, 5 * S, 15 * S)  # no sample before: from the start
    assert early is not None
    assert (early.from_ns, early.stats.dropped) == (None, 7)
    late = counts_in_window(samples, 38 * S, 50 * S)  # beyond the last sample: up to it
    assert late is not None
    assert (late.to_ns, late.stats.dropped) == (40 * S, 3)
    assert counts_in_window([], 0, S) is None
    assert count_samples("tcpdump: 5 packets captured, 5 packets received by filter, 0 packets"
                         " dropped by kernel") == []  # fmt: skip  # not asked for by netdiag


def test_the_dialog_is_shellcheck_clean() -> None:
    for script in (DIALOG, PREFER_BASH):
        done = subprocess.run(
            ["shellcheck", "-s", "sh", "-"], input=script, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("shell", ["bash", "dash", "busybox"])
def test_the_dialog_tells_the_time_in_any_shell(shell: str) -> None:
    # bash answers from $EPOCHREALTIME (no process), the others from date: the same clock
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    launcher = [shell, "sh"] if shell == "busybox" else [shell]
    argv = dialog_argv("/nonexistent", "nobody")
    before = time.time_ns()
    done = subprocess.run(
        [*launcher, "-c", DIALOG, *argv[5:]], input="x\nx\n", capture_output=True,
        text=True, timeout=30, check=True,
    )  # fmt: skip
    after = time.time_ns()
    answers = [int(line) for line in done.stdout.split()]
    assert len(answers) == 2
    assert all(before - 1_000_000 <= t <= after + 1_000_000 for t in answers)
    assert answers[0] <= answers[1]


def test_the_dialog_under_bash_reads_no_rc_file(tmp_path: Path) -> None:
    # a node whose login shell is not bash: a bash started under ssh reads ~/.bashrc (Debian's
    # build), and $BASH_ENV always; what they print would be taken for the dialog's answers
    (tmp_path / ".bashrc").write_text("echo from-bashrc\n")
    (tmp_path / "env").write_text("echo from-bash-env\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "SSH_CLIENT": "10.0.0.1 5555 22",
           "BASH_ENV": str(tmp_path / "env")}  # fmt: skip
    done = subprocess.run(
        dialog_argv("/nonexistent", "nobody"), input="x\n", capture_output=True, text=True,
        timeout=30, check=True, env=env,
    )  # fmt: skip
    assert done.stdout.strip().isdigit(), done.stdout


def test_the_dialog_runs_under_bash_where_the_node_has_it(tmp_path: Path) -> None:
    argv = dialog_argv("/nonexistent", "nobody")
    assert argv[:4] == ["sh", "-c", PREFER_BASH, "sh"]
    which = 'echo "${BASH_VERSION:-none}"'
    probe = subprocess.run(["sh", "-c", PREFER_BASH, "sh", which, "x"], capture_output=True,
                           text=True, timeout=30, check=True)  # fmt: skip
    assert probe.stdout.strip() != "none"  # bash is on this machine (Debian's sh is dash)
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh is not None
    (tmp_path / "sh").symlink_to(sh)  # a node with sh and no bash
    without = subprocess.run(
        [str(tmp_path / "sh"), "-c", PREFER_BASH, "sh", which, "x"], capture_output=True,
        text=True, timeout=30, check=True, env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert without.stdout.strip() == "none"


def test_the_interfaces_are_read_whole_however_ip_prints_its_json() -> None:
    one = ['@iplink [{"ifname": "eth0"}]', "", "@uname 6.1.0", "@end"]
    pretty = ["@iplink [ {", '    "ifname": "eth0"', "} ]", "@uname 6.1.0"]
    for lines in (one, pretty):
        iplink, kernel = _iplink_and_kernel(lines)
        assert json.loads(iplink) == [{"ifname": "eth0"}]
        assert kernel == "6.1.0"
    assert _iplink_and_kernel(["@iplink ", "", "@uname "]) == ("", None)  # no ip, no release


AWKS = [
    argv
    for argv in (["mawk"], ["gawk"], ["gawk", "--posix"], ["busybox", "awk"])
    if shutil.which(argv[0])
]
SHELLS = [argv for argv in (["bash"], ["dash"], ["busybox", "sh"]) if shutil.which(argv[0])]

FAKE_TCPDUMP = """trap 'printf "%s packets captured, " 7 >&2; sleep "$1";
      printf "%s packets received by filter, %s packets dropped by kernel\\n" 9 2 >&2' USR1
while :; do sleep 0.05; done"""


CHILDREN_LISTED = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def _children(pid: int) -> list[str]:
    """The PIDs of ``pid``'s children (from /proc where the kernel lists them, else pgrep)."""
    if CHILDREN_LISTED:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def fake_recorder(
    d: Path, *, answer_after: float, writes: str | None = None
) -> subprocess.Popen[bytes]:
    """A recorder directory whose "tcpdump" (a shell under timeout(1), as the supervisor
    starts it) answers SIGUSR1 like tcpdump, in two writes ``answer_after`` s apart; with
    ``writes`` its command line writes another ring (a PID reused since timeout.pid)."""
    d.mkdir()
    err = (d / "tcpdump.err").open("ab")
    proc = subprocess.Popen(
        ["timeout", "60", "sh", "-c", FAKE_TCPDUMP, "tcpdump", str(answer_after), "-w",
         writes or f"{d}/ring.pcap"],
        stderr=err, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    err.close()
    (d / "timeout.pid").write_text(f"{proc.pid}\n")
    (d / "supervisor.pid").write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 10
    while not _children(proc.pid):
        assert time.monotonic() < deadline, "timeout(1) did not start its child"
        time.sleep(0.01)
    return proc


@pytest.mark.parametrize("children", [True, False], ids=["proc-children", "pgrep"])
@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_the_dialog_asks_each_tcpdump_for_its_counts_and_waits_for_whole_answers(
    tmp_path: Path, shell: list[str], children: bool
) -> None:
    """The dialog's "counts" marks and signals each recorder's tcpdump (found from /proc, no
    process started; on a kernel that does not list a process's children, by pgrep); "stats"
    waits until every one asked has printed its whole line (tcpdump writes it in several
    pieces), and never signals a process that does not write the ring."""
    if children and not CHILDREN_LISTED:
        pytest.skip("this kernel does not list a process's children in /proc")
    script = DIALOG
    if not children:
        script = DIALOG.replace('"/proc/$c/task/$c/children"', '"/nonexistent/$c"')
        assert script.count("/nonexistent/") == 2
    t0 = time.time_ns()
    procs = [
        fake_recorder(tmp_path / "netdiag-rec-x.cap-eth0", answer_after=0),
        fake_recorder(tmp_path / "netdiag-rec-x.cap-any", answer_after=0.3),  # a loaded node
        fake_recorder(tmp_path / "netdiag-rec-x.cap-lo", answer_after=0, writes="/elsewhere"),
    ]
    try:
        argv = dialog_argv(str(tmp_path), "x")
        at = t0 + 5 * S
        done = subprocess.run(
            [*shell, "-c", script, *argv[5:]], input=f"counts {at}\nstats {t0} {at}\n",
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        stats = parse_counts("n1", done.stdout.partition("@end\n")[2])
        by_label = {r.directory.rsplit("-", 1)[1]: r for r in stats.recorders}
        for label in ("eth0", "any"):
            rec = by_label[label]
            assert rec.alive
            assert rec.unanswered_ns is None
            assert rec.samples == ((at, CaptureStats(captured=7, received=9, dropped=2)),)
        # not its ring: neither marked nor signalled (SIGUSR1 would have ended it)
        assert "netdiag-counts" not in (tmp_path / "netdiag-rec-x.cap-lo/tcpdump.err").read_text()
        assert procs[2].poll() is None
        assert "@iplink " in done.stdout
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)  # timeout(1) and its child
            p.wait()


@pytest.mark.parametrize("awk", AWKS, ids=" ".join)
def test_the_samples_wait_only_for_the_tcpdumps_asked(tmp_path: Path, awk: list[str]) -> None:
    answered = (
        "tcpdump: 7 packets captured, 9 packets received by filter, 2 packets dropped by kernel"
    )
    texts = {
        "whole": ["netdiag-counts 5", answered],
        "half": ["netdiag-counts 5", "tcpdump: 7 packets captured, "],  # tcpdump still writing
        "silent": ["netdiag-counts 5"],
    }
    for label, lines in texts.items():
        (tmp_path / f"netdiag-rec-x.cap-{label}").mkdir()
        (tmp_path / f"netdiag-rec-x.cap-{label}/tcpdump.err").write_text("\n".join(lines) + "\n")
    files = sorted(str(f) for f in tmp_path.glob("*/tcpdump.err"))

    def samples(asked: list[str], wait: int) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NETDIAG_ASKED": "".join(f"{tmp_path}/netdiag-rec-x.cap-{a}\n"
                                                       for a in asked)}  # fmt: skip
        return subprocess.run([*awk, "-v", "lo=0", "-v", "hi=9", "-v", f"wait={wait}",
                               COUNTS_AWK, *files], capture_output=True, text=True, env=env,
                              check=False)  # fmt: skip

    for asked in (["whole"], [], ["whole", "half"], ["silent"]):
        waits = bool({"half", "silent"} & set(asked))
        done = samples(asked, 1)
        assert (done.returncode, done.stdout == "") == ((3, True) if waits else (0, False))
        given_up = samples(asked, 0)  # waited long enough: what there is, the marker included
        assert given_up.returncode == 0
        assert (
            f"{tmp_path}/netdiag-rec-x.cap-silent/tcpdump.err:netdiag-counts 5" in given_up.stdout
        )


@pytest.mark.parametrize("awk", AWKS, ids=" ".join)
def test_the_dialog_sends_the_samples_a_window_needs_and_they_count_as_all_would(
    tmp_path: Path, awk: list[str]
) -> None:
    """The node's awk (mawk on Debian, gawk on RHEL, busybox's on small images) keeps a few
    lines of each tcpdump.err; the window's counts from them are the counts from the whole
    file, for windows before, between, across and after the samples."""
    t0 = 1_800_000_000 * S

    def line(captured: int, dropped: int) -> str:
        return (f"tcpdump: {captured} packets captured, {captured + dropped} packets received "
                f"by filter, {dropped} packets dropped by kernel")  # fmt: skip

    live = [
        "ets dropped by kernel",  # the first line cut in half when the file was trimmed
        f"netdiag-counts {t0 + 10 * S}", line(100, 7),
        f"netdiag-counts {t0 + 20 * S}", line(200, 7),
        f"netdiag-counts {t0 + 30 * S}", f"netdiag-counts {t0 + 30 * S + 1}", line(300, 9),
        "tcpdump: pcap_loop: something the kernel said",
        f"netdiag-counts {t0 + 40 * S}", line(400, 12),
    ]  # fmt: skip
    ended = [*live[1:5], "410 packets captured", "422 packets received by filter",
             "12 packets dropped by kernel"]  # fmt: skip  # tcpdump's last words, on exit
    old = ["tcpdump: listening on eth0", *ended[-3:]]  # a recorder that never sampled
    asked = [*live, f"netdiag-counts {t0 + 50 * S}"]  # asked, not (yet) answered
    texts = {"live": live, "ended": ended, "old": old, "asked": asked}
    for name, lines in texts.items():
        (tmp_path / f"netdiag-rec-x.cap-{name}").mkdir()
        (tmp_path / f"netdiag-rec-x.cap-{name}" / "tcpdump.err").write_text("\n".join(lines))
    files = sorted(str(f) for f in tmp_path.glob("netdiag-rec-x.cap-*/tcpdump.err"))
    alive = "".join(f"@alive 1 {Path(f).parent}\n" for f in files)
    times = [t0 + k * S // 2 for k in range(0, 100, 7)]  # 0 .. 49.5 s, never on a sample
    for lo, hi in itertools.combinations(times, 2):
        out = subprocess.run([*awk, "-v", f"lo={lo}", "-v", f"hi={hi}", COUNTS_AWK, *files],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        sent = {r.directory.rsplit("-", 1)[1]: r for r in parse_counts("n1", alive + out).recorders}
        for name, lines in texts.items():
            whole = count_samples("\n".join(lines))
            rec = sent[name]
            assert counts_in_window(rec.samples, lo, hi) == counts_in_window(whole, lo, hi)
            if name in ("ended", "old"):  # its last words: the counts of its whole life
                assert rec.stats == parse_stats(lines[-3:])
            assert rec.unanswered_ns == (t0 + 50 * S if name == "asked" else None)
            assert len(out.splitlines()) <= 4 * 7  # a few lines per file, not the file


# -- a whole snapshot, on this machine (LocalTransport: no SSH, the same code paths) ------------


def recorder_on_disk(capdir: Path, name: str, label: str, rings: list[bytes]) -> Path:
    """What a recorder leaves in its directory: meta, ring files, tcpdump.err with samples."""
    d = capdir / f"netdiag-rec-{name}.cap-{label}"
    d.mkdir(parents=True)
    (d / "meta").write_text(f"name={name}\nkind=cap\nlabel={label}\niface={label}\nfiles=3\n"
                            "snaplen=512\nstarted=1000\n")  # fmt: skip
    for i, data in enumerate(rings):
        (d / f"ring.pcap{i}").write_bytes(data)
    return d


async def test_a_snapshot_cuts_the_window_and_counts_its_drops(tmp_path: Path) -> None:
    capdir = tmp_path / "cap"
    t0 = 1_800_000_000 * S
    old = pcap([(t0 + i * S, frame(i)) for i in range(10)])  # 0..9 s
    new = pcap([(t0 + i * S, frame(i)) for i in range(10, 20)])  # 10..19 s
    d = recorder_on_disk(capdir, "x", "eth0", [old, new])
    os.utime(d / "ring.pcap0", (t0 // S + 9, t0 // S + 9))
    os.utime(d / "ring.pcap1", (t0 // S + 19, t0 // S + 19))

    def line(captured: int, dropped: int) -> str:
        return (f"tcpdump: {captured} packets captured, {captured} packets received by filter,"
                f" {dropped} packets dropped by kernel")  # fmt: skip

    (d / "tcpdump.err").write_text("\n".join([
        "tcpdump: listening on eth0", f"netdiag-counts {t0 + 5 * S}", line(5, 40),
        f"netdiag-counts {t0 + 15 * S}", line(15, 42), f"netdiag-counts {t0 + 25 * S}",
        line(20, 42), "",
    ]))  # fmt: skip
    node = NodeSpec(name="n1", host="localhost", capture_dir=str(capdir))
    inventory = Inventory(tmp_path / "inv.yaml", (node,))
    out = tmp_path / "snap"
    window = Window(t0 + 12 * S, t0 + 14 * S)  # this machine's clock is the node's here
    snap = await take_snapshot(inventory, name="x", window=window, out=out,
                               factory=lambda n, kind: LocalTransport(n))  # fmt: skip
    (point,) = snap.points
    assert point.files_fetched == ["ring.pcap1"]  # pcap0 ended at 9 s: the next one says so
    assert point.packets == 3  # 12, 13, 14 s
    manifest = json.loads((out / "manifest.json").read_text())
    (capture,) = manifest["captures"]
    # counts between the samples around the window (5 s .. 15 s): 2 drops, not the 42 of its life
    assert capture["stats"] == {"captured": 10, "received": 10, "dropped": 2}
    cut = (out / capture["file"]).read_bytes()
    assert first_packet_ns(cut[:40]) == t0 + 12 * S
    # the same snapshot of a recorder that is not there leaves no bundle behind
    gone = tmp_path / "nothing"
    none = await take_snapshot(inventory, name="y", window=window, out=gone,
                               factory=lambda n, kind: LocalTransport(n))  # fmt: skip
    assert none.points == []
    assert not gone.exists()


class WrappingTransport(LocalTransport):
    """A node whose tcpdump wraps onto ring files right after the snapshot has fetched them
    (``rewrite``: file name -> its new bytes); notes which files' first packets are read
    again."""

    def __init__(self, node: NodeSpec, rewrite: dict[str, bytes]) -> None:
        super().__init__(node)
        self.rewrite = dict(rewrite)
        self.heads: list[str] = []

    async def read(self, remote: str, size: int = -1) -> bytes:
        data = await super().read(remote, size)
        name = Path(remote).name
        if not 0 <= size < 100 and name in self.rewrite:  # the whole file was read
            Path(remote).write_bytes(self.rewrite.pop(name))  # tcpdump reopened it
        elif 0 < size < 100 and name.startswith("ring.pcap"):
            self.heads.append(name)
        return data


@pytest.mark.parametrize("wrapped", [["ring.pcap0"], ["ring.pcap0", "ring.pcap1"], []])
async def test_files_the_ring_wraps_onto_during_the_fetch_are_left_out(
    tmp_path: Path, wrapped: list[str]
) -> None:
    capdir = tmp_path / "cap"
    t0 = 1_800_000_000 * S
    rings = [pcap([(t0 + (10 * k + i) * S, frame(i)) for i in range(10)]) for k in range(3)]
    d = recorder_on_disk(capdir, "x", "eth0", rings)  # 0..9 s, 10..19 s, 20..29 s
    for k in range(3):
        os.utime(d / f"ring.pcap{k}", (t0 // S + 10 * k + 9,) * 2)
    later = {n: pcap([(t0 + (30 + i) * S, frame(i)) for i in range(3)]) for n in wrapped}
    node = NodeSpec(name="n1", host="localhost", capture_dir=str(capdir))
    transport = WrappingTransport(node, later)
    snap = await take_snapshot(Inventory(tmp_path / "inv.yaml", (node,)), name="x",
                               window=Window(t0 + 5 * S, t0 + 25 * S), out=tmp_path / "snap",
                               factory=lambda n, kind: transport)  # fmt: skip
    (point,) = snap.points
    assert point.files_fetched == ["ring.pcap0", "ring.pcap1", "ring.pcap2"]
    in_window = {"ring.pcap0": 5, "ring.pcap1": 10, "ring.pcap2": 6}  # 5..9, 10..19, 20..25 s
    assert point.packets == sum(n for f, n in in_window.items() if f not in wrapped)
    said = [p.partition(":")[0] for p in point.problems if "the ring wrapped onto it" in p]
    assert said == wrapped
    # oldest first, until one has not changed: the newer files are not read again
    assert transport.heads == [f"ring.pcap{k}" for k in range(len(wrapped) + 1)]


@pytest.mark.parametrize("answered", [True, False])
async def test_a_tcpdump_that_does_not_answer_for_its_counts_is_named(
    tmp_path: Path, answered: bool
) -> None:
    """Asked for its counts after the window (the snapshot's sample) and silent since its last
    sample before the window ended: stuck or stopped. Its point says so, and covers no later
    than that last answer (so a packet missing there is not taken for a drop)."""
    capdir = tmp_path / "cap"
    t0 = 1_700_000_000 * S  # in the past: the window has ended by now
    d = recorder_on_disk(capdir, "x", "eth0", [pcap([(t0 + i * S, frame(i)) for i in range(12)])])
    os.utime(d / "ring.pcap0", (t0 // S + 11,) * 2)
    (d / "supervisor.pid").write_text(f"{os.getpid()}\n")  # a live supervisor
    counts = (
        "tcpdump: 9 packets captured, 9 packets received by filter, 0 packets dropped by kernel"
    )
    err = [f"netdiag-counts {t0 + 5 * S}", counts, f"netdiag-counts {t0 + 11 * S}", counts,
           f"netdiag-counts {t0 + 20 * S}", *([counts] if answered else [])]  # fmt: skip
    (d / "tcpdump.err").write_text("\n".join(err) + "\n")
    node = NodeSpec(name="n1", host="localhost", capture_dir=str(capdir))
    snap = await take_snapshot(Inventory(tmp_path / "inv.yaml", (node,)), name="x",
                               window=Window(t0 + 8 * S, t0 + 14 * S), out=tmp_path / "snap",
                               factory=lambda n, kind: LocalTransport(n))  # fmt: skip
    (point,) = snap.points
    said = [p for p in point.problems if "did not answer" in p]
    capture = snap.record.captures[0]
    if answered:
        assert said == []
        assert capture.until_ns == pytest.approx(t0 + 14 * S, abs=S // 1000)  # the window's end
    else:
        (problem,) = said
        assert "its last answer: 2023-11-14T22:13:31.000 UTC" in problem
        assert capture.until_ns == t0 + 11 * S


def test_orphaned_sftp_io_errors_are_quiet_and_others_are_not() -> None:
    loop = asyncio.new_event_loop()
    seen: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        _quiet_orphaned_sftp_io(loop)
        _quiet_orphaned_sftp_io(loop)  # once only

        async def _start_task() -> None:
            return None

        _start_task.__qualname__ = "_SFTPParallelIO._start_task"
        orphan = loop.create_task(_start_task())
        loop.run_until_complete(orphan)
        handler = loop.get_exception_handler()
        assert handler is not None
        handler(loop, {"exception": asyncssh.SFTPConnectionLost("gone"), "future": orphan})
        assert seen == []
        other = {"exception": ValueError("mine"), "message": "x"}
        handler(loop, other)
        assert seen == [other]
    finally:
        loop.close()
