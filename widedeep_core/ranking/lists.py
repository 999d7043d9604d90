"""Ranking a block of users' lists: the one function for one- and two-stage runs.

``ListRanker(model, prep).rank(user_ids, seen, k)`` is what the ranking metrics
(``evaluation``) and the recommendations (``serving.Recommender``) both call, so a list a
user is shown is the list the metrics judged. One stage: every catalogue column scored by
the split-layer pair scorer; two stages: retrieval candidates ordered by the model
(``twostage.rank_users``). One cold-start rule for both: a user without training ratings
is ranked by training popularity (one stage) or gets the most popular movies as
candidates (two stages). Ties rank by movie id, lower first (``kernel.top_k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.model.widedeep import WideDeep
from widedeep_core.ranking.kernel import (
    list_cells,
    mask,
    popularity_for_cold,
    top_k,
    training_popularity,
    users_per_block,
)
from widedeep_core.ranking.pairs import PairScorer
from widedeep_core.ranking.twostage import RankedBlock, rank_users


@dataclass
class RankedLists:
    """A block of users' top-k lists and what ranked them."""

    columns: np.ndarray  # [b, <=k] catalogue columns, best first
    scores: np.ndarray  # the score each was ranked by (-inf: not a real entry)
    valid: np.ndarray  # bool [b, <=k]: a real entry (a row may have fewer than k)
    cold: np.ndarray  # bool [b]: ranked by popularity (no training ratings)
    detail: RankedBlock | None = None  # two stages: logits, parts, retrieval rank/score

    def shown(self) -> np.ndarray:
        """``columns`` with -1 where there is no real entry."""
        return np.where(self.valid, self.columns, -1)


class ListRanker:
    """Ranks blocks of users' lists for a trained model and its ``Prepared``."""

    def __init__(self, model: torch.nn.Module, prep: Any, *, batch_size: int = 8192):
        self.model = model
        self.prep = prep
        self.batch_size = batch_size
        self.items = catalogue(prep.data)
        self.two_stage = prep.retrieval is not None
        codes = rating_codes(prep.data)
        self._users = codes.users
        self._train_counts = np.bincount(
            codes.user_of[prep.split.train], minlength=len(codes.users)
        )
        self.pair_scorer: PairScorer | None = None
        self._popularity: torch.Tensor | None = None
        if not self.two_stage:
            self.pair_scorer = PairScorer(
                cast(WideDeep, model), prep.encoder, prep.data, self.items
            )
            self._popularity = training_popularity(prep)

    @property
    def block_size(self) -> int:
        """Users one call should rank at once (bounds the pairs scored together)."""
        width = self.prep.config.candidates if self.two_stage else len(self.items)
        return max(1, users_per_block(width))

    def cold(self, user_ids: np.ndarray) -> np.ndarray:
        """Which of ``user_ids`` have no training ratings (the model knows nothing of them)."""
        pos = np.searchsorted(self._users, np.asarray(user_ids, dtype=np.int64))
        return self._train_counts[np.minimum(pos, len(self._users) - 1)] == 0

    def rank(
        self,
        user_ids: np.ndarray,
        seen: list[np.ndarray],
        k: int,
        *,
        allowed: np.ndarray | None = None,
    ) -> RankedLists:
        """The top ``k`` catalogue columns of each user; ``seen[r]`` (columns) are never
        listed for user r, and only ``allowed`` columns (sorted) when given."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        if self.two_stage:
            block = rank_users(
                self.model, self.prep, user_ids, seen, k, candidates=allowed,
                batch_size=self.batch_size,
            )  # fmt: skip
            valid = block.columns >= 0
            return RankedLists(block.columns, block.logit, valid, block.fallback, block)
        assert self.pair_scorer is not None and self._popularity is not None
        cold = self.cold(user_ids)
        logits = popularity_for_cold(self.pair_scorer(user_ids), cold, self._popularity)
        if allowed is not None:
            # NaN outside ``allowed``: the kernel's mask turns it into -inf
            kept = torch.full_like(logits, torch.nan)
            cols = torch.from_numpy(np.asarray(allowed, dtype=np.int64))
            kept[:, cols] = logits[:, cols]
            logits = kept
        masked = mask(logits, *list_cells(seen, np.arange(len(user_ids))))
        top = top_k(masked, k)
        score = masked.gather(1, top)
        return RankedLists(top.numpy(), score.numpy(), torch.isfinite(score).numpy(), cold)


__all__ = ["ListRanker", "RankedLists"]
