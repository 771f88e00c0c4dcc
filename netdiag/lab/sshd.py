"""Keys, configs and the per-node OpenSSH sshd of the lab.

Each node's sshd runs `-D` (not daemonised) as the direct child of the process that ran `up`,
entered via `ip netns exec <node> unshare --mount --uts`. Not daemonising means the Python API
can reap it at `down` (some container inits never reap orphans, which would leave zombies).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass

from netdiag.errors import LabError
from netdiag.lab import render
from netdiag.lab.inventory import key_path, known_hosts_path
from netdiag.lab.system import alive, port_open
from netdiag.lab.topology import LabNode, LabSpec

__all__ = [
    "KeyJob",
    "reap_children",
    "start_keygen",
    "start_sshd",
    "track",
    "wait_ready",
    "write_ssh_files",
]

# sshd processes started by this Python process, kept so `down` can reap them (and so no
# Popen is garbage-collected while running, which would warn).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def track(proc: subprocess.Popen[bytes]) -> int:
    """Keep a lab child (sshd, a pod's holder) so `down` in this process can reap it."""
    _CHILDREN[proc.pid] = proc
    return proc.pid


@dataclass
class KeyJob:
    """ssh-keygen runs started in parallel with the namespace build."""

    procs: list[tuple[str, subprocess.Popen[bytes]]]

    def abandon(self) -> None:
        """The build failed before the keys were needed: stop and reap ssh-keygen, close pipes."""
        for _, proc in self.procs:
            if proc.returncode is not None:  # already waited for (wait() got that far)
                continue
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

    def wait(self) -> None:
        for path, proc in self.procs:
            _, err = proc.communicate(timeout=20)
            if proc.returncode != 0:
                raise LabError(
                    f"ssh-keygen for {path} failed: {err.decode(errors='replace').strip()}; "
                    "check that openssh-client is installed"
                )


def start_keygen(spec: LabSpec) -> KeyJob:
    """Generate the client key and one host key per node (ed25519: fast, what sshd prefers)."""
    paths = [key_path(spec)] + [render.node_paths(spec, n.name).host_key for n in spec.nodes]
    procs = []
    for path in paths:
        argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netdiag-lab-{spec.name}"]
        proc = subprocess.Popen(
            [*argv, "-f", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append((path, proc))
    return KeyJob(procs)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()


def write_ssh_files(spec: LabSpec) -> None:
    """authorized_keys, known_hosts (mgmt addresses), sshd_config per node."""
    with open(f"{spec.state_dir}/ssh/authorized_keys", "w", encoding="ascii") as fh:
        fh.write(_read(key_path(spec) + ".pub") + "\n")
    lines = []
    for node in spec.nodes:
        kind, blob = _read(render.node_paths(spec, node.name).host_key + ".pub").split()[:2]
        lines.append(f"{node.mgmt_ip} {kind} {blob}")
    with open(known_hosts_path(spec), "w", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")
    for node in spec.nodes:
        with open(render.node_paths(spec, node.name).sshd_config, "w", encoding="ascii") as fh:
            fh.write(render.sshd_config(spec, node))


def start_sshd(spec: LabSpec, node: LabNode) -> int:
    """Start the node's sshd inside its namespaces; returns its pid (readiness: wait_ready)."""
    paths = render.node_paths(spec, node.name)
    argv = [
        "ip",
        "netns",
        "exec",
        spec.node_netns(node.name),
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "sh",
        "-c",
        render.launch_script(spec, node),
    ]
    with open(f"{paths.root}/launch.log", "wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    return track(proc)


def _failure(spec: LabSpec, node: LabNode) -> str:
    paths = render.node_paths(spec, node.name)
    text = ""
    for path in (f"{paths.root}/launch.log", paths.sshd_log):
        with contextlib.suppress(OSError):
            text += " " + " ".join(_read(path).split())
    return text.strip()[-300:] or "no output"


def wait_ready(spec: LabSpec, pids: dict[str, int], timeout: float = 10.0) -> None:
    """Poll each sshd's port until it accepts connections (no fixed sleeps)."""
    pending = {n.name: n for n in spec.nodes if n.name in pids}
    deadline = time.monotonic() + timeout
    while pending:
        for name, node in list(pending.items()):
            if not alive(pids[name]):
                raise LabError(
                    f"sshd on lab node {name} exited during start: {_failure(spec, node)}; "
                    f"run `netdiag lab down --name {spec.name}` and retry"
                )
            if port_open(node.mgmt_ip, 22, timeout=0.1):
                del pending[name]
        if pending:
            if time.monotonic() > deadline:
                names = ", ".join(pending)
                raise LabError(f"sshd on lab node(s) {names} not listening after {timeout:.0f} s")
            time.sleep(0.003)


def reap_children(pids: set[int] | None = None) -> None:
    """Collect exit statuses of sshd processes this process started (after they were killed)."""
    for pid, proc in list(_CHILDREN.items()):
        if pids is not None and pid not in pids:
            continue
        if proc.poll() is None:  # poll() reaps a dead child; None means it still runs
            continue
        del _CHILDREN[pid]
