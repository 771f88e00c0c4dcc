"""What the fuzz suite feeds netdiag: real captures and documents, then mutations of them.

Seeds are real files (``seeds/``: small captures written by tcpdump's and a pcapng generator's
authors, see ``seeds/SOURCES.md``), captures of the lab's FIP scenario written by the test
builder (so ``analyze`` finds journeys, translations and flows to work on), the repository's
own inventories and probe plans, and an analysis document of that scenario. Mutations are what
damage and hostile files look like: bytes flipped, length and time fields set to extreme values,
files cut anywhere, parts duplicated or spliced from another file, runs of empty records.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEEDS = HERE / "seeds"

#: 32-bit values that are lengths, counts and times at their limits.
U32 = (0, 1, 3, 4, 11, 12, 16, 28, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
       0xFFFFFFFE, 0xFFFFFFFF)  # fmt: skip
#: 64-bit values: timestamps, if_tsoffset, counters.
U64 = (0, 1, (1 << 62), (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 2_000_000_000)
#: if_tsresol bytes: 10^-0, 10^-9, 10^-127, 2^-0, 2^-64, 2^-127
TSRESOL = (0x00, 0x09, 0x7F, 0x80, 0xC0, 0xFF)


def seed_captures() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SEEDS.iterdir()) if p.suffix in (".pcap", ".pcapng")]


@st.composite
def mutated(draw: st.DrawFn, pool: list[bytes], max_ops: int = 6) -> bytes:
    """One file of ``pool``, changed by up to ``max_ops`` mutations."""
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(0, max_ops))):
        if not data:
            break
        op = draw(
            st.sampled_from(("byte", "u32", "u64", "tsresol", "cut", "dup", "splice", "empty"))
        )
        pos = draw(st.integers(0, len(data) - 1))
        if op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "u32":
            pos -= pos % 4
            fmt = draw(st.sampled_from(("<I", ">I")))
            data[pos : pos + 4] = struct.pack(fmt, draw(st.sampled_from(U32)))
        elif op == "u64":
            pos -= pos % 4
            fmt = draw(st.sampled_from(("<Q", ">Q")))
            data[pos : pos + 8] = struct.pack(fmt, draw(st.sampled_from(U64)))
        elif op == "tsresol":  # the option code 9 of an IDB, wherever one is
            at = data.find(b"\x09\x00\x01\x00")
            if at >= 0:
                data[at + 4] = draw(st.sampled_from(TSRESOL))
        elif op == "cut":
            del data[pos:]
        elif op == "dup":
            end = draw(st.integers(pos, min(len(data), pos + 4096)))
            data[end:end] = data[pos:end]
        elif op == "splice":
            other = draw(st.sampled_from(pool))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            data[pos:pos] = other[start : start + draw(st.integers(0, 2048))]
        else:  # a run of empty 16-byte pcap records (ts 0, caplen 0, wirelen 0)
            data[pos:pos] = bytes(16 * draw(st.integers(1, 200)))
    return bytes(data)


#: Node names a file name (``NODE__IFACE.pcap``) or a ``POINT=`` may carry.
NODE_NAMES = st.one_of(
    st.sampled_from(["node1", "kube-ovn-worker", "client", "n", "a b", "x,y", 'q"', "é"]),
    st.just("\udcff\udcfe"),  # bytes that are not UTF-8, as Python carries them
    st.just("n" * 200),
    st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20),
)


@dataclass(frozen=True)
class CaptureInput:
    """One capture file to write and how to name it on the command line."""

    node: str
    iface: str
    suffix: str
    content: bytes
    point: str | None  # given as POINT=PATH when set

    def write(self, directory: Path, index: int) -> str:
        stem = f"{index}{self.node}__{self.iface}".encode("utf-8", "surrogateescape")[:240]
        name = stem.decode("utf-8", "surrogateescape") + self.suffix
        path = directory / name
        path.write_bytes(self.content)
        return f"{self.point}={path}" if self.point is not None else str(path)


def capture_inputs(pool: list[bytes]) -> st.SearchStrategy[CaptureInput]:
    return st.builds(
        CaptureInput,
        node=NODE_NAMES,
        iface=st.sampled_from(["eth0", "eth1", "dd2b931fc304_h", "vxlan0", ""]),
        suffix=st.sampled_from([".pcap", ".pcapng", ".cap"]),
        content=st.one_of(mutated(pool), st.sampled_from(pool)),
        point=st.one_of(st.none(), st.sampled_from(["node1/eth1", "n" * 300 + "/e", "x/"]),
                        NODE_NAMES),
    )  # fmt: skip


@st.composite
def mutated_text(draw: st.DrawFn, pool: list[str]) -> bytes:
    """A YAML or JSON document of ``pool``, changed line- and character-wise."""
    lines = draw(st.sampled_from(pool)).splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 5))):
        if not lines:
            break
        op = draw(st.sampled_from(("drop", "dup", "indent", "replace", "insert", "nest")))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines[i:i] = lines[i : i + draw(st.integers(1, 5))] * draw(st.integers(1, 50))
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip(" ")
        elif op == "replace":
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(HOSTILE_TEXT) + line[at + draw(st.integers(0, 8)) :]
        elif op == "insert":
            lines.insert(i, draw(HOSTILE_TEXT) + "\n")
        else:
            depth = draw(st.integers(1, 20_000))
            lines.insert(i, "x: " + "[" * depth + "]" * depth + "\n")
    text = "".join(lines).encode("utf-8", "surrogateescape")
    if draw(st.booleans()):
        return text
    pos = draw(st.integers(0, len(text)))
    return (
        text[:pos] + draw(st.sampled_from([b"\0", b"\xff\xfe", b"\x01", b"\r", b""])) + text[pos:]
    )


HOSTILE_TEXT = st.one_of(
    st.sampled_from(["&a [1]", "*a", "!!python/object:os.system", "{", "[", "'", '"', ": :",
                     "- - - -", "1e999", "-1", "99999999999999999999", "null", "~", "yes",
                     "<<: *a", "\t", "\\u0000", "\"\\ud800\"", "0x10", "NaN", "{}", "[]"]),
    st.text(max_size=12),
)  # fmt: skip


def repo_texts(*patterns: str) -> list[str]:
    return [p.read_text(encoding="utf-8") for pat in patterns for p in sorted(REPO.glob(pat))]
