"""Fan-out: how close does netdiag get to the bare cost of reaching N nodes over SSH?

    PYTHONPATH=. .venv/bin/python benchmarks/fanout.py [--nodes 10,50] [--mb-total 200]

N OpenSSH servers on 127.0.0.1 (one ``sshd -D`` per port, generated keys, strict host-key
checking), then, in the same process and one after the other:

1. floor: bare asyncssh connect + ``true`` on all N at once;
2. netdiag (asyncssh): connect + preflight + start a capture on ``lo`` with a filter that
   matches nothing, up to "every capture listening"; the spread of the listening moments;
3. the same with the paramiko transport;
4. fetch: each capture file is made ``--mb-total / N`` MB, then netdiag's fetch of all files is
   timed against raw asyncssh SFTP gets of the same sizes on already open connections (both
   opening the SFTP session in their first round and reusing it later, as netdiag does),
   alternating ROUNDS times, the best round of each compared.

Client CPU (user+sys of this process, all threads) per node is reported for each phase. Both
ends share this machine's CPUs, so the targets are ratios: listening <= 1.25x the floor, spread
<= 0.5 s, fetch throughput >= 0.8x raw SFTP. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh

from netdiag.capture.remote import RemoteCapture
from netdiag.inventory import load_inventory
from netdiag.orchestrator import RunOptions, _Run
from netdiag.plan import parse_plan, resolve

SSHD = "/usr/sbin/sshd"
NOTHING = "ether proto 0x88b5"  # IEEE local experimental ethertype: never on lo
ROUNDS = 2  # fetch comparison: netdiag and raw alternate this often; the best of each counts


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Servers:
    """N sshd on loopback ports with one host key, one client key, a known_hosts file."""

    def __init__(self, root: Path, n: int) -> None:
        self.root, self.n = root, n
        self.key = root / "id_ed25519"
        self.known = root / "known_hosts"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports = free_ports(n)

    def start(self) -> None:
        hostkey = self.root / "host_ed25519"
        for path in (self.key, hostkey):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True
            )
        (self.root / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        pub = " ".join(Path(f"{hostkey}.pub").read_text().split()[:2])
        self.known.write_text("".join(f"[127.0.0.1]:{p} {pub}\n" for p in self.ports))
        cfg = self.root / "sshd_config"
        cfg.write_text(
            f"HostKey {hostkey}\nAuthorizedKeysFile {self.root}/authorized_keys\n"
            "ListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\nUsePAM no\n"
            "UseDNS no\nMaxStartups 1000\nMaxSessions 64\nSubsystem sftp internal-sftp\n"
            "PidFile none\nLogLevel ERROR\nStrictModes no\n"
        )
        os.makedirs("/run/sshd", exist_ok=True)
        for port in self.ports:
            argv = [SSHD, "-D", "-f", str(cfg), "-p", str(port), "-E", f"{self.root}/sshd.log"]
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        for port in self.ports:
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"sshd on port {port} did not start; see {self.root}")
                time.sleep(0.01)

    def stop(self) -> None:
        for proc in self.procs:  # our own children, by their PID
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)

    def inventory(self, capdir: Path) -> Path:
        lines = [
            "version: 1",
            f"defaults: {{user: root, identity_file: {self.key}, known_hosts: {self.known},"
            f" capture_dir: {capdir}}}",
            "nodes:",
        ]
        lines += [
            f"- {{name: n{i:03d}, host: 127.0.0.1, port: {p}, devices: {{uplink: lo}}}}"
            for i, p in enumerate(self.ports)
        ]
        path = self.root / "inventory.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path


async def floor(servers: Servers) -> tuple[float, float]:
    """Bare asyncssh: connect + `true` on all N at once; (seconds, client CPU seconds)."""
    c0, t0 = cpu(), time.monotonic()

    async def one(port: int) -> None:
        async with asyncssh.connect(
            "127.0.0.1", port=port, username="root", client_keys=[str(servers.key)],
            known_hosts=str(servers.known), agent_path=None,
        ) as conn:  # fmt: skip
            await conn.run("true", check=True)

    await asyncio.gather(*(one(p) for p in servers.ports))
    return time.monotonic() - t0, cpu() - c0


async def netdiag_start(inv: Path, kind: str, out: Path) -> tuple[_Run, dict[str, float]]:
    """Preflight + start to all listening with the orchestrator's own phases."""
    plan = parse_plan(
        f"version: 1\nname: fanout\ncapture:\n  interfaces: [uplink]\n  filter: {NOTHING}\n"
        "  duration: 600\n  max_file_mb: 1000\n",
        out / "plan.yaml",
    )
    inventory = load_inventory(inv)
    opts = RunOptions(out=out / kind, transport=kind, concurrency=1000)
    (out / kind / "pcaps").mkdir(parents=True)
    run = _Run(inventory, resolve(plan, inventory), opts, asyncio.Event())
    moments: list[float] = []  # when each capture's "listening on" arrived
    go = RemoteCapture.go

    async def timed_go(self: RemoteCapture, listen_timeout: float) -> bool:
        listening = await go(self, listen_timeout)
        if listening:
            moments.append(time.monotonic())
        return listening

    RemoteCapture.go = timed_go  # type: ignore[method-assign]
    c0, t0 = cpu(), time.monotonic()
    try:
        await run.connect_all()
        await run.start_all()
    finally:
        RemoteCapture.go = go  # type: ignore[method-assign]
    took, used = time.monotonic() - t0, cpu() - c0
    bad = [
        f"{r.point}: {r.status} {r.detail}" for r in run.record.captures if r.status != "listening"
    ]
    if bad:
        raise SystemExit(f"{kind}: not all captures listen: {bad[:3]}")
    return run, {
        "seconds": took,
        "cpu": used,
        "spread": max(moments) - min(moments),
    }


async def fetch_compare(run: _Run, servers: Servers, mb: int) -> dict[str, float]:
    """netdiag's fetch of every capture file vs raw asyncssh SFTP of same-size files."""
    blob = os.urandom(mb * 2**20)
    for c in run.captures:  # the nodes are this machine: make each capture file mb MB
        remote = c.remote_file
        assert remote is not None
        Path(remote).write_bytes(blob)
    await asyncio.gather(*(c.stop() for c in run.captures))
    for c in run.captures:  # tcpdump's exit wrote nothing more (no packet matched)
        Path(f"{c.remote_file}.raw").write_bytes(blob)
    conns = await asyncio.gather(*(
        asyncssh.connect(
            "127.0.0.1", port=p, username="root", client_keys=[str(servers.key)],
            known_hosts=str(servers.known), agent_path=None,
        ) for p in servers.ports
    ))  # fmt: skip
    sftps: list[Any] = []
    ours: list[float] = []
    raw: list[float] = []
    for _ in range(ROUNDS):  # alternating: a burst of load from elsewhere hits both sides
        t0 = time.monotonic()
        await asyncio.gather(*(c.fetch(run.opts.out / c.result.file) for c in run.captures))
        ours.append(time.monotonic() - t0)
        t0 = time.monotonic()  # both open their SFTP session in the first (timed) round only
        if not sftps:
            sftps = list(await asyncio.gather(*(c.start_sftp_client() for c in conns)))
        await asyncio.gather(*(
            s.get(f"{c.remote_file}.raw", str(run.opts.out / f"{c.result.file}.raw"))
            for s, c in zip(sftps, run.captures, strict=True)
        ))  # fmt: skip
        raw.append(time.monotonic() - t0)
    for s, conn in zip(sftps, conns, strict=True):
        s.exit()
        conn.close()
    for c in run.captures:
        Path(f"{c.remote_file}.raw").unlink()
    total = mb * len(run.captures)
    return {"ours_mb_s": total / min(ours), "raw_mb_s": total / min(raw), "mb": total}


async def wind_down(run: _Run) -> None:
    await run.stop_fetch_clean()


async def bench(n: int, mb_total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="netdiag-fanout-") as tmp:
        root = Path(tmp)
        capdir = root / "cap"
        capdir.mkdir()
        servers = Servers(root, n)
        servers.start()
        try:
            inv = servers.inventory(capdir)
            f_s, f_cpu = await floor(servers)
            res: dict[str, Any] = {"n": n, "floor_s": f_s, "floor_cpu_per_node": f_cpu / n}
            for kind in ("asyncssh", "paramiko"):
                run, m = await netdiag_start(inv, kind, root)
                res[kind] = m
                if kind == "asyncssh":
                    res["fetch"] = await fetch_compare(run, servers, max(1, mb_total // n))
                await wind_down(run)
                left = list(capdir.iterdir())
                if left:
                    raise SystemExit(f"{kind}: capture dirs left behind: {left[:3]}")
            return res
        finally:
            servers.stop()


def show(r: dict[str, Any]) -> None:
    n, fl = r["n"], r["floor_s"]
    print(f"\nN = {n} sshd on 127.0.0.1")
    print(f"  floor (asyncssh connect + true)      {fl:6.2f} s   cpu/node "
          f"{r['floor_cpu_per_node'] * 1000:6.1f} ms")  # fmt: skip
    for kind in ("asyncssh", "paramiko"):
        m = r[kind]
        print(
            f"  netdiag {kind:<9} to all listening {m['seconds']:6.2f} s   cpu/node "
            f"{m['cpu'] / n * 1000:6.1f} ms   ratio {m['seconds'] / fl:4.2f} (target <= 1.25)"
            f"   start spread {m['spread']:4.2f} s (<= 0.5)"
        )
    f = r["fetch"]
    print(
        f"  fetch {f['mb']} MB: netdiag {f['ours_mb_s']:6.1f} MB/s, raw asyncssh SFTP "
        f"{f['raw_mb_s']:6.1f} MB/s, ratio {f['ours_mb_s'] / f['raw_mb_s']:4.2f} (>= 0.8; "
        f"best of {ROUNDS} alternating rounds each)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="10,50", help="comma-separated N values (default 10,50)")
    ap.add_argument("--mb-total", type=int, default=200, help="MB fetched in total per N")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("fanout.py needs root (sshd with root logins, tcpdump on lo)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for n in (int(x) for x in args.nodes.split(",")):
        show(asyncio.run(bench(n, args.mb_total)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
