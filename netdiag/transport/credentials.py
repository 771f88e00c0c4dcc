"""Which keys to offer a node, in which order, and what to say when it refuses them all.

Identity files come first (the inventory's, else ssh_config's), then the keys of ssh-agent: a
server stops after ``MaxAuthTries`` (6) refused keys, so an agent holding many keys must not
crowd out the one file named for the node. A passphrase-protected file cannot be read here;
its key is taken from the agent in its place (found by its ``.pub``), as ssh does. With
``IdentitiesOnly yes`` the agent offers only the keys of those files.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from netdiag.transport.target import SshTarget

__all__ = ["Agent", "KeyFile", "auth_failed", "order_keys", "public_blob"]

K = TypeVar("K")
FileStatus = Literal["loaded", "missing", "encrypted", "unreadable"]


@dataclass(frozen=True)
class KeyFile(Generic[K]):
    """One identity file as a backend found it: the key when it could load it."""

    path: Path
    status: FileStatus
    key: K | None = None
    blob: bytes | None = None  # the public key, from the key or the file's .pub
    detail: str = ""


@dataclass(frozen=True)
class Agent(Generic[K]):
    """The agent's keys as ``(public blob, key)``, or why there are none."""

    keys: tuple[tuple[bytes, K], ...] = ()
    problem: str = ""  # e.g. "not reachable (No such file or directory)"


def public_blob(path: Path) -> bytes | None:
    """The public key blob of ``path``'s ``.pub`` file, when there is a readable one."""
    try:
        fields = Path(f"{path}.pub").read_text(encoding="ascii", errors="replace").split()
        return base64.b64decode(fields[1], validate=True) if len(fields) > 1 else None
    except (OSError, binascii.Error):
        return None


def order_keys(files: Sequence[KeyFile[K]], agent: Agent[K], identities_only: bool) -> list[K]:
    """Identity files first (an unreadable one by the agent's copy of it), then the agent."""
    ordered: list[K] = []
    used: set[bytes] = set()
    by_blob = dict(agent.keys)
    for f in files:
        if f.key is not None:
            ordered.append(f.key)
        elif f.blob is not None and f.blob in by_blob and f.blob not in used:
            ordered.append(by_blob[f.blob])
        if f.blob is not None:
            used.add(f.blob)
    if not identities_only:
        ordered += [key for blob, key in agent.keys if blob not in used]
    return ordered


def _short(path: Path) -> str:
    """``~/.ssh/id_rsa`` rather than ``/root/.ssh/id_rsa``: shorter, and what users type."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def auth_failed(target: SshTarget, files: Sequence[KeyFile[K]], agent: Agent[K]) -> str:
    """The AuthError message: what was offered, what could not be, and what to check."""
    n = target.node
    tried = [_short(f.path) for f in files if f.status == "loaded"]
    agent_count = len(agent.keys)
    from_agent = f"{agent_count} key(s) of the {target.agent_note}" if agent_count else ""
    problems = []
    for f in files:
        if f.status == "encrypted" and (f.blob is None or f.blob not in dict(agent.keys)):
            path = _short(f.path)
            problems.append(f"{path} is passphrase-protected and not in ssh-agent (ssh-add {path})")
        elif f.status == "unreadable":
            problems.append(f"{_short(f.path)} cannot be read ({f.detail})")
    if files and all(f.status == "missing" for f in files):
        names = [_short(f.path) for f in files]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        problems.append(f"no identity file exists ({shown}, from the {target.identity_source})")
    if not agent_count:
        problems.append(
            f"{target.agent_note}: {agent.problem}" if agent.problem else target.agent_note
        )
    offered = " and ".join(x for x in (", ".join(tried), from_agent) if x)
    head = f"{n.name}: {target.user}@{target.hostname}:{target.port}"
    if not offered:
        return (
            f"{head}: no key to log in with: {'; '.join(problems)}; set identity_file in the "
            "inventory, or start ssh-agent and ssh-add your key"
        )
    notes = f" ({'; '.join(problems)})" if problems else ""
    only = " (IdentitiesOnly yes: the agent offered only those files' keys)"
    return (
        f"{head} refused our keys: {offered}{only if target.identities_only else ''}{notes}; "
        "check user and identity_file in the inventory (or User and IdentityFile in "
        "ssh_config) and the node's authorized_keys"
    )
