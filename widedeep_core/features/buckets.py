"""Value buckets, chosen so that side features generalise instead of memorising.

- ``age``: the seven ML-1M groups 1, 18, 25, 35, 45, 50, 56 (``<18``, ``18-24`` ...
  ``56+``). ML-1M stores the group codes, which map to themselves; ML-100K raw ages
  fall into their group.
- ``zip``: the first 3 characters (the US sectional-centre region), upper-cased;
  a missing zip is ``"?"``.
- ``year``: 5-year buckets (``1994 -> 1990``, ``1997 -> 1995``); a missing year is -1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from widedeep_core.constants import AGE_CODES

ZIP_PREFIX = 3
YEAR_BUCKET = 5


def bucket_age(age: Any) -> np.ndarray:
    """Raw ages or ML-1M age codes -> the ML-1M group code (codes map to themselves)."""
    a = pd.to_numeric(pd.Series(np.asarray(age).ravel()), errors="coerce").to_numpy(float)
    groups = np.asarray(AGE_CODES, dtype=np.int64)
    idx = np.clip(np.searchsorted(groups, np.nan_to_num(a, nan=-1.0), side="right") - 1, 0, None)
    return groups[idx]


def bucket_zip(z: Any) -> np.ndarray:
    """Zip codes -> their first ``ZIP_PREFIX`` characters, upper-cased ("?" when missing)."""
    s = pd.Series(np.asarray(z, dtype=object).ravel(), dtype=object)
    out = s.astype(str).str.strip().str[:ZIP_PREFIX].str.upper()
    out[s.isna() | (out == "")] = "?"
    return out.to_numpy(dtype=object)


def bucket_year(year: Any) -> np.ndarray:
    """Release years -> ``YEAR_BUCKET``-year buckets; missing -> -1."""
    y = pd.to_numeric(pd.Series(np.asarray(year).ravel()), errors="coerce").to_numpy(float)
    out = np.full(len(y), -1, dtype=np.int64)
    ok = np.isfinite(y)
    out[ok] = (np.floor(y[ok] / YEAR_BUCKET) * YEAR_BUCKET).astype(np.int64)
    return out


def as_str(values: Any) -> np.ndarray:
    s = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    out = s.astype(str).str.strip()
    out[s.isna()] = "?"
    return out.to_numpy(dtype=object)


def user_values(users: pd.DataFrame, name: str) -> np.ndarray:
    col = users[name].to_numpy()
    if name == "age":
        return bucket_age(col)
    if name == "zip":
        return bucket_zip(col)
    return as_str(col)


def genre_tuple(g: Any) -> tuple[str, ...]:
    if isinstance(g, str):
        return tuple(p for p in g.split("|") if p)
    if isinstance(g, (tuple, list, np.ndarray)):
        return tuple(str(p) for p in g)
    return ()


__all__ = [
    "YEAR_BUCKET",
    "ZIP_PREFIX",
    "as_str",
    "bucket_age",
    "bucket_year",
    "bucket_zip",
    "genre_tuple",
    "user_values",
]
