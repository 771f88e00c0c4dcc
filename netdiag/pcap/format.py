"""The display/export form of the packet table: DISPLAY_COLUMNS, addresses as text.

MACs become lowercase colon-hex, IP addresses their standard text form (``src``/``dst`` per
``ip_version``; ``outer_*`` and ARP addresses print IPv4-mapped values as IPv4); absent values
stay missing (empty csv cell, JSON null). Numbers stay numbers. Each distinct address is
formatted once (``np.unique`` + inverse index), so a million rows cost a few thousand
formatting calls, not a million.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import numpy.typing as npt
import pandas as pd

from netdiag.pcap.addr import ip_text, mac_text
from netdiag.pcap.schema import DISPLAY_COLUMNS

ObjArray = npt.NDArray[np.object_]


def _present(col: pd.Series) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    mask = col.isna().to_numpy()
    values = col.to_numpy(dtype=np.uint64, na_value=0)
    return values, ~mask


def macs(col: pd.Series) -> ObjArray:
    """UInt64 MACs -> 'aa:bb:cc:dd:ee:ff' (None where absent)."""
    values, ok = _present(col)
    out = np.full(len(col), None, dtype=object)
    if ok.any():
        uniq, inv = np.unique(values[ok], return_inverse=True)
        out[ok] = np.array([mac_text(int(u)) for u in uniq.tolist()], dtype=object)[inv]
    return out


def ipv4s(col: pd.Series) -> ObjArray:
    """UInt32 IPv4 addresses (ARP) -> dotted quad."""
    values, ok = _present(col)
    out = np.full(len(col), None, dtype=object)
    if ok.any():
        uniq, inv = np.unique(values[ok], return_inverse=True)
        texts = [str(ipaddress.IPv4Address(int(u) & 0xFFFFFFFF)) for u in uniq.tolist()]
        out[ok] = np.array(texts, dtype=object)[inv]
    return out


def ips(hi: pd.Series, lo: pd.Series, version: pd.Series | None = None) -> ObjArray:
    """(hi, lo) address pairs -> text; ``version`` 6 keeps IPv4-mapped addresses as IPv6."""
    h, ok = _present(hi)
    low, ok_lo = _present(lo)
    ok &= ok_lo
    v6 = np.zeros(len(hi), dtype=np.bool_)
    if version is not None:
        v, has_v = _present(version)
        v6 = has_v & (v == 6)
    out = np.full(len(hi), None, dtype=object)
    if ok.any():
        key = np.empty(int(ok.sum()), dtype=[("v6", "u1"), ("hi", "<u8"), ("lo", "<u8")])
        key["v6"], key["hi"], key["lo"] = v6[ok], h[ok], low[ok]
        uniq, inv = np.unique(key, return_inverse=True)
        texts = [ip_text(int(u["hi"]), int(u["lo"]), 6 if u["v6"] else None) for u in uniq]
        out[ok] = np.array(texts, dtype=object)[inv]
    return out


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The table with exactly DISPLAY_COLUMNS, addresses as text, absent values missing."""
    t = table
    out: dict[str, object] = {}
    for name in DISPLAY_COLUMNS:
        if name in ("eth_src", "eth_dst", "arp_sha", "arp_tha"):
            out[name] = macs(t[name])
        elif name in ("arp_spa", "arp_tpa"):
            out[name] = ipv4s(t[name])
        elif name in ("src", "dst"):
            out[name] = ips(t[name + "_hi"], t[name + "_lo"], t["ip_version"])
        elif name in ("outer_src", "outer_dst"):
            out[name] = ips(t[name + "_hi"], t[name + "_lo"])
        else:
            out[name] = t[name].to_numpy() if name in ("frame", "ts_ns") else t[name].array
    return pd.DataFrame(out, index=table.index)
