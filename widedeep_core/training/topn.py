"""Top-N training rows: the rated movies plus sampled negatives, new every epoch.

"Impressions" are a user's rated movies, labelled by the threshold, plus ``negatives``
sampled unrated movies per positive (``training.negatives``), labelled 0. In a
two-stage run every row carries retrieval features: out-of-fold for the rated rows and
the negatives (``features.retrieval.out_of_fold``), so training sees scores the way a
served candidate gets them. The epochs' negatives are drawn up front (each draw is
seeded by (seed, epoch), so this changes nothing) to fit each fold's retrieval once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from widedeep_core.config.memory import check_negatives_memory
from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.retrieval_features import (
    dense_names,
    out_of_fold,
    training_rows,
)
from widedeep_core.ranking.twostage import retrieval_candidates, retrieval_fitter
from widedeep_core.retrieval import interaction_matrix
from widedeep_core.training.negatives import NegativeSampler


class TopNRows:
    """The training rows of each epoch of a run with sampled negatives."""

    def __init__(self, prep: Any):
        cfg = prep.config
        self.prep = prep
        data = prep.data
        items = catalogue(data)
        user_ids = rating_codes(data).users
        self.user_ids, self.item_ids = user_ids, items
        rows = prep.split.train
        u, i, y = training_rows(data, rows, prep.labels)
        check_negatives_memory(  # before a single negative is drawn
            cfg, int((y > 0.5).sum()), len(u), len(prep.encoder.specs), len(dense_names(cfg))
        )
        shape = (len(user_ids), len(items))
        x = interaction_matrix(u, i, *shape)
        hard = None
        if cfg.hard_negatives and prep.retrieval is not None:
            hard = _candidates(prep, x)
        sampler = NegativeSampler(
            x,
            cfg.negatives,
            weighting=cfg.negative_sampling,
            power=cfg.negative_power,
            seed=cfg.seed,
            hard_candidates=hard,
            hard_k=cfg.hard_negatives,
        )
        pos_users = u[y > 0.5]
        self.negatives = [sampler.sample(pos_users, epoch) for epoch in range(cfg.epochs)]
        self.x_rows, y_rows = prep.encoded("train")
        self.y_rows = y_rows
        names = dense_names(cfg)
        self.dense_rows: np.ndarray | None = None
        self.dense_neg: list[np.ndarray | None] = [None] * cfg.epochs
        if names:
            rows_dense, neg_dense = out_of_fold(
                u,
                i,
                y,
                self.negatives,
                shape,
                retrieval_fitter(cfg),
                names,
                folds=cfg.retrieval_folds,
                seed=cfg.seed,
                full=prep.retrieval.full if cfg.retrieval_folds < 2 else None,
            )
            self.x_rows = self.x_rows.with_dense(rows_dense)
            # float16 halves the memory of all epochs' negatives; the model reads float32
            self.dense_neg = [d.astype(np.float16) for d in neg_dense]

    def epoch(self, epoch: int) -> tuple[Encoded, torch.Tensor]:
        """(rows, labels) of 1-based ``epoch``: the rated rows, then its negatives."""
        nu, ni = self.negatives[(epoch - 1) % len(self.negatives)]
        x_neg = self.prep.encoder.transform_pairs(
            self.prep.data, self.user_ids[nu], self.item_ids[ni]
        )
        dense = self.dense_neg[(epoch - 1) % len(self.dense_neg)]
        if dense is not None:
            x_neg = x_neg.with_dense(dense.astype(np.float32))
        x = Encoded.concat([self.x_rows, x_neg])
        y = torch.cat([self.y_rows, torch.zeros(len(nu), dtype=self.y_rows.dtype)])
        return x, y


def _candidates(prep: Any, x) -> np.ndarray:
    """[n_users, M] retrieval candidates per user (catalogue columns, -1 padded): the
    served stage's own (``ranking.twostage.retrieval_candidates``), as hard negatives."""
    rf = prep.retrieval
    m = min(prep.config.candidates, x.shape[1])
    out = np.full((x.shape[0], m), -1, np.int64)
    seen = np.split(x.indices, x.indptr[1:-1])
    block = 512
    for lo in range(0, x.shape[0], block):
        users = np.arange(lo, min(lo + block, x.shape[0]))
        cand, valid, _, _ = retrieval_candidates(rf, users, [seen[u] for u in users], m)
        out[users] = np.where(valid, cand, -1)
    return out
