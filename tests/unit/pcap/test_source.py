"""The capture source keeps one window resident: the previous one is unmapped or given back."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netdiag.pcap import source
from netdiag.pcap.source import ALIGN, MmapSource, PreadSource, open_source
from tests.unit.pcap.pcap_builders import pcap_bytes


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


def test_a_file_another_process_writes_is_read_not_mapped(tmp_path: Path) -> None:
    """A running tcpdump's file may be truncated under us: no memory map (SIGBUS), plain reads."""
    path = _file(tmp_path)
    writer = subprocess.Popen(["sh", "-c", 'exec 3>>"$0"; echo ready; exec sleep 30', str(path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        with open(path, "rb") as fh:
            assert isinstance(open_source(fh), PreadSource)
    finally:
        writer.kill()
        writer.communicate()
    with open(path, "rb") as fh:  # the writer is gone: mapped again, under a lease
        assert isinstance(open_source(fh), MmapSource)


def test_a_file_we_may_not_lease_is_read_not_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's file (EACCES) or a filesystem without leases (EINVAL): nothing would
    stop its owner from truncating it mid-read, so it is never mapped."""

    def refused(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == source.fcntl.F_SETLEASE:
            raise OSError(errno.EACCES, "not the owner")
        return 0

    monkeypatch.setattr(source.fcntl, "fcntl", refused)
    with open(_file(tmp_path), "rb") as fh:
        src = open_source(fh)
        assert isinstance(src, PreadSource)
        data, eof = src.window(ALIGN, 2 * ALIGN)
        assert (bytes(data[:3]), len(data), eof) == (bytes(range(3)), 2 * ALIGN, True)


TRUNCATE_WHILE_READING = """
import os, sys
from netdiag.pcap import iter_capture
path = sys.argv[1]
writer = os.open(path, os.O_WRONLY)  # like tcpdump -W, still holding the file
rows = 0
for i, table in enumerate(iter_capture(path, point="n/eth0", chunk_bytes=1 << 16)):
    rows += len(table)
    if i == 0:
        os.ftruncate(writer, 4096)  # the ring wraps: the file shrinks under the reader
print(rows)
"""


def test_a_file_truncated_while_read_ends_short_instead_of_killing_the_process(
    tmp_path: Path,
) -> None:
    frame = bytes(14) + bytes(986)
    path = tmp_path / "ring.pcap"
    path.write_bytes(pcap_bytes([(i * 1000, frame) for i in range(2000)]))  # ~2 MB
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATE_WHILE_READING, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])  # -7 would be SIGBUS
    assert 0 < int(proc.stdout) < 2000


TRUNCATED_BY_A_LATER_WRITER = """
import signal, subprocess, sys, threading
from netdiag.pcap.container import CaptureFile
path = sys.argv[1]
shrink = "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.ftruncate(fd, 4096)"
breaking = threading.Event()
signal.signal(signal.SIGURG, lambda signum, frame: breaking.set())  # the lease-break signal
cf = CaptureFile(path, chunk_bytes=1 << 16)
rows, writer = 0, None
for i, batch in enumerate(cf.batches()):
    rows += len(batch)
    if i == 0:  # mapped under our lease; now a tcpdump -W ring wraps onto the file
        writer = subprocess.Popen([sys.executable, "-c", shrink, path])
        assert breaking.wait(timeout=60)  # its open() waits for us to give the lease up
    elif i == 1:  # this window dropped the map and the lease: the writer truncates
        assert writer.wait(timeout=60) == 0
print(rows, len(cf.info.warnings), cf.info.warnings[0].message if cf.info.warnings else "")
"""


def test_a_file_truncated_by_a_writer_that_came_later_ends_short_instead_of_killing_us(
    tmp_path: Path,
) -> None:
    """An old file, nobody writing it when the read starts, so it is memory-mapped; then a
    process opens it for writing and truncates it mid-read (before: SIGBUS)."""
    frame = bytes(14) + bytes(986)
    path = tmp_path / "old.pcap"
    path.write_bytes(pcap_bytes([(i * 1000, frame) for i in range(2000)]))  # ~2 MB
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATED_BY_A_LATER_WRITER, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-800:])  # -7 would be SIGBUS
    rows, warnings, message = proc.stdout.split(" ", 2)
    assert 0 < int(rows) < 2000
    assert warnings == "1"
    assert "shrank" in message


def test_a_file_that_shrank_before_its_window_was_mapped_is_read_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease was broken by the kernel's timeout and the file cut before the next window,
    unnoticed: mmap refuses ("mmap length is greater than file size"); the rest is read."""
    monkeypatch.setattr(source, "_writer_waiting", lambda fd: False)
    path = _file(tmp_path)
    with open(path, "rb") as fh:
        src = open_source(fh)
        assert isinstance(src, MmapSource)
        source._unlease(fh.fileno())  # what the kernel does when lease-break-time is over
        with open(path, "r+b") as writer:
            writer.truncate(ALIGN + 10)
        data, eof = src.window(ALIGN, 2 * ALIGN)
        assert (len(data), eof) == (10, True)
        src.release()
