"""Scoring a trained model on a split: pointwise metrics, GAUC and top-K ranking metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .features import Encoded
from .metrics import accuracy, auc, gauc, logloss, ranking_metrics
from .model import WideDeep
from .pairs import PairScorer

if TYPE_CHECKING:
    from .protocol import Prepared

# Ranking every unseen movie for every user costs n_users x n_items pair scores. With
# the split first layer a pair costs only the MLP after that layer, so every user is
# ranked while that stays under RANKING_FLOPS (all of ML-1M for the `fast` and
# `reference` presets); past it, and past MAX_RANKING_PAIRS, a seeded sample of at
# least MAX_RANKING_USERS users is ranked (their count is reported as ``ranking_users``).
MAX_RANKING_USERS = 2000
MAX_RANKING_PAIRS = 40_000_000
RANKING_FLOPS = 50e9
_PAIRS_PER_CALL = 1 << 18


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: Encoded, batch_size: int = 8192, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits of every row of ``x`` (eval mode, in batches), as a float32 CPU tensor."""
    was_training = model.training
    model.eval()
    try:
        out = [
            model(x.take(slice(s, s + batch_size)).to(device)).float().cpu()
            for s in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def pointwise(y: torch.Tensor | np.ndarray, logits: torch.Tensor) -> dict[str, float]:
    """AUC, log loss and accuracy of logits against 0/1 labels."""
    p = torch.sigmoid(logits.double()).numpy()
    yy = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    return {"auc": auc(yy, p), "logloss": logloss(yy, p), "accuracy": accuracy(yy, p)}


def evaluate_pointwise(
    model: nn.Module,
    x: Encoded,
    y: torch.Tensor,
    batch_size: int = 8192,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Pointwise metrics of ``model`` on encoded rows ``x`` with labels ``y``."""
    return pointwise(y, predict_logits(model, x, batch_size, device))


def evaluate_split(
    model: WideDeep, prep: Prepared, part: str = "test", device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Every metric on one split: AUC, log loss, accuracy, GAUC and ranking metrics at K."""
    cfg = prep.config
    x, y = prep.encoded(part)
    logits = predict_logits(model, x, cfg.eval_batch_size, device)
    out = pointwise(y, logits)
    users = prep.data.ratings["user"].to_numpy()[getattr(prep.split, part)]
    out["gauc"] = gauc(users, y.numpy(), logits.numpy())
    out.update(evaluate_ranking(model, prep, part, k=cfg.ranking_k, device=device))
    return out


def evaluate_ranking(
    model: WideDeep,
    prep: Prepared,
    part: str = "test",
    *,
    k: int = 10,
    device: torch.device | str = "cpu",
    max_users: int | None = None,
) -> dict[str, float]:
    """HR@K, NDCG@K, precision@K, recall@K: every movie a user did not rate in training
    is ranked against the user's held-out positives of ``part``."""
    ratings = prep.data.ratings
    all_items = np.unique(ratings["item"].to_numpy())
    all_users = np.unique(ratings["user"].to_numpy())
    rows = getattr(prep.split, part)
    pos_rows = rows[prep.labels[rows] > 0.5]
    u_of = np.searchsorted(all_users, ratings["user"].to_numpy())
    i_of = np.searchsorted(all_items, ratings["item"].to_numpy())
    eval_users = np.unique(u_of[pos_rows])
    # the split scorer's item half: built once, it also knows the per-pair cost
    pair_scorer = PairScorer(model, prep.encoder, prep.data, all_items)
    if max_users is None:
        affordable = RANKING_FLOPS / max(pair_scorer.pair_flops * len(all_items), 1.0)
        max_users = max(MAX_RANKING_USERS, int(affordable))
    max_users = max(1, min(max_users, MAX_RANKING_PAIRS // max(len(all_items), 1)))
    if len(eval_users) > max_users:
        rng = np.random.default_rng(prep.config.seed)
        eval_users = np.sort(rng.choice(eval_users, size=max_users, replace=False))
    slot = np.full(len(all_users), -1, dtype=np.int64)
    slot[eval_users] = np.arange(len(eval_users))

    def per_user(sel_rows: np.ndarray) -> list[np.ndarray]:
        s = slot[u_of[sel_rows]]
        keep = s >= 0
        s, items = s[keep], i_of[sel_rows][keep]
        # one int64 key instead of lexsort over two columns (~3x faster on 800k rows)
        order = np.argsort(s * (len(all_items) + 1) + items, kind="stable")
        counts = np.bincount(s, minlength=len(eval_users))
        return np.split(items[order], np.cumsum(counts)[:-1])

    seen = per_user(prep.split.train)
    positives = per_user(pos_rows)
    item_ids = all_items
    user_ids = all_users[eval_users]

    def scorer(batch: np.ndarray) -> torch.Tensor:
        return pair_scorer(user_ids[batch])

    users_per_call = max(1, _PAIRS_PER_CALL // max(len(item_ids), 1))
    m = ranking_metrics(scorer, seen, positives, k, batch_size=users_per_call)
    out = {f"{name}@{k}": value for name, value in m.items()}
    out["ranking_users"] = float(len(eval_users))
    return out
