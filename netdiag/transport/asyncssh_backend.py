"""The default backend: asyncssh, one connection per node, many channels on it.

Host keys are always checked against an explicit known_hosts: asyncssh *disables* verification
when none of its default files exist, which must never happen silently here. ``accept-new``
trusts a host only when known_hosts has no entry for it at all, then records the key (OpenSSH's
``StrictHostKeyChecking=accept-new``). ~/.ssh/config is honoured (asyncssh reads it by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncssh

from netdiag.errors import (
    AuthError,
    CommandError,
    ConnectError,
    HostKeyError,
    TransportError,
)
from netdiag.inventory import NodeSpec
from netdiag.transport.base import Transport
from netdiag.transport.hostkeys import HostKeys
from netdiag.transport.jump import jump_node

__all__ = ["AsyncsshTransport"]

CHUNK = 65536
KEEPALIVE_S = 15  # sshd's ClientAliveInterval defaults to 0: we keep idle captures alive ourselves


class _SshChannel:
    """A Channel over an asyncssh client process (bytes mode)."""

    def __init__(self, name: str, proc: Any) -> None:
        self._name = name
        self._proc = proc

    async def _read(self, stream: Any) -> bytes:
        try:
            data: bytes = await stream.read(CHUNK)
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"{self._name}: connection lost while reading ({exc})") from exc
        return data

    async def read_stdout(self) -> bytes:
        return await self._read(self._proc.stdout)

    async def read_stderr(self) -> bytes:
        return await self._read(self._proc.stderr)

    async def write_stdin(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"{self._name}: connection lost while writing ({exc})") from exc

    async def close_stdin(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._proc.stdin.write_eof()  # fails only when the channel is already gone

    async def wait(self) -> int:
        try:
            await self._proc.wait(check=False)
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"{self._name}: connection lost ({exc})") from exc
        code = self._proc.returncode
        if code is None:
            raise TransportError(
                f"{self._name}: the connection closed before the command reported its exit; "
                "check the node and the network"
            )
        return int(code)

    def abort(self) -> None:
        self._proc.close()


class AsyncsshTransport(Transport):
    """The contract over asyncssh."""

    kind = "asyncssh"

    def __init__(self, node: NodeSpec) -> None:
        super().__init__(node)
        self._conn: Any = None
        self._sftp: Any = None
        self._jump: AsyncsshTransport | None = None

    async def connect(self) -> None:
        try:
            await self._connect()
        except BaseException:
            await self.close()  # also the jump connection, whatever refused us
            raise

    async def _connect(self) -> None:
        node = self.node
        keys = HostKeys(node)
        tunnel: Any = ()
        jump = jump_node(node)
        if jump is not None:
            self._jump = AsyncsshTransport(jump)
            await self._jump.connect()
            tunnel = self._jump._conn
        options: dict[str, Any] = {
            "port": node.port or (),
            "username": node.user or (),
            "connect_timeout": node.connect_timeout,
            "login_timeout": node.connect_timeout * 3,
            "keepalive_interval": KEEPALIVE_S,
            "keepalive_count_max": 4,
            "tunnel": tunnel,
        }
        if node.identity_file is not None:
            options["client_keys"] = [str(node.identity_file)]
        if not node.agent:
            options["agent_path"] = None
        accept_new = keys.may_accept_new(node.host, node.port or 22)
        options["known_hosts"] = None if accept_new else keys.asyncssh_known_hosts()
        try:
            self._conn = await asyncssh.connect(node.host, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyError(keys.rejected_message()) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthError(self._auth_message()) from exc
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise ConnectError(self._connect_message(exc)) from exc
        if accept_new:
            key = self._conn.get_server_host_key()
            keys.record(node.host, node.port or 22, key.export_public_key().decode().strip())

    def _auth_message(self) -> str:
        n = self.node
        key = n.identity_file or "default keys"
        agent = "with" if n.agent else "without"
        return (
            f"{n.name}: {n.user or 'default user'}@{n.host} refused our key ({key}, {agent} "
            "ssh-agent); check user and identity_file in the inventory and the node's "
            "authorized_keys"
        )

    def _connect_message(self, exc: BaseException) -> str:
        n = self.node
        via = f" via jump {n.jump if isinstance(n.jump, str) else getattr(n.jump, 'name', '')}"
        reason = str(exc) or type(exc).__name__
        return (
            f"{n.name}: cannot reach {n.host}:{n.port or 22}{via if n.jump else ''} ({reason}); "
            "check that the node is up, sshd listens and host/port are right"
        )

    async def close(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()
            self._conn = None
        if self._jump is not None:
            await self._jump.close()
            self._jump = None

    def _connection(self) -> Any:
        if self._conn is None:
            raise TransportError(f"{self.name}: not connected; call connect() first")
        return self._conn

    async def _spawn(self, argv: Sequence[str]) -> _SshChannel:
        try:
            proc = await self._connection().create_process(shlex.join(argv), encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(
                f"{self.name}: cannot open a channel ({exc}); the connection may have dropped"
            ) from exc
        return _SshChannel(self.name, proc)

    async def _sftp_client(self) -> Any:
        if self._sftp is None:
            try:
                self._sftp = await self._connection().start_sftp_client()
            except (asyncssh.Error, OSError) as exc:
                raise TransportError(
                    f"{self.name}: SFTP is not available ({exc}); enable the sftp subsystem"
                ) from exc
        return self._sftp

    async def get(self, remote: str, local: str | Path) -> None:
        sftp = await self._sftp_client()
        await self._sftp_op(sftp.get, str(remote), str(local), what=f"fetch {remote}")

    async def put(self, local: str | Path, remote: str) -> None:
        sftp = await self._sftp_client()
        await self._sftp_op(sftp.put, str(local), str(remote), what=f"upload to {remote}")

    async def _sftp_op(self, op: Any, src: str, dst: str, *, what: str) -> None:
        try:
            await op(src, dst)
        except asyncssh.SFTPError as exc:
            raise CommandError(f"{self.name}: cannot {what}: {exc.reason}; check the path") from exc
        except OSError as exc:
            raise CommandError(f"{self.name}: cannot {what}: {exc}; check the local path") from exc
        except (asyncssh.Error, asyncio.IncompleteReadError) as exc:
            raise TransportError(f"{self.name}: connection lost during {what} ({exc})") from exc
