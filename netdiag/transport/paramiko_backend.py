"""The paramiko backend: the same contract, blocking calls moved off the event loop.

paramiko blocks, so connect/SFTP run in a thread pool of our own (the default pool has only
min(32, cores + 4) threads, 6 here, which would serialize a 100-node fan-out), and each started
command gets two reader threads that push its stdout/stderr into the loop as they arrive, so a
long capture never pins a pool thread and the SSH window never fills (a full window stalls
tcpdump, and the kernel drops what it cannot deliver).

Settings come from the node's :class:`~netdiag.transport.target.SshTarget`, as for asyncssh:
jump hosts (one paramiko connection tunnelled through the one before), ProxyCommand, the keys in
order (an :class:`paramiko.auth_strategy.AuthStrategy` of our own, so no key at all is an
authentication failure, not "no authentication methods"), and host keys: the client is given no
known_hosts of its own, so it asks our policy about every key (:mod:`.hostkeys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import shlex
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import paramiko
import paramiko.agent
from paramiko.auth_strategy import AuthSource, AuthStrategy, InMemoryPrivateKey
from paramiko.pkey import UnknownKeyType

from netdiag.errors import AuthError, CommandError, ConnectError, HostKeyError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.transport.base import RemoteEntry, Transport
from netdiag.transport.credentials import Agent, KeyFile, auth_failed, order_keys, public_blob
from netdiag.transport.hostkeys import KnownHosts
from netdiag.transport.target import SshTarget, resolve, through_jump

__all__ = ["ParamikoTransport"]

T = TypeVar("T")
CHUNK = 65536
KEEPALIVE_S = 15
_POOL = ThreadPoolExecutor(max_workers=128, thread_name_prefix="netdiag-paramiko")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args))


class _Verify(paramiko.MissingHostKeyPolicy):
    """paramiko holds no host keys, so it asks here about every key: the policy decides."""

    def __init__(self, known: KnownHosts) -> None:
        self._known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        self._known.admit(asyncssh.import_public_key(f"{key.get_name()} {key.get_base64()}"))


class _Keys(AuthStrategy):
    """Public keys in the order given, nothing else (no password, no default files)."""

    def __init__(self, user: str, keys: Sequence[paramiko.PKey]) -> None:
        super().__init__(ssh_config=paramiko.SSHConfig())
        self._user = user
        self._keys = keys

    def get_sources(self) -> Iterator[AuthSource]:
        for key in self._keys:
            yield InMemoryPrivateKey(self._user, key)


class _SocketAgent(paramiko.agent.AgentSSH):
    """paramiko's agent client on a given socket (its ``Agent`` reads only SSH_AUTH_SOCK)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            self._connect(sock)  # type: ignore[attr-defined]  # asks the agent for its keys
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        self._close()  # type: ignore[attr-defined]


def _load_key(path: Path) -> KeyFile[paramiko.PKey]:
    """An identity file as paramiko reads it (with its ``-cert.pub``, if any)."""
    if not path.is_file():
        return KeyFile(path, "missing")
    try:
        key = paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):  # TypeError: from cryptography
        return KeyFile(path, "encrypted", blob=public_blob(path))
    except (OSError, ValueError, paramiko.SSHException, UnknownKeyType) as exc:
        return KeyFile(path, "unreadable", blob=public_blob(path), detail=str(exc))
    return KeyFile(path, "loaded", key=key, blob=key.asbytes())


def _agent(path: str | None) -> tuple[Agent[paramiko.PKey], _SocketAgent | None]:
    """The agent's keys and its client (to close once logged in), or why there are none."""
    if path is None:
        return Agent(), None
    try:
        client = _SocketAgent(path)
    except (OSError, paramiko.SSHException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Agent(problem=f"not reachable ({reason})"), None
    return Agent(tuple((k.asbytes(), k) for k in client.get_keys())), client


def _transport_factory(prefer: list[str]) -> Callable[..., paramiko.Transport]:
    """Transports that ask for the key types known_hosts lists for the host first, as OpenSSH
    does (paramiko does it only from host keys it holds itself, and it holds none here)."""

    def make(sock: Any, **kwargs: Any) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        first = [k for k in prefer if k in options.key_types]
        options.key_types = first + [k for k in options.key_types if k not in first]
        return transport

    return make


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


class _ProxyCommand(paramiko.ProxyCommand):
    """ssh_config's ProxyCommand as a socket, run by /bin/sh as ssh runs it (paramiko's own
    splits the line itself), its stderr on ours as with ssh. Unlike paramiko's, it reports
    the command's end of output instead of waiting on it forever, and reaps the process."""

    def __init__(self, command: str) -> None:  # not super(): it would start its own process
        self.cmd = ["/bin/sh", "-c", command]
        self.process = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self.timeout: float | None = None

    def recv(self, size: int) -> bytes:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError("ProxyCommand sent nothing in time")
        data = os.read(self.process.stdout.fileno(), size)
        if not data:
            raise paramiko.ProxyCommandFailure(" ".join(self.cmd), "it closed its output")
        return data

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _proxy(target: SshTarget) -> _ProxyCommand:
    assert target.proxy_command is not None
    try:
        return _ProxyCommand(target.proxy_command)
    except OSError as exc:
        raise ConnectError(target.unreachable(exc.strerror or str(exc))) from exc


class ParamikoTransport(Transport):
    """The contract over paramiko."""

    kind = "paramiko"

    def __init__(self, node: NodeSpec, target: SshTarget | None = None) -> None:
        super().__init__(node)
        self._target = target
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()  # one SFTP channel, however many transfers wait for it
        # paramiko's SFTPClient must not serve two threads at once (each would read the other's
        # responses and both wait forever): its transfers take turns
        self._sftp_turn = asyncio.Lock()
        self._jump: ParamikoTransport | None = None

    async def connect(self) -> None:
        sock: Any = None
        try:
            target = self._target or await resolve(self.node)
            if target.jump is not None:
                self._jump = ParamikoTransport(target.jump.node, target.jump)
                try:
                    await self._jump.connect()
                except TransportError as exc:
                    raise through_jump(self.name, exc) from exc
                sock = await _off_loop(self._jump._open_tunnel, target)
            elif target.proxy_command:
                sock = _proxy(target)
            self._client = await _off_loop(self._connect_blocking, target, sock)
        except BaseException:
            if isinstance(sock, _ProxyCommand):
                sock.close()  # a transport that never started does not close it
            await self.close()
            raise

    def _open_tunnel(self, to: SshTarget) -> paramiko.Channel:
        """A direct-tcpip channel from this (jump) host to ``to``."""
        assert self._client is not None
        transport = self._client.get_transport()
        assert transport is not None
        try:
            return transport.open_channel("direct-tcpip", (to.hostname, to.port), ("127.0.0.1", 0))
        except (OSError, paramiko.SSHException) as exc:
            raise ConnectError(to.unreachable(str(exc) or type(exc).__name__)) from exc

    def _connect_blocking(self, target: SshTarget, sock: Any) -> paramiko.SSHClient:
        known = target.known_hosts
        files = [_load_key(p) for p in target.identity_files]
        agent, agent_client = _agent(target.agent_path)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_Verify(known))
        timeout = self.node.connect_timeout
        try:
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout * 3,
                sock=sock,
                transport_factory=_transport_factory(known.preferred_algorithms()),
                auth_strategy=_Keys(target.user, order_keys(files, agent, target.identities_only)),
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthError(auth_failed(target, files, agent)) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            raise ConnectError(target.unreachable(str(exc) or type(exc).__name__)) from exc
        finally:
            if agent_client is not None:
                agent_client.close()
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
        async with self._sftp_lock:
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

    async def open_transfers(self) -> None:
        await self._sftp_client()

    async def get(self, remote: str, local: str | Path) -> None:
        sftp = await self._sftp_client()
        await self._sftp_op(sftp.get, str(remote), str(local), what=f"fetch {remote}")

    async def put(self, local: str | Path, remote: str) -> None:
        sftp = await self._sftp_client()
        await self._sftp_op(sftp.put, str(local), str(remote), what=f"upload to {remote}")

    async def listdir(self, path: str) -> list[RemoteEntry]:
        sftp = await self._sftp_client()
        attrs: list[paramiko.SFTPAttributes] = await self._sftp_op(
            sftp.listdir_attr, path, what=f"list {path}"
        )
        return [
            RemoteEntry(a.filename, a.st_size or 0, int(a.st_mtime or 0),
                        stat.S_ISDIR(a.st_mode or 0))
            for a in attrs
        ]  # fmt: skip

    async def read(self, remote: str, size: int = -1) -> bytes:
        sftp = await self._sftp_client()

        def whole() -> bytes:
            with sftp.open(remote, "rb") as fh:
                if size < 0:
                    fh.prefetch()  # requests in flight in parallel, as get() does
                return bytes(fh.read(None if size < 0 else size))

        data: bytes = await self._sftp_op(whole, what=f"read {remote}")
        return data

    async def _sftp_op(self, op: Callable[..., Any], *args: str, what: str) -> Any:
        try:
            async with self._sftp_turn:
                return await _off_loop(op, *args)
        except OSError as exc:
            raise CommandError(f"{self.name}: cannot {what}: {exc}; check the path") from exc
        except (paramiko.SSHException, EOFError) as exc:
            raise TransportError(f"{self.name}: connection lost during {what} ({exc})") from exc
