"""Who a ranking is judged on: the users with a held-out positive, their history items
(the protocol's ``test_history``; masked from their lists) and their positives, as
catalogue columns.

One set of judged users serves the model and its baselines (same users, same lists).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import ConfigError

if TYPE_CHECKING:
    from widedeep_core.features.prepare import Prepared

# Ranking every unseen movie for every user costs n_users x n_items pair scores. With
# the split first layer a pair costs only the MLP after that layer, so every user is
# ranked while that stays under RANKING_FLOPS (all of ML-1M for the `fast` and
# `reference` presets); past it, and past MAX_RANKING_PAIRS, a seeded sample of at
# least MAX_RANKING_USERS users is ranked (their count is reported as ``ranking_users``).
# A two-stage run ranks only its M candidates per user, but each user's retrieval scores
# the catalogue: every user up to MAX_TWO_STAGE_USERS (all of ML-1M's 6,040), past it a
# seeded sample of that many, so the evaluation stops growing with the users (at ML-25M
# size ranking all 162k users cost more than the training).
# ``config.ranking_users`` caps either (a seeded sample) for very large data.
MAX_RANKING_USERS = 2000
MAX_RANKING_PAIRS = 40_000_000
MAX_TWO_STAGE_USERS = 10_000
# Past this many floating-point operations for the whole ranking, a sample of users is
# ranked (the split scorer knows its cost per pair).
RANKING_FLOPS = 50e9


class Judged(NamedTuple):
    """The users a ranking is judged on (``ranking_users``); column indices into ``items``."""

    user_ids: np.ndarray
    seen: list[np.ndarray]  # per user: history items (``history_rows``; masked from lists)
    positives: list[np.ndarray]  # per user: held-out positives of the part
    items: np.ndarray  # the catalogue


def ranking_users(
    prep: Prepared,
    part: str = "test",
    max_users: int | None = MAX_RANKING_USERS,
    *,
    max_pairs: int | None = MAX_RANKING_PAIRS,
) -> Judged:
    """The users the ranking metrics judge: those with a held-out positive in ``part``.

    Returns ``Judged`` (user ids, per-user history items, per-user positives, items): items are
    the catalogue (``data.index.catalogue``), and the per-user lists hold column
    indices into it. Past ``max_users`` (or ``max_pairs`` user x movie pairs) a sample of
    the users, seeded by the config's seed, stands in for all of them; None: every user.
    """
    items = catalogue(prep.data)
    all_users, u_of, i_of = rating_codes(prep.data)
    rows = getattr(prep.split, part)
    pos_rows = rows[prep.labels[rows] > 0.5]
    eval_users = np.unique(u_of[pos_rows])
    if max_users is not None and max_pairs is not None:
        max_users = max(1, min(max_users, max_pairs // max(len(items), 1)))
    if max_users is not None and len(eval_users) > max_users:
        rng = np.random.default_rng(prep.config.seed)
        eval_users = np.sort(rng.choice(eval_users, size=max_users, replace=False))
    slot = np.full(len(all_users), -1, dtype=np.int64)
    slot[eval_users] = np.arange(len(eval_users))

    def per_user(sel_rows: np.ndarray) -> list[np.ndarray]:
        s = slot[u_of[sel_rows]]
        keep = s >= 0
        s, cols = s[keep], i_of[sel_rows][keep]
        # one sort of (slot, column) keys: 6x a lexsort of the two on ML-1M
        key = np.sort(s * len(items) + cols)
        counts = np.bincount(s, minlength=len(eval_users))
        return np.split(key % len(items), np.cumsum(counts)[:-1])

    history = history_rows(prep, part)
    return Judged(all_users[eval_users], per_user(history), per_user(pos_rows), items)


def history_rows(prep: Prepared, part: str) -> np.ndarray:
    """The rating rows that are a user's history when ``part`` is judged (masked from the
    lists): the training split, and for the test part under ``test_history`` "train+val"
    the validation split too (sorted positions)."""
    if part == "test" and prep.config.test_history == "train+val":
        return np.union1d(prep.split.train, prep.split.val)
    return prep.split.train


def check_k(k: int, data: MovieLensData) -> None:
    """A ConfigError when a top-K list cannot be filled from the catalogue."""
    n_items = len(catalogue(data))
    if int(k) > n_items:
        raise ConfigError(
            "ranking_k", f"K = {k} is larger than the catalogue ({n_items} movies of {data.name})"
        )


__all__ = [
    "MAX_RANKING_PAIRS",
    "MAX_RANKING_USERS",
    "RANKING_FLOPS",
    "Judged",
    "check_k",
    "history_rows",
    "ranking_users",
]
