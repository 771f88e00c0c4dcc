"""Correlation speed and memory: 4 capture points x N packets, sightings per second end to end.

The packet table is generated directly with numpy (no pcap): a client, a gateway's uplink, the
gateway's pod-side device (DNAT 172.19.0.10 -> 192.168.0.3 between them, TTL 64 -> 63, source
MAC rewritten) and the server, whose clock is 0.35 s ahead. Requests are TCP segments (~45%),
UDP datagrams (~35%) and ICMP echoes (~20%); each gets a reply through the same points in
reverse; ~1% of requests are dropped between the gateway and the server. The ``revisit`` case
sends a third of the requests back out of the gateway's uplink encapsulated (VXLAN to the
server's node, as a NodePort to a pod on another node does): the uplink sees those packets
twice. What is timed is ``netdiag.correlate.analyze`` (fingerprints, clocks, journeys, flows,
transforms, translations, anomalies), not JSON writing.

Each case runs in a fresh interpreter. Memory: the packet table's own size per row, the peak of
what ``analyze`` allocates on top of it (tracemalloc, which numpy and pandas report to) per
sighting, and the process's peak RSS per sighting (interpreter, table and analysis together).

    .venv/bin/python benchmarks/correlate.py                 # 1,000,000 packets per point
    .venv/bin/python benchmarks/correlate.py --packets 250000 --linear
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

# NETDIAG_BENCH_TREE: measure another checkout's engine with this same script (--baseline).
sys.path.insert(0, os.environ.get("NETDIAG_BENCH_TREE") or str(Path(__file__).resolve().parents[1]))

from netdiag.correlate import Options, analyze
from netdiag.pcap.schema import COLUMNS, DIRECTIONS

V4 = 0xFFFF_0000_0000
POINTS = ("client/eth0", "gw/eth1", "gw/pod_veth", "server/eth0")
SKEW_NS = 350_000_000  # server clock ahead
FIELDS = (
    "ts_ns", "src_lo", "dst_lo", "sport", "dport", "ip_id", "ttl", "proto", "ip_len", "tcp_seq",
    "tcp_ack", "tcp_flags", "icmp_type", "icmp_id", "icmp_seq", "payload_len", "payload_hash",
    "eth_src", "direction", "encap", "vni", "outer_src_lo", "outer_dst_lo",
)  # fmt: skip
GW_NODE, SERVER_NODE = 0xFFFF_AC13_0005, 0xFFFF_AC13_0006  # 172.19.0.5, .6 (IPv4-mapped)


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return V4 | (a << 24 | b << 16 | c << 8 | d)


def build(per_point: int, seed: int = 1, revisit: float = 0.0) -> pd.DataFrame:
    """A concatenated 4-point table with ~``per_point`` rows per point (more on the gateway's
    uplink with ``revisit``: that share of requests leaves it again, encapsulated)."""
    rng = np.random.default_rng(seed)
    nreq = per_point // 2
    kind = rng.choice(np.array([6, 17, 1]), size=nreq, p=[0.45, 0.35, 0.20])
    t0 = 1_700_000_000_000_000_000 + np.arange(nreq, dtype="int64") * 10_000
    cport = rng.integers(32768, 61000, nreq)
    sport = np.where(kind == 6, 80, 53)
    seq = rng.integers(0, 2**32, nreq)
    plen = np.where(kind == 1, 56, rng.integers(0, 1400, nreq))
    client = V4 | (10 << 24) | rng.integers(1, 2**16, nreq)
    vip, pod = _ip("172.19.0.10"), _ip("192.168.0.3")
    drop = rng.random(nreq) < 0.01
    again = rng.random(nreq) < revisit
    cols: dict[str, list[np.ndarray]] = {}

    def emit(point: int, mask: np.ndarray, **fields: np.ndarray | int) -> None:
        n = int(mask.sum())
        cols.setdefault("_point", []).append(np.full(n, point, dtype="int32"))
        for name in FIELDS:
            value = fields[name]
            arr = value[mask] if isinstance(value, np.ndarray) else np.full(n, value)
            cols.setdefault(name, []).append(np.asarray(arr))

    for direction in ("request", "reply"):
        req = direction == "request"
        ip_id = rng.integers(1, 65536, nreq)
        phash = rng.integers(0, 2**63, nreq, dtype="int64").astype("uint64")
        flags = np.where(kind == 6, 0x18 if req else 0x10, -1)
        ack = np.where(
            kind == 6, (seq + plen) % 2**32 if not req else rng.integers(0, 2**32, nreq), -1
        )
        base = {
            "ip_id": ip_id, "proto": kind, "ip_len": 20 + np.where(kind == 6, 20, 8) + plen,
            "tcp_seq": np.where(kind == 6, seq if req else rng.integers(0, 2**32, nreq), -1),
            "tcp_ack": ack, "tcp_flags": flags,
            "icmp_type": np.where(kind == 1, 8 if req else 0, -1),
            "icmp_id": np.where(kind == 1, cport, -1),
            "icmp_seq": np.where(kind == 1, np.arange(nreq) % 65536, -1),
            "payload_len": plen if req else np.where(kind == 6, 0, plen), "payload_hash": phash,
        }  # fmt: skip
        if not req:
            base["ip_len"] = 20 + np.where(kind == 6, 20, 8) + base["payload_len"]
        hops = [0, 1, 2, 3] if req else [3, 2, 1, 0]
        start = t0 if req else t0 + 200_000
        alive = np.ones(nreq, dtype=bool) if req else ~drop
        for i, p in enumerate(hops):
            ts = start + i * 40_000 + (SKEW_NS if p == 3 else 0)
            inner = p in (2, 3)  # behind the DNAT
            c_ip, s_ip = client, (pod if inner else vip)
            c_port, s_port = cport, np.where(kind == 6, 80 if inner else 8080, 53)
            ttl = 64 if (req and p in (0, 1)) or (not req and p in (3, 2)) else 63
            mask = alive & ~(drop & (p == 3)) if req else alive
            fields = dict(ts_ns=ts, src_lo=c_ip if req else s_ip, dst_lo=s_ip if req else c_ip,
                 sport=np.where(kind == 1, -1, c_port if req else s_port),
                 dport=np.where(kind == 1, -1, s_port if req else c_port),
                 ttl=ttl, eth_src=0x020000000000 + p, direction=1 if p in (0, 2) else 2,
                 encap=-1, vni=-1, outer_src_lo=-1, outer_dst_lo=-1, **base)  # fmt: skip
            emit(p, mask, **fields)  # type: ignore[arg-type]
            if req and p == 2:  # the uplink again, encapsulated towards the server's node
                fields.update(ts_ns=ts + 10_000, encap=0, vni=1, outer_src_lo=GW_NODE,
                              outer_dst_lo=SERVER_NODE, direction=1)  # fmt: skip
                emit(1, mask & again, **fields)  # type: ignore[arg-type]
    del sport
    return _frame(cols)


def _frame(cols: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    flat = {k: np.concatenate(v) for k, v in cols.items()}
    point = flat.pop("_point")
    order = np.lexsort((flat["ts_ns"], point))
    n = len(point)
    data: dict[str, object] = {}
    nodes = [p.split("/")[0] for p in POINTS]
    for name, dtype, _ in COLUMNS:
        if name == "point":
            data[name] = pd.Categorical.from_codes(point[order], categories=list(POINTS))
        elif name == "node":
            data[name] = pd.Categorical([nodes[c] for c in range(4)])[point[order]]
        elif name == "iface":
            data[name] = pd.Categorical([p.split("/")[1] for p in POINTS])[point[order]]
        elif name == "direction":
            data[name] = pd.Categorical.from_codes(
                flat["direction"][order].astype("int8"), categories=list(DIRECTIONS)
            )
        elif name == "encap":
            codes = flat["encap"][order].astype("int8")
            data[name] = pd.Categorical.from_codes(codes, categories=["vxlan"])
        elif name == "frame":
            data[name] = np.arange(n, dtype="int64")
        elif name == "ts_ns":
            data[name] = flat["ts_ns"][order].astype("int64")
        elif name in flat:
            v = flat[name][order]
            mask = v < 0 if v.dtype.kind == "i" else np.zeros(n, dtype=bool)
            data[name] = pd.array(np.where(mask, 0, v).astype(dtype.lower()), dtype=dtype)
            if mask.any():
                data[name][mask] = pd.NA  # type: ignore[index]
        elif name in ("ip_version",):
            data[name] = pd.array(np.full(n, 4, dtype="uint8"), dtype=dtype)
        elif name in ("src_hi", "dst_hi"):
            data[name] = pd.array(np.zeros(n, dtype="uint64"), dtype=dtype)
        elif name == "payload_hashed":
            data[name] = pd.array(
                np.minimum(flat["payload_len"][order], 64).astype("uint8"), dtype=dtype
            )
        elif dtype == "category":
            data[name] = pd.Categorical([None] * 1, categories=["vxlan"])[
                np.zeros(n, dtype="int64")
            ]
        elif dtype == "boolean":
            data[name] = pd.array(np.zeros(n, dtype=bool), dtype="boolean")
        else:
            data[name] = pd.array(np.zeros(n, dtype=dtype.lower()), dtype=dtype)
            data[name][:] = pd.NA  # type: ignore[index]
    return pd.DataFrame(data)


def measure(per_point: int, revisit: float) -> dict[str, float]:
    """One case, in this process: build, then time and trace ``analyze``."""
    table = build(per_point, revisit=revisit)
    table_bytes = int(table.memory_usage(deep=True).sum())
    gc.collect()
    start = time.perf_counter()
    cpu = time.process_time()
    a = analyze(table, Options(reference_node="client"))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    del a
    gc.collect()
    # Memory in a second, traced run (tracemalloc slows allocation; the timing above is clean).
    tracemalloc.start()
    a = analyze(table, Options(reference_node="client"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    server = a.clocks.set_index("node").loc["server"]
    n = len(table)
    return {
        "case": "revisit" if revisit else "plain",
        "packets_per_point": per_point,
        "sightings": n,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "sightings_per_s": round(n / elapsed),
        "sightings_per_cpu_s": round(n / cpu),
        "journeys": len(a.journeys),
        "flows": len(a.flows),
        "translations_packets": int(a.translations["packets"].sum()),
        "dropped_found": int((a.anomalies["kind"] == "dropped").sum()),
        "anomalies": len(a.anomalies),
        "ambiguous": int(a.journeys["ambiguous"].sum()),
        "sightings_kept": len(a.sightings),
        "server_offset_ms": round(float(server["offset_ns"]) / 1e6, 3),
        "server_error_us": round(float(server["error_ns"]) / 1e3, 1),
        "table_bytes_per_row": round(table_bytes / n),
        "analyze_peak_bytes_per_sighting": round(peak / n),
        "rss_peak_bytes_per_sighting": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / n
        ),
    }


def fleet(points: int, packets: int = 2000) -> pd.DataFrame:
    """``points`` nodes that each saw the same ``packets`` (one capture point per node, its own
    clock, its own NIC MAC): the shape of a capture on every node of a fleet."""
    base = build(packets * 2)
    one = base.loc[base["point"] == POINTS[0]]
    frames = []
    for i in range(points):
        f = one.copy()
        f["point"], f["node"], f["iface"] = f"n{i}/eth0", f"n{i}", "eth0"
        f["ts_ns"] = f["ts_ns"].to_numpy() + i * 1000 + (i % 7) * 10_000_000
        f["eth_src"] = pd.array(np.full(len(f), 0x020000000100 + i, dtype="uint64"), "UInt64")
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    for c in ("point", "node", "iface"):
        out[c] = out[c].astype("category")
    return out


def measure_fleet(points: int) -> dict[str, float]:
    table = fleet(points)
    gc.collect()
    cpu = time.process_time()
    analyze(table, Options())
    cpu = time.process_time() - cpu
    return {"points": points, "sightings": len(table), "cpu_seconds": round(cpu, 3),
            "cpu_us_per_sighting": round(cpu / len(table) * 1e6, 2)}  # fmt: skip


def _child(per_point: int, revisit: float, tree: str | None = None) -> dict[str, float]:
    """Run one case in a fresh interpreter (peak RSS of its own), on this checkout's engine or
    on the one in ``tree``."""
    env = dict(os.environ, NETDIAG_BENCH_TREE=tree) if tree else None
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(per_point), "--revisit", str(revisit)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="rows per capture point")
    parser.add_argument("--linear", action="store_true", help="also run at 1/4 and 1/2 the size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--revisit", type=float, default=1 / 3, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline", metavar="DIR",
        help="also run the plain case on the netdiag checkout in DIR (e.g. a `git worktree` of "
        "an earlier commit) and print this engine's speed as a ratio of it",
    )  # fmt: skip
    parser.add_argument(
        "--fleet", action="store_true",
        help="instead: 25, 50, 100, 200 points that all saw the same packets (linear in points?)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.revisit)))
        return
    if args.fleet:
        for n in (25, 50, 100, 200):
            r = measure_fleet(n)
            print(
                f"{r['points']:>4} points, {r['sightings']:>9,} sightings: "
                f"{r['cpu_seconds']:.2f} CPU-s, {r['cpu_us_per_sighting']:.2f} µs per sighting"
            )
        return
    sizes = [args.packets // 4, args.packets // 2, args.packets] if args.linear else [args.packets]
    results = [_child(n, 0.0) for n in sizes] + [_child(args.packets, 1 / 3)]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for r in results:
        print(
            f"{r['case']:>7} {r['sightings']:>9,} sightings ({r['packets_per_point']:,}/point): "
            f"{r['seconds']:.2f} s = {r['sightings_per_s']:,.0f}/s "
            f"({r['sightings_per_cpu_s']:,.0f}/CPU-s); {r['journeys']:,} journeys, "
            f"{r['flows']:,} flows, {r['dropped_found']:,} drops, {r['anomalies']:,} anomalies, "
            f"server clock {r['server_offset_ms']:+.3f} ms ± {r['server_error_us']} µs; "
            f"memory/sighting: table {r['table_bytes_per_row']} B, analyze peak "
            f"{r['analyze_peak_bytes_per_sighting']} B, process peak "
            f"{r['rss_peak_bytes_per_sighting']} B"
        )
    plain, revisit = results[-2], results[-1]
    if args.baseline:
        base = _child(args.packets, 0.0, args.baseline)
        memory = plain["analyze_peak_bytes_per_sighting"] / base["analyze_peak_bytes_per_sighting"]
        print(
            f"baseline {args.baseline}: {base['sightings_per_cpu_s']:,.0f}/CPU-s, analyze peak "
            f"{base['analyze_peak_bytes_per_sighting']} B/sighting; this engine / baseline: "
            f"{plain['sightings_per_cpu_s'] / base['sightings_per_cpu_s']:.2f}x speed, "
            f"{memory:.2f}x memory"
        )
    print(
        f"revisit / plain: {revisit['sightings_per_cpu_s'] / plain['sightings_per_cpu_s']:.2f}x "
        "sightings per CPU-second"
    )
    if args.linear:
        per = [r["cpu_seconds"] / r["sightings"] * 1e6 for r in results[:3]]
        print("CPU µs per sighting at 1/4, 1/2, 1x: " + ", ".join(f"{p:.2f}" for p in per))


if __name__ == "__main__":
    main()
