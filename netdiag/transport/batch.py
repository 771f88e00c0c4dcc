"""Several short commands in one remote session.

Every session costs the node a fork, a login shell and its rc files (on this machine's root
account ~0.3 s of CPU, because bash sources ~/.bashrc for SSH sessions), so preflight runs its
checks as one ``sh -c`` script instead of one channel each. Each command is ``shlex.join``-quoted
into the script and bracketed by random markers on both streams, so its stdout, stderr and exit
status come back separately.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Sequence

from netdiag.errors import CommandError
from netdiag.transport.base import CommandResult, Transport

__all__ = ["batch_output", "batch_script", "parse_batch_script", "run_batch"]

_ENTRY = re.compile(  # one command of batch_script(); quoted arguments may hold newlines
    r"(?s)echo @(?P<t>[0-9a-f]+):(?P<i>\d+); echo @(?P=t):(?P=i) >&2; (?P<cmd>.*?) </dev/null; "
    r"rc=\$\?; echo; echo @(?P=t):(?P=i):\$rc; echo @(?P=t):(?P=i):end >&2(?:\n|$)"
)


def batch_script(commands: Sequence[Sequence[str]], token: str) -> str:
    """The ``sh -c`` script: each command quoted, bracketed by markers on both streams."""
    lines = []
    for i, argv in enumerate(commands):
        if not argv:
            raise ValueError("empty command")
        lines.append(
            f"echo @{token}:{i}; echo @{token}:{i} >&2; {shlex.join(argv)} </dev/null; "
            f"rc=$?; echo; echo @{token}:{i}:$rc; echo @{token}:{i}:end >&2"
        )
    return "\n".join(lines)


def parse_batch_script(script: str) -> tuple[str, list[list[str]]] | None:
    """Token and commands of a script made by :func:`batch_script`; None for anything else.

    Lets MockTransport answer a batch command by command, like the shell would.
    """
    matches = list(_ENTRY.finditer(script))
    if not matches or "".join(m.group(0) for m in matches) != script:
        return None
    return matches[0]["t"], [shlex.split(m["cmd"]) for m in matches]


def batch_output(token: str, results: Sequence[tuple[int, str, str]]) -> tuple[str, str]:
    """The stdout and stderr the shell would print for a batch with these results."""
    out, err = [], []
    for i, (status, stdout, stderr) in enumerate(results):
        out.append(f"@{token}:{i}\n{stdout}\n@{token}:{i}:{status}\n")
        err.append(f"@{token}:{i}\n{stderr}@{token}:{i}:end\n")
    return "".join(out), "".join(err)


async def run_batch(
    transport: Transport, commands: Sequence[Sequence[str]], *, timeout: float = 60.0
) -> list[CommandResult]:
    """Run ``commands`` one after another in one session; one result per command, in order.

    stdin of each command is /dev/null. Durations are those of the whole batch.
    """
    token = secrets.token_hex(8)
    script = batch_script(commands, token)
    res = await transport.run(["sh", "-c", script], timeout=timeout, check=False, sudo=False)
    out: list[CommandResult] = []
    for i, argv in enumerate(commands):
        o = re.search(rf"(?s)@{token}:{i}\n(.*?)\n@{token}:{i}:(\d+)\n", res.stdout)
        e = re.search(rf"(?s)@{token}:{i}\n(.*?)@{token}:{i}:end\n", res.stderr)
        if o is None or e is None:
            raise CommandError(
                f"{transport.name}: the check script stopped at `{shlex.join(argv)}` "
                f"(exit {res.exit_status}): {res.stderr.strip()[-200:] or 'no output'}",
                exit_status=res.exit_status,
                stderr=res.stderr,
            )
        # The bare `echo` before the status marker ends an unterminated last line; the regex
        # consumes exactly that newline, so the command's own output comes back unchanged.
        status, stdout, stderr = int(o.group(2)), o.group(1), e.group(1)
        out.append(CommandResult(transport.name, tuple(argv), status, stdout, stderr, res.duration))
    return out
