"""Fast capture reader: pcap / pcapng files -> the columnar packet table (schema.COLUMNS).

The record walk is a small C extension (``_walk.c``); all decoding is vectorized numpy over
fixed byte windows (see decode.py). Entry points:

- :func:`read_capture` / :func:`iter_capture` / :func:`read_captures`: the packet table;
- :func:`parse_point_spec`, :func:`load_ifmap`: naming capture points, SLL2 interface names;
- :func:`walk_frames`: where each raw frame is, without decoding (export, detail views);
- :func:`netdiag.pcap.format.display_frame`: the text form for csv / json / terminals.

Conventions worth knowing (details in the module named):
- tunnels (VXLAN 4789/8472, Geneve 6081, GRE incl. TEB/ERSPAN/GRE-in-UDP, IP-in-IP): the main
  columns describe the innermost packet, ``encap``/``vni``/``outer_*`` the outermost IP header;
  ``eth_src``/``eth_dst``/``vlan`` stay the outer frame's, what the interface saw (link.py);
- ``payload_hash``: see l4.py for which bytes and the exact function;
- IPv4 total length 0 / IPv6 payload length 0 (TSO, BIG TCP): the length comes from the frame's
  wire length (network.py);
- ``frame`` counts packets from 1 like tshark, except that tshark also counts pcapng custom
  blocks; a pcapng simple packet block has no timestamp (``ts_ns`` 0);
- damage (a cut or impossible record) ends the read with a ``ReadWarning``, frames before it
  kept; a file that is not a capture or has an unsupported link type raises
  CaptureFormatError.
"""

from __future__ import annotations

from netdiag.pcap.frames import FrameIndex, walk_frames
from netdiag.pcap.info import CaptureInfo, Interface, ReadWarning
from netdiag.pcap.points import (
    PointSpec,
    check_ifmap_nodes,
    device_name,
    ifmap_from_links,
    load_ifmap,
    parse_point_spec,
)
from netdiag.pcap.reader import Capture, concat_tables, iter_capture, read_capture, read_captures

__all__ = [
    "Capture",
    "CaptureInfo",
    "FrameIndex",
    "Interface",
    "PointSpec",
    "ReadWarning",
    "check_ifmap_nodes",
    "concat_tables",
    "device_name",
    "ifmap_from_links",
    "iter_capture",
    "load_ifmap",
    "parse_point_spec",
    "read_capture",
    "read_captures",
    "walk_frames",
]
