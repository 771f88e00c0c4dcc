"""Where a capture's bytes come from, one window at a time: a memory map of a regular file
(no copy: the walker and the decoder read the page cache directly), or plain reads for pipes
and files that might change under us. Only one window is resident at a time, so memory stays
bounded: before the next window is mapped, the previous one's pages are dropped
(``MADV_DONTNEED``; the file's page cache keeps them, the process' RSS no longer counts them),
and :meth:`release` drops the last one when the read ends. Measured: without this the
file-backed RSS reached about twice ``chunk_bytes``.

Measured on a 1M-packet, 379 MiB file (benchmarks/ingest.py, one busy core): the whole read
takes 0.93-0.98 s of CPU memory-mapped, 1.15-1.19 s read into one reused buffer (preadv): the
copy costs about a fifth. The price of mmap: a file truncated by another process *while* it is
mapped (a ``tcpdump -W`` ring wrapping onto it) raises SIGBUS, which kills the process. So a
file is mapped only under a read lease (fcntl F_SETLEASE), which the kernel grants only while no
process has the file open for writing, and which makes any later ``open`` for writing (needed to
truncate) wait until we give the lease up. Before each window the lease is checked: when a
writer is waiting, the mapping is dropped, the lease released and the rest of the file read
with preadv, so the writer waits for one window (~20 ms) and a truncation shows up as a short,
damaged file with a warning. Where the kernel grants no lease (a writer has the file open,
another user's file without CAP_LEASE, a filesystem without leases) the file is read, never
mapped. The lease-break signal is routed to SIGURG (ignored by default) instead of SIGIO,
whose default action would end the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import signal
import stat
from typing import BinaryIO, Protocol

Window = bytes | mmap.mmap | memoryview


class Source(Protocol):
    size: int | None  # bytes in the file, None when unknown (a pipe)

    def window(self, start: int, want: int) -> tuple[Window, bool]:
        """Bytes [start, start + want) of the file (fewer at its end) and whether that is the end.

        ``start`` must be a multiple of :data:`ALIGN`. The previous window is invalid from here.
        """
        ...

    def release(self) -> None:
        """Drop the current window's memory (the read is over)."""
        ...


ALIGN = mmap.ALLOCATIONGRANULARITY


def _lease(fd: int) -> bool:
    """Take a read lease on ``fd``; False when the kernel refuses one (see the module doc)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError:
        # EAGAIN/EBUSY: open for writing somewhere; EACCES: not ours to lease; EINVAL: no
        # lease support on this filesystem
        return False
    return True


def _writer_waiting(fd: int) -> bool:
    """Whether a process asked to open the leased file for writing (the lease is breaking)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_GETLEASE) != fcntl.F_RDLCK
    except OSError:  # pragma: no cover - F_GETLEASE on an open descriptor does not fail
        return True


def _unlease(fd: int) -> None:
    with contextlib.suppress(OSError):  # already broken by the kernel's lease-break timeout
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)


class PreadSource:
    """A regular file, read window by window into one reused buffer (``os.preadv``); a file
    that shrinks under us gives a short window, never a crash."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fd = fh.fileno()
        self._size = size
        self.size: int | None = size
        self._buffer = bytearray()

    def window(self, start: int, want: int) -> tuple[Window, bool]:
        length = min(want, self._size - start)
        if length <= 0:
            return b"", True
        if len(self._buffer) < length:
            self._buffer = bytearray(length)
        view = memoryview(self._buffer)[:length]
        got = os.preadv(self._fd, [view], start)
        return view[:got], got < length or start + length >= self._size

    def release(self) -> None:
        self._buffer = bytearray()


class MmapSource:
    """A regular file under our read lease, memory-mapped window by window (read-only,
    pre-faulted); from the first window after a writer asked for the file, a
    :class:`PreadSource`."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh = fh
        self._fd = fh.fileno()
        self._size = size
        self.size: int | None = size
        self._view: mmap.mmap | None = None
        self._reader: PreadSource | None = None

    def window(self, start: int, want: int) -> tuple[Window, bool]:
        self._drop_view()
        if self._reader is None and _writer_waiting(self._fd):
            self._reader = PreadSource(self._fh, self._size)
            _unlease(self._fd)  # only now: nothing of the file is mapped any more
        if self._reader is not None:
            return self._reader.window(start, want)
        length = min(want, self._size - start)
        if length <= 0:
            return b"", True
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        try:
            view = mmap.mmap(self._fd, length, flags=flags, prot=mmap.PROT_READ, offset=start)
        except ValueError:  # "mmap length is greater than file size": it shrank after all
            self._reader = PreadSource(self._fh, self._size)
            _unlease(self._fd)
            return self._reader.window(start, want)
        self._view = view
        return view, start + length >= self._size

    def _drop_view(self) -> None:
        """Unmap the window, or, while numpy views of it still exist (the last batch's
        ``data``), drop its pages from this process (they fault back in from the page cache
        if touched again, so a stale view reads right, it just costs a page fault)."""
        view, self._view = self._view, None
        if view is None:
            return
        try:
            view.close()
        except BufferError:  # exported to numpy: cannot unmap, but can give the pages back
            view.madvise(mmap.MADV_DONTNEED)

    def release(self) -> None:
        self._drop_view()
        if self._reader is None:
            _unlease(self._fd)
        else:
            self._reader.release()


class ReadSource:
    """Anything else (a pipe): read, and seek when possible."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.size: int | None = None
        self._start = 0  # file offset of ``_last``
        self._last = b""

    def release(self) -> None:
        self._last = b""

    def window(self, start: int, want: int) -> tuple[Window, bool]:
        if self._fh.seekable():
            self._fh.seek(start)
            data = self._fh.read(want)
            return data, len(data) < want
        # A pipe: windows only move forward; keep the overlap with the last one, read the rest.
        kept = self._last[start - self._start :]
        data = kept + self._fh.read(max(want - len(kept), 0))
        self._start, self._last = start, data
        return data, len(data) < want


def open_source(fh: BinaryIO) -> Source:
    """Memory-map regular non-empty files under a read lease; read everything else."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, ValueError):
        return ReadSource(fh)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return ReadSource(fh)
    if _lease(fh.fileno()):
        # the size again, now that no one can truncate the file without our knowing
        return MmapSource(fh, os.fstat(fh.fileno()).st_size)
    return PreadSource(fh, st.st_size)
