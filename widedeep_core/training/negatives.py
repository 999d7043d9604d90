"""Sampled negatives for top-N training: k unrated movies per positive, new every epoch.

A "negative" is a (user, movie) pair the user never rated in training. Draws are
vectorised (one batch of candidates, rejection of the rated ones, redraw of only the
rejected slots) and seeded per (seed, epoch), so epoch e gives the same negatives in
any run with the same seed, whichever epochs ran before.

- ``uniform``: every unrated movie equally likely;
- ``popularity``: probability proportional to ``(train count + 1) ** power``
  (word2vec's 0.75 by default): popular movies the user skipped are more informative
  negatives than obscure ones the user never saw, and it counters the popularity bias
  that uniform negatives teach;
- hard negatives: ``hard_k`` per positive drawn uniformly from the user's retrieval
  candidates (unrated by construction), the movies the ranker must learn to order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import ConfigError
from widedeep_core.retrieval import column_counts

NEGATIVE_WEIGHTINGS = ("uniform", "popularity")
_MAX_ROUNDS = 50  # redraw rounds; each keeps only the still-rejected slots


class NegativeSampler:
    """Draws negatives for the positives of one training split."""

    def __init__(
        self,
        x: sp.csr_matrix,
        k: int = 4,
        *,
        weighting: str = "uniform",
        power: float = 0.75,
        seed: int = 0,
        hard_candidates: np.ndarray | None = None,
        hard_k: int = 0,
    ):
        if weighting not in NEGATIVE_WEIGHTINGS:
            choices = ", ".join(NEGATIVE_WEIGHTINGS)
            raise ConfigError("negative_sampling", f"unknown {weighting!r}; choose {choices}")
        if int(k) < 0 or int(hard_k) < 0:
            raise ConfigError("negatives", f"counts must be >= 0, got k={k}, hard={hard_k}")
        if hard_k and hard_candidates is None:
            raise ConfigError("hard_negatives", "hard negatives need the retrieval candidates")
        x = x.tocsr()
        self.n_users, self.n_items = x.shape
        self.k, self.hard_k, self.seed = int(k), int(hard_k), int(seed)
        self.weighting = weighting
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(x.indptr))
        self._rated = np.unique(rows * self.n_items + x.indices.astype(np.int64))
        self._n_unrated = self.n_items - np.diff(x.indptr)
        counts = column_counts(x)
        if weighting == "popularity":
            w = (counts + 1.0) ** float(power)
            self._cdf: np.ndarray | None = np.cumsum(w / w.sum())
        else:
            self._cdf = None
        self._hard = None
        if hard_candidates is not None and hard_k:
            cand = np.asarray(hard_candidates, dtype=np.int64)
            if cand.shape[0] != self.n_users:
                raise ConfigError("hard_negatives", "need one candidate row per user")
            self._hard = cand
            self._hard_len = (cand >= 0).sum(1)

    def is_rated(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True where the user rated the item in training."""
        key = np.asarray(users, np.int64) * self.n_items + np.asarray(items, np.int64)
        if not len(self._rated):
            return np.zeros(len(key), bool)
        at = np.searchsorted(self._rated, key).clip(max=len(self._rated) - 1)
        return self._rated[at] == key

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self._cdf is None:
            return rng.integers(0, self.n_items, n)
        return np.minimum(np.searchsorted(self._cdf, rng.random(n), side="right"), self.n_items - 1)

    def sample(self, pos_users: np.ndarray, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of the negatives for positives of users ``pos_users`` at ``epoch``:
        ``k`` sampled + ``hard_k`` hard ones per positive; users who rated every movie get none."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        pos_users = np.asarray(pos_users, dtype=np.int64)
        pos_users = pos_users[self._n_unrated[pos_users] > 0]
        users = np.repeat(pos_users, self.k)
        items = self._draw(rng, len(users))
        bad = np.flatnonzero(self.is_rated(users, items))
        for _ in range(_MAX_ROUNDS):
            if not len(bad):
                break
            items[bad] = self._draw(rng, len(bad))
            bad = bad[self.is_rated(users[bad], items[bad])]
        if len(bad):  # a user with very few unrated movies: take them uniformly, exactly
            for slot in bad:
                row = self._rated[(self._rated // self.n_items) == users[slot]] % self.n_items
                free = np.setdiff1d(np.arange(self.n_items), row)
                items[slot] = free[rng.integers(0, len(free))]
        if self._hard is None:
            return users, items
        hu = np.repeat(pos_users, self.hard_k)
        hu = hu[self._hard_len[hu] > 0]
        pick = (rng.random(len(hu)) * self._hard_len[hu]).astype(np.int64)
        hi = self._hard[hu, pick]
        ok = ~self.is_rated(hu, hi)  # candidates exclude rated movies; keep the rule anyway
        return np.concatenate([users, hu[ok]]), np.concatenate([items, hi[ok]])
