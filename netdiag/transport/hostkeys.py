"""Host key checking shared by the SSH backends: known_hosts as OpenSSH reads it, and its policies.

The matching is asyncssh's (:class:`asyncssh.SSHKnownHosts`): plain and hashed names,
``[host]:port``, ``*``/``?`` patterns, ``!`` negation, ``@revoked`` and ``@cert-authority``.
paramiko's own ``HostKeys`` gives the same answer for plain and hashed names only (it skips
pattern, negated and marked lines), so both backends ask this module. A host is looked up
under ``[name]:port`` (``name`` alone on port 22), ``name`` being ``HostKeyAlias`` or the host
name, and never under its address, as OpenSSH (``CheckHostIP no``) does; lines that are not
known_hosts entries are skipped, as OpenSSH skips them.

What an offered key is, per OpenSSH (sshconnect.c), and what each policy does with it:

==========  ============================  ==================  ===========================
verdict     meaning                       strict / ask        accept-new  /  off
==========  ============================  ==================  ===========================
trusted     listed for the host           connect             connect
unknown     no key of its type is listed  refuse              record it, connect
changed     another key of its type is    refuse              refuse  /  connect, warn
revoked     marked ``@revoked``           refuse              refuse
==========  ============================  ==================  ===========================

``ask`` (OpenSSH's default) would prompt; netdiag connects to many nodes at once and cannot, so
it refuses as ``strict`` (``StrictHostKeyChecking yes``) does and says how to add the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import asyncssh

from netdiag.errors import HostKeyError

__all__ = ["Entries", "KnownHosts", "Policy", "Verdict", "fingerprint", "host_pattern"]

log = logging.getLogger(__name__)
Policy = Literal["strict", "ask", "accept-new", "off"]
Verdict = Literal["trusted", "unknown", "changed", "revoked"]
# OpenSSH's names for key types in its messages, and ssh-keyscan's -t names.
_TYPES = {
    "ssh-ed25519": ("ED25519", "ed25519"),
    "ssh-rsa": ("RSA", "rsa"),
    "ssh-dss": ("DSA", "dsa"),
    "sk-ssh-ed25519@openssh.com": ("ED25519-SK", "ed25519-sk"),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("ECDSA-SK", "ecdsa-sk"),
}


def host_pattern(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def key_type(key: Any) -> tuple[str, str]:
    """(OpenSSH's name, ssh-keyscan's ``-t`` name) of an asyncssh key's type."""
    alg = key.algorithm.decode()
    if alg.startswith("ecdsa-sha2-"):
        return "ECDSA", "ecdsa"
    return _TYPES.get(alg, (alg, alg))


def fingerprint(key: Any) -> str:
    """``SHA256:...`` as OpenSSH prints it (unpadded base64 of the SHA-256 of the key blob)."""
    digest = hashlib.sha256(key.public_data).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class Entries(NamedTuple):
    """What known_hosts lists for one host: trusted keys, CA keys, revoked keys."""

    host_keys: list[Any]
    ca_keys: list[Any]
    revoked: list[Any]


class _Line(NamedTuple):
    path: Path
    number: int
    pattern_field: str  # the host field: `ssh-keygen -R` removes plain and hashed names only


_cache: dict[tuple[str, int, int, int], Any] = {}
_cache_lock = threading.Lock()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # missing or unreadable: no entries, as for OpenSSH
        return None


def _load(path: Path) -> Any:
    """The file as an :class:`asyncssh.SSHKnownHosts` (bad lines skipped), cached until it
    changes: a fan-out to many nodes reads one big known_hosts once, not once per node."""
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if stamp in _cache:
            return _cache[stamp]
    text = _read(path)
    if text is None:
        return None
    known = asyncssh.SSHKnownHosts()
    for line in text.splitlines():
        try:
            known.load(line)
        except ValueError:  # not an entry (bad marker, bad hash): skipped, as OpenSSH does
            continue
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[stamp] = known
    return known


def _matches(known: Any, name: str) -> Entries:
    host_keys, ca_keys, revoked, *_ = known.match(name, "", None)
    return Entries(list(host_keys), list(ca_keys), list(revoked))


@dataclass(frozen=True)
class KnownHosts:
    """The known_hosts files, name and policy for one host key check."""

    node_name: str
    name: str  # HostKeyAlias, else the host name
    port: int
    user_files: tuple[Path, ...]  # new keys are recorded in the first one
    global_files: tuple[Path, ...]
    policy: Policy
    hash_names: bool = False  # HashKnownHosts: record new names hashed
    keyscan_host: str = ""  # the address ssh-keyscan reaches the node at
    via: str | None = None  # ssh to the jump host in between, for ssh-keyscan advice

    @property
    def pattern(self) -> str:
        return host_pattern(self.name, self.port)

    @property
    def files(self) -> tuple[Path, ...]:
        return self.user_files + self.global_files

    def entries(self) -> Entries:
        """Every key the files list for this host (the asyncssh backend trusts these)."""
        found = Entries([], [], [])
        for path in self.files:
            known = _load(path)
            if known is not None:
                for mine, more in zip(found, _matches(known, self.pattern), strict=True):
                    mine.extend(more)
        return found

    def judge(self, offered: Any) -> Verdict:
        found = self.entries()
        if offered in found.revoked:
            return "revoked"
        if offered in found.host_keys:
            return "trusted"
        if any(k.algorithm == offered.algorithm for k in found.host_keys):
            return "changed"
        return "unknown"

    def admit(self, offered: Any) -> None:
        """Let an offered key (an asyncssh key) in, or raise HostKeyError saying what to do."""
        verdict = self.judge(offered)
        if verdict == "trusted":
            return
        if verdict == "unknown" and self.policy in ("accept-new", "off"):
            self.record(offered)
            return
        if verdict == "changed" and self.policy == "off":
            log.warning(
                "%s; connecting anyway, as ssh does with StrictHostKeyChecking no",
                self._changed_head(offered),
            )
            return
        raise HostKeyError(self.message(verdict, offered))

    def preferred_algorithms(self) -> list[str]:
        """Key types listed for this host, to ask the server for first (as OpenSSH does), so
        a node with several host keys shows the one known_hosts knows."""
        algs: list[str] = []
        for key in self.entries().host_keys:
            for alg in (a.decode() for a in key.sig_algorithms):
                if alg not in algs:
                    algs.append(alg)
        return algs

    def record(self, key: Any) -> None:
        """Append ``name type base64`` to the first user file (hashed under HashKnownHosts)."""
        if not self.user_files:
            return  # UserKnownHostsFile none: nowhere to record it, as with ssh
        path = self.user_files[0]
        name = _hashed(self.pattern) if self.hash_names else self.pattern
        key_type_name, key_data = key.export_public_key("openssh").decode().split()[:2]
        line = f"{name} {key_type_name} {key_data}\n"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line  # never glue our line onto a last line without newline
                os.write(fd, line.encode())  # one write: concurrent appends stay whole lines
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning(
                "%s: could not record the host key of %s in %s (%s); connecting anyway, as ssh "
                "does",
                self.node_name,
                self.pattern,
                path,
                exc.strerror,
            )

    def lines_for(self, offered: Any, verdict: Verdict) -> list[_Line]:
        """The lines that make the verdict: revoking the key, or holding another of its type."""
        out: list[_Line] = []
        for path in self.files:
            for number, line in enumerate((_read(path) or "").splitlines(), 1):
                one = asyncssh.SSHKnownHosts()
                try:
                    one.load(line)
                except ValueError:
                    continue
                found = _matches(one, self.pattern)
                hit = (
                    offered in found.revoked
                    if verdict == "revoked"
                    else any(k.algorithm == offered.algorithm for k in found.host_keys)
                )
                if hit:
                    fields = line.split()
                    host_field = fields[1] if fields[0].startswith("@") else fields[0]
                    out.append(_Line(path, number, host_field))
        return out

    def message(self, verdict: Verdict, offered: Any) -> str:
        """What happened, the offered key's fingerprint, and what to do, in one line."""
        if verdict == "revoked":
            lines = self.lines_for(offered, verdict)
            marks = ", ".join(f"{x.path}:{x.number}" for x in lines) or "known_hosts"
            return (
                f"{self._where()} is revoked: {self._offer(offered)}, which {marks} marks "
                "@revoked; do not connect until you know why the node still uses it"
            )
        if verdict == "unknown":
            return self._unknown(offered)
        return self._changed(offered)

    def _where(self) -> str:
        return f"{self.node_name}: the host key of {self.pattern}"

    def _offer(self, offered: Any) -> str:
        return f"the node offered {key_type(offered)[0]} key {fingerprint(offered)}"

    def _unknown(self, offered: Any) -> str:
        kind, scan_type = key_type(offered)
        others = sorted({key_type(k)[0] for k in self.entries().host_keys})
        listed = f" (it lists only {', '.join(others)} keys for it)" if others else ""
        present = [f for f in self.files if f.exists()] or list(self.user_files[:1])
        files = ", ".join(map(str, present)) or "no known_hosts file (UserKnownHostsFile none)"
        scan = self._keyscan(scan_type)
        target = self.user_files[0] if self.user_files else None
        add = f"{scan} >> {shlex.quote(str(target))}" if target else f"add the line of: {scan}"
        ask = " (ssh would ask; netdiag cannot ask, so it refuses)" if self.policy == "ask" else ""
        return (
            f"{self._where()} is unknown: {self._offer(offered)}, and no {kind} key for it is "
            f"in {files}{listed}{ask}. Check that fingerprint on the node (ssh-keygen -lf "
            f"/etc/ssh/ssh_host_{scan_type}_key.pub), then add it: {add}; or set "
            "host_key_policy: accept-new in the inventory to trust a node on first contact"
        )

    def _changed_head(self, offered: Any) -> str:
        lines = self.lines_for(offered, "changed")
        held = ", ".join(f"{x.path}:{x.number}" for x in lines) or "known_hosts"
        kind = key_type(offered)[0]
        return (
            f"{self._where()} has CHANGED: {self._offer(offered)}, not the {kind} key {held} holds"
        )

    def _changed(self, offered: Any) -> str:
        lines = self.lines_for(offered, "changed")
        fixes: list[str] = []
        for path in dict.fromkeys(x.path for x in lines):
            mine = [x for x in lines if x.path == path]
            patterned = [str(x.number) for x in mine if _is_pattern(x.pattern_field)]
            if len(patterned) < len(mine):
                fixes.append(
                    f"ssh-keygen -R {shlex.quote(self.pattern)} -f {shlex.quote(str(path))}"
                )
            if patterned:
                fixes.append(
                    f"edit line {', '.join(patterned)} of {path}: a pattern entry, which "
                    "ssh-keygen -R does not remove"
                )
        into = lines[0].path if lines else (self.user_files or (None,))[0]
        scan = self._keyscan(key_type(offered)[1])
        add = f"{scan} >> {shlex.quote(str(into))}" if into else scan
        return (
            f"{self._changed_head(offered)}. Someone may be intercepting the connection, or the "
            "node was reinstalled: find out which. If the new key is right, remove the old one "
            f"first ({'; '.join(fixes) or 'edit known_hosts'}), then add the new one: {add}"
        )

    def refused(self, reason: str) -> str:
        """A refusal the verdicts do not cover (a host certificate, say), with its reason."""
        files = ", ".join(map(str, self.files)) or "no known_hosts file"
        return (
            f"{self.node_name}: the host key of {self.pattern} was refused ({reason}); "
            f"check the entries for it in {files}"
        )

    def _keyscan(self, scan_type: str) -> str:
        """The ssh-keyscan command that prints the node's key as a known_hosts line."""
        argv = ["ssh-keyscan", *(["-p", str(self.port)] if self.port != 22 else [])]
        argv += ["-t", scan_type, self.keyscan_host or self.name]
        scan = shlex.join(argv)
        if self.via:
            scan = f"{self.via} {shlex.quote(scan)}"
        if self.name != (self.keyscan_host or self.name):  # HostKeyAlias: rename the line
            scan += f" | sed {shlex.quote('s/^[^ ]*/' + self.pattern + '/')}"
        return scan


def _is_pattern(host_field: str) -> bool:
    return not host_field.startswith("|") and any(c in host_field for c in "*?!")


def _hashed(name: str) -> str:
    """OpenSSH's hashed known_hosts name: ``|1|base64(salt)|base64(HMAC-SHA1(salt, name))``."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
