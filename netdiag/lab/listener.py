"""TCP servers inside the lab's pods, so a connect through a service completes its handshake.

One small process per pod that has ``listen`` ports: netdiag's own interpreter running
:data:`SCRIPT` under ``ip netns exec <pod>``. It accepts every connection and closes it once the
client has closed its side, so a probe's connect shows SYN, SYN-ACK, ACK and the FIN exchange.
It carries the lab's mark in its environment and lives in the pod's namespace, so ``down`` finds
it both ways (see netdiag.lab.lifecycle).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass

from netdiag.errors import LabError
from netdiag.lab import sshd
from netdiag.lab.system import LAB_MARK, alive
from netdiag.lab.topology import LabPod, LabSpec

__all__ = ["SCRIPT", "Listeners", "argv", "log_path", "start"]

#: The server (stdlib only, started with -I -S): listen on argv's ports, say "ready", then
#: accept connections, discard what they send, and close each one once its client has closed.
SCRIPT = """\
import os, select, socket, sys
servers = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(64)
    servers.append(s)
os.write(1, b"ready\\n")
conns = []
while True:
    for r in select.select(servers + conns, [], [])[0]:
        if r in servers:
            conns.append(r.accept()[0])
            continue
        try:
            data = r.recv(4096)
        except OSError:
            data = b""
        if not data:
            conns.remove(r)
            r.close()
"""


def argv(spec: LabSpec, pod: LabPod) -> list[str]:
    """The command that runs the pod's server inside its namespace."""
    ports = [str(p) for p in pod.listen]
    inside = ["ip", "netns", "exec", spec.pod_netns(pod)]
    return [*inside, sys.executable, "-I", "-S", "-c", SCRIPT, *ports]


def log_path(spec: LabSpec, pod: LabPod) -> str:
    """Where the pod's server writes "ready" (and, if it fails, why)."""
    return f"{spec.state_dir}/listener-{pod.netns}.log"


@dataclass
class Listeners:
    """Servers started in parallel with the rest of the build; :meth:`wait` until all listen."""

    spec: LabSpec
    pids: dict[str, int]  # pod name -> pid

    def wait(self, timeout: float = 10.0) -> None:
        """Return once every server wrote "ready" (polled: no fixed sleep); raise naming the
        pod whose server exited or never got there."""
        pending = {p.name: p for p in self.spec.pods if p.name in self.pids}
        deadline = time.monotonic() + timeout
        while pending:
            for name, pod in list(pending.items()):
                text = _read(log_path(self.spec, pod))
                if text.startswith("ready\n"):
                    del pending[name]
                elif not alive(self.pids[name]) or time.monotonic() > deadline:
                    detail = " ".join(text.split()[-12:]) or "no output"
                    raise LabError(
                        f"lab {self.spec.name}: the TCP server in pod {name} did not start "
                        f"({detail}); run `netdiag lab down --name {self.spec.name}` and retry"
                    )
            if pending:
                time.sleep(0.003)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def start(spec: LabSpec, only: Collection[str] | None = None) -> Listeners:
    """Start a server in every pod (or the pods named in ``only``) that has ``listen`` ports
    (namespaces must exist)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), LAB_MARK: spec.state_dir}
    pids = {}
    for pod in spec.pods:
        if pod.listen and (only is None or pod.name in only):
            with open(log_path(spec, pod), "wb") as log:
                proc = subprocess.Popen(
                    argv(spec, pod),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            pids[pod.name] = sshd.track(proc)
    return Listeners(spec, pids)
