"""known_hosts as OpenSSH reads it decides which keys a node may offer: matching and policies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from netdiag.errors import HostKeyError
from netdiag.transport.hostkeys import KnownHosts, fingerprint, host_pattern


def new_key(alg: str = "ssh-ed25519") -> Any:
    return asyncssh.generate_private_key(alg).convert_to_public()


def line(names: str, key: Any, marker: str = "") -> str:
    text = key.export_public_key("openssh").decode().split()
    return f"{marker + ' ' if marker else ''}{names} {text[0]} {text[1]}\n"


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def known(path: Path, name: str = "10.0.0.1", port: int = 22, **changes: Any) -> KnownHosts:
    kh = KnownHosts(
        node_name="node1",
        name=name,
        port=port,
        user_files=(path,),
        global_files=(),
        policy="strict",
        keyscan_host=name,
    )
    return replace(kh, **changes)


def test_host_pattern_follows_openssh() -> None:
    assert host_pattern("10.0.0.1", 22) == "10.0.0.1"
    assert host_pattern("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_fingerprint_is_openssh_sha256() -> None:
    key = new_key()
    blob = base64.b64decode(key.export_public_key("openssh").split()[1])
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert fingerprint(key) == f"SHA256:{expected}"


def test_plain_hashed_port_pattern_and_negated_entries(tmp_path: Path) -> None:
    a, b, c, d = new_key(), new_key(), new_key(), new_key()
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# comment\n"
        + line("a.example,10.0.0.1", a)
        + line(hashed("[10.0.0.2]:2222"), b)
        + line("*.lab,!bad.lab", c)
        + "this line is not an entry\n"
        + "@bogus x.example ssh-ed25519 AAAA\n"
        + line("[10.0.0.4]:2222", d)
    )
    assert known(kh, "10.0.0.1").judge(a) == "trusted"
    assert known(kh, "a.example").judge(a) == "trusted"
    assert known(kh, "10.0.0.1", 2222).judge(a) == "unknown"  # no fallback to port 22
    assert known(kh, "10.0.0.2", 2222).judge(b) == "trusted"  # hashed [host]:port
    assert known(kh, "10.0.0.2").judge(b) == "unknown"
    assert known(kh, "n1.lab").judge(c) == "trusted"
    assert known(kh, "bad.lab").judge(c) == "unknown"
    assert known(kh, "10.0.0.4", 2222).judge(d) == "trusted"  # after the bad lines
    assert known(kh, "n1.lab").judge(a) == "changed"  # same type, another key
    assert known(kh, "n1.lab").judge(new_key("ecdsa-sha2-nistp256")) == "unknown"


def test_revoked_wins_over_a_trusted_line(tmp_path: Path) -> None:
    key = new_key()
    kh = tmp_path / "known_hosts"
    kh.write_text(line("h", key) + line("h", key, "@revoked"))
    keys = known(kh, "h", policy="off")
    assert keys.judge(key) == "revoked"
    with pytest.raises(HostKeyError, match=rf"is revoked: .*{re.escape(str(kh))}:2 marks @rev"):
        keys.admit(key)


def test_strict_refuses_an_unknown_key_naming_its_fingerprint(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    before = line("other", new_key())
    kh.write_text(before)
    key = new_key()
    with pytest.raises(HostKeyError) as info:
        known(kh, "10.0.0.9", 2222).admit(key)
    msg = str(info.value)
    assert msg.startswith("node1: the host key of [10.0.0.9]:2222 is unknown: ")
    assert f"ED25519 key {fingerprint(key)}" in msg
    assert f"ssh-keyscan -p 2222 -t ed25519 10.0.0.9 >> {kh}" in msg
    assert "ssh-keygen -R" not in msg  # nothing stale to remove
    assert kh.read_text() == before  # strict records nothing


def test_ask_refuses_and_says_netdiag_cannot_ask(tmp_path: Path) -> None:
    with pytest.raises(HostKeyError, match="ssh would ask; netdiag cannot ask"):
        known(tmp_path / "none", policy="ask").admit(new_key())


@pytest.mark.parametrize("hash_names", [False, True])
def test_accept_new_records_then_trusts(tmp_path: Path, hash_names: bool) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    keys = known(kh, "h", 2200, policy="accept-new", hash_names=hash_names)
    key = new_key()
    keys.admit(key)
    text = kh.read_text()
    assert text.endswith(" ".join(line("x", key).split()[1:]) + "\n")
    assert text.startswith("|1|" if hash_names else "[h]:2200 ")
    assert known(kh, "h", 2200).judge(key) == "trusted"  # strict now trusts it
    with pytest.raises(HostKeyError, match="has CHANGED"):
        keys.admit(new_key())


def test_recording_never_glues_onto_a_last_line_without_newline(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    first = new_key()
    kh.write_text(line("a", first).rstrip("\n"))
    known(kh, "b", policy="accept-new").admit(new_key())
    assert known(kh, "a").judge(first) == "trusted"
    assert len(kh.read_text().splitlines()) == 2


def test_changed_key_advice_removes_the_stale_line_before_adding(tmp_path: Path) -> None:
    kh = tmp_path / "known hosts"
    kh.write_text(line("x", new_key()) + line("[10.0.0.5]:2222", new_key()))
    key = new_key()
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as info:
            known(kh, "10.0.0.5", 2222, policy=policy).admit(key)
        msg = str(info.value)
        assert msg.startswith("node1: the host key of [10.0.0.5]:2222 has CHANGED: ")
        assert f"ED25519 key {fingerprint(key)}, not the ED25519 key {kh}:2 holds" in msg
        remove = f"ssh-keygen -R '[10.0.0.5]:2222' -f '{kh}'"
        add = f"ssh-keyscan -p 2222 -t ed25519 10.0.0.5 >> '{kh}'"
        assert remove in msg
        assert add in msg
        assert msg.index(remove) < msg.index(add)


def test_changed_key_in_a_pattern_line_says_edit_it(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("*.lab", new_key()))
    with pytest.raises(HostKeyError) as info:
        known(kh, "n1.lab").admit(new_key())
    assert f"edit line 1 of {kh}: a pattern entry" in str(info.value)
    assert "ssh-keygen -R n1.lab" not in str(info.value)


def test_off_lets_a_changed_key_in_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kh = tmp_path / "known_hosts"
    old = new_key()
    kh.write_text(line("h", old))
    with caplog.at_level(logging.WARNING, logger="netdiag.transport.hostkeys"):
        known(kh, "h", policy="off").admit(new_key())
    assert "has CHANGED" in caplog.text
    assert "connecting anyway, as ssh does with StrictHostKeyChecking no" in caplog.text
    assert kh.read_text() == line("h", old)  # the changed key is not recorded


def test_alias_and_jump_shape_the_keyscan_advice(tmp_path: Path) -> None:
    keys = known(tmp_path / "kh", "web1", keyscan_host="10.0.0.7", via="ssh -p 2200 ops@bastion")
    with pytest.raises(HostKeyError) as info:
        keys.admit(new_key())
    assert (
        "ssh -p 2200 ops@bastion 'ssh-keyscan -t ed25519 10.0.0.7' | sed 's/^[^ ]*/web1/'"
        in str(info.value)
    )


def test_key_types_listed_for_the_host_come_first(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("h", new_key("ecdsa-sha2-nistp256")) + line("other", new_key()))
    assert known(kh, "h").preferred_algorithms() == ["ecdsa-sha2-nistp256"]
