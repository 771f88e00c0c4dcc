"""Reading a remote file into memory over SFTP, requests in parallel (asyncssh backend)."""

from __future__ import annotations

import asyncio
import random

import asyncssh
import pytest

from netdiag.transport.asyncssh_backend import READS_IN_FLIGHT, _read_parallel, _readdir


class FakeFile:
    """An open remote file: answers each read after a random delay (out of order), at most
    ``most`` bytes per answer, EOF past the end; notes how many reads were in flight."""

    def __init__(self, data: bytes, most: int, seed: int) -> None:
        self.data = data
        self.most = most
        self.rng = random.Random(seed)
        self.flying = 0
        self.reads = 0
        self.peak = 0

    async def read(self, size: int, offset: int) -> bytes:
        self.flying += 1
        self.reads += 1
        self.peak = max(self.peak, self.flying)
        try:
            await asyncio.sleep(self.rng.random() / 1000)
            if offset >= len(self.data):
                raise asyncssh.SFTPEOFError("end of file")
            return self.data[offset : offset + min(size, self.most)]
        finally:
            self.flying -= 1


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("length", "asked", "most"),
    [
        (1_000_000, 1_000_000, 65536),  # whole answers
        (1_000_000, 1_000_000, 10_000),  # a server that answers less than asked
        (700_000, 1_000_000, 65536),  # the file was truncated after its size was read
        (0, 300_000, 65536),  # ... to nothing
    ],
)
async def test_a_file_read_in_parallel_is_its_bytes_in_order(
    seed: int, length: int, asked: int, most: int
) -> None:
    data = random.Random(seed).randbytes(length)
    fh = FakeFile(data, most, seed)
    got: list[bytes] = []
    await _read_parallel(fh, asked, 65536, got.append)  # type: ignore[arg-type]
    assert b"".join(got) == data[:asked]
    assert all(got)  # no empty piece
    assert fh.peak == min(READS_IN_FLIGHT, -(-asked // 65536))  # in parallel, and no more


async def test_a_sink_that_fails_stops_the_read_and_its_error_is_raised() -> None:
    data = random.Random(7).randbytes(2_000_000)
    fh = FakeFile(data, 65536, 7)
    got: list[bytes] = []

    def sink(piece: bytes) -> None:
        if len(got) == 3:
            raise OSError(28, "No space left on device")
        got.append(piece)

    with pytest.raises(OSError, match="No space"):
        await _read_parallel(fh, len(data), 65536, sink)  # type: ignore[arg-type]
    assert b"".join(got) == data[: 3 * 65536]
    assert fh.flying == 0  # no read left behind
    reads = fh.reads
    await asyncio.sleep(0.01)
    assert fh.reads == reads  # and none asked for after


class FakeHandler:
    """An SFTP server's answers to a directory: ``batches`` of names per READDIR, then EOF;
    notes the requests in the order they were sent."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.sent: list[str] = []
        self.read = 0

    async def opendir(self, path: bytes) -> bytes:
        self.sent.append(f"opendir {path.decode()}")
        await asyncio.sleep(0)
        return b"h1"

    async def readdir(self, handle: bytes) -> tuple[list[asyncssh.SFTPName], bool]:
        self.sent.append("readdir")
        await asyncio.sleep(0)
        if self.read >= len(self.batches):
            raise asyncssh.SFTPEOFError("end")
        self.read += 1
        return [asyncssh.SFTPName(n.encode()) for n in self.batches[self.read - 1]], False

    async def close(self, handle: bytes) -> None:
        self.sent.append("close")


class FakeSftp:
    def __init__(self, batches: list[list[str]]) -> None:
        self._handler = FakeHandler(batches)
        self.batches = batches
        self.plain_reads = 0

    def compose_path(self, path: str) -> bytes:
        return path.encode()

    def decode(self, name: bytes) -> str:
        return name.decode()

    async def readdir(self, path: str) -> list[asyncssh.SFTPName]:
        self.plain_reads += 1
        return [asyncssh.SFTPName(n) for batch in self.batches for n in batch]


@pytest.mark.parametrize(
    ("batches", "usual"),
    [
        ([["a", "b"]], False),  # one answer holds them all: two round trips
        ([], False),  # nothing at all
        ([["a"], ["b"]], True),  # more than one answer: read again the usual way
    ],
)
async def test_a_directory_is_listed_in_two_round_trips(
    batches: list[list[str]], usual: bool
) -> None:
    sftp = FakeSftp(batches)
    names = await _readdir(sftp, "/d")
    assert [n.filename for n in names] == [n for batch in batches for n in batch]
    assert sftp.plain_reads == usual
    # the second ask and the close go out without waiting for the first answer
    assert sftp._handler.sent[:4] == ["opendir /d", "readdir", "readdir", "close"]


async def test_without_the_handler_a_directory_is_listed_the_usual_way() -> None:
    sftp = FakeSftp([["a"]])
    sftp._handler = None  # type: ignore[assignment]
    assert [n.filename for n in await _readdir(sftp, "/d")] == ["a"]
    assert sftp.plain_reads == 1


async def test_answers_of_another_shape_are_read_the_usual_way() -> None:
    # an asyncssh whose handler answers READDIR otherwise: not guessed at, read the usual way
    sftp = FakeSftp([["a", "b"]])

    async def names_only(handle: bytes) -> list[asyncssh.SFTPName]:
        return [asyncssh.SFTPName(b"a"), asyncssh.SFTPName(b"b")]

    sftp._handler.readdir = names_only  # type: ignore[method-assign]
    assert [n.filename for n in await _readdir(sftp, "/d")] == ["a", "b"]
    assert sftp.plain_reads == 1
