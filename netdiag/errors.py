"""netdiag's exceptions, one tree, so callers catch exactly what they can handle.

    NetdiagError                      root: every error netdiag raises on purpose
    ├── InputError                    something the user gave us is unusable
    │   ├── CaptureFormatError        not a capture file, unknown link type, unreadable header
    │   ├── InventoryError            an inventory file is invalid (file, line, field)
    │   ├── PlanError                 a probe plan is invalid (file, line, field)
    │   └── AnalysisInputError        analyze/report got no usable input
    ├── TransportError                talking to a node failed (mapped from asyncssh/paramiko/OS)
    │   ├── ConnectError              host unreachable, refused, DNS, timeout while connecting
    │   ├── AuthError                 authentication refused
    │   ├── HostKeyError              host key unknown or changed
    │   └── CommandError              a remote command failed (exit status, stderr)
    │       └── CommandTimeout        ... or did not finish in time (also a TimeoutError)
    ├── CaptureError                  the remote tcpdump lifecycle failed on a node
    ├── LabError                      building or tearing down the network-namespace lab failed
    └── PrivilegeError                the operation needs root (lab, local captures)

Every message says what was wrong and what to do about it. Backend exceptions are re-raised as
one of these with ``raise ... from exc`` at the boundary where they occur. Any other exception
is a bug: :func:`internal_error` describes it in one line for the user.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class NetdiagError(Exception):
    """Root of every error netdiag raises on purpose."""


class InputError(NetdiagError):
    """Something the user gave us (a file, an argument) is unusable."""


class CaptureFormatError(InputError):
    """A file is not a capture we can read (bad magic, unknown link type, broken header)."""


class InventoryError(InputError):
    """An inventory file is invalid."""


class PlanError(InputError):
    """A probe plan is invalid."""


class AnalysisInputError(InputError):
    """analyze / report / export got nothing they can work on."""


class TransportError(NetdiagError):
    """Talking to a node failed."""


class ConnectError(TransportError):
    """The node could not be reached."""


class AuthError(TransportError):
    """The node refused our credentials."""


class HostKeyError(TransportError):
    """The node's host key is unknown or does not match known_hosts."""


class CommandError(TransportError):
    """A command on a node failed."""

    def __init__(self, message: str, *, exit_status: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.exit_status = exit_status
        self.stderr = stderr


class CommandTimeout(CommandError, TimeoutError):
    """A command on a node did not finish in time."""


class CaptureError(NetdiagError):
    """The remote capture lifecycle (start, stop, fetch, cleanup) failed on a node."""


class LabError(NetdiagError):
    """Building or tearing down the lab failed."""


class PrivilegeError(NetdiagError):
    """The operation needs root."""


def internal_error(exc: BaseException) -> str:
    """One line naming an unexpected exception and where in netdiag it was raised.

    It always starts with ``internal error``, so a user (and the tests) can tell a bug from a
    problem with the input; the place lets a maintainer find it without the traceback.
    """
    from netdiag import __version__ as version

    where = ""
    package = Path(__file__).resolve().parent
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(package):
            where = f" at {path.relative_to(package.parent)}:{frame.lineno} in {frame.name}"
            break
    detail = " ".join(str(exc).split())[:300]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (
        f"internal error ({what}){where}; this is a bug in netdiag {version}: please "
        f"report it with the command you ran (run it again with --debug for the traceback)"
    )
