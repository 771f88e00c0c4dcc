"""Integration fixtures: the network-namespace lab, brought up once per test session.

`lab` yields a `netdiag.lab.LabState`: node names (`lab.node_names`), management addresses
(`lab.mgmt_addresses`, `lab.node(name).mgmt_ip`), the client key (`lab.key_path`), known_hosts
(`lab.known_hosts_path`), the inventory (`lab.inventory_path`), pods (`lab.pods`) and
`lab.ssh_argv(node)`. The session lab is named `ndtest` on 10.250.1.0/24 so it never touches a
developer's own `netdiag` lab; it is removed at the end of the session, and leftovers of a killed
earlier session are swept before it is built.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netdiag.lab import LabState, default_spec, down, up
from netdiag.lab.system import alive, link_exists, list_netns
from netdiag.lab.topology import STATE_ROOT

LAB_NAME = "ndtest"
LAB_MGMT_NET = "10.250.1.0/24"
_TOOLS = ("ip", "bridge", "unshare", "ssh", "ssh-keygen", "tcpdump", "iptables-restore")


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
            if marker in cmdline and alive(int(entry)):
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
    down(LAB_NAME)  # a killed earlier session may have left one behind
    state = up(spec=default_spec(LAB_NAME, LAB_MGMT_NET))
    try:
        yield state
    finally:
        down(LAB_NAME)


@pytest.fixture(scope="session")
def lab_leftover_check() -> Callable[[str], list[str]]:
    """`lab_leftovers` as a fixture, for tests in other files; skips where no lab can run."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    return lab_leftovers
