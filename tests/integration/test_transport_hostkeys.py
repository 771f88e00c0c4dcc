"""Host keys on both SSH backends against a real OpenSSH sshd: known_hosts entries as OpenSSH
matches them, UserKnownHostsFile and StrictHostKeyChecking from ssh_config, and messages whose
advice, run as printed with the real ssh-keygen and ssh-keyscan, lets the next connection in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_fixture import SshdServer, running_sshd, ssh_node, sshd_available

from netdiag.errors import HostKeyError
from netdiag.inventory import NodeSpec
from netdiag.transport import open_transport

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available())),
]
SSH_BACKENDS = ["asyncssh", "paramiko"]


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshdServer]:
    """A server with an ed25519 and an ECDSA host key."""
    with running_sshd(more_host_keys=("ecdsa",)) as server:
        yield server


def pub(path: Path) -> str:
    """``type base64`` of a .pub file."""
    return " ".join(path.read_text().split()[:2])


def host_key(sshd: SshdServer, kind: str = "") -> str:
    return pub(sshd.dir / (f"host_key_{kind}.pub" if kind else "host_key.pub"))


def name(sshd: SshdServer) -> str:
    return f"[127.0.0.1]:{sshd.port}"


def hashed(text: str) -> str:
    salt = b"netdiag-test-salt-20"
    digest = hmac.new(salt, text.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def openssh_fingerprint(path: Path) -> str:
    """The fingerprint as OpenSSH prints it (`ssh-keygen -lf`)."""
    argv = ["ssh-keygen", "-lf", str(path)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


async def connects(node: NodeSpec, kind: str) -> bool:
    async with open_transport(node, kind) as t:
        return (await t.run(["true"], timeout=10)).ok


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(f"Host *\n{text}")
    return str(path)


def from_ssh_config(sshd: SshdServer, tmp_path: Path, text: str) -> NodeSpec:
    """A node whose host key settings all come from ssh_config."""
    return ssh_node(sshd, known_hosts=None, ssh_config=config(tmp_path, text))


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize(
    "entry",
    [
        "{name} {key}",  # [host]:port
        "{hashed} {key}",  # hashed [host]:port, as HashKnownHosts writes it
        "[127.0.0.?]:{port} {key}",  # a pattern
        "example.org,{name} {key}",  # one name of several
    ],
)
async def test_known_hosts_entries_as_openssh_matches_them(
    sshd: SshdServer, kind: str, entry: str, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    fields = {"name": name(sshd), "port": sshd.port, "hashed": hashed(name(sshd))}
    kh.write_text(
        "garbage line\n@bogus x ssh-ed25519 AAAA\n"
        + entry.format(key=host_key(sshd), **fields)
        + "\n"
    )
    assert await connects(ssh_node(sshd, known_hosts=kh), kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1 {key}", ("is unknown", "strict")),  # port 22's entry is not [host]:port's
        ("[127.0.0.*]:{port},!{name} {key}", ("is unknown", "strict")),  # negated
        ("{name} {key}\n@revoked {name} {key}", ("is revoked", "accept-new")),
    ],
)
async def test_entries_that_do_not_admit_the_key(
    sshd: SshdServer, kind: str, entry: str, expected: tuple[str, str], tmp_path: Path
) -> None:
    says, policy = expected
    kh = tmp_path / "known_hosts"
    kh.write_text(entry.format(key=host_key(sshd), name=name(sshd), port=sshd.port) + "\n")
    with pytest.raises(HostKeyError, match=says):
        await connects(ssh_node(sshd, known_hosts=kh, host_key_policy=policy), kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_the_key_type_known_hosts_lists_is_asked_for_first(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    # Only the server's ECDSA key is known; asked for ed25519 first, it would look unknown.
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{name(sshd)} {host_key(sshd, 'ecdsa')}\n")
    assert await connects(ssh_node(sshd, known_hosts=kh), kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_unknown_key_message_and_its_advice(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    node = from_ssh_config(sshd, tmp_path, f"  UserKnownHostsFile {kh}\n")
    with pytest.raises(HostKeyError) as info:
        await connects(node, kind)
    msg = str(info.value)
    assert msg.startswith(f"loopback: the host key of {name(sshd)} is unknown: ")
    assert f"ED25519 key {openssh_fingerprint(sshd.dir / 'host_key.pub')}" in msg
    assert "ssh would ask; netdiag cannot ask" in msg  # StrictHostKeyChecking's default
    add = re.search(r"then add it: (.+? >> \S+);", msg)
    assert add is not None, msg
    subprocess.run(add.group(1), shell=True, check=True, capture_output=True)
    assert await connects(node, kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_changed_key_message_and_its_advice(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    stale = f"{name(sshd)} {pub(sshd.dir / 'client_key.pub')}"  # another ed25519 key
    kh.write_text(f"127.0.0.1 {host_key(sshd, 'ecdsa')}\n{stale}\n")
    node = from_ssh_config(
        sshd, tmp_path, f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking accept-new\n"
    )
    with pytest.raises(HostKeyError) as info:
        await connects(node, kind)
    msg = str(info.value)
    assert msg.startswith(f"loopback: the host key of {name(sshd)} has CHANGED: ")
    assert f"ED25519 key {openssh_fingerprint(sshd.dir / 'host_key.pub')}" in msg
    assert f"not the ED25519 key {kh}:2 holds" in msg
    remove = re.search(r"\((ssh-keygen -R .+?)\)", msg)
    add = re.search(r"add the new one: (.+)$", msg)
    assert remove is not None, msg
    assert add is not None, msg
    assert remove.group(1) == f"ssh-keygen -R '{name(sshd)}' -f {kh}"
    for command in (remove.group(1), add.group(1)):  # in that order, as the message says
        subprocess.run(command, shell=True, check=True, capture_output=True)
    assert stale not in kh.read_text()
    assert kh.read_text().startswith(f"127.0.0.1 {host_key(sshd, 'ecdsa')}\n")  # left alone
    assert await connects(node, kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize("hash_names", [False, True])
async def test_accept_new_from_ssh_config_records_the_key(
    sshd: SshdServer, kind: str, hash_names: bool, tmp_path: Path
) -> None:
    kh = tmp_path / "kh"
    text = f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking accept-new\n"
    text += "  HashKnownHosts yes\n" if hash_names else ""
    assert await connects(from_ssh_config(sshd, tmp_path, text), kind)
    recorded = kh.read_text()
    assert recorded.startswith("|1|" if hash_names else f"{name(sshd)} ssh-ed25519 ")
    strict = from_ssh_config(sshd, tmp_path, f"  UserKnownHostsFile {kh}\n")
    assert await connects(strict, kind)  # now known: no policy needed


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_strict_host_key_checking_no_is_what_ssh_makes_of_it(
    sshd: SshdServer, kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kh = tmp_path / "known_hosts"
    stale = f"{name(sshd)} {pub(sshd.dir / 'client_key.pub')}\n"
    kh.write_text(stale)
    off = f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking no\n"
    with caplog.at_level(logging.WARNING, logger="netdiag.transport.hostkeys"):
        assert await connects(from_ssh_config(sshd, tmp_path, off), kind)
    assert "has CHANGED" in caplog.text
    assert "connecting anyway, as ssh does with StrictHostKeyChecking no" in caplog.text
    assert kh.read_text() == stale  # a changed key is never recorded
    # The inventory's policy wins over ssh_config's.
    strict = ssh_node(sshd, known_hosts=None, ssh_config=config(tmp_path, off))
    with pytest.raises(HostKeyError, match="has CHANGED"):
        await connects(NodeSpec(**{**strict.__dict__, "host_key_policy": "strict"}), kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_known_hosts_dev_null_with_checking_off(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    text = "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n"
    assert await connects(from_ssh_config(sshd, tmp_path, text), kind)
    strict = from_ssh_config(sshd, tmp_path, "  UserKnownHostsFile /dev/null\n")
    with pytest.raises(HostKeyError, match="is unknown"):
        await connects(strict, kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_user_known_hosts_file_none_checks_against_nothing(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    # asyncssh, left to read this itself, would check no host key at all.
    node = from_ssh_config(
        sshd, tmp_path, "  UserKnownHostsFile none\n  GlobalKnownHostsFile none\n"
    )
    with pytest.raises(HostKeyError, match="no known_hosts file"):
        await connects(node, kind)
