"""The one ranking kernel: a block of users x candidate items -> logits -> mask -> top-K.

Recommendations (``serving.Recommender``) and the ranking metrics (``evaluation``) all
rank through ``top_k`` here, so the metrics judge exactly the lists users are shown.

Tie-break rule (the only one): candidates are kept sorted by item id, and items with
equal scores rank by item id ascending (a stable descending sort). NaN scores and
masked items (-inf) rank last and are never returned as recommendations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.model.widedeep import predict_parts

# (user, item) pairs scored by one model call: bounds the memory of a block.
PAIRS_PER_CALL = 1 << 18


def users_per_block(n_items: int) -> int:
    """How many users one block scores against ``n_items`` candidates."""
    return max(1, PAIRS_PER_CALL // max(n_items, 1))


@torch.no_grad()
def score_block(
    model: nn.Module,
    encoder: Any,
    data: Any,
    users: np.ndarray,
    items: np.ndarray,
    batch_size: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wide and deep logits of every (user, item) pair: two float32 CPU [users, items].

    The model runs in eval mode in slices of ``max(batch_size, len(items))`` pairs.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    x = encoder.transform_pairs(data, np.repeat(users, len(items)), np.tile(items, len(users)))
    wide, deep = predict_parts(model, x, max(int(batch_size), len(items), 1))
    shape = (len(users), len(items))
    if not len(wide):
        return torch.zeros(shape), torch.zeros(shape)
    return wide.reshape(shape), deep.reshape(shape)


def mask(scores: torch.Tensor, rows: Any, cols: Any) -> torch.Tensor:
    """``scores`` (float64 copy) with -inf at (rows[i], cols[i]) and at NaN scores."""
    out = torch.nan_to_num(_floating(scores), nan=-torch.inf)  # a new tensor: scores stay
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows):
        out[torch.from_numpy(rows), torch.from_numpy(np.asarray(cols, dtype=np.int64))] = -torch.inf
    return out


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[users, min(k, items)] column indices, best first; ties by column ascending.

    With columns in item-id order (``catalogue``), ties break by item id ascending.
    Exactly ``sort(descending=True, stable=True).indices[:, :k]``, without sorting whole
    rows: ``topk`` finds the k-th value, a cumulative count picks the lowest-index ties,
    and only the k winners are sorted.
    """
    s = _floating(scores)
    if torch.isnan(s).any():
        s = torch.nan_to_num(s, nan=-torch.inf)
    b, n = s.shape
    k = min(int(k), n)
    if k == 0 or b == 0:
        return torch.zeros((b, k), dtype=torch.long)
    kth = torch.topk(s, k, dim=1, sorted=False).values.min(1, keepdim=True).values
    above = s > kth
    ties = s == kth
    room = k - above.sum(1, keepdim=True)
    chosen = above | (ties & (torch.cumsum(ties, 1) <= room))
    cols = chosen.nonzero()[:, 1].reshape(b, k)  # ascending column order within a row
    order = torch.sort(s.gather(1, cols), dim=1, descending=True, stable=True).indices
    return cols.gather(1, order)


def _floating(scores: Any) -> torch.Tensor:
    """``scores`` as a float tensor: float32 and float64 kept (both rank alike, since
    float32 -> float64 is exact), anything else as float64."""
    t = torch.as_tensor(scores)
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float64)


def list_cells(lists: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row in block, column) cells of ``lists[r]`` for each r in ``rows`` (for ``mask``)."""
    parts = [np.asarray(lists[r], dtype=np.int64).ravel() for r in rows]
    lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return np.repeat(np.arange(len(rows)), lens), flat


def training_popularity(prep: Any) -> torch.Tensor:
    """How often each catalogue movie (``catalogue(prep.data)``) was rated in the training
    split: the scores a user without training ratings is ranked by (one-stage runs)."""
    cols = rating_codes(prep.data).item_of[prep.split.train]
    n_items = len(catalogue(prep.data))
    return torch.from_numpy(np.bincount(cols, minlength=n_items).astype(np.float64))


def popularity_for_cold(logits: torch.Tensor, cold: np.ndarray, popularity: torch.Tensor):
    """``logits`` (float32 or float64) with the rows of users without training ratings replaced by
    ``popularity``: the model knows nothing of them, so the most-rated movies stand in."""
    out = _floating(logits)
    cold = np.asarray(cold, dtype=bool)
    if cold.any():  # training counts are exact in float32 up to 2^24 ratings per movie
        out = out.clone()
        out[torch.from_numpy(np.flatnonzero(cold))] = popularity.to(out.dtype)
    return out


def fallback_note(users: Any) -> str | None:
    """The one-line notice for users ranked by popularity, or None when there are none."""
    users = [int(u) for u in users]
    if not users:
        return None
    shown = ", ".join(map(str, users[:5])) + (" ..." if len(users) > 5 else "")
    return (
        f"{len(users)} user(s) have no training ratings ({shown}): they get the most-rated "
        "movies (popularity)"
    )
