"""The capture source keeps one window resident: the previous one is unmapped or given back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netdiag.pcap.source import ALIGN, MmapSource, open_source


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * (3 * ALIGN // 256))
    return path


def test_previous_window_is_unmapped(tmp_path: Path) -> None:
    with open(_file(tmp_path), "rb") as fh:
        src = open_source(fh)
        assert isinstance(src, MmapSource)
        first, _ = src.window(0, ALIGN)
        second, eof = src.window(ALIGN, 2 * ALIGN)
        assert eof
        assert bytes(second[:2]) == bytes(range(2))
        with pytest.raises(ValueError, match="closed"):
            first[0]  # closed: no longer mapped
        src.release()
        with pytest.raises(ValueError, match="closed"):
            second[0]


def test_window_still_viewed_by_numpy_reads_right_after_release(tmp_path: Path) -> None:
    """A batch's numpy view outlives its window: its pages are dropped, not its meaning."""
    with open(_file(tmp_path), "rb") as fh:
        src = open_source(fh)
        first, _ = src.window(0, ALIGN)
        view = np.frombuffer(first, dtype=np.uint8)
        src.window(ALIGN, ALIGN)  # cannot unmap `first` (exported): MADV_DONTNEED instead
        assert view[:4].tolist() == [0, 1, 2, 3]
        assert int(view[ALIGN - 1]) == 255
        del view
