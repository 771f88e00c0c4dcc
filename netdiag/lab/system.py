"""Thin wrappers over `ip`, `bridge`, /proc and sockets that the lab builder needs.

Every failure becomes a LabError naming the command and what to do, never a traceback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence

from netdiag.errors import LabError, PrivilegeError

__all__ = [
    "alive",
    "ip_batch",
    "kill_and_wait",
    "link_exists",
    "list_netns",
    "marked_pids",
    "netns_ids",
    "overlapping_host_networks",
    "pids_in_netns",
    "port_open",
    "require_root",
    "require_tools",
    "run",
]

NETNS_DIR = "/run/netns"
# Set in the environment of every long-lived process a lab starts besides sshd (OVS daemons, the
# pods' holders): `down` finds them by it even after their namespace lost its name.
LAB_MARK = "NETDIAG_LAB_STATE"


def require_root(what: str = "netdiag lab") -> None:
    """Network namespaces, veths and sshd need root; say so in one line."""
    if os.geteuid() != 0:
        raise PrivilegeError(
            f"{what} needs root (it creates network namespaces and runs sshd); "
            "run it as root, e.g. `sudo netdiag lab up`"
        )


# Debian package of each tool the lab runs, for the error message when one is missing.
_TOOLS = {
    "ip": "iproute2",
    "bridge": "iproute2",
    "unshare": "util-linux",
    "sysctl": "procps",
    "iptables-restore": "iptables",
    "ssh-keygen": "openssh-client",
    "/usr/sbin/sshd": "openssh-server",
}


def require_tools() -> None:
    """Fail before building anything if a tool the lab needs is not installed."""
    missing = [f"{tool} ({pkg})" for tool, pkg in _TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)}; install them (e.g. `make deps`)")


def run(argv: Sequence[str], *, stdin: str | None = None, what: str, hint: str = "") -> str:
    """Run a command; on failure raise LabError with its stderr and a hint."""
    try:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=20, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{what}: {argv[0]} not found; install iproute2/openssh-server") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what}: {argv[0]} did not finish in 20 s{hint}") from exc
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise LabError(f"{what} failed: {err}{hint}")
    return proc.stdout


def ip_batch(
    lines: Iterable[str], *, netns: str | None = None, tool: str = "ip", force: bool = False
) -> None:
    """Apply many `ip`/`bridge` commands with one process (the main reason `up` is fast)."""
    text = "\n".join(lines) + "\n"
    argv = [tool, *(["-n", netns] if netns else []), *(["-force"] if force else []), "-batch", "-"]
    run(argv, stdin=text, what=f"{tool} -batch" + (f" in {netns}" if netns else ""))


def list_netns() -> list[str]:
    """Named network namespaces (the files `ip netns add` creates)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_ids(names: Iterable[str]) -> set[tuple[int, int]]:
    """(device, inode) of each namespace: what /proc/<pid>/ns/net of its members stat to."""
    ids: set[tuple[int, int]] = set()
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(f"{NETNS_DIR}/{name}")
            ids.add((st.st_dev, st.st_ino))
    return ids


def pids_in_netns(ids: set[tuple[int, int]]) -> list[int]:
    """Live processes whose network namespace is one of ``ids`` (what `ip netns pids` does)."""
    found: list[int] = []
    if not ids:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{entry}/ns/net")
            if (st.st_dev, st.st_ino) in ids:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True for a live process; a zombie (dead, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_and_wait(pids: Iterable[int], timeout: float = 2.0) -> list[int]:
    """SIGKILL each pid and wait until all are gone; returns those still alive (should be none)."""
    pending = [p for p in pids if p != os.getpid()]
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if alive(p)]
        if pending:
            time.sleep(0.005)
    return pending


def marked_pids(state_dir: str) -> list[int]:
    """Processes whose environment carries ``NETDIAG_LAB_STATE=<state_dir>``."""
    needle = f"{LAB_MARK}={state_dir}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as fh:
            if needle in fh.read().split(b"\0"):
                found.append(int(entry))
    return found


def link_exists(name: str) -> bool:
    """Whether the host (root namespace) has an interface of that name."""
    return os.path.exists(f"/sys/class/net/{name}")


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections there (how sshd readiness is polled)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def overlapping_host_networks(net: str, ignore_iface: str) -> list[str]:
    """Host routes/addresses that overlap ``net`` (the management network would collide)."""
    wanted = ipaddress.ip_network(net)
    hits: list[str] = []
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"], what="ip route"))
    for route in routes:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dev == ignore_iface or dst in ("", "default") or route.get("type") == "broadcast":
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(dst, strict=False).overlaps(wanted):
                hits.append(f"{dst} dev {dev}")
    return sorted(set(hits))
