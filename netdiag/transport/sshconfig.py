"""What OpenSSH's client config says about a host, as OpenSSH itself works it out (``ssh -G``).

``ssh -G HOST`` prints every setting ssh would use for HOST after reading ~/.ssh/config and
/etc/ssh/ssh_config (or the ``-F`` file), with ``Include``, ``Match``, ``Host`` patterns, first
value wins and OpenSSH's defaults all applied: the only way to read a user's config exactly as
their ``ssh`` does. Neither asyncssh's nor paramiko's parser does all of it (paramiko has no
``Include``, asyncssh ignores ``StrictHostKeyChecking``). Without an ``ssh`` binary, OpenSSH's
defaults are used, unless there is a config file that would have to be read: that is an error.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path

from netdiag.errors import InputError

__all__ = ["DEFAULTS", "expand", "parse_ssh_g", "ssh_settings"]

# Keys are lower case, as ``ssh -G`` prints them; a key may repeat (identityfile).
Settings = Mapping[str, list[str]]

#: OpenSSH 9's defaults for the settings netdiag uses, for when no ``ssh`` binary is installed.
DEFAULTS: dict[str, list[str]] = {
    "identityfile": [
        f"~/.ssh/{name}"
        for name in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")
    ],
    "userknownhostsfile": ["~/.ssh/known_hosts ~/.ssh/known_hosts2"],
    "globalknownhostsfile": ["/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"],
    "stricthostkeychecking": ["ask"],
    "identitiesonly": ["no"],
    "hashknownhosts": ["no"],
}
SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
TIMEOUT_S = 20.0


def parse_ssh_g(text: str) -> dict[str, list[str]]:
    """``key value`` lines -> {key: [value, ...]} (values keep their inner spaces)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out.setdefault(key.lower(), []).append(value.strip())
    return out


async def ssh_settings(
    host: str, *, user: str | None, port: int | None, config: str | None
) -> dict[str, list[str]]:
    """The settings ``ssh`` would use for ``host`` (``-l``/``-p`` given so ``Match`` sees them).

    ``config`` is a file to read instead of the user's and the system's (``ssh -F``), "none"
    for none at all, or None for OpenSSH's usual ~/.ssh/config + /etc/ssh/ssh_config.
    """
    if config is not None and config != "none" and not Path(config).is_file():
        raise InputError(
            f"ssh_config {config} does not exist or is not a file; fix ssh_config in the "
            "inventory (or remove it to read ~/.ssh/config)"
        )
    ssh = shutil.which("ssh")
    if ssh is None or config == "none":  # no config to read: OpenSSH's defaults, no process
        return _without_ssh(host, user, port, config)
    argv = [ssh, "-G", *(["-F", config] if config else [])]
    argv += [*(["-l", user] if user else []), *(["-p", str(port)] if port else []), "--", host]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise InputError(
            f"`ssh -G {host}` did not answer within {TIMEOUT_S:.0f} s: a `Match exec` in your "
            "ssh config may hang; fix it, or set ssh_config in the inventory"
        ) from None
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        why = next((x for x in lines if "terminating" not in x), lines[-1] if lines else "")
        raise InputError(
            f"OpenSSH cannot read the ssh config for {host} ({why or 'no error output'}); "
            "fix that file (ssh -G shows the same error)"
        )
    return parse_ssh_g(out.decode(errors="replace"))


def _without_ssh(
    host: str, user: str | None, port: int | None, config: str | None
) -> dict[str, list[str]]:
    """OpenSSH's defaults, when there is no config that only ``ssh -G`` could read."""
    files = [Path(config)] if config not in (None, "none") else []
    if config is None:
        files = [Path("~/.ssh/config").expanduser(), SYSTEM_CONFIG]
    present = [str(f) for f in files if f.exists()]
    if present:
        raise InputError(
            f"{', '.join(present)} must be read to reach {host}, which needs OpenSSH's ssh "
            "client (ssh -G); install openssh-client, or set ssh_config: none in the inventory"
        )
    settings = {k: list(v) for k, v in DEFAULTS.items()}
    settings.update(
        {"hostname": [host], "port": [str(port or 22)], "user": [user or getpass.getuser()]}
    )
    return settings


def expand(value: str, tokens: Mapping[str, str]) -> str:
    """OpenSSH's ``%`` tokens (``%h``, ``%p``, ``%r``, ``%%``, ...) and a leading ``~``.

    An unknown token is left as it is: the path it is in then names no file, as in ssh.
    """
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "%" and i + 1 < len(value):
            token = value[i + 1]
            out.append("%" if token == "%" else tokens.get(token, f"%{token}"))
            i += 2
            continue
        out.append(c)
        i += 1
    text = "".join(out)
    return os.path.expanduser(text) if text.startswith("~") else text


def local_tokens() -> dict[str, str]:
    """The tokens that describe this side: home, local user, uid and host names."""
    fqdn = socket.gethostname()
    return {
        "d": str(Path.home()),
        "u": getpass.getuser(),
        "i": str(os.getuid()),
        "l": fqdn,
        "L": fqdn.split(".")[0],
    }
