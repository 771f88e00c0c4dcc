"""A real OpenSSH sshd on 127.0.0.1 for the transport contract tests (never a mocked protocol).

Keys are generated with ssh-keygen into a temporary directory; sshd runs in the foreground (-D)
as our child, so teardown kills exactly that process and removes the directory. Like asyncssh's
own tests/server.py, but with OpenSSH, because that is what the nodes run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from netdiag.inventory import NodeSpec

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege separation dir


@dataclass(frozen=True)
class SshdServer:
    """Where the server listens and the files a client needs."""

    port: int
    dir: Path
    client_key: Path  # authorized
    other_key: Path  # valid key, not authorized
    known_hosts: Path  # holds the server's host key
    empty_known_hosts: Path  # exists, trusts nothing
    pid: int


def ssh_node(server: SshdServer, **changes: object) -> NodeSpec:
    """A node on ``server`` with every SSH setting in the inventory and no ssh_config
    (``ssh -F none``), so the machine's own ~/.ssh/config cannot change a test's outcome."""
    node = NodeSpec(
        name="loopback",
        host="127.0.0.1",
        user="root",
        port=server.port,
        identity_file=server.client_key,
        known_hosts=server.known_hosts,
        ssh_config="none",
        connect_timeout=5,
    )
    return replace(node, **changes)  # type: ignore[arg-type]


def sshd_available() -> str | None:
    """None when the tests can run, else the reason to skip."""
    if os.geteuid() != 0:
        return "needs root (sshd logs in as root)"
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        return "needs openssh-server and ssh-keygen"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections for as long as the block runs: bound, never listening,
    so no other process can take it meanwhile (a merely "free" port could be)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        yield port


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "netdiag-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def running_sshd(
    extra_config: tuple[str, ...] = (), more_host_keys: tuple[str, ...] = ()
) -> Iterator[SshdServer]:
    """Start sshd on a free loopback port; stop it and remove every file on exit.

    ``extra_config``: more sshd_config lines (``MaxAuthTries 1``, say); ``more_host_keys``:
    key types (``ecdsa``) the server holds besides its ed25519 key, as ``host_key_TYPE``."""
    made_privsep = not PRIVSEP_DIR.exists()
    if made_privsep:
        PRIVSEP_DIR.mkdir(mode=0o755)
    tmp = Path(tempfile.mkdtemp(prefix="netdiag-sshd-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for name in ("host_key", "client_key", "other_key"):
            _keygen(tmp / name)
        for kind in more_host_keys:
            _keygen(tmp / f"host_key_{kind}", kind)
        extra_config = (*extra_config, *(f"HostKey {tmp}/host_key_{k}" for k in more_host_keys))
        (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
        proc, port = _start_on_free_port(tmp, extra_config)
        yield SshdServer(
            port=port,
            dir=tmp,
            client_key=tmp / "client_key",
            other_key=tmp / "other_key",
            known_hosts=tmp / "known_hosts",
            empty_known_hosts=tmp / "empty_known_hosts",
            pid=proc.pid,
        )
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
        if made_privsep:
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()


def _start_on_free_port(
    tmp: Path, extra_config: tuple[str, ...]
) -> tuple[subprocess.Popen[bytes], int]:
    """Start sshd; retry on another port when someone took ours between probe and bind
    (other engineers' tests and benchmarks start sshds on loopback ports too)."""
    last = ""
    for _ in range(5):
        port = free_port()
        host_pub = (tmp / "host_key.pub").read_text().split()
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        (tmp / "empty_known_hosts").write_text("")
        config = tmp / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {tmp / 'host_key'}",
                    f"PidFile {tmp / 'sshd.pid'}",
                    f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "Subsystem sftp internal-sftp",
                    "MaxSessions 64",
                    "MaxStartups 100:30:200",
                    "LogLevel ERROR",
                    *extra_config,
                    "",
                ]
            )
        )
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(port, proc)
        except RuntimeError as exc:
            last = str(exc)
            _stop(proc)
            continue
        return proc, port
    raise RuntimeError(f"sshd did not start: {last}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # sshd's listener; per-session children exit with their clients
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"sshd exited at start: {err.strip()}")
        with socket.socket() as s:
            # Open *and* ours alive: a port taken by another sshd would answer too.
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(0.05)
                if proc.poll() is None:
                    return
        time.sleep(0.05)
    raise RuntimeError("sshd did not listen within 10 s")


@dataclass(frozen=True)
class SshAgent:
    """A real ssh-agent of the test's own: its socket, and ssh-add into it."""

    sock: Path
    pid: int

    def add(self, key: Path) -> None:
        env = {**os.environ, "SSH_AUTH_SOCK": str(self.sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)


@contextlib.contextmanager
def running_agent(directory: Path) -> Iterator[SshAgent]:
    """``ssh-agent -D`` (foreground: our child) on a socket in ``directory``; killed after."""
    sock = directory / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"ssh-agent did not start: {err.strip()}")
            time.sleep(0.02)
        yield SshAgent(sock, proc.pid)
    finally:
        _stop(proc)
        sock.unlink(missing_ok=True)
