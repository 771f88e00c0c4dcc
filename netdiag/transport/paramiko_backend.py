"""The paramiko backend: the same contract, blocking calls moved off the event loop.

paramiko blocks, so connect/SFTP run in a thread pool of our own (the default pool has only
min(32, cores + 4) threads, 6 here, which would serialize a 100-node fan-out), and each started
command gets two reader threads that push its stdout/stderr into the loop as they arrive, so a
long capture never pins a pool thread and the SSH window never fills (CAPTURE_RULES 11).
Host keys: RejectPolicy unless ``accept-new`` and the host has no known_hosts entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shlex
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import paramiko

from netdiag.errors import AuthError, CommandError, ConnectError, HostKeyError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.transport.base import Transport
from netdiag.transport.hostkeys import HostKeys
from netdiag.transport.jump import jump_node

__all__ = ["ParamikoTransport"]

T = TypeVar("T")
CHUNK = 65536
KEEPALIVE_S = 15
_POOL = ThreadPoolExecutor(max_workers=128, thread_name_prefix="netdiag-paramiko")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args))


class _UnknownHostKey(paramiko.SSHException):
    """Raised by our reject policy so an unknown key is told apart from other SSH failures."""


class _Reject(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise _UnknownHostKey(hostname)


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust on first contact and append the key (only used when the host has no entry)."""

    def __init__(self, keys: HostKeys, host: str, port: int) -> None:
        self._keys, self._host, self._port = keys, host, port

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        self._keys.record(self._host, self._port, f"{key.get_name()} {key.get_base64()}")


class _ThreadChannel:
    """A Channel over a paramiko channel, fed by two reader threads."""

    def __init__(self, name: str, chan: paramiko.Channel, loop: asyncio.AbstractEventLoop) -> None:
        self._name = name
        self._chan = chan
        self._loop = loop
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._err: asyncio.Queue[bytes] = asyncio.Queue()
        self._status: asyncio.Future[int] = loop.create_future()
        for target in (self._read_out, self._read_err):
            threading.Thread(target=target, name=f"netdiag-{name}", daemon=True).start()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        """Hand a result to the loop from a reader thread; the loop may be gone already."""
        with contextlib.suppress(RuntimeError):  # "Event loop is closed"
            self._loop.call_soon_threadsafe(fn, *args)

    def _push(self, queue: asyncio.Queue[bytes], data: bytes) -> None:
        self._call(queue.put_nowait, data)

    def _pump(self, recv: Callable[[int], bytes], queue: asyncio.Queue[bytes]) -> None:
        while True:
            try:
                data = recv(CHUNK)
            except (OSError, EOFError, paramiko.SSHException):
                data = b""
            self._push(queue, data)
            if not data:
                return

    def _read_out(self) -> None:
        self._pump(self._chan.recv, self._out)
        status = self._chan.recv_exit_status()  # returns at once: the channel is closed by now
        transport = self._chan.get_transport()
        lost = status == -1 and (transport is None or not transport.is_active())
        self._call(self._settle, None if lost else status)

    def _settle(self, status: int | None) -> None:
        if self._status.done():
            return
        if status is None:
            self._status.set_exception(
                TransportError(f"{self._name}: connection lost before the command exited")
            )
        else:
            self._status.set_result(status)

    def _read_err(self) -> None:
        self._pump(self._chan.recv_stderr, self._err)

    async def read_stdout(self) -> bytes:
        return await self._out.get()

    async def read_stderr(self) -> bytes:
        return await self._err.get()

    async def write_stdin(self, data: bytes) -> None:
        try:
            await _off_loop(self._chan.sendall, data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransportError(f"{self._name}: connection lost while writing ({exc})") from exc

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await _off_loop(self._chan.shutdown_write)  # fails only when the channel is gone

    async def wait(self) -> int:
        # paramiko reports -1 when the process died of a signal (it drops exit-signal).
        return await self._status

    def abort(self) -> None:
        self._chan.close()


class ParamikoTransport(Transport):
    """The contract over paramiko."""

    kind = "paramiko"

    def __init__(self, node: NodeSpec) -> None:
        super().__init__(node)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._jump: ParamikoTransport | None = None

    async def connect(self) -> None:
        jump = jump_node(self.node)
        sock: Any = None
        try:
            if jump is not None:
                self._jump = ParamikoTransport(jump)
                await self._jump.connect()
                host, port, _, _, _ = self._target()
                sock = await _off_loop(self._jump._open_tunnel, host, port)
            self._client = await _off_loop(self._connect_blocking, sock)
        except BaseException:
            await self.close()
            raise

    def _target(self) -> tuple[str, int, str | None, list[str], bool]:
        """host, port, user, key files, look_for_keys — inventory first, then ~/.ssh/config."""
        n = self.node
        cfg: Any = {}
        config_path = Path("~/.ssh/config").expanduser()
        if config_path.exists():
            cfg = paramiko.SSHConfig.from_path(str(config_path)).lookup(n.host)
        port = n.port or int(cfg.get("port", 22))
        keys = [str(n.identity_file)] if n.identity_file else list(cfg.get("identityfile", []))
        return cfg.get("hostname", n.host), port, n.user or cfg.get("user"), keys, not keys

    def _open_tunnel(self, host: str, port: int) -> paramiko.Channel:
        assert self._client is not None
        transport = self._client.get_transport()
        assert transport is not None
        return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))

    def _connect_blocking(self, sock: Any) -> paramiko.SSHClient:
        n = self.node
        host, port, user, keys, look = self._target()
        hostkeys = HostKeys(n)
        client = paramiko.SSHClient()
        if hostkeys.path.exists():
            client.load_host_keys(str(hostkeys.path))
        if hostkeys.may_accept_new(n.host, port):
            client.set_missing_host_key_policy(_AcceptNew(hostkeys, n.host, port))
        else:
            client.set_missing_host_key_policy(_Reject())
        try:
            client.connect(
                host,
                port=port,
                username=user,
                key_filename=cast(Any, keys or None),  # paramiko takes a list too
                look_for_keys=look,
                allow_agent=n.agent,
                timeout=n.connect_timeout,
                banner_timeout=n.connect_timeout,
                auth_timeout=n.connect_timeout * 3,
                sock=sock,
            )
        except (_UnknownHostKey, paramiko.BadHostKeyException) as exc:
            client.close()
            raise HostKeyError(hostkeys.rejected_message()) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthError(
                f"{n.name}: {user or 'default user'}@{host} refused our key "
                f"({', '.join(keys) or 'default keys'}); check user and identity_file in the "
                "inventory and the node's authorized_keys"
            ) from exc
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise ConnectError(
                f"{n.name}: cannot reach {host}:{port} ({exc or type(exc).__name__}); "
                "check that the node is up, sshd listens and host/port are right"
            ) from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_S)
        return client

    async def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            await _off_loop(self._client.close)
            self._client = None
        if self._jump is not None:
            await self._jump.close()
            self._jump = None

    async def _spawn(self, argv: Sequence[str]) -> _ThreadChannel:
        client = self._client
        if client is None:
            raise TransportError(f"{self.name}: not connected; call connect() first")

        def open_and_exec() -> paramiko.Channel:
            transport = client.get_transport()
            if transport is None or not transport.is_active():
                raise TransportError(f"{self.name}: the connection dropped; reconnect")
            chan = transport.open_session()
            chan.exec_command(shlex.join(argv))
            return chan

        try:
            chan = await _off_loop(open_and_exec)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(
                f"{self.name}: cannot open a channel ({exc}); the connection may have dropped"
            ) from exc
        return _ThreadChannel(self.name, chan, asyncio.get_running_loop())

    async def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            if self._client is None:
                raise TransportError(f"{self.name}: not connected; call connect() first")
            try:
                self._sftp = await _off_loop(self._client.open_sftp)
            except (paramiko.SSHException, OSError) as exc:
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

    async def _sftp_op(self, op: Callable[..., Any], src: str, dst: str, *, what: str) -> None:
        try:
            await _off_loop(op, src, dst)
        except OSError as exc:
            raise CommandError(f"{self.name}: cannot {what}: {exc}; check the path") from exc
        except (paramiko.SSHException, EOFError) as exc:
            raise TransportError(f"{self.name}: connection lost during {what} ({exc})") from exc
