"""SSH as the user already has it, on both SSH backends against a real OpenSSH sshd: ssh-agent
(a real ssh-agent of the test's own), identity files before the agent, IdentitiesOnly, jump
hosts and ProxyCommand from ssh_config, and what a node without any usable key says."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_fixture import (
    SshAgent,
    SshdServer,
    refused_port,
    running_agent,
    running_sshd,
    ssh_node,
    sshd_available,
)

from netdiag.errors import AuthError, ConnectError, InputError
from netdiag.transport import open_transport

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_available() is not None, reason=str(sshd_available())),
]
SSH_BACKENDS = ["asyncssh", "paramiko"]


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshdServer]:
    with running_sshd() as server:
        yield server


@pytest.fixture(scope="module")
def one_try_sshd() -> Iterator[SshdServer]:
    """A server that drops the connection at the first refused key."""
    with running_sshd(("MaxAuthTries 1",)) as server:
        yield server


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshAgent]:
    """A real ssh-agent, empty, in SSH_AUTH_SOCK for the test; killed after it."""
    with running_agent(tmp_path) as running:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(running.sock))
        yield running


@pytest.fixture
def no_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return str(path)


def no_identity_files(tmp_path: Path) -> str:
    """An ssh_config under which ssh would look for no key file that exists."""
    return config(tmp_path, f"IdentityFile {tmp_path}/no-such-key\n")


async def whoami(node: object, kind: str) -> str:
    async with open_transport(node, kind) as t:  # type: ignore[arg-type]
        return (await t.run(["id", "-un"], timeout=10)).stdout.strip()


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_agent_is_used_whenever_ssh_auth_sock_is_set(
    sshd: SshdServer, kind: str, agent: SshAgent, tmp_path: Path
) -> None:
    agent.add(sshd.client_key)
    node = ssh_node(sshd, identity_file=None, ssh_config=no_identity_files(tmp_path))
    assert await whoami(node, kind) == "root"  # no key file: only the agent could log in
    with pytest.raises(AuthError, match=r"ssh-agent off \(agent: false in the inventory\)"):
        await whoami(
            ssh_node(sshd, identity_file=None, agent=False, ssh_config=node.ssh_config), kind
        )


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_identity_file_is_offered_before_the_agents_keys(
    one_try_sshd: SshdServer, kind: str, agent: SshAgent
) -> None:
    # The agent holds only a key the server refuses; a server that allows one try drops us
    # at that refusal, so only a client offering the identity file first gets in.
    agent.add(one_try_sshd.other_key)
    assert await whoami(ssh_node(one_try_sshd), kind) == "root"


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_identities_only_keeps_the_agent_to_the_files_keys(
    sshd: SshdServer, kind: str, agent: SshAgent, tmp_path: Path
) -> None:
    agent.add(sshd.client_key)
    base = f"Host *\n  IdentityFile {sshd.other_key}\n"
    node = ssh_node(sshd, identity_file=None, ssh_config=config(tmp_path, base))
    assert await whoami(node, kind) == "root"  # other_key refused, then the agent's key
    only = ssh_node(
        sshd, identity_file=None, ssh_config=config(tmp_path, base + "  IdentitiesOnly yes\n")
    )
    with pytest.raises(AuthError, match="IdentitiesOnly yes"):
        await whoami(only, kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_a_passphrase_protected_key_is_taken_from_the_agent(
    sshd: SshdServer, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked_key"
    locked.write_bytes(sshd.client_key.read_bytes())
    locked.chmod(0o600)
    Path(f"{locked}.pub").write_bytes(Path(f"{sshd.client_key}.pub").read_bytes())
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-f", str(locked), "-P", "", "-N", "secret words"],
        check=True,
        capture_output=True,
    )
    node = ssh_node(sshd, identity_file=locked)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthError) as info:
        await whoami(node, kind)
    assert f"{locked} is passphrase-protected and not in ssh-agent (ssh-add {locked})" in str(
        info.value
    )
    assert "secret words" not in str(info.value)
    with running_agent(tmp_path) as running:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(running.sock))
        running.add(sshd.client_key)  # what `ssh-add locked_key` and its passphrase would do
        assert await whoami(node, kind) == "root"


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_no_usable_key_is_an_auth_error_not_unreachable(
    sshd: SshdServer, kind: str, tmp_path: Path, no_agent: None
) -> None:
    node = ssh_node(sshd, identity_file=None, ssh_config=no_identity_files(tmp_path))
    with pytest.raises(AuthError) as info:
        await whoami(node, kind)
    msg = str(info.value)
    assert msg.startswith(f"loopback: root@127.0.0.1:{sshd.port}: no key to log in with")
    assert "SSH_AUTH_SOCK is not set" in msg
    assert "ssh-add" in msg


def jump_config(tmp_path: Path, sshd: SshdServer, bastion_port: int, jump: str) -> str:
    """ssh_config with a node `target` reached through `jump` (bastions set up by ssh_config
    alone, as ssh -J sets them up)."""
    bastion = (
        f"  HostName 127.0.0.1\n  Port {bastion_port}\n  User root\n"
        f"  IdentityFile {sshd.client_key}\n  UserKnownHostsFile {sshd.known_hosts}\n"
    )
    return config(
        tmp_path,
        f"Host target\n  HostName 127.0.0.1\n  ProxyJump {jump}\n"
        f"Host bastion\n{bastion}Host bastion2\n{bastion}",
    )


@pytest.mark.parametrize("kind", SSH_BACKENDS)
@pytest.mark.parametrize("jump", ["bastion", "bastion,bastion2"])
async def test_proxy_jump_of_ssh_config_is_honoured(
    sshd: SshdServer, kind: str, jump: str, tmp_path: Path
) -> None:
    node = ssh_node(sshd, host="target", ssh_config=jump_config(tmp_path, sshd, sshd.port, jump))
    assert await whoami(node, kind) == "root"
    # Behind a dead bastion the node fails, naming the bastion: the jump is really taken.
    with refused_port() as closed:
        dead = ssh_node(sshd, host="target", ssh_config=jump_config(tmp_path, sshd, closed, jump))
        with pytest.raises(ConnectError, match=f"bastion: cannot reach 127.0.0.1:{closed}"):
            await whoami(dead, kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_inventory_jump_none_ignores_the_proxy_jump_of_ssh_config(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    with refused_port() as closed:
        cfg = jump_config(tmp_path, sshd, closed, "bastion")
        assert (
            await whoami(ssh_node(sshd, host="target", ssh_config=cfg, jump="none"), kind) == "root"
        )


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_a_proxy_jump_loop_is_named(sshd: SshdServer, kind: str, tmp_path: Path) -> None:
    cfg = config(
        tmp_path, f"Host *\n  HostName 127.0.0.1\n  Port {sshd.port}\n  ProxyJump bastion\n"
    )
    with pytest.raises(InputError, match=r"^loopback: the jump hosts loop .*Host \* !bastion"):
        await whoami(ssh_node(sshd, host="target", port=None, ssh_config=cfg), kind)


@pytest.mark.parametrize("kind", SSH_BACKENDS)
async def test_proxy_command_of_ssh_config_is_honoured(
    sshd: SshdServer, kind: str, tmp_path: Path
) -> None:
    # A real `ssh -W` to the same sshd carries the connection; %h and %p are expanded.
    via_ssh = (
        f"ssh -F none -i {sshd.client_key} -o UserKnownHostsFile={sshd.known_hosts} "
        f"-o StrictHostKeyChecking=yes -o BatchMode=yes -p {sshd.port} -W %h:%p root@127.0.0.1"
    )
    cfg = config(tmp_path, f"Host target\n  HostName 127.0.0.1\n  ProxyCommand {via_ssh}\n")
    assert await whoami(ssh_node(sshd, host="target", ssh_config=cfg), kind) == "root"
    broken = config(tmp_path, "Host target\n  HostName 127.0.0.1\n  ProxyCommand exit 3\n")
    with pytest.raises(ConnectError, match=r"check the ProxyCommand of ssh_config \(exit 3\)"):
        await whoami(ssh_node(sshd, host="target", ssh_config=broken), kind)


async def test_a_broken_ssh_config_says_what_openssh_says(sshd: SshdServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, "Host *\n  NoSuchOption yes\n")
    with pytest.raises(InputError, match="Bad configuration option: nosuchoption"):
        await whoami(ssh_node(sshd, ssh_config=cfg), "asyncssh")
    with pytest.raises(InputError, match="does not exist"):
        await whoami(ssh_node(sshd, ssh_config=str(tmp_path / "missing")), "asyncssh")
