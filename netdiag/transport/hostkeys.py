"""known_hosts handling shared by the SSH backends: strict by default, accept-new on request.

``accept-new`` follows OpenSSH's ``StrictHostKeyChecking=accept-new``: a host with *no* entry is
trusted on first contact and its key appended; a host whose entry differs is always refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from pathlib import Path

from netdiag.inventory import NodeSpec

__all__ = ["HostKeys", "host_pattern"]


def host_pattern(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH patterns: only ``*`` and ``?`` are wildcards (``[host]:port`` is literal)."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name) is not None


def _matches(field: str, name: str) -> bool:
    if field.startswith("|1|"):  # hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
        try:
            _, _, salt, digest = field.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        except ValueError:
            return False
        return hmac.compare_digest(mac, base64.b64decode(digest))
    hit = False
    for pat in field.split(","):
        if pat.startswith("!"):
            if _glob(pat[1:], name):
                return False
        elif _glob(pat, name):
            hit = True
    return hit


class HostKeys:
    """The known_hosts file of one node and its policy."""

    def __init__(self, node: NodeSpec) -> None:
        self.node = node
        self.path = node.known_hosts or Path("~/.ssh/known_hosts").expanduser()

    def has_entry(self, host: str, port: int) -> bool:
        """True when any line (trusted, revoked or CA) names this host and port."""
        name = host_pattern(host, port)
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return False
        for line in lines:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if parts[0].startswith("@"):
                parts = parts[1:]
            if parts and _matches(parts[0], name):
                return True
        return False

    def may_accept_new(self, host: str, port: int) -> bool:
        return self.node.host_key_policy == "accept-new" and not self.has_entry(host, port)

    def asyncssh_known_hosts(self) -> str | tuple[list[object], list[object], list[object]]:
        """The file, or empty trust lists (reject every key) when it does not exist."""
        return str(self.path) if self.path.exists() else ([], [], [])

    def record(self, host: str, port: int, key_line: str) -> None:
        """Append ``pattern keytype base64`` (accept-new's first contact)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"{host_pattern(host, port)} {' '.join(key_line.split()[:2])}\n")

    def rejected_message(self) -> str:
        n = self.node
        port = n.port or 22
        return (
            f"{n.name}: the host key of {host_pattern(n.host, port)} is unknown or has changed "
            f"(known_hosts: {self.path}); verify it, then add it with "
            f"`ssh-keyscan -p {port} {n.host} >> {self.path}`, or set host_key_policy: "
            "accept-new to trust a new host on first contact"
        )
