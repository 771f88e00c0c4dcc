"""The display/export form of the packet table: DISPLAY_COLUMNS, addresses as text.

MACs become lowercase colon-hex, IP addresses their standard text form (``src``/``dst`` per
``ip_version``; ``outer_*`` and ARP addresses print IPv4-mapped values as IPv4); absent values
stay missing (empty csv cell, JSON null). Numbers stay numbers. Each distinct address is
formatted once (``pd.factorize``: codes + distinct values), so a million rows cost a few thousand
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


def _codes(values: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint64]]:
    """(code per row, distinct values): hash-based, O(n), unlike a sort."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes, np.asarray(uniques, dtype=np.uint64)


def macs(col: pd.Series) -> ObjArray:
    """UInt64 MACs -> 'aa:bb:cc:dd:ee:ff' (None where absent)."""
    values, ok = _present(col)
    out = np.full(len(col), None, dtype=object)
    if ok.any():
        codes, uniq = _codes(values[ok])
        out[ok] = np.array([mac_text(int(u)) for u in uniq.tolist()], dtype=object)[codes]
    return out


def ipv4s(col: pd.Series) -> ObjArray:
    """UInt32 IPv4 addresses (ARP) -> dotted quad."""
    values, ok = _present(col)
    out = np.full(len(col), None, dtype=object)
    if ok.any():
        codes, uniq = _codes(values[ok])
        texts = [str(ipaddress.IPv4Address(int(u) & 0xFFFFFFFF)) for u in uniq.tolist()]
        out[ok] = np.array(texts, dtype=object)[codes]
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
        # distinct (v6, hi, lo) triples: factorize each part, then the combined code
        code_hi, uniq_hi = _codes(h[ok])
        code_lo, uniq_lo = _codes(low[ok])
        combined = (code_hi.astype(np.int64) * len(uniq_lo) + code_lo) * 2 + v6[ok]
        codes, uniq = pd.factorize(combined, sort=False)
        uniq = np.asarray(uniq, dtype=np.int64)
        pair, is6 = np.divmod(uniq, 2)
        his, los = np.divmod(pair, len(uniq_lo))
        texts = [
            ip_text(int(uniq_hi[a]), int(uniq_lo[b]), 6 if c else None)
            for a, b, c in zip(his.tolist(), los.tolist(), is6.tolist(), strict=True)
        ]
        out[ok] = np.array(texts, dtype=object)[codes]
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
        elif name in ("src", "dst", "quoted_src", "quoted_dst"):  # ICMPv6 quotes IPv6
            out[name] = ips(t[name + "_hi"], t[name + "_lo"], t["ip_version"])
        elif name in ("outer_src", "outer_dst"):
            out[name] = ips(t[name + "_hi"], t[name + "_lo"])
        else:
            out[name] = t[name].to_numpy() if name in ("frame", "ts_ns") else t[name].array
    return pd.DataFrame(out, index=table.index)
