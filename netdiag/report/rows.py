"""The engine's rows as the analysis document writes them: sightings, changes, summaries.

Kept out of the engine so that large analyses never build strings for rows nobody reads; only
:mod:`netdiag.report.json` calls these, for the journeys it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pandas as pd

from netdiag.correlate.frame import ENCAP_NAMES
from netdiag.correlate.transforms import PROTO_NAMES
from netdiag.pcap.addr import ip_text, ip_with_port, mac_text

DIRECTION_NAMES = ("in", "out", "other", "host", "unknown")
#: ``sightings["copy"]`` codes in the JSON: on the path (null), a side copy, a duplicate.
COPY_NAMES = (None, "side", "duplicate")
TCP_FLAG_NAMES = ((0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"))
ICMP_NAMES = {
    (1, 8): "echo-request", (1, 0): "echo-reply", (58, 128): "echo-request",
    (58, 129): "echo-reply", (1, 3): "unreachable", (1, 11): "time-exceeded",
    (58, 1): "unreachable", (58, 2): "packet-too-big", (58, 3): "time-exceeded",
}  # fmt: skip


#: One sighting / hop: a pandas row or the same fields as a plain dict.
Row = pd.Series | Mapping[str, Any]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts (typed loosely on purpose: the frames' columns are known)."""
    return cast(list[dict[str, Any]], df.to_dict("records"))


def _int(v: Any) -> int | None:
    return None if int(v) < 0 else int(v)


def ip(r: Row, side: str) -> str:
    return ip_text(int(r[f"{side}_hi"]), int(r[f"{side}_lo"]), int(r["ip_version"]))


def endpoint(r: Row, side: str) -> str:
    port = _int(r["sport" if side == "src" else "dport"])
    return ip_with_port(ip(r, side), port)


def mac(v: Any) -> str | None:
    return None if int(v) < 0 else mac_text(int(v))


def tcp_flags(v: int) -> str:
    return "/".join(name for bit, name in TCP_FLAG_NAMES if v & bit) or "none"


def summary(r: Row) -> str:
    """``icmp echo-request 172.19.0.1 > 172.19.0.11`` / ``tcp SYN 1.2.3.4:5 > 6.7.8.9:80``."""
    proto = int(r["proto"])
    name = PROTO_NAMES.get(proto, f"ip-proto-{proto}")
    if proto in (1, 58):
        what = ICMP_NAMES.get((proto, int(r["icmp_type"])), f"type-{int(r['icmp_type'])}")
        seq = f" seq {int(r['icmp_seq'])}" if int(r["icmp_seq"]) >= 0 else ""
        return f"{name} {what} {ip(r, 'src')} > {ip(r, 'dst')}{seq}"
    detail = f" {tcp_flags(int(r['tcp_flags']))}" if proto == 6 else ""
    size = f" len {int(r['payload_len'])}" if int(r["payload_len"]) > 0 else ""
    return f"{name}{detail} {endpoint(r, 'src')} > {endpoint(r, 'dst')}{size}"


def tunnel(r: Row) -> dict[str, Any] | None:
    """The outer header of an encapsulated sighting, or None."""
    enc = int(r["encap"])
    if enc < 0:
        return None
    return {
        "kind": ENCAP_NAMES[enc],
        "vni": _int(r["vni"]),
        "outer_src": ip_text(int(r["outer_src_hi"]), int(r["outer_src_lo"])),
        "outer_dst": ip_text(int(r["outer_dst_hi"]), int(r["outer_dst_lo"])),
    }


def sighting(r: Row, points: tuple[str, ...]) -> dict[str, Any]:
    encap = tunnel(r)
    return {
        "point": points[int(r["point"])],
        "ts_ns": int(r["ts"]),
        "ts_corrected_ns": int(r["ts_corr"]),
        "direction": DIRECTION_NAMES[int(r["dir"])],
        "eth_src": mac(r["eth_src"]),
        "eth_dst": mac(r["eth_dst"]),
        "src": ip(r, "src"),
        "dst": ip(r, "dst"),
        "sport": _int(r["sport"]),
        "dport": _int(r["dport"]),
        "ip_id": _int(r["ip_id"]) if int(r["ip_version"]) == 4 else None,
        "ttl": _int(r["ttl"]),
        "encap": encap,
        "row": int(r["row"]),
        "copy": COPY_NAMES[int(r.get("copy", 0))],
    }


def changes(h: Row, a: Row, b: Row) -> list[dict[str, Any]]:
    """The ``changes`` of one hop in the document: what differs between sightings ``a`` and
    ``b``, as flagged in hop ``h``."""
    out: list[dict[str, Any]] = []
    dst_kind = {1: "dnat", 2: "un-snat"}.get(int(h["dst_kind"]))
    if dst_kind:
        out.append({"kind": dst_kind, "before": endpoint(a, "dst"), "after": endpoint(b, "dst")})
    src_kind = {1: "snat", 2: "un-dnat"}.get(int(h["src_kind"]))
    if src_kind:
        out.append({"kind": src_kind, "before": endpoint(a, "src"), "after": endpoint(b, "src")})
    for field, flag in (("eth_src", "mac_src"), ("eth_dst", "mac_dst")):
        if bool(h[flag]):
            out.append({"kind": "mac-rewrite", "field": field, "before": mac(a[field]),
                        "after": mac(b[field])})  # fmt: skip
    if bool(h["ttl"]):
        out.append({"kind": "ttl", "before": int(a["ttl"]), "after": int(b["ttl"])})
    for kind, r in (("encap", b), ("decap", a)):
        if bool(h[kind]):
            enc = tunnel(r)
            assert enc is not None
            out.append({"kind": kind, "encap": enc.pop("kind"), **enc})
    return out
