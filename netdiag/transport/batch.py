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

__all__ = ["run_batch"]


async def run_batch(
    transport: Transport, commands: Sequence[Sequence[str]], *, timeout: float = 60.0
) -> list[CommandResult]:
    """Run ``commands`` one after another in one session; one result per command, in order.

    stdin of each command is /dev/null. Durations are those of the whole batch.
    """
    token = secrets.token_hex(8)
    lines = []
    for i, argv in enumerate(commands):
        if not argv:
            raise ValueError("empty command")
        lines.append(
            f"echo @{token}:{i}; echo @{token}:{i} >&2; {shlex.join(argv)} </dev/null; "
            f"rc=$?; echo; echo @{token}:{i}:$rc; echo @{token}:{i}:end >&2"
        )
    res = await transport.run(
        ["sh", "-c", "\n".join(lines)], timeout=timeout, check=False, sudo=False
    )
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
