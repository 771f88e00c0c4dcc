"""Run on this machine: subprocesses, optionally inside ``ip netns exec NAME``.

Used for the lab's namespaces without SSH and for captures on the machine netdiag runs on.
No shell is involved at all: the argv goes straight to exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from netdiag.errors import CommandError, ConnectError
from netdiag.transport.base import RemoteEntry, Transport

__all__ = ["LocalTransport"]

CHUNK = 65536


class _ProcChannel:
    """A Channel over an asyncio subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    async def read_stdout(self) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(CHUNK)

    async def read_stderr(self) -> bytes:
        assert self._proc.stderr is not None
        return await self._proc.stderr.read(CHUNK)

    async def write_stdin(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        with contextlib.suppress(ConnectionError):
            await self._proc.stdin.wait_closed()

    async def wait(self) -> int:
        return await self._proc.wait()

    def abort(self) -> None:
        # Our own child: reap it rather than leave a zombie or a stray process behind.
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()


class LocalTransport(Transport):
    """The contract on the local machine (``host`` is ignored)."""

    kind = "local"

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def _spawn(self, argv: Sequence[str]) -> _ProcChannel:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # terminal Ctrl-C reaches netdiag, which stops it cleanly
            )
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot start {argv[0]!r}: {exc.strerror}") from exc
        return _ProcChannel(proc)

    async def get(self, remote: str, local: str | Path) -> None:
        await self._copy(remote, str(local))

    async def put(self, local: str | Path, remote: str) -> None:
        await self._copy(str(local), remote)

    async def listdir(self, path: str) -> list[RemoteEntry]:
        def scan() -> list[RemoteEntry]:
            with os.scandir(path) as it:
                out = []
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    out.append(RemoteEntry(e.name, st.st_size, int(st.st_mtime), e.is_dir()))
                return out

        try:
            return await asyncio.to_thread(scan)
        except OSError as exc:
            raise CommandError(f"{self.name}: cannot list {path}: {exc.strerror}") from exc

    async def read(self, remote: str, size: int = -1) -> bytes:
        def whole() -> bytes:
            with open(remote, "rb") as fh:
                return fh.read(size)

        try:
            return await asyncio.to_thread(whole)
        except OSError as exc:
            raise CommandError(f"{self.name}: cannot read {remote}: {exc.strerror}") from exc

    async def _copy(self, src: str, dst: str) -> None:
        try:
            await asyncio.to_thread(shutil.copyfile, src, dst)
        except OSError as exc:
            raise CommandError(
                f"{self.name}: cannot copy {src} to {dst}: {exc.strerror}; check both paths"
            ) from exc
