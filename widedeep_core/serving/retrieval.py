"""Top-N baselines and the retrieval stage: popularity, EASE^R and an item-kNN.

numpy and scipy for the matrices; torch for the heavy products: the EASE^R inverse
(LAPACK) and every sparse-times-dense product (``sparse_dense``), both threaded where
scipy's are not.

Every model is fitted on a binary user x item interaction matrix ``X`` (CSR, rows =
user indices, columns = item indices; 1 where the user rated the movie in training)
and exposes the same small interface:

- ``name``: what ran, for the output ("popularity", "ease", "ease-top20000", "item-knn");
- ``score(users)``: dense float32 scores [len(users), n_items] of a block of users;
- ``iter_scores(users, block_size)``: the same, block by block, for large catalogues;
- ``because(user, item, n)``: the user's own items that brought ``item`` in, with
  their weights (empty for popularity).

Ranking is left to the caller (one kernel, one tie-break rule); ``top_items`` here is
the reference implementation of that rule: highest score first, ties by item index
ascending, items the user rated in training never listed.

EASE^R is Steck (2019), "Embarrassingly Shallow Autoencoders for Sparse Data":
``P = (X^T X + lambda I)^-1``, ``B = I - P / diag(P)`` (column j divided by P[j, j]),
so ``diag(B) = 0`` and a user's score of item i is ``sum_j X[u, j] B[j, i]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import ConfigError

if TYPE_CHECKING:
    import torch

# One dense n_items^2 float64 inverse: 20k items are 3.2 GB and minutes of LAPACK;
# above this, EASE runs on the most-rated items only (the "ease-top" route).
EASE_MAX_ITEMS = 20_000
DEFAULT_LAMBDA = 500.0
DEFAULT_KNN_NEIGHBOURS = 100


def interaction_matrix(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> sp.csr_matrix:
    """Binary CSR matrix [n_users, n_items] with a 1 at each (user index, item index) pair."""
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    x = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(n_users, n_items))
    x.sum_duplicates()
    x.data[:] = 1.0  # a pair rated twice is still one interaction
    return x


def check_lambda(lam: float, field: str = "ease_lambda") -> float:
    """The L2 weight of EASE^R as a float; a ConfigError unless it is finite and > 0."""
    try:
        value = float(lam)
    except (TypeError, ValueError) as exc:
        raise ConfigError(field, f"must be a number, got {lam!r}") from exc
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(field, f"must be a positive number (e.g. 500), got {lam!r}")
    return value


class _Scorer:
    """Shared block iteration over users."""

    name = "baseline"
    n_items = 0

    def score(self, users: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Dense float32 scores [len(users), n_items]."""
        raise NotImplementedError

    def iter_scores(
        self, users: np.ndarray, block_size: int = 1024
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(user indices, scores) for consecutive blocks of ``users``."""
        users = np.asarray(users, dtype=np.int64)
        for start in range(0, len(users), block_size):
            block = users[start : start + block_size]
            yield block, self.score(block)

    def because(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's items that contributed most to ``item`` (none for this model)."""
        return []


class Popularity(_Scorer):
    """Every user gets the training counts of each movie."""

    name = "popularity"

    def __init__(self, x: sp.csr_matrix):
        self.n_items = x.shape[1]
        self.counts = np.asarray(x.sum(axis=0)).ravel().astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        """The train counts, repeated for each user of the block."""
        return np.broadcast_to(self.counts, (len(users), self.n_items)).copy()


def popularity_rank(counts: np.ndarray) -> np.ndarray:
    """Rank of each item by training count: 1 = most rated, ties by item index ascending."""
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    rank = np.empty(len(counts), dtype=np.int64)
    rank[order] = np.arange(1, len(counts) + 1)
    return rank


# Floats of one column block of the dense side of ``sparse_dense`` (4 MiB): a block that
# stays in cache made ML-1M's gram 2.8x and its scoring 3x faster than whole rows.
_BLOCK_FLOATS = 1 << 20
# ``gram`` through ``sparse_dense`` costs ~nnz * n_items vectorised adds, scipy's sparse
# product ~sum(degree^2) hashed ones, ~30x dearer each (ML-1M: 0.36 s against 1.3-1.9 s).
_DENSE_GRAM_RATIO = 30.0


def sparse_dense(x: sp.spmatrix, dense: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``x @ dense`` (float32) for a sparse ``x``: each row of the product sums the rows of
    ``dense`` that the row of ``x`` selects, weighted by its values (``F.embedding_bag``
    over the CSR arrays, one cache-sized column block of ``dense`` at a time). Same
    float32 sums as scipy's product, on torch's threads where scipy's uses one core."""
    import torch
    import torch.nn.functional as F

    x = sp.csr_matrix(x)
    w = torch.as_tensor(dense, dtype=torch.float32)
    out = w.new_zeros(x.shape[0], w.shape[1])
    if x.nnz == 0:
        return out
    idx = torch.from_numpy(x.indices.astype(np.int64)).to(w.device)
    offsets = torch.from_numpy(x.indptr.astype(np.int64)).to(w.device)
    weights = None
    if not np.all(x.data == 1):
        weights = torch.from_numpy(x.data.astype(np.float32)).to(w.device)
    step = max(32, _BLOCK_FLOATS // max(w.shape[0], 1))
    for start in range(0, w.shape[1], step):
        block = w[:, start : start + step].contiguous()
        out[:, start : start + step] = F.embedding_bag(
            idx, block, offsets, mode="sum", per_sample_weights=weights, include_last_offset=True
        )
    return out


def gram(x: sp.spmatrix) -> torch.Tensor:
    """``X^T X`` as a dense float64 tensor, by whichever product costs less: ``sparse_dense``
    of X^T against dense column blocks of X (exact for a 0/1 matrix: float32 sums of
    counts below 2^24), or scipy's sparse product when X is large and very sparse
    (ML-20M's scale) or not 0/1."""
    import torch

    x = sp.csr_matrix(x)
    n_users, n_items = x.shape
    degrees = np.diff(x.indptr).astype(np.float64)
    # the dense route sums in float32: exact for 0/1 entries only
    binary = bool(np.all(x.data == 1))
    if not binary or x.nnz * n_items > _DENSE_GRAM_RATIO * float(degrees @ degrees):
        return torch.from_numpy((x.T.tocsr() @ x).toarray().astype(np.float64))
    xc = x.tocsc()
    xt = xc.T  # CSR [items, users]
    out = torch.empty((n_items, n_items), dtype=torch.float64)
    step = max(32, _BLOCK_FLOATS // max(n_users, 1))
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        # row-major: embedding_bag reads whole rows (a column-major block was 30x slower)
        cols = xc[:, start:stop].toarray(order="C").astype(np.float32, copy=False)
        out[:, start:stop] = sparse_dense(xt, cols)
    return out


def ease_weights(x: sp.spmatrix, lam: float) -> np.ndarray:
    """EASE^R item-item weights B (float32, zero diagonal) in closed form."""
    lam = check_lambda(lam)
    import torch

    g = gram(x)
    g.diagonal().add_(lam)
    # G is symmetric positive definite: inverted through its Cholesky factor (LAPACK
    # potrf + potri), 1.5x scipy's cho_solve against the identity and 1.4x a general
    # inverse on ML-1M; float64, because a small lambda leaves G ill-conditioned
    p = torch.cholesky_inverse(torch.linalg.cholesky(g))
    b = p / -p.diagonal()[None, :]
    b.fill_diagonal_(0.0)
    return b.float().contiguous().numpy()  # row-major: scipy copies any other layout per product


class EASE(_Scorer):
    """EASE^R on all items, or on the ``max_items`` most-rated ones (the others score -inf)."""

    def __init__(self, x: sp.csr_matrix, lam: float = DEFAULT_LAMBDA, max_items: int | None = None):
        self.lam = check_lambda(lam)
        self.n_items = x.shape[1]
        self.x = x.tocsr()
        counts = np.asarray(x.sum(axis=0)).ravel()
        if max_items is not None and max_items < self.n_items:
            keep = np.sort(np.argsort(-counts, kind="stable")[:max_items])
            self.name = f"ease-top{max_items}"
        else:
            keep = np.arange(self.n_items)
            self.name = "ease"
        self.items = keep  # item indices the weights cover, ascending
        self.b = ease_weights(self.x[:, keep], self.lam)

    def score(self, users: np.ndarray) -> np.ndarray:
        """X[users] B; items outside the covered set score -inf."""
        xu = self.x[np.asarray(users, dtype=np.int64)][:, self.items]
        s = sparse_dense(xu, self.b).numpy()
        if len(self.items) == self.n_items:
            return s
        out = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        out[:, self.items] = s
        return out

    def because(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's rated items j with the largest B[j, item] (their share of the score)."""
        col = np.searchsorted(self.items, item)
        if col >= len(self.items) or self.items[col] != item:
            return []
        row = self.x[int(user)]
        own = row.indices[np.isin(row.indices, self.items)]
        if not len(own):
            return []
        w = self.b[np.searchsorted(self.items, own), col]
        order = np.lexsort((own, -w))[:n]
        return [(int(own[o]), float(w[o])) for o in order]


class ItemKNN(_Scorer):
    """Cosine item-item similarity on co-occurrence, ``k`` neighbours per item, sparse."""

    name = "item-knn"

    def __init__(self, x: sp.csr_matrix, k: int = DEFAULT_KNN_NEIGHBOURS, block: int = 2048):
        self.x = x.tocsr().astype(np.float32)
        self.n_items = x.shape[1]
        xc = self.x.tocsc()
        norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        xn = (xc @ sp.diags(1.0 / norms)).tocsc()
        rows, cols, vals = [], [], []
        for start in range(0, self.n_items, block):  # column blocks bound the dense memory
            stop = min(start + block, self.n_items)
            sim = np.asarray((xn.T @ xn[:, start:stop]).todense())
            sim[start + np.arange(stop - start), np.arange(stop - start)] = 0.0
            kk = min(k, self.n_items - 1)
            if kk <= 0:
                continue
            top = np.argpartition(-sim, kk - 1, axis=0)[:kk]
            v = np.take_along_axis(sim, top, axis=0)
            keep = v > 0
            rows.append(top[keep])
            cols.append(np.broadcast_to(np.arange(start, stop), top.shape)[keep])
            vals.append(v[keep])
        shape = (self.n_items, self.n_items)
        if rows:
            self.w = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
            )
        else:
            self.w = sp.csr_matrix(shape, dtype=np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        """Sum of the similarities of the user's items to each item."""
        xu = self.x[np.asarray(users, dtype=np.int64)]
        return np.asarray((xu @ self.w).todense(), dtype=np.float32)

    def because(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's rated items most similar to ``item``."""
        own = self.x[int(user)].indices
        w = np.asarray(self.w[own, int(item)].todense()).ravel()
        order = [o for o in np.lexsort((own, -w)) if w[o] > 0][:n]
        return [(int(own[o]), float(w[o])) for o in order]


@dataclass(frozen=True)
class RetrievalChoice:
    """Which retrieval model ``make_retrieval`` picked, and why (for the output)."""

    name: str
    reason: str


def make_retrieval(
    x: sp.csr_matrix,
    kind: str = "auto",
    lam: float = DEFAULT_LAMBDA,
    *,
    max_items: int = EASE_MAX_ITEMS,
    neighbours: int = DEFAULT_KNN_NEIGHBOURS,
) -> tuple[_Scorer, RetrievalChoice]:
    """The retrieval model: "ease", "item-knn", or "auto" (EASE on the whole catalogue
    when it has at most ``max_items`` movies, else EASE on the ``max_items`` most rated)."""
    n_items = x.shape[1]
    if kind == "item-knn":
        return ItemKNN(x, neighbours), RetrievalChoice("item-knn", "asked for")
    if kind not in ("auto", "ease"):
        raise ConfigError("retrieval", f"unknown retrieval {kind!r}; choose auto, ease or item-knn")
    if kind == "ease" or n_items <= max_items:
        return EASE(x, lam), RetrievalChoice("ease", f"{n_items} movies fit one inverse")
    model = EASE(x, lam, max_items=max_items)
    why = f"{n_items} movies > {max_items}: EASE on the {max_items} most-rated movies"
    return model, RetrievalChoice(model.name, why)


def top_items(scores: np.ndarray, seen: sp.csr_matrix | None, n: int) -> np.ndarray:
    """Top ``n`` item indices per row: score descending, ties by item index ascending,
    items marked in ``seen`` (CSR rows aligned with ``scores``) never listed (a row with
    fewer than ``n`` unseen items is padded with -1)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    s[np.isnan(s)] = -np.inf
    if seen is not None and seen.nnz:
        r, c = seen.nonzero()
        s[r, c] = np.nan  # below -inf: a seen item never beats an unseen one
    n = min(int(n), s.shape[1])
    key = np.where(np.isnan(s), np.inf, -s)  # ascending key; seen items last
    # argpartition keeps the candidates, a stable sort on them applies the tie rule
    if n < s.shape[1]:
        kth = np.partition(key, n - 1, axis=1)[:, n - 1 : n]
        cand = key <= kth  # every item tied with the n-th stays in
    else:
        cand = np.ones_like(key, dtype=bool)
    out = np.empty((len(s), n), dtype=np.int64)
    for r in range(len(s)):
        idx = np.flatnonzero(cand[r])
        out[r] = idx[np.argsort(key[r, idx], kind="stable")[:n]]
    out[np.take_along_axis(key, out, axis=1) == np.inf] = -1
    return out
