"""Where a capture's bytes come from, one window at a time: a memory map of a regular file
(no copy: the walker and the decoder read the page cache directly), or plain reads for pipes
and other unmappable files. Only one window is resident at a time, so memory stays bounded:
before the next window is mapped, the previous one's pages are dropped (``MADV_DONTNEED``;
the file's page cache keeps them, the process' RSS no longer counts them), and :meth:`release`
drops the last one when the read ends. Measured: without this the file-backed RSS reached
about twice ``chunk_bytes`` (issue 2).

Measured on a 1M-packet, 767 MB file: mmap 0.81-0.85 s CPU for the whole read, reading into
two reused buffers (preadv) 1.06-1.21 s. The price of mmap: a file truncated by another
process *while* it is being read (a tcpdump -W ring overwriting it) raises SIGBUS, which kills
the process. So a file some process still has open for writing (a running tcpdump's, asked of
the kernel: a read lease is refused while a writer exists) is read with plain reads instead: a
truncation then shows up as a short, damaged file with a warning, not a crash. Where the kernel
cannot say (another user's file, a filesystem without leases), a file modified in the last
:data:`LIVE_SECONDS` is treated the same way.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import time
from typing import BinaryIO, Protocol

Window = bytes | mmap.mmap


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


class MmapSource:
    """A regular file, memory-mapped window by window (read-only, pre-faulted)."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fd = fh.fileno()
        self._size = size
        self.size: int | None = size
        self._view: mmap.mmap | None = None

    def window(self, start: int, want: int) -> tuple[Window, bool]:
        self.release()
        length = min(want, self._size - start)
        if length <= 0:
            return b"", True
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        view = mmap.mmap(self._fd, length, flags=flags, prot=mmap.PROT_READ, offset=start)
        self._view = view
        return view, start + length >= self._size

    def release(self) -> None:
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


class ReadSource:
    """Anything else: seek (when possible) and read."""

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


LIVE_SECONDS = 120.0


def being_written(fd: int, mtime: float, now: float | None = None) -> bool:
    """Whether another process may still write (and truncate) the file under us."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EBUSY):
            return True  # open for writing somewhere
        # not ours to lease (EACCES), or no lease support (EINVAL): judge by age
        return (time.time() if now is None else now) - mtime < LIVE_SECONDS
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)  # never hold it: it would stall the writer
    return False


def open_source(fh: BinaryIO) -> Source:
    """Memory-map regular non-empty files nobody is writing; read everything else."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, ValueError):
        return ReadSource(fh)
    if stat.S_ISREG(st.st_mode) and st.st_size > 0:
        if being_written(fh.fileno(), st.st_mtime):
            return ReadSource(fh)
        return MmapSource(fh, st.st_size)
    return ReadSource(fh)
