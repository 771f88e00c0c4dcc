"""How the asyncssh connection is tuned: the node's packets acknowledged at once (TCP_QUICKACK,
Linux), AES-GCM offered first where the CPU has AES instructions."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from netdiag.transport.asyncssh_backend import AES_GCM, _ack_at_once, encryption_algs

linux_only = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")


class FakeConnection:
    """What asyncio and asyncssh see of a connection: its socket, and what it received."""

    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock
        self.got: list[tuple[bytes, Any]] = []

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        self.got.append((data, datatype))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        node, _ = server.accept()
        with client, node:
            yield client, node


def quickack(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK)


@linux_only
def test_each_read_puts_the_socket_back_to_acknowledging_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, node = pair
    conn = FakeConnection(client)
    _ack_at_once(conn)
    for _ in range(5):  # a request-answer exchange: Linux goes back to delaying its ACKs
        node.send(b"answer")
        client.recv(100)
        client.send(b"request")
        node.recv(100)
    assert quickack(client) == 0
    conn.data_received(b"from the node", "stdout")
    assert conn.got == [(b"from the node", "stdout")]  # still delivered, as it was
    assert quickack(client) == 1


@linux_only
def test_a_connection_without_a_tcp_socket_is_left_as_it_is() -> None:
    conn = FakeConnection(None)  # through a jump host or a proxy command
    _ack_at_once(conn)
    assert conn.data_received.__func__ is FakeConnection.data_received  # type: ignore[attr-defined]
    left, right = socket.socketpair()
    with left, right:
        unix = FakeConnection(left)
        _ack_at_once(unix)
        assert unix.data_received.__func__ is FakeConnection.data_received  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cpuinfo", "gcm_first"),
    [
        ("processor\t: 0\nflags\t\t: fpu vme sse2 aes avx2\n", True),  # x86 with AES-NI
        ("processor\t: 0\nflags\t\t: fpu vme sse2 avx2\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1\n", True),  # arm64
        ("processor\t: 0\nFeatures\t: fp asimd\n", False),
        (None, False),  # no /proc/cpuinfo: the library's own order
    ],
)
def test_aes_gcm_is_offered_first_where_the_cpu_has_aes_instructions(
    tmp_path: Path, cpuinfo: str | None, gcm_first: bool
) -> None:
    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    algs = encryption_algs(path)
    default = [a.decode() for a in asyncssh.encryption.get_default_encryption_algs()]
    assert sorted(algs) == sorted(default)  # the same ciphers, only their order
    if gcm_first:
        assert algs[: len(AES_GCM)] == list(AES_GCM)
    else:
        assert algs == default
