"""walk_frames: where each raw frame is, for export and the detail views."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdiag.errors import CaptureFormatError
from netdiag.pcap import FrameIndex, walk_frames
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


def _frame(path: str, index: FrameIndex, n: int) -> tuple[int, str, int, bytes]:
    """Frame ``n`` (1-based) through the index: one seek, one read, as the views do."""
    i = n - 1
    with open(path, "rb") as fh:
        fh.seek(int(index.offset[i]))
        data = fh.read(int(index.caplen[i]))
    return (
        int(index.linktype[i]),
        index.interfaces[int(index.interface[i])].name,
        int(index.ts_ns[i]),
        data,
    )


def test_the_index_names_each_frames_interface_and_link_type(tmp_path: Path) -> None:
    e = ">"
    content = (
        shb(e)
        + idb(e, 1, "eth0", tsresol=9)
        + idb(e, 113, "any")
        + epb(e, 0, 5_000_000_000, b"A" * 60)
        + epb(e, 1, 7_000_000, b"B" * 44)
    )
    path = write(tmp_path, "b.pcapng", content)
    index = walk_frames(path)
    assert _frame(path, index, 2) == (113, "any", 7_000_000_000, b"B" * 44)
    assert _frame(path, index, 1) == (1, "eth0", 5_000_000_000, b"A" * 60)


def test_not_a_capture(tmp_path: Path) -> None:
    path = write(tmp_path, "x.pcap", b"hello world, not a capture")
    with pytest.raises(CaptureFormatError, match="not a pcap or pcapng"):
        walk_frames(path)
