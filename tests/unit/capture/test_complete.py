"""A capture is whole only when its file holds every packet tcpdump counted."""

from __future__ import annotations

from pathlib import Path

from netdiag.capture.complete import FileCount, count_frames, incomplete
from tests.unit.capture.fake_cluster import tiny_pcap

WHERE = "node1:/tmp/small"


def verdict(frames: int, captured: int, free: int | None, damage: str = "") -> str | None:
    count = FileCount(frames, damage)
    return incomplete(where=WHERE, count=count, captured=captured, free_bytes=free, max_file_mb=20)


def test_a_file_with_every_packet_is_whole() -> None:
    assert verdict(84, 84, free=0) is None  # a full disk after the last packet lost nothing


def test_a_short_file_on_a_full_disk_says_so_with_the_numbers() -> None:
    why = verdict(37, 84, free=0)
    assert why is not None
    assert why.startswith("disk full on node1:/tmp/small: file holds 37 of 84 captured packets")
    assert "capture_dir" in why


def test_a_short_file_with_room_left_points_at_the_size_cap() -> None:
    why = verdict(1000, 5000, free=50 << 30)
    assert why is not None
    assert "file holds 1000 of 5000" in why
    assert "capture.max_file_mb (20 MB)" in why


def test_a_cut_last_record_is_not_whole_either(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(tiny_pcap(count=3)[:-10])
    count = count_frames(path)
    assert count.frames == 2
    assert count.damage
    why = verdict(count.frames, 3, free=0, damage=count.damage)
    assert why is not None
    assert why.startswith("disk full on node1:/tmp/small: file holds 2 of 3")
