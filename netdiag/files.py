"""Opening the files a user names, and reading the small text ones, without hanging or crashing.

A named pipe (FIFO) opened for reading blocks until some process opens it for writing, which may
be never, and a character device such as ``/dev/zero`` never ends: both are refused up front
with a message that says what the path is. The file is opened with ``O_NONBLOCK`` so that the
open itself cannot block on a FIFO; the flag has no effect on reads of a regular file.

Text files (inventories, probe plans, JSON documents) are read whole, so they have a size
limit, must be UTF-8 and must not hold NUL bytes; errors give the line and byte offset.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from netdiag.errors import InputError

__all__ = [
    "describe_kind",
    "is_directory",
    "is_regular",
    "open_regular",
    "printable",
    "read_text",
    "require_regular",
    "stat_mode",
]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def describe_kind(mode: int) -> str:
    """What a non-regular file is, for messages: 'a named pipe (FIFO)', 'a directory', ..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def stat_mode(path: str | Path) -> int | None:
    """``st_mode`` of ``path``, or None when it cannot be known (missing, a name too long for
    the filesystem, no permission, a NUL byte): asking never raises."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def is_directory(path: str | Path) -> bool:
    """Whether ``path`` is a directory, without raising (see :func:`stat_mode`)."""
    mode = stat_mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def is_regular(path: str | Path) -> bool:
    """Whether ``path`` is a regular file (``Path.is_file`` raises for a name over 255 bytes)."""
    mode = stat_mode(path)
    return mode is not None and stat.S_ISREG(mode)


def require_regular(path: str | Path, what: str, error: type[InputError] = InputError) -> None:
    """Raise ``error`` unless ``path`` is a regular file, saying what it is instead."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise error(f"{path}: no such {what}; check the path") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror}); check the path") from exc
    except ValueError as exc:
        raise error(f"{path!r}: a NUL byte in the file name; check the path") from exc
    if not stat.S_ISREG(mode):
        raise error(
            f"{path}: not a regular file but {describe_kind(mode)}; "
            f"give the {what} as a regular file"
        )


def printable(name: str) -> str:
    """A name taken from a file name, as text: bytes that are not UTF-8 (which Python carries
    as lone surrogates, and which no UTF-8 writer accepts) become ``\\xff`` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def open_regular(path: str | Path, what: str, error: type[InputError] = InputError) -> int:
    """A read-only descriptor of ``path``, which must be a regular file (the caller closes it).

    ``what`` names the file for the message, e.g. "inventory" or "capture file".
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror}); check the path") from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:  # pragma: no cover - fstat of an open descriptor does not fail
        os.close(fd)
        raise error(f"{path}: cannot open the {what} ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(
            f"{path}: not a regular file but {describe_kind(mode)}; "
            f"give the {what} as a regular file"
        )
    return fd


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: str | Path, what: str, limit: int, error: type[InputError] = InputError) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes, without NUL bytes."""
    fd = open_regular(path, what, error)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    if len(data) > limit:
        raise error(
            f"{path}: over the {limit // (1 << 20)} MiB size limit of the {what}; "
            "check that this is the file you meant, or split it"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}:{_line_of(data, exc.start)}: not UTF-8 text (byte {exc.start} is "
            f"{data[exc.start]:#04x}); save the {what} as UTF-8"
        ) from exc
    nul = data.find(b"\0")
    if nul >= 0:
        raise error(
            f"{path}:{_line_of(data, nul)}: NUL byte at byte {nul}: not a text file; "
            f"give the {what} as text"
        )
    return text
