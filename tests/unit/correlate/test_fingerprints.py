"""Fingerprints: equal through NAT, TTL and MAC rewrites; different when the packet differs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netdiag.correlate.fingerprint import fingerprint
from netdiag.correlate.frame import point_names, work_frame
from tests.support.tables import make_table

BASE: dict[str, Any] = {
    "point": "n/a", "node": "n", "iface": "a", "ts_ns": 1, "ip_version": 4, "src_hi": 0,
    "src_lo": 0xFFFF_0A00_0001, "dst_hi": 0, "dst_lo": 0xFFFF_0A00_0002, "ip_id": 1234,
    "ttl": 64, "proto": 6, "ip_len": 60, "frag_offset": 0, "mf": False, "sport": 40000,
    "dport": 80, "tcp_seq": 10, "tcp_ack": 20, "tcp_flags": 0x18, "payload_len": 20,
    "payload_hash": 99, "payload_hashed": 20, "eth_src": 1, "icmp_id": None,
}  # fmt: skip


def keys(*changes: dict[str, Any]) -> np.ndarray:
    table = make_table([{**BASE, **c} for c in changes])
    w = work_frame(table, point_names(table))
    return fingerprint(w, use_payload=True)


def test_nat_ttl_mac_and_ports_do_not_change_the_key() -> None:
    k = keys({}, {"dst_lo": 0xFFFF_C0A8_0006, "dport": 8080, "ttl": 63, "eth_src": 7},
             {"src_lo": 0xFFFF_AC13_000B, "sport": 1, "point": "m/b", "node": "m"})  # fmt: skip
    assert len(set(k.tolist())) == 1


def test_invariant_fields_change_the_key() -> None:
    k = keys({}, {"ip_id": 1235}, {"tcp_seq": 11}, {"payload_hash": 100}, {"ip_len": 61},
             {"tcp_flags": 0x10}, {"tcp_ack": 21})  # fmt: skip
    assert len(set(k.tolist())) == 7


def test_icmp_echo_id_is_ignored_but_seq_is_not() -> None:
    icmp = {"proto": 1, "sport": None, "dport": None, "tcp_seq": None, "tcp_ack": None,
            "tcp_flags": None, "icmp_type": 8, "icmp_code": 0}  # fmt: skip
    k = keys({**icmp, "icmp_id": 1, "icmp_seq": 5}, {**icmp, "icmp_id": 900, "icmp_seq": 5},
             {**icmp, "icmp_id": 1, "icmp_seq": 6})  # fmt: skip
    assert k[0] == k[1] != k[2]


def test_icmp_error_payload_is_not_hashed() -> None:
    err = {"proto": 1, "sport": None, "dport": None, "tcp_seq": None, "tcp_ack": None,
           "tcp_flags": None, "icmp_type": 3, "icmp_code": 3}  # fmt: skip
    k = keys({**err, "payload_hash": 1}, {**err, "payload_hash": 2})
    assert k[0] == k[1]


def test_table_helper_keeps_schema_dtypes() -> None:
    table = make_table([BASE])
    assert str(table["ip_id"].dtype) == "UInt32"
    assert isinstance(table["point"].dtype, pd.CategoricalDtype)


def test_key_table_finds_hashes_of_either_sign() -> None:
    """Keys are 64-bit hashes: half of them have the top bit set."""
    from netdiag.correlate.fingerprint import KeyTable, combine

    keys = combine(np.arange(1000, dtype="uint64"))
    assert (keys >= np.uint64(1 << 63)).any()
    assert (keys < np.uint64(1 << 63)).any()
    table = KeyTable(keys, np.arange(1000))
    assert table.get(keys).tolist() == list(range(1000))
    assert table.get(combine(np.arange(1000, 1100, dtype="uint64"))).tolist() == [-1] * 100


def test_repeated_within_small_and_large_groups() -> None:
    from netdiag.correlate.fingerprint import repeated_within

    group = np.array([0, 0, 0, 1, 1] + [2] * 20)
    value = np.array([5, 6, 5, 5, 7, *range(19), 3])
    got = repeated_within(group, value)
    assert got[:5].tolist() == [True, False, True, False, False]
    assert np.flatnonzero(got[5:]).tolist() == [3, 19]  # in the large group: 3 twice
