"""How fast does a capture become a packet table? netdiag against scapy, dpkt and tshark.

    .venv/bin/python benchmarks/ingest.py [--packets N] [--contenders a,b] [--keep FILE] [--json]

One run: generate a realistic capture (see _gen.py), then run every contender in its own fresh
interpreter, pinned to one CPU, one after the other, so each peak RSS is that process' own
(os.wait4 rusage; tshark's is added to its Python reader's since they run concurrently). This
parent imports only the standard library and generates the file in a child process: Linux
charges the spawning process' peak RSS to a child's ru_maxrss at exec, so a fat parent would
inflate every figure.
Slow contenders read only the first packets (``--subset``); their full-file time is
extrapolated linearly from their rate, and said so. Every contender's column sums are checked
against the generator's ground truth, so speed never comes from wrong fields.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CONTENDERS = ("imports", "netdiag", "scapy", "dpkt", "tshark")
#: Packets read by the slow contenders (all of them when the file is smaller).
DEFAULT_SUBSETS = {"scapy": 20_000, "dpkt": 200_000, "tshark": 100_000}


def run_contender(
    name: str, path: Path, *, limit: int, chunk: int, cpu: int | None, timeout: float
) -> dict[str, Any]:
    """Run one contender in a fresh interpreter; its JSON plus wall time and rusage peak RSS."""
    cmd = [sys.executable, str(HERE / "_contenders.py"), name, str(path), str(limit), str(chunk)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]))
    env["NETDIAG_BENCH_CPU"] = "" if cpu is None else str(cpu)  # the child pins itself

    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = start + timeout
        while True:  # os.wait4, not proc.wait(): it returns this child's own rusage
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = "timed out" if wall > timeout else f"exit {proc.returncode}"
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"contender": name, "error": f"{why}: {tail[0][:200]}", "wall_s": wall}
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = wall
    result["wait4_rss_kib"] = usage.ru_maxrss
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets to generate")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same file)")
    ap.add_argument(
        "--keep",
        type=Path,
        metavar="FILE",
        help="write the capture to FILE and keep it; reused if it already has the "
        "size this --packets/--seed gives",
    )
    ap.add_argument(
        "--contenders",
        default=",".join(DEFAULT_CONTENDERS),
        help=f"comma-separated, from {','.join(DEFAULT_CONTENDERS)}",
    )
    ap.add_argument(
        "--subset",
        action="append",
        default=[],
        metavar="NAME=N",
        help="packets read by a slow contender (defaults: "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_SUBSETS.items())
        + "; 0 = whole file)",
    )
    ap.add_argument(
        "--chunk-bytes",
        type=int,
        default=0,
        help="netdiag read buffer (default: read_capture's own default)",
    )
    ap.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="CPU to pin contenders to (default: the last one; -1: no pinning)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per contender")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per contender (fresh process each): fastest time, highest peak RSS",
    )
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DEFAULT_CONTENDERS))
    if unknown or not names:
        ap.error(
            f"unknown contender(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(DEFAULT_CONTENDERS)}"
        )
    args.names = names
    args.subsets = dict(DEFAULT_SUBSETS)
    for spec in args.subset:
        key, _, value = spec.partition("=")
        if key not in DEFAULT_CONTENDERS or not value.isdigit():
            ap.error(f"--subset {spec!r}: expected NAME=N with NAME one of the contenders")
        args.subsets[key] = int(value)
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.packets < 1:
        ap.error(f"--packets must be at least 1, got {args.packets}")
    if args.cpu is None:
        args.cpu = max(os.sched_getaffinity(0))
    elif args.cpu < 0:
        args.cpu = None
    elif args.cpu not in os.sched_getaffinity(0):
        usable = ", ".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        ap.error(f"--cpu {args.cpu}: not available here; use one of {usable}")
    return args


def _generate(path: Path, args: argparse.Namespace, limits: set[int]) -> dict[str, Any]:
    """Write the capture in a child process (numpy stays out of this lean parent)."""
    cmd = [sys.executable, str(HERE / "_wire.py"), str(path), str(args.packets), str(args.seed)]
    proc = subprocess.run(
        cmd + [str(k) for k in sorted(limits)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"ingest: generating {path} failed: {tail}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmpdir = None
    if args.keep is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="netdiag-bench-")
        path = Path(tmpdir.name) / "ingest.pcap"
    else:
        path = args.keep
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            print(f"ingest: cannot write {path}: {path.parent} is not a writable directory; "
                  "choose another --keep path", file=sys.stderr)  # fmt: skip
            return 1
    limits = {_limit(name, args) for name in args.names}
    try:
        gen = _generate(path, args, limits)
        results = []
        for name in args.names:
            if not args.json:
                print(f"running {name} ...", file=sys.stderr, flush=True)
            limit = _limit(name, args)
            runs = [
                run_contender(
                    name, path, limit=limit, chunk=args.chunk_bytes, cpu=args.cpu,
                    timeout=args.timeout,
                )
                for _ in range(args.repeat)
            ]  # fmt: skip
            res = _best(runs)
            if "digest" in res:
                want = gen["digests"][str(limit)]
                res["fields_ok"] = res["digest"] == want
                res["fields_wrong"] = sorted(k for k in want if res["digest"].get(k) != want[k])
            results.append(res)
        meta = {
            "packets": args.packets, "seed": args.seed, "file_bytes": gen["file_bytes"],
            "generate_s": gen["generate_s"], "file": str(path) if args.keep else None,
            "cpus": os.cpu_count(), "pinned_cpu": args.cpu, "loadavg": os.getloadavg(),
        }  # fmt: skip
        summary = _report.summarize(meta, results)
        print(json.dumps(summary, indent=2) if args.json else _report.render(summary))
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    return 0


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fastest successful run (a shared machine only ever slows a run down), with the highest
    peak RSS of all runs and every run's time kept in ``runs_parse_s``."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    fastest: dict[str, Any] = min(ok, key=lambda r: float(r.get("parse_s", 0.0)))
    best = dict(fastest)
    for key in ("wait4_rss_kib", "rss_kib", "vmhwm_kib", "child_rss_kib"):
        if key in best:
            best[key] = max(int(r.get(key, 0)) for r in ok)
    best["runs_parse_s"] = [r.get("parse_s") for r in ok]
    return best


def _limit(name: str, args: argparse.Namespace) -> int:
    """Packets this contender reads: 0 = the whole file (netdiag always reads it all)."""
    limit = 0 if name in ("netdiag", "imports") else int(args.subsets.get(name, 0))
    return 0 if limit >= args.packets else limit


if __name__ == "__main__":
    sys.exit(main())
