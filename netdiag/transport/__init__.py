"""Talking to nodes: one interface (:class:`Transport`), several backends chosen by name.

Backends are sibling modules imported only when chosen, so ``netdiag analyze`` never imports
asyncssh or paramiko::

    async with open_transport(node) as t:           # asyncssh
        result = await t.run(["ip", "-j", "link"])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from netdiag.errors import InputError
from netdiag.transport.base import CommandResult, LineCallback, RemoteEntry, Transport
from netdiag.transport.process import RemoteProcess, wrap_argv

if TYPE_CHECKING:
    from netdiag.inventory import NodeSpec

__all__ = [
    "BACKENDS",
    "CommandResult",
    "LineCallback",
    "RemoteEntry",
    "RemoteProcess",
    "Transport",
    "open_transport",
    "wrap_argv",
]

# name -> (module, class). "mock" is not here: MockTransport needs a handler, build it directly.
BACKENDS: dict[str, tuple[str, str]] = {
    "asyncssh": ("netdiag.transport.asyncssh_backend", "AsyncsshTransport"),
    "paramiko": ("netdiag.transport.paramiko_backend", "ParamikoTransport"),
    "local": ("netdiag.transport.local", "LocalTransport"),
}


def open_transport(node: NodeSpec, kind: str = "asyncssh") -> Transport:
    """A not-yet-connected transport of backend ``kind``; use it with ``async with``."""
    try:
        module_name, class_name = BACKENDS[kind]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise InputError(f"unknown transport {kind!r}; choose one of: {known}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"transport {kind!r} needs the {exc.name} package; install it "
            f"(pip install {exc.name}) or choose another --transport"
        ) from exc
    cls: type[Transport] = getattr(module, class_name)
    return cls(node)
