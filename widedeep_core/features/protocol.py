"""The protocol's data: which ratings a run's protocol keeps before labels and splits.

Two filters, in RecBole's order: ratings below ``min_rating`` are dropped, then the
k-core (``min_user_ratings`` / ``min_item_ratings``) removes users and movies with too
few ratings, both sides at once, again and again until every remaining user and movie
has enough (the unique largest such core). A filtered protocol's data keeps only the
users and movies that still have a rating: its catalogue is what the ranking ranks, as
RecBole's full ranking does. With neither filter the loaded data itself is returned, so
the seed protocol's rows, split and numbers are untouched.

Row positions of every split index the protocol's data (``Prepared.data``); the loaded
data stays what a person's "rated" movies are read from (``Prepared.source``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from widedeep_core.config import Config
from widedeep_core.data.index import rating_codes
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import ConfigError


def kcore_mask(
    user_of: np.ndarray, item_of: np.ndarray, min_user: int, min_item: int
) -> np.ndarray:
    """Boolean mask of the rows in the (``min_user``, ``min_item``)-core of the bipartite
    rating graph (codes ``user_of`` / ``item_of`` from 0): rows of users with fewer than
    ``min_user`` kept ratings or movies with fewer than ``min_item`` are removed, both at
    once, until nothing changes."""
    keep = np.ones(len(user_of), dtype=bool)
    if min_user <= 1 and min_item <= 1:
        return keep
    n_users = int(user_of.max(initial=-1)) + 1
    n_items = int(item_of.max(initial=-1)) + 1
    while True:
        u, i = user_of[keep], item_of[keep]
        user_count = np.bincount(u, minlength=n_users)
        item_count = np.bincount(i, minlength=n_items)
        bad = (user_count[u] < min_user) | (item_count[i] < min_item)
        if not bad.any():
            return keep
        keep[np.flatnonzero(keep)[bad]] = False


def protocol_rows(config: Config, data: MovieLensData) -> np.ndarray | None:
    """Sorted positions of the ratings the protocol keeps; None when it keeps them all."""
    ratings = data.ratings
    keep = np.ones(len(ratings), dtype=bool)
    if config.min_rating > 0:
        keep &= ratings["rating"].to_numpy(dtype=np.float64) >= config.min_rating
    if config.min_user_ratings > 1 or config.min_item_ratings > 1:
        codes = rating_codes(data)
        sub = np.flatnonzero(keep)
        core = kcore_mask(
            codes.user_of[sub], codes.item_of[sub], config.min_user_ratings, config.min_item_ratings
        )
        keep[sub[~core]] = False
    if keep.all():
        return None
    return np.flatnonzero(keep).astype(np.int64)


def protocol_data(config: Config, data: MovieLensData) -> MovieLensData:
    """``data`` as the run's protocol sees it: only the kept ratings, and the users and
    movies that still have one. The loaded ``data`` itself when nothing is filtered (so a
    second call on the result returns it unchanged)."""
    rows = protocol_rows(config, data)
    if rows is None:
        return data
    if len(rows) == 0:
        raise ConfigError(
            "min_rating",
            f"the protocol keeps no rating of {data.name} (drop ratings below "
            f"{config.min_rating:g}, k-core {config.min_user_ratings}/{config.min_item_ratings})",
        )
    ratings = data.ratings.iloc[rows].reset_index(drop=True)
    items = np.unique(ratings["item"].to_numpy())
    movies = data.movies[data.movies["item"].isin(items)].reset_index(drop=True)
    users = data.users
    if users is not None:
        users = users[users["user"].isin(np.unique(ratings["user"].to_numpy()))]
        users = users.reset_index(drop=True)
    return dataclasses.replace(data, ratings=ratings, movies=movies, users=users)


def protocol_counts(data: MovieLensData) -> dict[str, int]:
    """Ratings, users and movies with a rating: what RecBole's dataset summary reports."""
    r = data.ratings
    return {
        "ratings": len(r),
        "users": int(r["user"].nunique()),
        "items": int(r["item"].nunique()),
    }


__all__ = ["kcore_mask", "protocol_counts", "protocol_data", "protocol_rows"]
