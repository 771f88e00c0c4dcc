"""pcap / pcapng containers: magic, byte order, resolution, interfaces, comments, drops, damage,
chunked reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from netdiag.errors import CaptureFormatError
from netdiag.pcap import iter_capture, read_capture
from netdiag.pcap.schema import COLUMN_NAMES, DTYPES
from tests.unit.pcap.pcap_builders import epb, idb, isb, pcap_bytes, shb, spb, write

FRAME = bytes(Ether(src="02:00:00:00:00:01") / IP(src="10.9.8.7", dst="10.0.0.1") / UDP() / b"hi")


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_magic_variants(tmp_path: Path, big_endian: bool, nano: bool) -> None:
    ts = 1_700_000_000_123_456_789
    path = write(tmp_path, "a.cap", pcap_bytes([(ts, FRAME)], big_endian=big_endian, nano=nano))
    cap = read_capture(path)
    assert cap.info.format == "pcap"
    assert cap.info.byte_order == ("big" if big_endian else "little")
    assert int(cap.table["ts_ns"][0]) == (ts if nano else ts - 789)


def test_table_has_the_schema_columns_and_dtypes(tmp_path: Path) -> None:
    table = read_capture(write(tmp_path, "n1__eth1.pcap", pcap_bytes([(0, FRAME)] * 3))).table
    assert tuple(table.columns) == COLUMN_NAMES
    for name in COLUMN_NAMES:
        assert str(table[name].dtype) == DTYPES[name], name
    assert list(table["frame"]) == [1, 2, 3]
    assert (table["point"][0], table["node"][0], table["iface"][0]) == ("n1/eth1", "n1", "eth1")


def test_pcapng_sections_interfaces_flags_comments_drops(tmp_path: Path) -> None:
    le, be = "<", ">"
    content = (
        shb(le, comment="first section")
        + idb(le, 1, "eth0", tsresol=9)
        + epb(le, 0, 1_500_000_000, FRAME, flags=1, comment="hello")
        + isb(le, 0, ifdrop=17)
        + shb(be)  # a second section in the other byte order, with its own interfaces
        + idb(be, 1, "ovn0")
        + idb(be, 1, "eth1", tsresol=0x80 | 10)  # 2^-10 s
        + epb(be, 1, 2048, FRAME, flags=2)
        + spb(be, FRAME)
    )
    cap = read_capture(write(tmp_path, "c.pcapng", content))
    t = cap.table
    assert list(t["iface"].astype(str)) == ["eth0", "eth1", "ovn0"]
    assert list(t["direction"].astype(str)) == ["in", "out", "unknown"]
    assert list(t["ifindex"]) == [0, 2, 1]
    assert list(t["ts_ns"])[:2] == [1_500_000_000, 2_000_000_000]
    assert cap.info.section_comments == ["first section"]
    assert cap.info.packet_comments == {1: ["hello"]}
    assert cap.info.kernel_dropped == 17
    assert [i.name for i in cap.info.interfaces] == ["eth0", "ovn0", "eth1"]
    assert cap.info.byte_order == "little"
    assert cap.info.warnings == []


def test_chunked_reading_gives_the_same_table(tmp_path: Path) -> None:
    frames = [(i * 1000, FRAME + bytes(i % 50)) for i in range(3000)]
    path = write(tmp_path, "big.pcap", pcap_bytes(frames))
    whole = read_capture(path).table
    chunked = read_capture(path, chunk_bytes=4096).table
    pd.testing.assert_frame_equal(whole, chunked)
    parts = list(iter_capture(path, chunk_bytes=8192))
    assert len(parts) > 5
    assert sum(len(p) for p in parts) == 3000


@pytest.mark.parametrize("suffix", [".pcap", ".pcapng"])
def test_truncation_anywhere_keeps_earlier_frames(tmp_path: Path, suffix: str) -> None:
    if suffix == ".pcap":
        content = pcap_bytes([(i, FRAME) for i in range(4)])
    else:
        content = shb("<") + idb("<", 1) + b"".join(epb("<", 0, i, FRAME) for i in range(4))
    whole = read_capture(write(tmp_path, "w" + suffix, content), point="p").table
    header = 24 if suffix == ".pcap" else len(shb("<"))
    for cut in sorted({*range(header, len(content), 3), *range(header, header + 20)}):
        cap = read_capture(write(tmp_path, "t" + suffix, content[:cut]), point="p")
        n = len(cap.table)
        pd.testing.assert_frame_equal(
            cap.table, whole.iloc[:n].reset_index(drop=True), check_categorical=False
        )
        if cap.info.warnings:
            (w,) = cap.info.warnings
            assert w.frame == n + 1
            assert header <= w.offset < cut
            assert "cut short" in w.message


def test_corrupt_record_length_is_a_warning(tmp_path: Path) -> None:
    content = bytearray(pcap_bytes([(0, FRAME), (1, FRAME), (2, FRAME)]))
    second = 24 + 16 + len(FRAME)
    content[second + 8 : second + 12] = (0x7FFFFFFF).to_bytes(4, "little")
    cap = read_capture(write(tmp_path, "c.pcap", bytes(content)))
    assert len(cap.table) == 1
    (w,) = cap.info.warnings
    assert (w.frame, w.offset) == (2, second)
    assert "impossible record length" in w.message
    assert str(w).startswith(str(tmp_path))
    assert "frame 2 at byte" in str(w)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"GET / HTTP/1.1\r\n", "not a pcap or pcapng"),
        (b"\x1f\x8b\x08\x00", "gunzip"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated inside its 24-byte pcap header"),
    ],
)
def test_not_a_capture_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, "bad.pcap", content)
    with pytest.raises(CaptureFormatError, match=message) as err:
        read_capture(path)
    assert "\n" not in str(err.value)
    assert path in str(err.value)


def test_unknown_link_type(tmp_path: Path) -> None:
    path = write(tmp_path, "u.pcap", pcap_bytes([(0, FRAME)], linktype=147))
    with pytest.raises(CaptureFormatError, match=r"link type 147 .* not supported"):
        read_capture(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError, match="cannot open"):
        read_capture(tmp_path / "nope.pcap")


def test_reading_from_a_pipe(tmp_path: Path) -> None:
    import os
    import threading

    content = pcap_bytes([(i, FRAME) for i in range(500)])
    fifo = tmp_path / "fifo.pcap"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(content)

    writer = threading.Thread(target=feed)
    writer.start()
    table = read_capture(fifo, chunk_bytes=4096).table
    writer.join()
    assert len(table) == 500
    assert table["src_lo"].iloc[-1] == 0xFFFF_0A09_0807


def test_section_header_longer_than_a_chunk(tmp_path: Path) -> None:
    content = (
        shb("<") + idb("<", 1) + epb("<", 0, 1, FRAME)
        + shb(">", comment="x" * 9000) + idb(">", 1) + epb(">", 0, 2, FRAME)
    )  # fmt: skip
    cap = read_capture(write(tmp_path, "s.pcapng", content), chunk_bytes=4096)
    assert len(cap.table) == 2
    assert cap.info.warnings == []
    assert cap.info.section_comments == ["x" * 9000]


@pytest.mark.parametrize("chunk", [4096, 16 << 20])
def test_the_first_damage_is_the_one_reported(tmp_path: Path, chunk: int) -> None:
    """A packet of an undeclared interface (frame 3), then an impossible block (frame 5): the
    read ends at frame 3, and that is what the warning names, whatever the chunk size."""
    content = (
        shb("<") + idb("<", 1) + epb("<", 0, 1, FRAME) + epb("<", 0, 2, FRAME)
        + epb("<", 3, 3, FRAME) + epb("<", 0, 4, FRAME) + b"\x06\0\0\0\x05\0\0\0" + bytes(40)
    )  # fmt: skip
    cap = read_capture(write(tmp_path, "d.pcapng", content), chunk_bytes=chunk)
    assert len(cap.table) == 2
    (w,) = cap.info.warnings
    assert w.frame == 3
    assert "interface 3" in w.message


@pytest.mark.parametrize(
    ("tsresol", "tsoffset", "expected_ns"),
    [
        (9, -5, 1_000 - 5_000_000_000),
        (0x7F, None, 0),  # 10^-127 s units: 1000 of them are far below a nanosecond
        (0xFF, None, 0),  # 2^-127 s
        (9, 1 << 62, 2**63 - 1),  # seconds beyond the year 2262: the latest time there is
        (9, -(1 << 62), -(2**63 - 1) + 1_000),
    ],
)
def test_extreme_interface_time_options_saturate_instead_of_crashing(
    tmp_path: Path, tsresol: int, tsoffset: int | None, expected_ns: int
) -> None:
    content = shb("<") + idb("<", 1, tsresol=tsresol, tsoffset=tsoffset) + epb("<", 0, 1000, FRAME)
    cap = read_capture(write(tmp_path, "t.pcapng", content))
    assert cap.table["ts_ns"].tolist() == [expected_ns]
    assert cap.info.warnings == []


RESERVE_UNDER_A_LIMIT = """
import resource, sys
from netdiag.pcap import read_capture
with open("/proc/self/statm", "rb") as statm:
    used = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (200 << 20), resource.RLIM_INFINITY))
cap = read_capture(sys.argv[1], chunk_bytes=4096)
print(len(cap.table))
"""


def test_a_file_that_starts_with_empty_records_is_read_within_a_memory_limit(
    tmp_path: Path,
) -> None:
    """4 KiB of empty records, then 20 MB of 200 KB frames: extrapolating the first chunk's
    density to the whole file would reserve 1.2M rows (~370 MB) for 354 packets."""
    empty = [(0, b"")] * 254
    large = [(1, bytes(200_000))] * 100
    path = write(tmp_path, "e.pcap", pcap_bytes(empty + large))
    proc = subprocess.run(
        [sys.executable, "-c", RESERVE_UNDER_A_LIMIT, path],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-800:]
    assert proc.stdout.split() == ["354"]
