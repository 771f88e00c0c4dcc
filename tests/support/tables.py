"""Rows (dicts of column -> value) to a packet table with the exact schema dtypes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from netdiag.pcap.schema import COLUMNS, DIRECTIONS, ENCAPS


def make_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with every schema column, in order, with the schema's dtypes."""
    rows = list(rows)
    data: dict[str, pd.Series] = {}
    for name, dtype, _ in COLUMNS:
        values = [r.get(name) for r in rows]
        if dtype == "category":
            cats: list[str]
            if name == "direction":
                cats = list(DIRECTIONS)
            elif name == "encap":
                cats = list(ENCAPS)
            else:
                cats = list(dict.fromkeys(v for v in values if v is not None))
            data[name] = pd.Series(pd.Categorical(values, categories=cats))
        elif dtype == "int64":
            data[name] = pd.Series([0 if v is None else v for v in values], dtype="int64")
        else:
            data[name] = pd.Series(pd.array(values, dtype=dtype))
    return pd.DataFrame(data)
