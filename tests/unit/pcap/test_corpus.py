"""The reader against tshark on every file of the shared corpus, field by field.

Real captures written by others (tcpdump's and libpcap's test files, the pcapng conformance
suite, truncated cuts of them); tshark runs once per file (in parallel, cached for the session).
A difference is allowed only where listed in EXCEPTIONS / NOT_READ with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from netdiag.errors import CaptureFormatError
from netdiag.pcap import read_capture
from netdiag.pcap.format import display_frame
from tests.unit.pcap.pcap_oracle import FIELDS, TSHARK_ARGS, Run, expected, normalise, run_tshark

CORPUS = Path(
    os.environ.get(
        "NETDIAG_CORPUS", Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
    )
).resolve()
FILES = (
    sorted(
        str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*") if p.suffix in (".pcap", ".pcapng")
    )
    if CORPUS.is_dir()
    else []
)

#: file -> (columns where netdiag and tshark differ, why netdiag is right or the file is odd)
EXCEPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "derived/trunc-mid-block.pcapng": (
        frozenset({"ts_ns"}),
        "interface 1 timestamps are in year 586524 (a corrupt if_tsresol/timestamp in the "
        "original); they do not fit int64 nanoseconds and are clipped to the int64 maximum",
    ),
    "tcpdump/timestamp_invalid_micro.pcap": (
        frozenset({"ts_ns"}),
        "usec field >= 1e6: tshark prints seconds and the raw fraction side by side "
        "('.1000000000'); netdiag adds the fraction, carrying into the seconds",
    ),
    "tcpdump/timestamp_invalid_nano.pcap": (
        frozenset({"ts_ns"}),
        "nsec field >= 1e9: same as timestamp_invalid_micro",
    ),
    "tcpdump/bigtcp-ipv4-geneve-ipv4.pcap": (
        frozenset({"src", "dst", "ttl", "ip_id", "proto", "ip_len", "df", "sport", "dport"}),
        "the outer UDP length of a BIG TCP super-packet is 0 and tshark stops at UDP; netdiag "
        "decodes the Geneve tunnel, so the main columns describe the inner TCP packet",
    ),
    "tcpdump/bigtcp-ipv6.pcap": (
        frozenset({"ip_len", "sport", "dport", "tcp_seq", "tcp_ack", "tcp_flags", "payload_len"}),
        "IPv6 payload length 0 without a jumbo option (Linux BIG TCP): tshark stops at IPv6 "
        "and reports 40; netdiag takes the length from the frame and decodes the TCP header",
    ),
    "tcpdump/ipv6_jumbogram_1.pcap": (
        frozenset({"ip_len"}),
        "RFC 2675 jumbogram: tshark prints the on-wire payload length 0 (ip_len 40); netdiag "
        "uses the Jumbo Payload option, as the schema says (40 + jumbo length)",
    ),
    "tcpdump/gre-heapoverflow-1.pcap": (
        frozenset({"ip_version"}),
        "fuzzed frame with IP version nibble 0 behind ethertype 0x0800: tshark prints "
        "ip.version 0, netdiag leaves ip_version absent for a header that is not IPv4",
    ),
}
#: files netdiag refuses with a one-line CaptureFormatError -> why
NOT_READ: dict[str, str] = {
    "derived/trunc-global-header.pcap": "cut inside the 24-byte pcap header (tshark: error)",
    "libpcap/linktype-reserved-field-not-zero.pcap": "reserved link-type bits set (tshark: error)",
    "libpcap/pcap-invalid-version-1.pcap": "pcap major version 1 (tshark: error)",
    "libpcap/pcapng-invalid-vers-1.pcapng": "pcapng version 0.1 (tshark: error)",
    "libpcap/pcapng-invalid-vers-2.pcapng": "pcapng version 1.1 (tshark: error)",
    "libpcap/shb-option-too-long.pcapng": "SHB option runs past the block (tshark: error)",
    "tcpdump/nflog.pcap": "NFLOG (239) is not a supported link type (tshark reads it)",
    "tcpdump/unsupported-link-type-160.pcap": "link type 160 is unsupported (tshark: 'data')",
    "tcpdump/vsock-1.pcapng": "VSOCK (271) is not a supported link type (tshark reads it)",
}
#: damaged files: the frame number and byte offset the warning must name
DAMAGED: dict[str, tuple[int, int]] = {
    "derived/trunc-mid-block.pcapng": (119, 19876),
    "derived/trunc-mid-packet.pcap": (10, 1050),
    "derived/trunc-mid-packet-nano.pcap": (3, 208),
    "derived/trunc-mid-record-header.pcap": (1, 24),
    "derived/trunc-sll2.pcap": (6, 608),
}


@pytest.fixture(scope="session")
def tshark_runs(request: pytest.FixtureRequest) -> dict[str, Run]:
    """tshark's view of every corpus file: run once per file, in parallel; kept in pytest's
    cache (keyed by file content, tshark version and fields) so later sessions skip it."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus directory {CORPUS} is absent (set NETDIAG_CORPUS)")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    cache = getattr(request.config, "cache", None)
    version = subprocess.run(
        ["tshark", "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]

    def key(name: str) -> str:
        digest = hashlib.sha256((CORPUS / name).read_bytes())
        digest.update(f"{version}|{FIELDS}|{TSHARK_ARGS}".encode())
        return f"netdiag/tshark/{digest.hexdigest()[:40]}"

    runs: dict[str, Run] = {}
    todo = []
    for name in FILES:
        hit = cache.get(key(name), None) if cache is not None else None
        if hit is None:
            todo.append(name)
        else:
            runs[name] = Run(hit["rows"], hit["returncode"], hit["stderr"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, run in zip(
            todo, pool.map(lambda f: run_tshark(str(CORPUS / f)), todo), strict=True
        ):
            runs[name] = run
            if cache is not None:
                cache.set(
                    key(name),
                    {"rows": run.rows, "returncode": run.returncode, "stderr": run.stderr},
                )
    return runs


def _ours(value: object) -> object:
    """None for every flavour of missing (None, pd.NA, NaN of a categorical)."""
    return None if value is None or value is pd.NA or pd.isna(value) else value


@pytest.mark.skipif(not FILES, reason="corpus directory absent (set NETDIAG_CORPUS)")
@pytest.mark.parametrize("name", FILES or ["none"])
def test_matches_tshark(name: str, tshark_runs: dict[str, Run]) -> None:
    path = str(CORPUS / name)
    run = tshark_runs[name]
    if name in NOT_READ:
        with pytest.raises(CaptureFormatError) as err:
            read_capture(path)
        assert path in str(err.value)
        assert "\n" not in str(err.value)
        return
    cap = read_capture(path)
    rows = display_frame(cap.table).to_dict("records")
    assert len(rows) == len(run.rows), f"{name}: {len(rows)} frames, tshark {len(run.rows)}"
    allowed = EXCEPTIONS.get(name, (frozenset(), ""))[0]
    mismatches = []
    for ours, row in zip(rows, run.rows, strict=True):
        for column, want in expected(row).items():
            got = _ours(ours[column])
            if column not in allowed and normalise(got) != normalise(want):
                mismatches.append(f"frame {ours['frame']} {column}: {got!r} != tshark {want!r}")
    assert not mismatches, "\n".join(mismatches[:20])
    if name in DAMAGED:
        frame, offset = DAMAGED[name]
        assert [(w.frame, w.offset) for w in cap.info.warnings] == [(frame, offset)]
    else:
        assert cap.info.warnings == []


def test_exception_table_is_current() -> None:
    """Every exception names a corpus file, so a stale entry cannot hide a regression."""
    if not FILES:
        pytest.skip("corpus directory absent")
    assert set(EXCEPTIONS) | set(NOT_READ) | set(DAMAGED) <= set(FILES)
