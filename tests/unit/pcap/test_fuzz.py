"""Property tests: whatever the bytes, the reader returns a table or raises CaptureFormatError
(never another exception, never a crash), and the C walker agrees with its Python twin."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from netdiag.errors import CaptureFormatError
from netdiag.pcap import read_capture, walker
from netdiag.pcap._pywalk import span as py_span
from netdiag.pcap._pywalk import walk as py_walk
from tests.fuzz.profile import fuzz_settings
from tests.unit.pcap.pcap_builders import epb, idb, isb, pcap_bytes, shb, spb

pytestmark = pytest.mark.skipif(not walker.C_WALKER, reason="C walker not built")

FRAMES = [
    bytes(Ether() / Dot1Q(vlan=5) / IP() / TCP() / b"payload"),
    bytes(Ether() / IP() / UDP(dport=4789) / VXLAN(vni=3) / Ether() / IP() / ICMP()),
    bytes(Ether() / IPv6() / UDP(dport=6081) / GENEVE(proto=0x6558) / Ether() / IPv6() / TCP()),
    bytes(Ether() / IP() / GRE(key_present=1, key=9) / IP() / UDP() / b"x"),
    bytes(Ether() / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / UDP()),
    bytes(Ether() / ARP()),
    bytes(IP() / IP() / UDP()),
]
VALID = [
    pcap_bytes([(i, f) for i, f in enumerate(FRAMES)]),
    pcap_bytes([(i, f) for i, f in enumerate(FRAMES)], big_endian=True, nano=True),
    pcap_bytes([(i, f) for i, f in enumerate(FRAMES[-1:])], linktype=101),
    shb("<") + idb("<", 1, "eth0")
    + b"".join(epb("<", 0, i, f, comment="c") for i, f in enumerate(FRAMES))
    + isb("<", 0, 3) + spb("<", FRAMES[0]),
    shb(">") + idb(">", 1) + idb(">", 101) + epb(">", 1, 0, FRAMES[-1]) + epb(">", 0, 0, FRAMES[0]),
]  # fmt: skip
FUZZ = fuzz_settings(short=150, long=5000)


def _read(content: bytes) -> None:
    """Read ``content`` in small and large chunks: the same table, the same first damage."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.pcap"
        path.write_bytes(content)
        results = []
        for chunk in (1 << 20, 4096):
            try:
                cap = read_capture(path, chunk_bytes=chunk)
            except CaptureFormatError as exc:
                message = str(exc)
                if "\n" in message:
                    pytest.fail(f"multi-line error: {message!r}")
                results.append(message)
                continue
            assert len(cap.table) == cap.info.packets
            assert list(cap.table["frame"]) == list(range(1, len(cap.table) + 1))
            first = cap.info.warnings[:1]
            results.append((len(cap.table), [(w.frame, w.offset) for w in first]))
        assert results[0] == results[1]


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _read(data)


@FUZZ
@given(st.sampled_from([VALID[0][:24], VALID[3][:28], VALID[4][:28]]), st.binary(max_size=2048))
def test_random_bytes_after_a_valid_header(header: bytes, data: bytes) -> None:
    _read(header + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(content) - 1))
        content[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(content)))
    return bytes(content[: cut if draw(st.booleans()) else len(content)])


@FUZZ
@given(mutated())
def test_mutated_valid_files(data: bytes) -> None:
    _read(data)


@FUZZ
@given(
    st.one_of(st.binary(max_size=4096), mutated()),
    st.integers(0, 64),
    st.sampled_from([0, 1]),
    st.booleans(),
    st.integers(0, 50),
)
def test_c_walker_matches_python_walker(
    data: bytes, start: int, fmt: int, big_endian: bool, max_records: int
) -> None:
    start = min(start, len(data))
    c = walker.walk(data, start, fmt, big_endian, max_records=max_records)
    py = walker.walk(data, start, fmt, big_endian, max_records=max_records, fn=py_walk)
    assert (c.stop_offset, c.stop, c.detail) == (py.stop_offset, py.stop, py.detail)
    assert c.records.tobytes() == py.records.tobytes()


@FUZZ
@given(
    data=st.one_of(st.binary(max_size=4096), mutated()),
    start=st.integers(0, 64),
    big_endian=st.booleans(),
    lo=st.integers(-(2**40), 2**40),
    width=st.integers(0, 2**34),
    nano=st.booleans(),
)
def test_c_span_matches_python_span_and_the_walk(
    *, data: bytes, start: int, big_endian: bool, lo: int, width: int, nano: bool
) -> None:
    start = min(start, len(data))
    units = 10**9 if nano else 10**6
    lo = lo * 1000 + 10**18 if lo % 3 else 0  # around stamps of today, or everything
    hi = lo + width * 10**6 if lo else 2**62
    c = walker.span(data, start, big_endian, lo_ns=lo, hi_ns=hi, units=units)
    assert c == walker.span(data, start, big_endian, lo_ns=lo, hi_ns=hi, units=units, fn=py_span)
    walked = walker.walk(data, start, 0, big_endian, max_records=1 << 30)
    assert (c.stop_offset, c.stop, c.detail) == (
        walked.stop_offset, walked.stop, walked.detail)  # fmt: skip
    raw = walked.records["ts"]
    times = (raw >> 32).astype(object) * 10**9 + (raw & 0xFFFFFFFF).astype(object) * (
        10**9 // units
    )
    inside = [t for t in times if lo <= t <= hi]
    assert (c.records, c.inside) == (len(raw), len(inside))
    assert (c.first_ns, c.last_ns) == ((min(inside), max(inside)) if inside else (0, 0))


def _walk_all(content: bytes, fn: walker.WalkFn) -> tuple[bytes, int, int]:
    """Walk a whole file, stepping over the blocks the walker leaves to Python."""
    pcapng = content[:4] == b"\n\r\r\n"
    be = (
        content[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
        or content[8:12] == b"\x1a\x2b\x3c\x4d"
    )
    pos, out = (len(shb("<")) if pcapng else 24), b""
    while True:
        res = walker.walk(content, pos, int(pcapng), be, fn=fn)
        out += res.records.tobytes()
        if res.stop != walker.STOP_BLOCK:
            return out, res.stop_offset, res.stop
        pos = res.stop_offset + int.from_bytes(
            content[res.stop_offset + 4 : res.stop_offset + 8], "big" if be else "little"
        )


def test_walkers_agree_on_valid_files() -> None:
    for content in VALID:
        c = _walk_all(content, walker.walk_function())
        py = _walk_all(content, py_walk)
        assert c == py
        assert c[2] == walker.STOP_END
        assert len(c[0]) // walker.RECORD_DTYPE.itemsize >= len(FRAMES[-1:])
