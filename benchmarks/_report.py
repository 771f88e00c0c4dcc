"""Turn the contenders' raw measurements into the summary (``--json``) and the printed table.

Targets (issue 2): >= 1,000,000 packets/s into the full table on one core; netdiag's peak RSS
<= table size + its read buffer + the baseline of an interpreter that only imports the libraries.
"""

from __future__ import annotations

from typing import Any

MIB = 1 << 20
SPEED_TARGET = 1_000_000


def _rss_mib(r: dict[str, Any]) -> float:
    """Peak RSS of the contender: its process, plus its tshark (both alive at the same time)."""
    own = r.get("wait4_rss_kib") or r.get("rss_kib", 0)
    return float(max(own, r.get("rss_kib", 0)) + r.get("child_rss_kib", 0)) / 1024


def summarize(meta: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates, extrapolations, ratios against netdiag, and the two target verdicts."""
    n = meta["packets"]
    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {"contender": r["contender"], "error": r.get("error")}
        if row["error"] is None:
            k, secs = r.get("packets", 0), r.get("parse_s", 0.0)
            row.update(
                packets=k,
                parse_s=secs,
                import_s=r.get("import_s"),
                wall_s=r["wall_s"],
                rss_mib=_rss_mib(r),
                columns=r.get("columns"),
                table_mib=r.get("table_bytes", 0) / MIB,
                fields_ok=r.get("fields_ok"),
                fields_wrong=r.get("fields_wrong", []),
            )
            row["vmhwm_mib"] = r.get("vmhwm_kib", 0) / 1024  # cross-check of rss_mib
            row["runs_parse_s"] = r.get("runs_parse_s", [secs])
            cpu = r.get("parse_cpu_s")
            row["parse_cpu_s"] = cpu
            row["pps_cpu"] = k / cpu if k and cpu else None
            row["pps"] = k / secs if k and secs > 0 else None
            row["subset"] = bool(k) and k < n
            if row["subset"] and row["pps"]:
                row["est_full_s"] = n / row["pps"]
                base = r.get("rss_import_kib", 0) / 1024
                row["est_full_rss_mib"] = base + (row["rss_mib"] - base) * n / k
            for key in ("anon_start_kib", "anon_peak_kib", "file_start_kib", "file_peak_kib"):
                if key in r:
                    row[key.replace("_kib", "_mib")] = r[key] / 1024
            if "buffer_bytes" in r:
                row["buffer_mib"] = r["buffer_bytes"] / MIB
        rows.append(row)
    by_name = {row["contender"]: row for row in rows if row["error"] is None}
    nd = by_name.get("netdiag")
    for row in rows:
        if nd and nd.get("pps") and row.get("pps"):
            row["times_slower_than_netdiag"] = nd["pps"] / row["pps"]
        if nd and nd.get("pps_cpu") and row.get("pps_cpu"):
            row["times_slower_than_netdiag_cpu"] = nd["pps_cpu"] / row["pps_cpu"]
    targets: dict[str, Any] = {}
    if nd and nd.get("pps"):
        targets["speed"] = {
            "packets_per_s": nd["pps"],
            "target": SPEED_TARGET,
            "met": nd["pps"] >= SPEED_TARGET,
            "packets_per_cpu_s": nd.get("pps_cpu"),
        }
        base = by_name.get("imports", {}).get("rss_mib")
        buf = nd.get("buffer_mib")
        mem: dict[str, Any] = {
            "peak_rss_mib": nd["rss_mib"],
            "table_mib": nd["table_mib"],
            "buffer_mib": buf,
            "baseline_mib": base,
        }
        if base is not None and buf is not None:
            budget = nd["table_mib"] + buf + base
            mem.update(
                budget_mib=budget,
                met=nd["rss_mib"] <= budget,
                over_budget_mib=max(0.0, nd["rss_mib"] - budget),
            )
        for key in ("anon_start_mib", "anon_peak_mib", "file_start_mib", "file_peak_mib"):
            mem[key] = nd.get(key)
        targets["memory"] = mem
    return {"meta": meta, "contenders": rows, "targets": targets}


def _fmt(value: Any, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def render(s: dict[str, Any]) -> str:
    """The human-readable report: one line per contender, notes, then the target verdicts."""
    m = s["meta"]
    gen = "reused" if m["generate_s"] is None else f"generated in {m['generate_s']:.1f} s"
    repeat = max((len(r.get("runs_parse_s") or [0]) for r in s["contenders"]), default=1)
    lines = [
        f"capture: {m['packets']:,} packets, {m['file_bytes'] / MIB:.1f} MiB ({gen}), "
        f"seed {m['seed']}" + (f", kept at {m['file']}" if m["file"] else ""),
        f"machine: {m['cpus']} CPUs, load average {' '.join(f'{x:.2f}' for x in m['loadavg'])}"
        f" at start; contenders pinned to CPU {_fmt(m['pinned_cpu'], 'd', 'none')}"
        + (f"; best of {repeat} runs each" if repeat > 1 else ""),
        "",
        f"{'contender':<10}{'packets':>10}{'seconds':>9}{'CPU s':>7}{'packets/s':>12}"
        f"{'s for all':>11}{'peak RSS MiB':>14}{'vs netdiag':>12}{'(CPU)':>8}{'import s':>10}"
        "  fields",
    ]
    notes = []
    for r in s["contenders"]:
        if r["error"]:
            lines.append(f"{r['contender']:<10}  not measured: {r['error']}")
            continue
        ratio = r.get("times_slower_than_netdiag")
        cpu_ratio = r.get("times_slower_than_netdiag_cpu")
        star = "*" if r.get("subset") else " "
        full = r.get("est_full_s") if r.get("subset") else (r["parse_s"] if r["packets"] else None)
        fields = {True: "ok", False: "WRONG: " + ",".join(r["fields_wrong"]), None: "-"}
        lines.append(
            f"{r['contender']:<10}{r['packets']:>10,}{_fmt(r['parse_s'] or None, '9.2f'):>9}"
            f"{_fmt(r['parse_cpu_s'] or None, '7.2f'):>7}"
            f"{_fmt(r['pps'], ',.0f'):>12}{_fmt(full, ',.1f'):>10}{star}"
            f"{r['rss_mib']:>14.1f}{_fmt(ratio, '.1f') + ('x' if ratio else ''):>12}"
            f"{_fmt(cpu_ratio, '.1f') + ('x' if cpu_ratio else ''):>8}"
            f"{_fmt(r['import_s'], '.2f'):>10}  {fields[r['fields_ok']]}"
        )
        if r.get("subset"):
            notes.append(
                f"* {r['contender']}: read the first {r['packets']:,} packets; time for "
                f"all {m['packets']:,} extrapolated at its measured rate; its peak RSS "
                f"for all would be ~{r['est_full_rss_mib']:,.0f} MiB (linear estimate)"
            )
    lines += ["", *notes] if notes else []
    lines += [
        "seconds = file -> finished DataFrame, imports excluded (import s); CPU s = CPU time of "
        "the same (with tshark's); peak RSS includes imports and, for tshark, the tshark process.",
        "vs netdiag = how many times more time per packet than netdiag (CPU: of CPU time, "
        "steadier on a busy machine); fields = column sums match the generator's ground truth.",
    ]
    t = s["targets"]
    if "speed" in t:
        sp = t["speed"]
        lines.append(
            f"\nspeed target: >= {sp['target']:,} packets/s into the full table on one "
            f"core: {sp['packets_per_s']:,.0f} -> {'MET' if sp['met'] else 'NOT MET'}"
            f" (per CPU-second: {_fmt(sp['packets_per_cpu_s'], ',.0f')})"
        )
    if "memory" in t:
        mem = t["memory"]
        parts = (
            f"netdiag peak RSS {mem['peak_rss_mib']:.1f} MiB; table (memory_usage deep) "
            f"{mem['table_mib']:.1f} MiB; read buffer {_fmt(mem['buffer_mib'], '.1f')} MiB; "
            f"baseline (imports only) {_fmt(mem['baseline_mib'], '.1f')} MiB"
        )
        lines.append(parts)
        if "met" in mem:
            verdict = "MET" if mem["met"] else f"NOT MET (over by {mem['over_budget_mib']:.1f} MiB)"
            lines.append(
                f"memory target: peak <= table + buffer + baseline = "
                f"{mem['budget_mib']:.1f} MiB -> {verdict}"
            )
        if mem.get("anon_peak_mib") is not None:
            lines.append(
                f"  during the read (sampled every 10 ms): anonymous memory "
                f"{mem['anon_start_mib']:.0f} -> peak {mem['anon_peak_mib']:.0f} MiB, "
                f"file-backed (libraries, mapped file) {mem['file_start_mib']:.0f} -> peak "
                f"{mem['file_peak_mib']:.0f} MiB"
            )
    elif not any(r["contender"] == "netdiag" and not r["error"] for r in s["contenders"]):
        lines.append("\nnetdiag was not measured: no targets to report.")
    return "\n".join(lines)
