"""Run ``netdiag`` commands as a user would, thousands of times, and watch how each one ends.

A fresh ``netdiag`` process spends ~0.6 s importing numpy, pandas and pyarrow; a fuzz example
needs a few milliseconds of work. So a server process imports netdiag once and forks one child
per command: the child is a real process (its own exit status, signals, address space), started
in ~10 ms. The child runs :func:`netdiag.cli.main` exactly as the console script does, with
stdout and stderr in files, under an address-space limit (``RLIMIT_AS``: what the server has
mapped plus :data:`MEMORY_BOUND`), and is killed when it outlives its time limit.

    server = Forkserver.start()
    outcome = server.run(["analyze", "a.pcap"], cwd=tmp)
    outcome.exit_code, outcome.signal, outcome.timed_out, outcome.stdout, outcome.stderr

The server speaks JSON lines on its stdin/stdout: one request, one reply.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Address space a command may map beyond what the imports already hold. The fuzzed inputs are
#: at most a few hundred KiB: anything near this is a runaway allocation.
MEMORY_BOUND = 512 << 20
#: Seconds a command may run (inputs are small; a busy 2-core machine is slow).
TIME_LIMIT = 60.0
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    """How one command ended."""

    argv: tuple[str, ...]
    exit_code: int | None  # None when killed by a signal or the time limit
    signal: int | None
    timed_out: bool
    maxrss_kib: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        how = (
            "timed out"
            if self.timed_out
            else f"signal {self.signal}"
            if self.signal is not None
            else f"exit {self.exit_code}"
        )
        return (
            f"netdiag {' '.join(self.argv)}: {how}, max RSS {self.maxrss_kib} KiB\n"
            f"--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[-1000:]}"
        )


class Forkserver:
    """The client side: one server process for the whole test session."""

    def __init__(self) -> None:
        self._proc = self._spawn()

    @classmethod
    def start(cls) -> Forkserver:
        return cls()

    @staticmethod
    def _spawn() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if k != "NETDIAG_DEBUG"},
        )
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        return proc

    def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, its reply. Interrupted half-way (a test's time-out, Ctrl-C), the
        server would answer the old request to the next one: it is replaced instead."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BaseException:
            self._replace()
            raise
        if not line:
            status = self._proc.poll()
            self._replace()
            raise RuntimeError(f"the fork server died (exit {status}); started a new one")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _replace(self) -> None:
        self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()
        self._proc = self._spawn()

    def run(
        self,
        argv: list[str],
        *,
        cwd: Path,
        environ: dict[str, str] | None = None,
        time_limit: float = TIME_LIMIT,
        memory_bound: int = MEMORY_BOUND,
    ) -> Outcome:
        """Run ``netdiag ARGV`` in a forked child; wait for it, bounded by ``time_limit``."""
        with tempfile.TemporaryDirectory(prefix="fork-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            reply = self._exchange(
                {
                    "argv": [os.fsencode(a).decode("latin-1") for a in argv],
                    "cwd": str(cwd),
                    "stdout": str(out),
                    "stderr": str(err),
                    "environ": environ or {},
                    "time_limit": time_limit,
                    "memory_bound": memory_bound,
                }
            )
            return Outcome(
                argv=tuple(argv),
                exit_code=reply["exit_code"],
                signal=reply["signal"],
                timed_out=reply["timed_out"],
                maxrss_kib=reply["maxrss_kib"],
                stdout=out.read_bytes().decode("utf-8", "backslashreplace"),
                stderr=err.read_bytes().decode("utf-8", "backslashreplace"),
            )

    def close(self) -> None:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.close()  # the server's loop ends at end of input
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()


# -- the server ----------------------------------------------------------------------------


def _address_space() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _child(request: dict[str, Any]) -> int:
    """In the forked child: become ``netdiag ARGV`` and return its exit code."""
    from netdiag.cli import main

    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = open(1, "w", encoding="utf-8", errors="strict", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.update(request["environ"])
    limit = _address_space() + int(request["memory_bound"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    argv = [a.encode("latin-1").decode(sys.getfilesystemencoding(), "surrogateescape")
            for a in request["argv"]]  # fmt: skip
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:  # what the interpreter would do: a traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    return int(code)


def _serve_one(request: dict[str, Any]) -> dict[str, Any]:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = _child(request)
        finally:
            os._exit(code)
    deadline = time.monotonic() + float(request["time_limit"])
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            done, status, usage = os.wait4(pid, 0)
            timed_out = True
            break
        time.sleep(0.002)
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else None,
        "timed_out": timed_out,
        "maxrss_kib": usage.ru_maxrss,
    }


def serve() -> None:
    """Import everything a command may need once, then fork per request."""
    import netdiag.cli
    import netdiag.correlate
    import netdiag.inventory
    import netdiag.plan
    import netdiag.report.html
    import netdiag.report.pcapng
    import netdiag.report.text

    netdiag.cli.build_parser()  # imports every command's module
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        sys.stdout.write(json.dumps(_serve_one(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
