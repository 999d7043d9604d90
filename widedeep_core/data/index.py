"""One rating index per data set: the catalogue and every rating's user and movie position.

``catalogue(data)`` (every movie id, ascending) and ``rating_codes(data)`` are what every
station above indexes ratings by: the ranking kernel's columns, the baselines' matrices,
the two-stage features and the evaluation's judged users. Each is computed once per data
object and kept in ``MovieLensData.index_memo`` while the data's tables are the same
objects of the same length. The tables are treated as frozen, as everywhere in the core:
replace them (as the loader and the splits do) rather than edit them in place.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


def _memo(data: Any, name: str, make: Any) -> Any:
    """``make()``, kept in ``data.index_memo`` while its tables are the same objects of
    the same length: an evaluation asks for these several times. An object without that
    dict (a stand-in in a test) gets no memo."""
    key = (id(data.ratings), id(data.movies), len(data.ratings), len(data.movies))
    memo = getattr(data, "index_memo", None)
    if memo is not None and memo.get("key") != key:
        memo.clear()
        memo["key"] = key
    if memo is not None and name in memo:
        return memo[name]
    value = make()
    if memo is not None:
        memo[name] = value
    return value


def catalogue(data: Any) -> np.ndarray:
    """Every movie id a ``MovieLensData`` knows (listed or rated), sorted ascending.

    Read-only and memoised on ``data`` (a union over 1M ratings, 50 ms).
    """

    def make() -> np.ndarray:
        listed = data.movies["item"].to_numpy(dtype=np.int64)
        rated = data.ratings["item"].to_numpy(dtype=np.int64)
        items = np.union1d(listed, rated)
        items.flags.writeable = False
        return items

    return _memo(data, "catalogue", make)


class RatingCodes(NamedTuple):
    """Every rating's user and movie as indices: ``user_of[r]`` into ``users`` (the sorted
    distinct user ids), ``item_of[r]`` into ``catalogue(data)``. Read-only."""

    users: np.ndarray
    user_of: np.ndarray
    item_of: np.ndarray


def rating_codes(data: Any) -> RatingCodes:
    """The ``RatingCodes`` of ``data``, memoised on it (the evaluation, its baselines and
    the popularity counts all index ratings this way)."""

    def make() -> RatingCodes:
        user_ids = data.ratings["user"].to_numpy(dtype=np.int64)
        users = np.unique(user_ids)
        codes = RatingCodes(
            users,
            _positions(users, user_ids),
            _positions(catalogue(data), data.ratings["item"].to_numpy(dtype=np.int64)),
        )
        for a in codes:
            a.flags.writeable = False
        return codes

    return _memo(data, "rating_codes", make)


def _positions(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each of ``values`` in ``sorted_ids``, where every value is: a lookup table
    when the ids are small non-negative integers (10x a binary search on 1M ratings),
    else ``np.searchsorted``."""
    values = np.asarray(values)
    if len(sorted_ids) and sorted_ids[0] >= 0 and sorted_ids[-1] <= 8 * len(values) + 1024:
        table = np.zeros(int(sorted_ids[-1]) + 1, dtype=np.int64)
        table[sorted_ids] = np.arange(len(sorted_ids))
        return table[values]
    return np.searchsorted(sorted_ids, values)


def catalogue_columns(items: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Sorted columns of the distinct ``ids`` found in the sorted catalogue ``items``
    (what ``searchsorted(items, intersect1d(ids, items))`` gives, without sorting the
    87,000-movie catalogue again for every user: 45 -> thousands of users a second)."""
    ids = np.unique(np.asarray(ids))
    pos = np.searchsorted(items, ids)
    found = pos < len(items)
    found[found] = items[pos[found]] == ids[found]
    return pos[found]


def id_span(sorted_ids: np.ndarray, uid: int) -> tuple[int, int]:
    """(first, end) positions of ``uid`` in the sorted id column ``sorted_ids``.

    The keys are made in the column's dtype: numpy searches a Python int list against
    an int32 column by converting the whole column first (62 ms for 32M ratings per
    lookup, which made a 200,000-user export's up-front user check take hours).
    """
    dtype = sorted_ids.dtype
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= uid <= info.max - 1:
            return 0, 0
    lo, hi = np.searchsorted(sorted_ids, np.array([uid, uid + 1], dtype=dtype))
    return int(lo), int(hi)


__all__ = ["RatingCodes", "catalogue", "catalogue_columns", "id_span", "rating_codes"]
