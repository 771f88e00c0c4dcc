"""The human summary of ``netdiag analyze`` (rich): points, translations, paths, anomalies.

Identical paths are printed once with a packet count; a path's identity is a hash of its
points, change flags and rewritten addresses computed over all journeys in one vectorized
pass, so only the printed representatives are turned into text.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netdiag.correlate import Analysis
from netdiag.correlate import describe as d
from netdiag.correlate.fingerprint import combine, mix
from netdiag.correlate.order import UNCERTAIN

MAX_PATHS = 25
MAX_ANOMALIES = 20


def path_signatures(a: Analysis) -> np.ndarray:
    """One uint64 per journey: equal for journeys of one kind (protocol, ICMP type, TCP flags)
    that took the same path with the same changes."""
    s, h = a.sightings, a.hops
    n = len(s)
    flags = np.zeros(n, dtype="int64")
    if len(h):
        bits = (
            h["src_kind"].to_numpy().astype("int64")
            | h["dst_kind"].to_numpy().astype("int64") << 2
            | h["mac_src"].to_numpy().astype("int64") << 4
            | h["mac_dst"].to_numpy().astype("int64") << 5
            | h["ttl"].to_numpy().astype("int64") << 6
            | h["encap"].to_numpy().astype("int64") << 7
            | h["decap"].to_numpy().astype("int64") << 8
            | (h["order"].to_numpy() == UNCERTAIN).astype("int64") << 9
        )
        flags[h["a"].to_numpy()] = bits
    row = combine(
        s["hop"].to_numpy(), s["point"].to_numpy(), flags, s["proto"].to_numpy(),
        s["src_hi"].to_numpy(), s["src_lo"].to_numpy(), s["dst_hi"].to_numpy(),
        s["dst_lo"].to_numpy(), s["sport"].to_numpy(), s["dport"].to_numpy(),
        s["ttl"].to_numpy(), s["encap"].to_numpy(), s["icmp_type"].to_numpy(),
        s["tcp_flags"].to_numpy(),
    )  # fmt: skip
    starts = a.journeys["first"].to_numpy()
    if len(starts) == 0:
        return np.zeros(0, dtype="uint64")
    order = np.argsort(starts)
    out = np.empty(len(starts), dtype="uint64")
    with np.errstate(over="ignore"):
        out[order] = mix(np.add.reduceat(row, starts[order]))
    return out


def path_line(a: Analysis, j: int) -> str:
    """``p1 -> p2 [DNAT a->b, src MAC ->m, TTL 64->63] -> p3``; ``~>`` marks a hop whose order
    only corrected time decided, by less than the clocks' errors."""
    jr = a.journeys.iloc[j]
    pairs = d.journey_rows(a.sightings, int(jr["first"]), int(jr["last"]))
    points = tuple(a.points["point"])
    parts = [points[int(pairs[0][1]["point"])]]
    hops = a.hops.loc[a.hops["journey"].to_numpy() == j]
    hop_a = set(hops["a"].to_numpy().tolist())
    copies = {1: [], 2: []}  # type: dict[int, list[str]]
    for _, r in pairs:
        kind = int(r.get("copy", 0))
        if kind:
            copies[kind].append(points[int(r["point"])])
    for (pos, x), (_, y) in itertools.pairwise(pairs):
        if pos not in hop_a:
            continue
        hop = d.hop_at(a.hops, pos)
        texts = [d.change_text(c) for c in d.changes(hop, x, y)]
        arrow = "~>" if int(hop["order"]) == UNCERTAIN else "->"
        parts.append((f" [{', '.join(texts)}] " if texts else " ") + arrow + " ")
        parts.append(points[int(y["point"])])
    if copies[1]:
        parts.append(f" (copy also seen at {', '.join(copies[1])})")
    if copies[2]:
        parts.append(f" (recorded twice at {', '.join(dict.fromkeys(copies[2]))})")
    return "".join(parts)


def _ns(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "?"
    n = int(v)  # type: ignore[call-overload]
    if abs(n) >= 1_000_000_000:
        return f"{n / 1e9:+.3f} s"
    if abs(n) >= 1_000_000:
        return f"{n / 1e6:+.3f} ms"
    return f"{n / 1e3:+.1f} µs"


def render(a: Analysis, console: Console) -> None:
    """Print the summary on ``console`` (the caller puts read damage on stderr as warnings)."""
    total = int(a.points["packets"].sum())
    console.print(
        f"[bold]netdiag analysis[/]: {total} packets at {len(a.points)} capture points, "
        f"{len(a.journeys)} journeys, {len(a.flows)} request/reply flows "
        f"(clocks relative to [bold]{a.reference_node}[/])"
    )
    for note in a.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    ref = a.reference_node
    pts = Table(
        title="Capture points",
        title_justify="left",
        caption=f"clock vs {ref}: the node's clock minus {ref}'s (timestamps are corrected by "
        "it); kernel drops: packets the capture buffer had no room for (tcpdump's count), in "
        "no file",
        caption_justify="left",
    )
    for col in ("point", "packets", "kernel drops", f"clock vs {ref}", "± error", "from"):
        pts.add_column(col, justify="right" if col in ("packets", "kernel drops") else "left")
    for p in d.records(a.points):
        err = (
            "?"
            if p["clock_error_ns"] is None or pd.isna(p["clock_error_ns"])
            else _ns(p["clock_error_ns"]).lstrip("+")
        )
        pts.add_row(
            p["point"],
            str(p["packets"]),
            str(p["kernel_dropped"]),
            _ns(p["clock_offset_ns"]),
            err,
            p["clock_source"],
        )
    console.print(pts)
    if len(a.translations):
        tr = Table(title="Translations (where NAT happened)", title_justify="left")
        for col in ("kind", "node", "proto", "before", "after", "packets"):
            tr.add_column(col, justify="right" if col == "packets" else "left")
        for t in d.records(a.translations):
            node = t["node"] or "between " + " and ".join(str(t["between"]).split("|"))
            tr.add_row(t["kind"], node, t["proto"], t["before"], t["after"], str(t["packets"]))
        console.print(tr)
    else:
        console.print("No address translation seen.")
    _flows(a, console)
    _paths(a, console)
    _traceroutes(a, console)
    _anomalies(a, console)


def _flows(a: Analysis, console: Console) -> None:
    if a.flows.empty:
        return
    keys = ["kind", "enter_point", "leave_point", "reverse_nat_point", "symmetric"]
    # Requests a client made; a server's data segments acked by the client are the same
    # connections seen the other way round and would only repeat them.
    client = a.flows.loc[a.flows["from_client"].to_numpy()]
    g = client.groupby(keys, dropna=False, observed=True).size().rename("n").reset_index()
    g = g.sort_values("n", ascending=False)
    console.print("[bold]Flows[/] (where requests entered and replies left):")
    for f in d.records(g):
        kind, enter, leave, unnat, sym, n = (f[k] for k in (*keys, "n"))
        extra = f", reply un-NATed at {unnat}" if isinstance(unnat, str) else ""
        shape = "symmetric" if sym else "[red]asymmetric[/]"
        console.print(f"  {n} {kind}: in at {enter}, reply out at {leave}{extra} ({shape})")


def _paths(a: Analysis, console: Console) -> None:
    if a.journeys.empty:
        return
    sig = path_signatures(a)
    df = pd.DataFrame({"sig": sig, "j": np.arange(len(sig))})
    groups = (
        df.groupby("sig", sort=False)["j"]
        .agg(["first", "size"])
        .sort_values("size", ascending=False)
    )
    console.print(f"[bold]Paths[/] ({len(groups)} distinct):")
    if (a.hops["order"].to_numpy() == UNCERTAIN).any() if len(a.hops) else False:
        console.print(
            "  [dim]~> : order decided by corrected time, closer than the clocks' errors[/]"
        )
    for g in d.records(groups.head(MAX_PATHS)):
        first, size = int(g["first"]), int(g["size"])
        jr = a.journeys.iloc[int(first)]
        summary = d.summary(a.sightings.iloc[int(jr["first"])])
        count = f"{size} packets" if size > 1 else "1 packet"
        line = f"  [dim]{count}[/] {escape(summary)}\n    {escape(path_line(a, int(first)))}"
        console.print(line, highlight=False, emoji=False)
    if len(groups) > MAX_PATHS:
        console.print(f"  ... {len(groups) - MAX_PATHS} more paths (see --json)")


def _traceroutes(a: Analysis, console: Console) -> None:
    """One line per traceroute: the hops that answered, in TTL order, and whether it arrived."""
    if a.traceroutes.empty:
        return
    console.print("[bold]Traceroutes[/] (ICMP answers to probes sent with a low TTL):")
    for (src, dst), g in a.traceroutes.groupby(["src", "dst"], sort=False):
        hops = g.sort_values(["ttl", "reached"]).drop_duplicates("ttl")
        reached = hops["reached"].to_numpy()
        if reached.any():  # probes sent past the destination answer like it: stop there
            hops = hops.iloc[: int(np.argmax(reached)) + 1]
        steps = ", ".join(f"{int(t)} {h}" for t, h in zip(hops["ttl"], hops["hop"], strict=True))
        end = " (reached)" if bool(reached.any()) else " (did not arrive)"
        console.print(f"  {escape(str(src))} -> {escape(str(dst))}: {steps}{end}", highlight=False)


def _anomalies(a: Analysis, console: Console) -> None:
    if a.anomalies.empty:
        console.print("[green]No anomalies.[/]")
        return
    counts = a.anomalies["kind"].value_counts()
    console.print("[bold red]Anomalies[/]: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    for r in d.records(a.anomalies.head(MAX_ANOMALIES)):
        where = f"j{r['journey'] + 1} " if r["journey"] >= 0 else ""
        console.print(f"  [red]{r['kind']}[/] {where}{escape(r['detail'])}", highlight=False)
    if len(a.anomalies) > MAX_ANOMALIES:
        console.print(f"  ... {len(a.anomalies) - MAX_ANOMALIES} more (see --json)")
