"""walk_frames / read_frame: raw frames for export and the detail views."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdiag.errors import CaptureFormatError, InputError
from netdiag.pcap import read_frame, walk_frames
from tests.unit.pcap.pcap_builders import epb, idb, pcap_bytes, shb, write

FRAMES = [(1_700_000_000_123_456_000 + i * 1000, bytes([i]) * (20 + i)) for i in range(5)]


def test_walk_frames_indexes_every_frame(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pcap", pcap_bytes(FRAMES, linktype=101))
    index = walk_frames(path, chunk_bytes=4096)
    assert len(index) == 5
    raw = Path(path).read_bytes()
    for i, (ts, data) in enumerate(FRAMES):
        start = int(index.offset[i])
        assert raw[start : start + int(index.caplen[i])] == data
        assert int(index.ts_ns[i]) == ts
    assert set(index.linktype.tolist()) == {101}
    assert index.format == "pcap"


def test_read_frame_returns_bytes_and_interface(tmp_path: Path) -> None:
    e = ">"
    content = (
        shb(e)
        + idb(e, 1, "eth0", tsresol=9)
        + idb(e, 113, "any")
        + epb(e, 0, 5_000_000_000, b"A" * 60)
        + epb(e, 1, 7_000_000, b"B" * 44)
    )
    path = write(tmp_path, "b.pcapng", content)
    second = read_frame(path, 2)
    assert (second.linktype, second.interface, second.data) == (113, "any", b"B" * 44)
    assert second.ts_ns == 7_000_000_000
    first = read_frame(path, 1)
    assert (first.ts_ns, first.caplen, first.interface) == (5_000_000_000, 60, "eth0")


def test_read_frame_out_of_range_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pcap", pcap_bytes(FRAMES))
    with pytest.raises(InputError, match=r"has no frame 9 \(it has 5"):
        read_frame(path, 9)
    with pytest.raises(InputError, match="start at 1"):
        read_frame(path, 0)


def test_not_a_capture(tmp_path: Path) -> None:
    path = write(tmp_path, "x.pcap", b"hello world, not a capture")
    with pytest.raises(CaptureFormatError, match="not a pcap or pcapng"):
        walk_frames(path)


def test_read_frame_with_an_index_seeks_directly(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pcap", pcap_bytes(FRAMES))
    index = walk_frames(path)
    for n in (1, 3, 5):
        assert read_frame(path, n, index=index) == read_frame(path, n)
    with pytest.raises(InputError, match="has no frame 6"):
        read_frame(path, 6, index=index)
