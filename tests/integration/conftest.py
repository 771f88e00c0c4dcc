"""Integration fixtures: the network-namespace lab, brought up once per test session.

`lab` yields a `netdiag.lab.LabState`: node names (`lab.node_names`), management addresses
(`lab.mgmt_addresses`, `lab.node(name).mgmt_ip`), the client key (`lab.key_path`), known_hosts
(`lab.known_hosts_path`), the inventory (`lab.inventory_path`), pods (`lab.pods`) and
`lab.ssh_argv(node)`.

Several people share the test machine, so each pytest session gets its own labs, named after
its pid (`nt<pid>`; `no<pid>` for the ovs-geneve one, `ovs_lab`; `nc<pid>` for the lifecycle
tests) on a management network derived from it; they never touch a developer's own `netdiag`
lab nor another running session. Labs of dead sessions (killed pytest) are swept before a new
one is built.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netdiag.lab import LabState, default_spec, down, up
from netdiag.lab.system import alive, link_exists, list_netns
from netdiag.lab.topology import STATE_ROOT, ovs_spec

_SESSION_LAB = re.compile(r"^n[tcofr](\d+)$")


def session_lab(kind: str) -> tuple[str, str]:
    """(name, mgmt network) of this session's lab of ``kind`` ('t': shared, 'c': lifecycle,
    'o': OVS, 'f': the fault matrix, which breaks its nodes on purpose, 'r': the flight
    recorder's, which reboots one)."""
    pid = os.getpid()
    second = {"t": 251, "c": 252, "o": 253, "f": 254, "r": 231}[kind]
    return f"n{kind}{pid}", f"10.{second}.{pid % 256}.0/24"


def sweep_dead_sessions() -> list[str]:
    """`down` every session lab whose pytest process is gone; returns their names."""
    names = {ns.split("-", 1)[0] for ns in list_netns()}
    with contextlib.suppress(OSError):
        names |= set(os.listdir(STATE_ROOT))
    swept = []
    for name in sorted(names):
        m = _SESSION_LAB.match(name)
        if m and int(m.group(1)) != os.getpid() and not alive(int(m.group(1))):
            down(name)
            swept.append(name)
    return swept


_TOOLS = ("ip", "bridge", "unshare", "ssh", "ssh-keygen", "tcpdump", "iptables-restore")


def processes_naming(marker: str, *, width: int = 100) -> list[str]:
    """``PID: command line`` (cut to ``width``) of every process whose command line carries
    ``marker`` (a run id, a recorder's directory prefix): what a test must not leave behind."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "pytest" not in cmd:
            found.append(f"{pid}: {cmd[:width]}")
    return found


def lab_skip_reason() -> str | None:
    """None when the lab can be built here, else why not (the tests then skip, saying so)."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, veths, sshd); run the tests as root"
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd")
    if missing:
        return (
            f"the lab needs {', '.join(missing)} (iproute2, util-linux, openssh, tcpdump, iptables)"
        )
    return None


def lab_leftovers(name: str, state_root: str = STATE_ROOT) -> list[str]:
    """Every trace of lab ``name`` still on the host: namespaces, host links, live processes,
    mounts and files. Empty after a correct `down`."""
    traces = [f"netns {ns}" for ns in list_netns() if ns.startswith(f"{name}-")]
    if link_exists(f"{name}-mgmt"):
        traces.append(f"host link {name}-mgmt")
    state_dir = f"{state_root}/{name}"
    marker = state_dir.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmdline = fh.read()
            except OSError:
                continue
            environ = b""
            with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
            marked = f"NETDIAG_LAB_STATE={state_dir}".encode() in environ.split(b"\0")
            if (marker in cmdline or marked) and alive(int(entry)):
                shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:80]
                traces.append(f"process {entry}: {shown}")
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            if f"/netns/{name}-" in line or state_dir in line:
                traces.append(f"mount {line.split()[4]}")
    if os.path.exists(state_dir):
        traces.append(f"files {state_dir}")
    return traces


@pytest.fixture(scope="session")
def lab() -> Iterator[LabState]:
    """The session's lab (see the module docstring); skips with the reason when it cannot run."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    sweep_dead_sessions()
    name, mgmt = session_lab("t")
    state = up(spec=default_spec(name, mgmt))
    try:
        yield state
    finally:
        down(name)


def own_lab(kind: str, make_spec: Callable[[str, str], Any] = default_spec) -> Iterator[LabState]:
    """A lab of this session's ``kind`` (see :func:`session_lab`) for one fixture: skipped with
    the reason when it cannot run, built fresh, and removed to the last trace afterwards."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    name, mgmt = session_lab(kind)
    down(name)
    state = up(spec=make_spec(name, mgmt))
    try:
        yield state
    finally:
        down(name)
        assert lab_leftovers(name) == []


@pytest.fixture(scope="session")
def ovs_lab() -> Iterator[LabState]:
    """The session's ovs-geneve lab (`no<pid>`), shared by the modules that need Open vSwitch."""
    yield from own_lab("o", ovs_spec)


@dataclass(frozen=True)
class LabSandbox:
    """A lab name and network of this session that a test may build and destroy at will."""

    name: str
    mgmt_net: str

    def leftovers(self) -> list[str]:
        return lab_leftovers(self.name)


@pytest.fixture
def lab_sandbox() -> Iterator[LabSandbox]:
    """For tests of up/down themselves: nothing of it exists before or after the test."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    sandbox = LabSandbox(*session_lab("c"))
    down(sandbox.name)
    yield sandbox
    down(sandbox.name)
