"""Several short commands in one remote session.

Every session costs the node a fork, a login shell and its rc files (on this machine's root
account ~0.3 s of CPU, because bash sources ~/.bashrc for SSH sessions), so preflight runs its
checks as one ``sh -c`` script instead of one channel each. Each command is ``shlex.join``-quoted
into the script and bracketed by random markers on both streams, so its stdout, stderr and exit
status come back separately: :func:`parse_batch_output` reads them back, here for a batch run
to completion and in :mod:`netdiag.capture.remote` for the checks a capture supervisor ran.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Sequence

from netdiag.errors import CommandError
from netdiag.transport.base import CommandResult, Transport

__all__ = [
    "batch_output",
    "batch_script",
    "end_marker",
    "is_status_line",
    "parse_batch_output",
    "parse_batch_script",
    "run_batch",
]

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


def is_status_line(token: str, index: int, line: str) -> bool:
    """``line`` is the stdout marker that ends command ``index`` (``@token:index:STATUS``)."""
    head = f"@{token}:{index}:"
    return line.startswith(head) and line[len(head) :].isdigit()


def end_marker(token: str, index: int) -> str:
    """The stderr marker that ends command ``index``: the last thing it printed there."""
    return f"@{token}:{index}:end"


def parse_batch_output(
    token: str, out: Sequence[str], err: Sequence[str]
) -> list[tuple[int, str, str]]:
    """Each finished command's (exit, stdout, stderr), in order, from the batch's output lines.

    A batch cut short gives fewer results than commands. What a login shell printed before the
    first marker is not a command's. Plain string work, not regexes: a regex per token was
    compiled anew for every node, most of the client's CPU per node.
    """
    prefix = f"@{token}:"
    outs: dict[int, tuple[int, str]] = {}
    body: list[str] = []
    for line in out:
        if not line.startswith(prefix):
            body.append(line)
            continue
        index, _, status = line[len(prefix) :].partition(":")
        if index.isdigit() and status.isdigit():  # @token:i:status ends command i
            # the bare `echo` before this marker ends an unterminated last line: the join
            # consumes exactly that newline, so the command's own output comes back unchanged
            outs[int(index)] = (int(status), "\n".join(body))
        else:  # @token:i starts it
            body = []
    errs: dict[int, str] = {}
    text = ""
    for line in err:
        at = line.rfind(prefix)
        index = line[at + len(prefix) : -len(":end")]
        if at >= 0 and line.endswith(":end") and index.isdigit():
            errs[int(index)] = text + line[:at]  # a last line without newline: its text
            text = ""
        else:
            text = "" if line == f"{prefix}{len(errs)}" else text + line + "\n"
    found: list[tuple[int, str, str]] = []
    while len(found) in outs and len(found) in errs:
        i = len(found)
        found.append((outs[i][0], outs[i][1], errs[i]))
    return found


async def run_batch(
    transport: Transport, commands: Sequence[Sequence[str]], *, timeout: float = 60.0
) -> list[CommandResult]:
    """Run ``commands`` one after another in one session; one result per command, in order.

    stdin of each command is /dev/null. Durations are those of the whole batch.
    """
    token = secrets.token_hex(8)
    script = batch_script(commands, token)
    res = await transport.run(["sh", "-c", script], timeout=timeout, check=False, sudo=False)
    # split, not splitlines: a \r in a command's output is the command's own
    found = parse_batch_output(token, res.stdout.split("\n"), res.stderr.split("\n"))
    if len(found) < len(commands):
        raise CommandError(
            f"{transport.name}: the check script stopped at `{shlex.join(commands[len(found)])}` "
            f"(exit {res.exit_status}): {res.stderr.strip()[-200:] or 'no output'}",
            exit_status=res.exit_status,
            stderr=res.stderr,
        )
    return [
        CommandResult(transport.name, tuple(argv), status, stdout, stderr, res.duration)
        for argv, (status, stdout, stderr) in zip(commands, found, strict=False)
    ]
