"""Binary labels and train/validation/test splits of the ratings.

Three protocols:

- ``random``: a seeded permutation of the rows cut 80/10/10 (the reference protocol:
  ``int(n * f_train)`` rows to train, ``int(n * f_val)`` to validation, the rest to test).
- ``temporal``: per user, ratings sorted by timestamp; the latest ones go to test, the
  ones just before to validation. Per user ``round(n_u * f)`` ratings (half up) go to
  test and to validation, always leaving at least one rating in train.
- ``leave-last-out``: per user the last rating goes to test and the second to last to
  validation; users with fewer than 3 ratings keep all their ratings in train.
- ``user-random``: the rows in a seeded random order, then each user's rows cut by the
  fractions with RecBole's rounding (``RS`` with ``group_by: user``): validation and
  test get ``floor(f * n_u)`` rows, train the rest, and a part whose share is under one
  row gets one while train keeps more than one.
- ``random-rs``: ``random`` with RecBole's rounding of its ratio split (``RS``,
  ``group_by`` none): validation and test ``floor(f * n)`` rows, train the rest.

Timestamp ties are broken by row order, so every split is deterministic. Indices are
``int64`` positions into ``data.ratings`` (sorted), never pandas labels.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from widedeep_core.constants import POSITIVE_RULES, SPLIT_KINDS
from widedeep_core.errors import ConfigError

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class SplitRecord:
    """What is needed to reproduce (and check) a split: kind, fractions, seed, hash."""

    kind: str
    fractions: tuple[float, float, float]
    seed: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "kind": self.kind,
            "fractions": [float(f) for f in self.fractions],
            "seed": int(self.seed),
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitRecord:
        """Inverse of ``to_dict``."""
        try:
            fr = tuple(float(f) for f in d["fractions"])
            return cls(str(d["kind"]), fr, int(d["seed"]), str(d["hash"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError("split", f"unreadable split record {d!r}: {exc}") from exc


@dataclass(frozen=True)
class Split:
    """Row indices (sorted int64 positions into ``ratings``) of train, validation and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    record: SplitRecord = field(compare=False)

    def sizes(self) -> tuple[int, int, int]:
        """Number of rows in train, validation and test."""
        return len(self.train), len(self.val), len(self.test)


def split_hash(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> str:
    """sha256 over the three index arrays (int64 little-endian, lengths included)."""
    h = hashlib.sha256()
    for part in (train, val, test):
        arr = np.ascontiguousarray(part, dtype="<i8")
        h.update(len(arr).to_bytes(8, "little"))
        h.update(arr.tobytes())
    return h.hexdigest()


def _rating_values(ratings: pd.DataFrame | pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(ratings, pd.DataFrame):
        if "rating" not in ratings.columns:
            raise ConfigError("threshold", "the ratings table has no 'rating' column")
        ratings = ratings["rating"]
    return np.asarray(ratings, dtype=np.float64)


def binary_labels(
    ratings: pd.DataFrame | pd.Series | np.ndarray,
    threshold: float = 3.0,
    drop_neutral: bool = False,
    rule: str = ">",
) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``rating > threshold`` (``rule`` ">=": at least it; float32) and the kept
    row positions (int64).

    With ``drop_neutral`` the rows rated exactly ``threshold`` are left out.
    """
    threshold = float(threshold)
    assert math.isfinite(threshold), threshold  # Config validates the range
    assert rule in POSITIVE_RULES, rule
    r = _rating_values(ratings)
    if drop_neutral:
        keep = np.flatnonzero(r != threshold).astype(np.int64)
        r = r[keep]
    else:
        keep = np.arange(len(r), dtype=np.int64)
    positive = r >= threshold if rule == ">=" else r > threshold
    return positive.astype(np.float32), keep


def _check_fractions(fractions: Any) -> tuple[float, float, float]:
    # Config validates split_fractions (config.validation); this is a cheap guard only
    fr = tuple(float(f) for f in fractions)
    assert len(fr) == 3 and fr[0] > 0 and all(0.0 <= f <= 1.0 for f in fr), fr
    assert abs(sum(fr) - 1.0) <= 1e-6, fr
    return fr


def _check_rows(rows: Any, n: int) -> np.ndarray:
    if rows is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(rows)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ConfigError("split", "rows must be a 1-d array of integer row positions")
    arr = arr.astype(np.int64)
    if arr.size > 1 and not np.all(arr[1:] > arr[:-1]):  # skip the sort when already unique
        arr = np.unique(arr)
    if arr.size and (arr[0] < 0 or arr[-1] >= n):
        raise ConfigError("split", f"rows must lie in [0, {n}); got {arr[0]}..{arr[-1]}")
    return arr


def _random(rows: np.ndarray, fr: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    n = len(rows)
    perm = rows[np.random.default_rng(seed).permutation(n)]
    n_train = int(n * fr[0])
    n_val = int(n * fr[1])
    return [perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]]


def _per_user_order(ratings: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows sorted by (user, timestamp, row); each row's position in its user and user size."""
    users = ratings["user"].to_numpy()[rows].astype(np.int64)
    ts = ratings["timestamp"].to_numpy()[rows].astype(np.int64)
    if len(rows) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    u0, t0 = users.min(), ts.min()
    if users.max() - u0 < 2**30 and ts.max() - t0 < 2**32:
        # one int64 key and a stable sort: ~3x faster than a three-key lexsort on 25M rows
        order = np.argsort(((users - u0) << 32) | (ts - t0), kind="stable")
    else:
        order = np.lexsort((ts, users))  # lexsort is stable too: ties keep row order
    su = users[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    sizes = np.diff(np.r_[starts, len(su)])
    group = np.repeat(np.arange(len(starts)), sizes)
    pos = np.arange(len(su)) - starts[group]
    return rows[order], pos, sizes[group]


def _temporal(
    ratings: pd.DataFrame, rows: np.ndarray, fr: tuple[float, float, float]
) -> list[np.ndarray]:
    srows, pos, size = _per_user_order(ratings, rows)
    n_test = np.minimum(np.floor(size * fr[2] + 0.5).astype(np.int64), size - 1)
    n_val = np.minimum(np.floor(size * fr[1] + 0.5).astype(np.int64), size - 1 - n_test)
    from_end = size - 1 - pos  # 0 for the latest rating of the user
    is_test = from_end < n_test
    is_val = ~is_test & (from_end < n_test + n_val)
    return [srows[~is_test & ~is_val], srows[is_val], srows[is_test]]


def _leave_last_out(ratings: pd.DataFrame, rows: np.ndarray) -> list[np.ndarray]:
    srows, pos, size = _per_user_order(ratings, rows)
    from_end = size - 1 - pos
    eligible = size >= 3
    is_test = eligible & (from_end == 0)
    is_val = eligible & (from_end == 1)
    return [srows[~is_test & ~is_val], srows[is_val], srows[is_test]]


def ratio_counts(sizes: np.ndarray, fr: tuple[float, float, float]) -> tuple[np.ndarray, ...]:
    """Rows of train, validation and test for groups of ``sizes`` rows, rounded as
    RecBole's ``_calcu_split_ids``: validation and test ``floor(f * n)``, train the rest;
    then (test first) a part with ``0 < f * n < 1`` takes one row from train while train
    has more than one."""
    total = sum(fr)
    ratios = [f / total for f in fr]
    n = np.asarray(sizes, dtype=np.int64)
    cnt = [np.floor(r * n).astype(np.int64) for r in ratios]
    cnt[0] = n - cnt[1] - cnt[2]
    for part in (2, 1):
        share = ratios[part] * n
        bump = (cnt[0] > 1) & (share > 0) & (share < 1)
        cnt[part] = cnt[part] + bump
        cnt[0] = cnt[0] - bump
    return cnt[0], cnt[1], cnt[2]


def _random_rs(rows: np.ndarray, fr: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    perm = rows[np.random.default_rng(seed).permutation(len(rows))]
    n_train, n_val, _ = (int(c[0]) for c in ratio_counts(np.array([len(rows)]), fr))
    return [perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]]


def _user_random(
    ratings: pd.DataFrame, rows: np.ndarray, fr: tuple[float, float, float], seed: int
) -> list[np.ndarray]:
    perm = rows[np.random.default_rng(seed).permutation(len(rows))]
    users = ratings["user"].to_numpy()[perm]
    order = np.argsort(users, kind="stable")  # per user, in the random order
    srows, su = perm[order], users[order]
    if len(srows) == 0:
        return [srows, srows, srows]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    sizes = np.diff(np.r_[starts, len(su)])
    n_train, n_val, _ = ratio_counts(sizes, fr)
    group = np.repeat(np.arange(len(starts)), sizes)
    pos = np.arange(len(su)) - starts[group]
    is_train = pos < n_train[group]
    is_val = ~is_train & (pos < (n_train + n_val)[group])
    return [srows[is_train], srows[is_val], srows[~is_train & ~is_val]]


def make_split(
    ratings: pd.DataFrame,
    kind: str = "random",
    fractions: Any = DEFAULT_FRACTIONS,
    seed: int = 0,
    rows: Any = None,
) -> Split:
    """Split the rows of ``ratings`` (or only ``rows``) into sorted train/val/test indices."""
    assert kind in SPLIT_KINDS, kind  # Config validates the choice
    fr = _check_fractions(fractions)
    seed = int(seed)
    if kind not in ("random", "random-rs"):
        needed = ("user",) if kind == "user-random" else ("user", "timestamp")
        missing = [c for c in needed if c not in ratings.columns]
        if missing:
            raise ConfigError("split", f"the {kind} split needs column(s) {', '.join(missing)}")
    all_rows = _check_rows(rows, len(ratings))
    if kind == "random":
        parts = _random(all_rows, fr, seed)
    elif kind == "temporal":
        parts = _temporal(ratings, all_rows, fr)
    elif kind == "random-rs":
        parts = _random_rs(all_rows, fr, seed)
    elif kind == "user-random":
        parts = _user_random(ratings, all_rows, fr, seed)
    else:
        parts = _leave_last_out(ratings, all_rows)
    train, val, test = (np.sort(p).astype(np.int64) for p in parts)
    record = SplitRecord(kind, fr, seed, split_hash(train, val, test))
    return Split(train, val, test, record)
