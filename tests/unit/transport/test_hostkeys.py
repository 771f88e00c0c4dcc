"""known_hosts matching decides whether accept-new may trust a host: it must be exact."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from netdiag.inventory import NodeSpec
from netdiag.transport.hostkeys import HostKeys, host_pattern


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_host_pattern_follows_openssh() -> None:
    assert host_pattern("10.0.0.1", 22) == "10.0.0.1"
    assert host_pattern("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_entries_plain_hashed_lists_and_negation(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# comment\n"
        "a.example,10.0.0.1 ssh-ed25519 AAAA\n"
        f"{hashed('[10.0.0.2]:2222')} ssh-ed25519 BBBB\n"
        "*.lab,!bad.lab ssh-ed25519 CCCC\n"
        "@revoked rev.example ssh-ed25519 DDDD\n"
    )
    keys = HostKeys(NodeSpec(name="n", host="x", known_hosts=kh))
    assert keys.has_entry("10.0.0.1", 22)
    assert not keys.has_entry("10.0.0.1", 2222)
    assert keys.has_entry("10.0.0.2", 2222)
    assert not keys.has_entry("10.0.0.2", 22)
    assert keys.has_entry("n1.lab", 22)
    assert not keys.has_entry("bad.lab", 22)
    assert keys.has_entry("rev.example", 22)


def test_accept_new_only_for_hosts_without_any_entry(tmp_path: Path) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    strict = HostKeys(NodeSpec(name="n", host="h", known_hosts=kh))
    new = HostKeys(NodeSpec(name="n", host="h", known_hosts=kh, host_key_policy="accept-new"))
    assert not strict.may_accept_new("h", 22)
    assert new.may_accept_new("h", 22)
    assert strict.asyncssh_known_hosts() == ([], [], [])  # no file: trust nothing
    new.record("h", 2200, "ssh-ed25519 AAAAC3 comment")
    assert kh.read_text() == "[h]:2200 ssh-ed25519 AAAAC3\n"
    assert not new.may_accept_new("h", 2200)
    assert new.asyncssh_known_hosts() == str(kh)
    assert "ssh-keyscan -p 22 h" in strict.rejected_message()
