"""Top-N training rows: the rated movies plus sampled negatives, new every epoch.

"Impressions" are a user's rated movies, labelled by the threshold, plus ``negatives``
sampled unrated movies per positive (``training.negatives``), labelled 0. In a
two-stage run every row carries retrieval features: out-of-fold for the rated rows and
the negatives (``features.retrieval.out_of_fold``), so training sees scores the way a
served candidate gets them. The epochs' negatives are drawn up front (each draw is
seeded by (seed, epoch), so this changes nothing) to fit each fold's retrieval once;
they are kept compact (int32 pairs, float16 features), on disk when they are large, and
an epoch's encoded rows exist only a chunk of batches at a time (``EpochRows``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from widedeep_core.config.memory import check_negatives_memory, negatives_disk_bytes
from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.retrieval_features import (
    PairSets,
    dense_names,
    out_of_fold,
    training_rows,
)
from widedeep_core.ranking.twostage import retrieval_candidates, retrieval_fitter
from widedeep_core.retrieval import interaction_matrix
from widedeep_core.training.epoch_store import EpochStore
from widedeep_core.training.negatives import NegativeSampler


class TopNRows:
    """The training rows of each epoch of a run with sampled negatives.

    Every epoch's negatives (int32 pair indices) and their features (float16) are kept
    in an ``EpochStore``: in memory on small data, on disk past ``memory.SPILL_BYTES``. An
    epoch's rows are never materialised: ``epoch`` gives ``EpochRows``, which encodes
    the batches the trainer gathers, a chunk at a time.
    """

    def __init__(self, prep: Any):
        cfg = prep.config
        self.prep = prep
        data = prep.data
        items = catalogue(data)
        user_ids = rating_codes(data).users
        self.user_ids, self.item_ids = user_ids, items
        rows = prep.split.train
        u, i, y = training_rows(data, rows, prep.labels)
        names = dense_names(cfg)
        n_pos = int((y > 0.5).sum())
        check_negatives_memory(  # before a single negative is drawn
            cfg, n_pos, len(u), len(prep.encoder.specs), len(names)
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
        self.n_sets = cfg.epochs
        self.store = EpochStore.for_bytes(negatives_disk_bytes(cfg, n_pos, len(names)))
        pos_users = u[y > 0.5]
        sizes = []
        for epoch in range(self.n_sets):
            nu, ni = sampler.sample(pos_users, epoch)
            self.store.put(epoch, "users", nu.astype(np.int32))
            self.store.put(epoch, "items", ni.astype(np.int32))
            sizes.append(len(nu))
        del sampler, hard
        self.x_rows, y_rows = prep.encoded("train")
        self.y_rows = y_rows
        self.has_dense = bool(names)
        if names:
            for epoch, n in enumerate(sizes):
                # float16 halves the memory of all epochs' negatives; the model reads float32
                self.store.zeros(epoch, "dense", (n, len(names)), np.float16)
            store = self.store

            def load(k: int) -> tuple[np.ndarray, np.ndarray]:
                return store.get(k, "users"), store.get(k, "items")

            def emit(k: int, pos: np.ndarray, feats: np.ndarray) -> None:
                store.update(k, "dense", pos, feats)

            rows_dense = out_of_fold(
                u,
                i,
                y,
                PairSets(sizes, load, emit),
                shape,
                retrieval_fitter(cfg),
                names,
                folds=cfg.retrieval_folds,
                seed=cfg.seed,
                full=prep.retrieval.full if cfg.retrieval_folds < 2 else None,
            )
            self.x_rows = self.x_rows.with_dense(rows_dense)

    def negatives(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(user index, item index) int32 arrays of 1-based ``epoch``'s negatives."""
        k = (epoch - 1) % self.n_sets
        return self.store.get(k, "users"), self.store.get(k, "items")

    def epoch(self, epoch: int) -> tuple[EpochRows, torch.Tensor]:
        """(rows, labels) of 1-based ``epoch``: the rated rows, then its negatives."""
        nu, ni = self.negatives(epoch)
        dense = self.store.get((epoch - 1) % self.n_sets, "dense") if self.has_dense else None
        y = torch.cat([self.y_rows, torch.zeros(len(nu), dtype=self.y_rows.dtype)])
        return EpochRows(self.x_rows, nu, ni, dense, self._encode_pairs), y

    def _encode_pairs(self, nu: np.ndarray, ni: np.ndarray) -> Encoded:
        return self.prep.encoder.transform_pairs(
            self.prep.data, self.user_ids[nu], self.item_ids[ni]
        )

    def close(self) -> None:
        """Drop the stored negatives (a spilled store's folder goes with them)."""
        self.store.close()


class EpochRows:
    """One epoch's rows (the rated rows, then the negatives) without their concatenation:
    ``take`` gathers rated rows and encodes negatives for just the rows asked for, the
    same values as ``Encoded.concat`` of the whole epoch then ``take``."""

    def __init__(
        self,
        rated: Encoded,
        users: np.ndarray,
        items: np.ndarray,
        dense: np.ndarray | None,
        encode: Any,
        device: torch.device | str = "cpu",
    ):
        self.rated, self.users, self.items, self.dense = rated, users, items, dense
        self.encode, self.device = encode, torch.device(device)
        self.n_rated = len(rated)

    def __len__(self) -> int:
        return self.n_rated + len(self.users)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> EpochRows:
        """The same rows, giving their batches on ``device``."""
        return EpochRows(self.rated, self.users, self.items, self.dense, self.encode, device)

    def take(self, idx: torch.Tensor | np.ndarray | slice) -> Encoded:
        """The rows ``idx`` (indices into the epoch, or a slice) as ``Encoded``."""
        if isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        rows = torch.as_tensor(idx).reshape(-1).cpu()
        if rows.dtype == torch.bool:
            rows = rows.nonzero().reshape(-1)
        is_neg = rows >= self.n_rated
        at_rated, at_neg = (~is_neg).nonzero().reshape(-1), is_neg.nonzero().reshape(-1)
        a = self.rated.take(rows[at_rated])
        j = (rows[at_neg] - self.n_rated).numpy()
        b = self.encode(self.users[j], self.items[j])
        if self.dense is not None:
            b = b.with_dense(self.dense[j].astype(np.float32))
        out = _interleave(len(rows), (at_rated, a), (at_neg, b))
        return out if self.device.type == "cpu" else out.to(self.device)


def _interleave(n: int, *parts: tuple[torch.Tensor, Encoded]) -> Encoded:
    """``n`` rows built from parts (positions, rows): each part's rows at its positions;
    multi-valued widths padded to the widest, as ``Encoded.concat`` pads them."""
    first = parts[0][1]

    def fill(get) -> torch.Tensor:
        cols = [get(enc) for _, enc in parts]
        width = max(c.shape[1] for c in cols)
        out = cols[0].new_zeros((n, width))
        for (pos, _), c in zip(parts, cols, strict=True):
            out[pos, : c.shape[1]] = c
        return out

    single = fill(lambda e: e.single)
    multi = {name: fill(lambda e, name=name: e.multi[name]) for name in first.multi}
    dense = fill(lambda e: e.dense) if first.dense is not None else None
    return Encoded(single, multi, dense)


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
