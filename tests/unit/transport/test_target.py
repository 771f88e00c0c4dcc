"""How a node's SSH settings are worked out: the inventory first, then ssh_config as OpenSSH
itself reads it (``ssh -G``, run here on temporary config files; no network), and the order
keys are offered in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netdiag.errors import InputError
from netdiag.inventory import NodeSpec
from netdiag.transport import sshconfig
from netdiag.transport.credentials import Agent, KeyFile, auth_failed, order_keys
from netdiag.transport.sshconfig import expand, parse_ssh_g
from netdiag.transport.target import SshTarget, parse_hop, resolve

needs_ssh = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh client")


def config(tmp_path: Path, text: str) -> str:
    """A new ssh_config file in ``tmp_path`` (each call its own file)."""
    path = tmp_path / f"ssh_config{len(list(tmp_path.glob('ssh_config*')))}"
    path.write_text(text)
    return str(path)


def test_parse_ssh_g_keeps_repeated_keys_and_inner_spaces() -> None:
    out = parse_ssh_g("user root\nidentityfile ~/.ssh/a\nidentityfile ~/.ssh/b\nproxycommand a b\n")
    assert out == {
        "user": ["root"],
        "identityfile": ["~/.ssh/a", "~/.ssh/b"],
        "proxycommand": ["a b"],
    }


def test_expand_tokens_like_openssh() -> None:
    tokens = {"h": "10.0.0.1", "p": "2222", "r": "ops", "d": "/home/me"}
    assert expand("ssh -W %h:%p %r %%x %z", tokens) == "ssh -W 10.0.0.1:2222 ops %x %z"
    assert expand("%d/.ssh/id_%h", tokens) == "/home/me/.ssh/id_10.0.0.1"
    assert expand("~/k", tokens) == str(Path("~/k").expanduser())


@pytest.mark.parametrize(
    ("hop", "parsed"),
    [
        ("bastion", (None, "bastion", None)),
        ("ops@bastion:2222", ("ops", "bastion", 2222)),
        ("ssh://ops@bastion:2222", ("ops", "bastion", 2222)),
        ("[fd00::1]:2222", (None, "fd00::1", 2222)),
    ],
)
def test_parse_hop(hop: str, parsed: tuple[str | None, str, int | None]) -> None:
    assert parse_hop(hop) == parsed


@needs_ssh
async def test_ssh_config_with_include_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / "more.conf").write_text(
        "Host web*\n  HostName %h.example.net\n  User ops\n  Port 2200\n"
        f"  IdentityFile {tmp_path}/id_%r_%h\n  UserKnownHostsFile {tmp_path}/kh {tmp_path}/kh2\n"
        "  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n  HostKeyAlias web-alias\n"
    )
    cfg = config(tmp_path, f"Include {tmp_path}/more.conf\n")
    target = await resolve(NodeSpec(name="w", host="web1", ssh_config=cfg))
    assert (target.hostname, target.port, target.user) == ("web1.example.net", 2200, "ops")
    assert target.identity_files == (tmp_path / "id_ops_web1.example.net",)
    kh = target.known_hosts
    assert kh.user_files == (tmp_path / "kh", tmp_path / "kh2")
    assert (kh.policy, kh.hash_names, kh.name, kh.pattern) == (
        "accept-new",
        True,
        "web-alias",
        "[web-alias]:2200",
    )
    assert target.agent_path is None
    assert target.agent_note == "no ssh-agent (SSH_AUTH_SOCK is not set)"
    # The inventory wins over ssh_config, setting by setting.
    mine = await resolve(
        NodeSpec(
            name="w",
            host="web1",
            user="root",
            port=22,
            identity_file=tmp_path / "k",
            known_hosts=tmp_path / "mine",
            host_key_policy="strict",
            ssh_config=cfg,
        )
    )
    assert (mine.user, mine.port, mine.identity_files) == ("root", 22, (tmp_path / "k",))
    assert (mine.known_hosts.user_files, mine.known_hosts.policy) == (
        (tmp_path / "mine",),
        "strict",
    )


@needs_ssh
@pytest.mark.parametrize(
    ("setting", "policy"),
    [("", "ask"), ("yes", "strict"), ("no", "off"), ("accept-new", "accept-new")],
)
async def test_strict_host_key_checking_values(tmp_path: Path, setting: str, policy: str) -> None:
    text = f"StrictHostKeyChecking {setting}\n" if setting else ""
    target = await resolve(NodeSpec(name="n", host="h", ssh_config=config(tmp_path, text)))
    assert target.known_hosts.policy == policy


@needs_ssh
async def test_the_agent_as_openssh_picks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    none = config(tmp_path, "")
    assert (await resolve(NodeSpec(name="n", host="h", ssh_config=none))).agent_path == (
        "/run/agent.sock"
    )
    off = await resolve(NodeSpec(name="n", host="h", agent=False, ssh_config=none))
    assert (off.agent_path, off.agent_note) == (
        None,
        "ssh-agent off (agent: false in the inventory)",
    )
    ia_none = config(tmp_path, "IdentityAgent none\n")
    target = await resolve(NodeSpec(name="n", host="h", ssh_config=ia_none))
    assert (target.agent_path, target.agent_note) == (
        None,
        "ssh-agent off (IdentityAgent none in ssh_config)",
    )
    other = config(tmp_path, f"IdentityAgent {tmp_path}/other.sock\n")
    assert (await resolve(NodeSpec(name="n", host="h", ssh_config=other))).agent_path == str(
        tmp_path / "other.sock"
    )
    monkeypatch.delenv("SSH_AUTH_SOCK")
    forced = await resolve(NodeSpec(name="n", host="h", agent=True, ssh_config=none))
    assert forced.agent_note.startswith("no ssh-agent: agent: true in the inventory")


@needs_ssh
async def test_proxy_jump_chain_and_jump_precedence(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "Host node\n  ProxyJump ops@gw1:2201,gw2\nHost gw1\n  HostName 10.0.0.1\n"
        "Host other\n  ProxyCommand nc %h %p\n",
    )
    target = await resolve(NodeSpec(name="n", host="node", ssh_config=cfg))
    assert target.jump is not None
    assert target.jump.name == "gw2"
    assert target.jump.jump is not None
    assert (target.jump.jump.hostname, target.jump.jump.port, target.jump.jump.user) == (
        "10.0.0.1",
        2201,
        "ops",
    )
    assert target.jump.jump.jump is None
    assert target.known_hosts.via == f"ssh -F {cfg} gw2"  # where ssh-keyscan reaches the node
    # The inventory's jump wins, "none" ignores ssh_config's; ProxyCommand when no jump.
    mine = await resolve(NodeSpec(name="n", host="node", ssh_config=cfg, jump="admin@b"))
    assert mine.jump is not None
    assert (mine.jump.hostname, mine.jump.user) == ("b", "admin")
    direct = await resolve(NodeSpec(name="n", host="node", ssh_config=cfg, jump="none"))
    assert (direct.jump, direct.proxy_command) == (None, None)
    proxied = await resolve(NodeSpec(name="n", host="other", port=2222, ssh_config=cfg))
    assert proxied.proxy_command == "nc other 2222"


async def test_ssh_config_none_starts_no_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*argv: object, **kwargs: object) -> object:
        raise AssertionError(f"a process was started: {argv}")

    monkeypatch.setattr(sshconfig.asyncio, "create_subprocess_exec", no_process)
    target = await resolve(NodeSpec(name="n", host="h", user="u", port=2222, ssh_config="none"))
    assert (target.hostname, target.port, target.user) == ("h", 2222, "u")
    assert target.known_hosts.policy == "ask"


async def test_without_ssh_openssh_defaults_or_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sshconfig.shutil, "which", lambda name: None)
    target = await resolve(NodeSpec(name="n", host="h", user="u", ssh_config="none"))
    assert (target.hostname, target.port, target.known_hosts.policy) == ("h", 22, "ask")
    assert target.identity_files[-1] == Path("~/.ssh/id_ed25519_sk").expanduser()
    cfg = config(tmp_path, "Host *\n  User x\n")
    with pytest.raises(InputError, match=r"needs OpenSSH's ssh client.*ssh_config: none"):
        await resolve(NodeSpec(name="n", host="h", ssh_config=cfg))


def target_for(**changes: object) -> SshTarget:
    from netdiag.transport.hostkeys import KnownHosts

    known = KnownHosts("n", "h", 22, (), (), "strict")
    values: dict[str, object] = {
        "node": NodeSpec(name="n", host="h"),
        "hostname": "h",
        "port": 22,
        "user": "root",
        "identity_files": (),
        "identity_source": "identity_file in the inventory",
        "identities_only": False,
        "agent_path": None,
        "agent_note": "no ssh-agent (SSH_AUTH_SOCK is not set)",
        "known_hosts": known,
    }
    values.update(changes)
    return SshTarget(**values)  # type: ignore[arg-type]


def test_identity_files_go_before_the_agent_and_stand_in_for_locked_ones() -> None:
    files = [
        KeyFile(Path("a"), "loaded", key="file-a", blob=b"A"),
        KeyFile(Path("b"), "encrypted", blob=b"B"),
        KeyFile(Path("c"), "missing"),
    ]
    agent = Agent((((b"X"), "agent-x"), (b"B", "agent-b"), (b"A", "agent-a")))
    assert order_keys(files, agent, identities_only=False) == [
        "file-a",
        "agent-b",
        "agent-x",
    ]
    assert order_keys(files, agent, identities_only=True) == ["file-a", "agent-b"]


def test_auth_failure_messages_say_what_was_offered_and_what_not() -> None:
    locked = KeyFile[str](Path("/k/locked"), "encrypted", blob=b"L")
    msg = auth_failed(target_for(), [locked], Agent())
    assert msg.startswith("n: root@h:22: no key to log in with")
    assert "/k/locked is passphrase-protected and not in ssh-agent (ssh-add /k/locked)" in msg
    assert "SSH_AUTH_SOCK is not set" in msg
    loaded = KeyFile(Path("/k/id"), "loaded", key="k", blob=b"K")
    agent = Agent(((b"X", "x"),))
    refused = auth_failed(target_for(agent_note="ssh-agent at /s"), [loaded], agent)
    assert refused.startswith("n: root@h:22 refused our keys: /k/id and 1 key(s) of the ssh-agent")
    assert "check user and identity_file in the inventory" in refused
