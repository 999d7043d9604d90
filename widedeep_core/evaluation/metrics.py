"""Evaluation metrics: AUC, GAUC, log loss, accuracy and top-K ranking metrics.

All take numpy arrays, torch tensors or sequences; labels are 0/1 (positive when > 0.5).

- ``auc``: exact ROC AUC with ties counted half (the Mann-Whitney statistic, equal to
  ``sklearn.metrics.roc_auc_score``); computed with integer counts per run of tied scores,
  so it is exact even on millions of rows. One class only -> nan.
- ``gauc``: per-user AUC averaged over the users having both classes, each weighted by
  its number of impressions (rows), as in Zhou et al. 2018 (DIN).
- ``ranking_metrics``: for each user, every item not seen in training is ranked by the
  serving kernel (``serving.scoring.top_k``: ties by item index, lower first); against
  the user's held-out positives: HR@K (any positive in the top K), precision@K (hits /
  K), recall@K (hits / number of positives) and NDCG@K (binary gains, ideal DCG over
  min(K, positives)), averaged over the users with at least one held-out positive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from widedeep_core.ranking.kernel import list_cells, mask, top_k

Scorer = Callable[[np.ndarray], Any]


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype).ravel()


def _labels_scores(y: Any, s: Any) -> tuple[np.ndarray, np.ndarray]:
    yy, ss = _np(y) > 0.5, _np(s)
    if len(yy) != len(ss):
        raise ValueError(f"labels and scores differ in length: {len(yy)} != {len(ss)}")
    return yy, ss


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where any of the (sorted) ``keys`` changes value: starts of tie runs."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    change[:1] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def auc(y: Any, s: Any) -> float:
    """Exact ROC AUC with ties counted half; nan for one class or a NaN score."""
    yy, ss = _labels_scores(y, s)
    n_pos = int(yy.sum())
    n_neg = len(yy) - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(ss).any():
        return float("nan")
    order = np.argsort(ss, kind="stable")
    ys, sv = yy[order], ss[order]
    starts = _run_starts(sv)
    pos = np.add.reduceat(ys.astype(np.int64), starts)
    neg = np.diff(np.r_[starts, len(ys)]) - pos
    neg_below = np.cumsum(neg) - neg
    # each positive beats the negatives scored strictly below and ties half of its run
    num = int((pos * neg_below).sum()) + 0.5 * int((pos * neg).sum())
    return float(num / (n_pos * n_neg))


def gauc(users: Any, y: Any, s: Any) -> float:
    """Impression-weighted mean of per-user AUC over users having both classes."""
    yy, ss = _labels_scores(y, s)
    uu = _np(users, np.int64)
    if len(uu) != len(yy):
        raise ValueError(f"users and labels differ in length: {len(uu)} != {len(yy)}")
    if len(yy) == 0 or np.isnan(ss).any():
        return float("nan")
    order = np.lexsort((ss, uu))
    us, ys, sv = uu[order], yy[order], ss[order]
    user_starts = _run_starts(us)
    runs = _run_starts(us, sv)
    run_user = np.searchsorted(user_starts, runs, side="right") - 1
    pos = np.add.reduceat(ys.astype(np.int64), runs)
    neg = np.diff(np.r_[runs, len(ys)]) - pos
    cum = np.cumsum(neg) - neg  # negatives before the run, across users
    first_run = np.searchsorted(runs, user_starts)
    neg_below = cum - cum[first_run][run_user]  # ... within the run's own user
    num = np.bincount(run_user, weights=pos * neg_below + 0.5 * pos * neg)
    p_u = np.bincount(run_user, weights=pos)
    n_u = np.bincount(run_user, weights=neg)
    ok = (p_u > 0) & (n_u > 0)
    if not ok.any():
        return float("nan")
    per_user = num[ok] / (p_u[ok] * n_u[ok])
    weight = p_u[ok] + n_u[ok]
    return float((per_user * weight).sum() / weight.sum())


def logloss(y: Any, p: Any, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities ``p`` clipped to [eps, 1 - eps]."""
    yy, pp = _labels_scores(y, p)
    if len(yy) == 0:
        return float("nan")
    pp = np.clip(pp, eps, 1.0 - eps)
    return float(-np.mean(np.where(yy, np.log(pp), np.log1p(-pp))))


def accuracy(y: Any, p: Any, threshold: float = 0.5) -> float:
    """Share of rows where ``p >= threshold`` agrees with the label."""
    yy, pp = _labels_scores(y, p)
    if len(yy) == 0:
        return float("nan")
    return float(np.mean((pp >= threshold) == yy))


# ---------------------------------------------------------------- ranking


def ranked_columns(
    scores: Any | Scorer,
    train_seen: Sequence[Any] | None,
    users: np.ndarray,
    k: int,
    batch_size: int = 512,
) -> torch.Tensor:
    """[len(users), min(k, items)] top columns per user, seen items masked.

    Ranked by ``serving.scoring`` (ties by column ascending), as users see their lists.
    """
    tops = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        if callable(scores):
            block = scores(batch)
        else:
            block = scores[torch.from_numpy(batch) if isinstance(scores, torch.Tensor) else batch]
        block = torch.as_tensor(np.asarray(block) if not isinstance(block, torch.Tensor) else block)
        block = block.detach().cpu().reshape(len(batch), -1)
        seen = list_cells(train_seen, batch) if train_seen is not None else ((), ())
        tops.append(top_k(mask(block, *seen), k))
    return torch.cat(tops) if tops else torch.zeros((0, 0), dtype=torch.int64)


def judge_lists(top: torch.Tensor, positives: Sequence[Any], k: int) -> dict[str, float]:
    """Mean HR@K, NDCG@K, precision@K, recall@K and MRR@K of ranked lists against positives.

    ``top`` [users, <=k] holds columns best first; ``positives[r]`` the columns of row
    r's held-out positives (each row needs at least one).
    """
    keys = ("hr", "ndcg", "precision", "recall", "mrr")
    if len(top) == 0:
        return dict.fromkeys(keys, float("nan"))
    rows, cols = list_cells(positives, np.arange(len(top)))
    width = int(max(top.max().item(), cols.max(initial=0))) + 1
    relevant = torch.zeros((len(top), width), dtype=torch.float64)
    relevant[torch.from_numpy(rows), torch.from_numpy(cols)] = 1.0
    kk = top.shape[1]
    # -1 pads a list that had fewer candidates than K: never a hit
    hits = relevant.gather(1, top.clamp(min=0)) * (top >= 0)
    n_hits = hits.sum(1)
    n_pos = relevant.sum(1)
    disc = 1.0 / torch.log2(torch.arange(2, kk + 2, dtype=torch.float64))
    dcg = (hits * disc).sum(1)
    ideal = torch.cumsum(disc, 0)[(torch.clamp(n_pos, max=kk) - 1).long()]
    # MRR: 1 / rank of the first hit, 0 without a hit
    first = torch.where(n_hits > 0, 1.0 / (hits.argmax(1) + 1).double(), 0.0)
    per_user = torch.stack(
        [(n_hits > 0).double(), dcg / ideal, n_hits / k, n_hits / n_pos, first], 1
    )
    return dict(zip(keys, per_user.mean(0).tolist(), strict=True))


def ranking_metrics(
    scores: Any | Scorer,
    train_seen: Sequence[Any] | None,
    test_pos: Sequence[Any],
    k: int = 10,
    *,
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@K, NDCG@K, precision@K, recall@K and MRR@K over users with held-out positives.

    ``scores`` is a [n_users, n_items] array/tensor, or a scorer called with an int64
    array of user indices returning [len, n_items] scores. ``train_seen[u]`` and
    ``test_pos[u]`` list item indices of user index ``u``; seen items are never ranked
    (a scores matrix may also hold -inf there, and ``train_seen`` may be None).
    """
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = int(k)
    n_pos = np.fromiter((len(np.atleast_1d(p)) for p in test_pos), np.int64, len(test_pos))
    users = np.flatnonzero(n_pos > 0)
    top = ranked_columns(scores, train_seen, users, k, batch_size)
    return judge_lists(top, [test_pos[int(u)] for u in users], k)


def catalogue_coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one list."""
    listed = np.unique(np.asarray(top)[np.asarray(top) >= 0])
    return float(len(listed) / n_items) if n_items else float("nan")


def mean_popularity_rank(top: np.ndarray, pop_rank: np.ndarray) -> float:
    """Mean popularity rank (1 = most rated in training) over every listed item."""
    t = np.asarray(top)
    listed = t[t >= 0]
    return float(np.mean(np.asarray(pop_rank)[listed])) if len(listed) else float("nan")
