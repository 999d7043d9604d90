"""Popularity: every user gets each movie's training count."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from widedeep_core.retrieval._base import Retrieval, column_counts, stored_array


class Popularity(Retrieval):
    """Every user gets the training counts of each movie."""

    name = "popularity"

    def __init__(self, x: sp.csr_matrix):
        self.n_items = x.shape[1]
        self.counts = column_counts(x).astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        """The train counts, repeated for each user of the block."""
        return np.broadcast_to(self.counts, (len(users), self.n_items)).copy()

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The name and the counts."""
        return {"name": np.array(self.name), "counts": self.counts}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], x: sp.csr_matrix, where: str = "retrieval"
    ) -> Popularity:
        """The stored counts (checked: one finite, non-negative count per movie)."""
        model = cls.__new__(cls)
        model.n_items = x.shape[1]
        model.counts = stored_array(
            arrays, "counts", where, kinds="fiu", ndim=1, shape=(model.n_items,),
            bounds=(0, np.inf), finite=True,
        ).astype(np.float32)  # fmt: skip
        return model


def popularity_rank(counts: np.ndarray) -> np.ndarray:
    """Rank of each item by training count: 1 = most rated, ties by item index ascending."""
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    rank = np.empty(len(counts), dtype=np.int64)
    rank[order] = np.arange(1, len(counts) + 1)
    return rank


__all__ = ["Popularity", "popularity_rank"]
