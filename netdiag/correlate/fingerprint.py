"""One 64-bit key per IP sighting from the fields that survive NAT and encapsulation.

Kept: IP version, protocol, IPv4 ID, total length, fragment offset + MF, TCP seq/ack/flags,
ICMP type/code/seq, L4 payload length and payload hash. Left out on purpose: addresses, ports
and the ICMP echo id (NAT rewrites them), TTL (routing decrements it), the L4 checksum (wrong
on the sending host with checksum offload: the NIC fills it in after tcpdump saw the packet),
and the payload of ICMP errors (it quotes the offending header, which conntrack un-NATs along
with the packet).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)

_U = np.uint64
_M4, _M9, _M10, _M17, _M32 = (_U((1 << n) - 1) for n in (4, 9, 10, 17, 32))
_PACKED = (
    "ip_version", "proto", "ip_id", "frag_offset", "mf", "icmp_type", "ip_len", "payload_len",
    "tcp_flags", "icmp_seq", "icmp_code", "tcp_seq", "tcp_ack",
)  # fmt: skip

#: ICMP (v4) and ICMPv6 types whose payload quotes another packet.
ICMP4_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (wrapping arithmetic, no warnings)."""
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return np.asarray(x ^ (x >> _S31), dtype="uint64")


def combine(*columns: np.ndarray, seed: int = 0) -> np.ndarray:
    """Order-sensitive 64-bit hash of several integer columns, row by row."""
    n = len(columns[0]) if columns else 0
    h = np.full(n, np.uint64(seed) ^ _GOLDEN, dtype="uint64")
    with np.errstate(over="ignore"):
        for col in columns:
            h = mix(h ^ (col.astype("uint64", copy=False) + _GOLDEN))
    return h


def is_icmp_error(
    w: pd.DataFrame | None, *, proto: np.ndarray | None = None, itype: np.ndarray | None = None
) -> np.ndarray:
    """Rows that are ICMP / ICMPv6 errors (their payload quotes the offending packet)."""
    t = w["icmp_type"].to_numpy() if w is not None else itype
    proto = w["proto"].to_numpy() if w is not None else proto
    assert t is not None
    assert proto is not None
    v4 = (proto == 1) & np.isin(t, ICMP4_ERRORS)
    v6 = (proto == 58) & np.isin(t, ICMP6_ERRORS)
    return np.asarray(v4 | v6)


def payload_cut(w: pd.DataFrame) -> np.ndarray:
    """Rows whose payload hash covers fewer bytes than a full capture would (snaplen cut)."""
    plen = w["payload_len"].to_numpy()
    hashed = w["payload_hashed"].to_numpy()
    return np.asarray((plen > 0) & (hashed >= 0) & (hashed < np.minimum(plen, 64)))


def fingerprint(w: pd.DataFrame, *, use_payload: bool) -> np.ndarray:
    """The key column; ``use_payload=False`` is the weaker key used when snaplen cut payloads."""
    payload = w["payload_hash"].to_numpy()
    if not use_payload:
        payload = np.zeros(len(w), dtype="uint64")
    else:
        payload = np.where(is_icmp_error(w), np.uint64(0), payload)
    u = {c: w[c].to_numpy().astype("uint64") for c in _PACKED}
    with np.errstate(over="ignore"):
        # Small fields packed into two words (bit widths leave room for the -1 "absent" value
        # masked to its width), then four mixing rounds instead of fourteen.
        a = (
            (u["ip_version"] & _M4)
            | (u["proto"] & _M9) << _U(4)
            | (u["ip_id"] & _M17) << _U(13)
            | (u["frag_offset"] & _M17) << _U(30)
            | (u["mf"] & _U(1)) << _U(47)
            | (u["icmp_type"] & _M9) << _U(48)
        )
        b = (
            (u["ip_len"] & _M17)
            | (u["payload_len"] & _M17) << _U(17)
            | (u["tcp_flags"] & _M10) << _U(34)
            | (u["icmp_seq"] & _M17) << _U(44)
            | (u["icmp_code"] & _U(7)) << _U(61)
        )
        seq_ack = (u["tcp_seq"] & _M32) << _U(32) | (u["tcp_ack"] & _M32)
    return combine(a, b, seq_ack, payload)


def base_confidence(w: pd.DataFrame, *, use_payload: bool) -> np.ndarray:
    """How unique a key is expected to be, per row, before looking for collisions.

    1.0 for an IPv4 ID with a payload or TCP sequence numbers behind it; lower when the ID is
    absent or 0 (IPv6, Linux's DF SYN-ACKs) and nothing else varies, or when payload hashes had
    to be dropped because a capture point cut them.
    """
    conf = np.ones(len(w), dtype="float64")
    no_id = (w["ip_version"].to_numpy() == 6) | (w["ip_id"].to_numpy() <= 0)
    no_payload = w["payload_len"].to_numpy() <= 0
    not_tcp = w["proto"].to_numpy() != 6
    conf[no_id & no_payload & not_tcp] = 0.5
    conf[no_id & ~(no_payload & not_tcp)] = 0.8
    if not use_payload:
        conf *= 0.8
    return conf


class KeyTable:
    """A read-only int64 key -> int64 value table looked up a whole array at a time (sorted
    keys and ``searchsorted``: no Python loop, no hashing of pandas indexes)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        signed = np.asarray(keys).astype("int64", copy=False)  # hashes are uint64: sort as int64
        order = np.argsort(signed, kind="stable")
        self.keys = signed[order]
        self.values = np.asarray(values).astype("int64", copy=False)[order]

    @classmethod
    def of(cls, mapping: dict[int, int]) -> KeyTable:
        keys = np.fromiter(mapping.keys(), dtype="int64", count=len(mapping))
        return cls(keys, np.fromiter(mapping.values(), dtype="int64", count=len(mapping)))

    def get(self, query: np.ndarray, default: int = -1) -> np.ndarray:
        """Value per query key, ``default`` where absent."""
        query = np.asarray(query).astype("int64", copy=False)
        if not len(self.keys) or not len(query):
            return np.full(len(query), default, dtype="int64")
        pos = np.clip(np.searchsorted(self.keys, query), 0, len(self.keys) - 1)
        return np.where(self.keys[pos] == query, self.values[pos], default)


def count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys, how often each occurs), keys as int64."""
    uniq, counts = np.unique(np.asarray(keys).astype("int64", copy=False), return_counts=True)
    return uniq, counts


#: Groups up to this size are searched for repeats by shifted comparison; larger ones hashed.
_SHIFT_LIMIT = 8


def repeated_within(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Per row: does its ``value`` occur on another row of its ``group``? Rows of one group must
    be contiguous. Most groups are a few rows (one packet's sightings): comparing each row with
    the few before it is a handful of vector passes; larger groups are hashed."""
    n = len(value)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    size = np.diff(np.r_[starts, n])
    big = np.repeat(size > _SHIFT_LIMIT, size)
    small_max = int(size[size <= _SHIFT_LIMIT].max()) if (size <= _SHIFT_LIMIT).any() else 0
    for d in range(1, small_max):
        same = (group[d:] == group[:-d]) & (value[d:] == value[:-d]) & ~big[d:]
        out[d:] |= same
        out[:-d] |= same
    rows = np.flatnonzero(big)
    if len(rows):
        keyed = pd.DataFrame({"g": group[rows], "v": value[rows]})
        out[rows] = keyed.duplicated(keep=False).to_numpy()
    return out
