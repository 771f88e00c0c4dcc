"""One contender, run by ingest.py in a fresh interpreter: ``_contenders.py NAME FILE LIMIT``.

Prints one JSON object on stdout. Times are split: ``import_s`` (importing the library) and
``parse_s`` (file -> finished DataFrame; ``parse_cpu_s`` its CPU time); interpreter start-up is
in neither (the parent also reports the whole process' wall time).
Memory: ``rss_kib`` is this process' peak RSS (ru_maxrss), imports included, ``vmhwm_kib`` the
same read from /proc as a cross-check; ``rss_import_kib`` the peak right after the imports;
``child_rss_kib`` tshark's peak (sampled VmHWM, since ru_maxrss of a grandchild would include
this process' own peak), which runs concurrently with this one; ``anon_*`` / ``file_*``: the
anonymous and file-backed parts of RSS after the imports and at their (sampled) peaks.
``digest`` holds column sums the parent checks against the generator's ground truth, so a
contender that is fast because it gets fields wrong is caught.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported inside the timed part, like every library
    import pandas as pd

#: Columns whose sums are compared with the plan (inner packet for VXLAN frames).
DIGEST_COLUMNS = ("sport", "dport", "ttl", "ip_id", "ip_len", "tcp_seq", "tcp_ack", "tcp_flags",
                  "icmp_seq", "payload_len", "vlan", "vni", "outer_ip_id")  # fmt: skip
NAMES = ("imports", "netdiag", "scapy", "dpkt", "tshark")


def digest(table: pd.DataFrame) -> dict[str, int]:
    """Sums of the checked columns (missing values skipped) and the number of VXLAN frames."""
    out = {c: int(table[c].sum()) for c in DIGEST_COLUMNS}
    out["vxlan"] = int((table["encap"].astype(object) == "vxlan").sum())
    out["packets"] = len(table)
    return out


def _maxrss(who: int) -> int:
    return resource.getrusage(who).ru_maxrss  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (tshark): on a shared machine
    this moves far less than wall time, which includes waiting for the CPU."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _vmhwm() -> int:
    with open("/proc/self/status") as f:
        return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)


def _rss_split() -> dict[str, int]:
    """Current anonymous and file-backed resident KiB (file-backed: libraries, mmap windows)."""
    out = {"RssAnon": 0, "RssFile": 0}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1])
    return out


class RssSampler:
    """Samples :func:`_rss_split` every 10 ms in a thread and keeps each one's maximum, to tell
    what a peak RSS is made of (the table and copies of it, or mapped file pages)."""

    def __init__(self) -> None:
        self.start = _rss_split()
        self.peak = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            for key, value in _rss_split().items():
                self.peak[key] = max(self.peak[key], value)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for key, value in _rss_split().items():
            self.peak[key] = max(self.peak[key], value)

    def result(self) -> dict[str, int]:
        return {
            "anon_start_kib": self.start["RssAnon"],
            "anon_peak_kib": self.peak["RssAnon"],
            "file_start_kib": self.start["RssFile"],
            "file_peak_kib": self.peak["RssFile"],
        }


def _netdiag(path: str, chunk_bytes: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    from netdiag.pcap import read_capture

    extra: dict[str, Any] = {}
    default = inspect.signature(read_capture).parameters.get("chunk_bytes")
    if default is not None and default.default is not inspect.Parameter.empty:
        extra["buffer_bytes"] = chunk_bytes or default.default
    start, cpu = time.perf_counter(), _cpu_s()
    cap = read_capture(path, chunk_bytes=chunk_bytes) if chunk_bytes else read_capture(path)
    table = cap.table
    extra["parse_s"], extra["parse_cpu_s"] = time.perf_counter() - start, _cpu_s() - cpu
    return table, extra


def run(name: str, path: str, limit: int, chunk_bytes: int) -> dict[str, Any]:
    """Import, parse, measure; the dict becomes the JSON line the parent reads."""
    result: dict[str, Any] = {"contender": name}
    start = time.perf_counter()
    if name == "imports":
        import numpy  # noqa: F401
        import pandas

        imported = ["numpy", "pandas"]
        try:
            import netdiag.pcap

            imported.append("netdiag.pcap")
        except ImportError:
            pass
        result.update(import_s=time.perf_counter() - start, parse_s=0.0, imported=imported)
        result.update(packets=0, rss_kib=_maxrss(resource.RUSAGE_SELF), vmhwm_kib=_vmhwm())
        return result
    import pandas  # noqa: F401  (every contender builds a DataFrame)

    if name == "netdiag":
        import netdiag.pcap  # noqa: F401
    elif name == "scapy":
        import _python_readers
        import scapy.layers.all  # noqa: F401
    elif name == "dpkt":
        import _python_readers
        import dpkt  # noqa: F401
    elif name == "tshark":
        import _tshark
    else:
        raise SystemExit(f"unknown contender {name!r}; choose from {', '.join(NAMES)}")
    result["import_s"] = time.perf_counter() - start
    result["rss_import_kib"] = _maxrss(resource.RUSAGE_SELF)
    start, cpu = time.perf_counter(), _cpu_s()
    with RssSampler() as sampler:
        if name == "netdiag":
            table, extra = _netdiag(path, chunk_bytes)
            result.update(extra)
        elif name == "scapy":
            rows = _python_readers.scapy_rows(path, limit or sys.maxsize)
            table = _python_readers.to_frame(rows)
        elif name == "dpkt":
            rows = _python_readers.dpkt_rows(path, limit or sys.maxsize)
            table = _python_readers.to_frame(rows)
        else:
            table, _, result["child_rss_kib"] = _tshark.read(path, limit)
    result.setdefault("parse_s", time.perf_counter() - start)
    result.setdefault("parse_cpu_s", _cpu_s() - cpu)
    result.update(
        packets=len(table),
        columns=len(table.columns),
        table_bytes=int(table.memory_usage(deep=True).sum()),
        rss_kib=_maxrss(resource.RUSAGE_SELF),
        vmhwm_kib=_vmhwm(),
        digest=digest(table),
        **sampler.result(),
    )
    return result


def main(argv: list[str]) -> int:
    cpu = os.environ.get("NETDIAG_BENCH_CPU", "")
    if cpu:  # before anything runs; tshark inherits the affinity
        os.sched_setaffinity(0, {int(cpu)})
    if len(argv) not in (3, 4):
        print("usage: _contenders.py NAME FILE LIMIT [CHUNK_BYTES]", file=sys.stderr)
        return 2
    name, path, limit = argv[0], argv[1], int(argv[2])
    chunk = int(argv[3]) if len(argv) == 4 else 0
    try:
        result = run(name, path, limit, chunk)
    except ImportError as exc:
        result = {"contender": name, "error": f"cannot import: {exc}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
