"""Fast capture reader: pcap / pcapng files -> the columnar packet table (schema.COLUMNS).

The record walk is a small C extension (``_walk.c``); all decoding is vectorized numpy over
fixed byte windows (see decode.py). Entry points:

- :func:`read_capture` / :func:`iter_capture` / :func:`read_captures`: the packet table;
- :func:`parse_point_spec`, :func:`load_ifmap`: naming capture points, SLL2 interface names;
- :func:`walk_frames`, :func:`read_frame`: raw frames without decoding (export, detail views);
- :func:`netdiag.pcap.format.display_frame`: the text form for csv / json / terminals.
"""

from __future__ import annotations

from netdiag.pcap.frames import FrameIndex, RawFrame, read_frame, walk_frames
from netdiag.pcap.info import CaptureInfo, Interface, ReadWarning
from netdiag.pcap.points import PointSpec, load_ifmap, parse_point_spec
from netdiag.pcap.reader import Capture, concat_tables, iter_capture, read_capture, read_captures

__all__ = [
    "Capture",
    "CaptureInfo",
    "FrameIndex",
    "Interface",
    "PointSpec",
    "RawFrame",
    "ReadWarning",
    "concat_tables",
    "iter_capture",
    "load_ifmap",
    "parse_point_spec",
    "read_capture",
    "read_captures",
    "read_frame",
    "walk_frames",
]
