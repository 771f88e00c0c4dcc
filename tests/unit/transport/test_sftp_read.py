"""Reading a remote file into memory over SFTP, requests in parallel (asyncssh backend)."""

from __future__ import annotations

import asyncio
import random

import asyncssh
import pytest

from netdiag.transport.asyncssh_backend import READS_IN_FLIGHT, _read_parallel


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
