"""Score user blocks against a fixed item set: the split first layer (O(U + I) products,
one addition per pair) through ``model.factored.SplitScorer``.

This is what ranking metrics and recommendations call to score "every movie for every
user"; masking seen items, top-K and the tie-break rule belong to the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from widedeep_core.data.types import MovieLensData
from widedeep_core.features.encoder import FeatureEncoder
from widedeep_core.model.factored import SplitScorer
from widedeep_core.model.widedeep import WideDeep


class PairScorer:
    """``scorer(user_ids) -> [len(user_ids), len(item_ids)]`` float32 logits (eval mode).

    Build it after training: it keeps the item-side products of the weights it saw.
    """

    def __init__(
        self, model: WideDeep, encoder: FeatureEncoder, data: MovieLensData, item_ids: Any
    ):
        self.model = model
        self.encoder = encoder
        self.data = data
        self.item_ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
        # any user id: the user-side columns of these rows are ignored
        anchor = int(data.ratings["user"].iloc[0]) if data.n_ratings else 0
        items = encoder.transform_pairs(data, anchor, self.item_ids)
        self.device = next(model.parameters()).device
        self._split = SplitScorer(model, items.to(self.device))

    @property
    def pair_flops(self) -> float:
        """Floating-point operations per (user, item) pair (the MLP after its first layer)."""
        return self._split.pair_flops

    def __call__(self, user_ids: Any) -> torch.Tensor:
        """Logits of every (user, item) pair as a CPU float32 tensor [n_users, n_items]."""
        users = np.atleast_1d(np.asarray(user_ids, dtype=np.int64))
        x = self.encoder.transform_pairs(self.data, users, self.item_ids[0])
        codes = self.encoder.pair_cross_codes(self.data, users, self.item_ids)
        pair = {
            k: (torch.from_numpy(r).to(self.device), torch.from_numpy(c).to(self.device))
            for k, (r, c) in codes.items()
        }
        return self._split(x.to(self.device), pair).float().cpu()


__all__ = ["PairScorer"]
