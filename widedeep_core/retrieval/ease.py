"""EASE^R (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data").

``P = (X^T X + lambda I)^-1``, ``B = I - P / diag(P)`` (column j divided by P[j, j]),
so ``diag(B) = 0`` and a user's score of item i is ``sum_j X[u, j] B[j, i]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import RunError
from widedeep_core.retrieval._base import (
    DEFAULT_LAMBDA,
    Retrieval,
    check_lambda,
    column_counts,
    stored_array,
    stored_name,
)
from widedeep_core.retrieval.products import column_blocks, gram, sparse_dense


def ease_weights(x: sp.spmatrix, lam: float) -> np.ndarray:
    """EASE^R item-item weights B (float32, zero diagonal) in closed form."""
    lam = check_lambda(lam)
    import torch

    g = gram(x)
    g.diagonal().add_(lam)
    # G is symmetric positive definite: inverted through its Cholesky factor (LAPACK
    # potrf + potri), 1.5x scipy's cho_solve against the identity and 1.4x a general
    # inverse on ML-1M; float64, because a small lambda leaves G ill-conditioned
    # in place where it can be: at most two n^2 float64 matrices live at once (G or P and
    # the factor), then the float32 result
    factor = torch.linalg.cholesky(g)
    del g
    p = torch.cholesky_inverse(factor)
    del factor
    p.div_(-p.diagonal().clone()[None, :])
    p.fill_diagonal_(0.0)
    return p.float().contiguous().numpy()  # row-major: scipy copies any other layout per product


class EASE(Retrieval):
    """EASE^R on all items, or on the ``max_items`` most-rated ones (the others score -inf)."""

    def __init__(self, x: sp.csr_matrix, lam: float = DEFAULT_LAMBDA, max_items: int | None = None):
        self.lam = check_lambda(lam)
        self.n_items = x.shape[1]
        self.x = x.tocsr()
        counts = column_counts(x)
        if max_items is not None and max_items < self.n_items:
            keep = np.sort(np.argsort(-counts, kind="stable")[:max_items])
            self.name = f"ease-top{max_items}"
        else:
            keep = np.arange(self.n_items)
            self.name = "ease"
        self.items = keep  # item indices the weights cover, ascending
        self.set_weights(ease_weights(self.x[:, keep], self.lam))

    def set_weights(self, b: np.ndarray) -> None:
        """Keep B [covered, covered] as the column blocks the scoring reads (one copy)."""
        self._blocks = column_blocks(b)
        self._width = max((int(blk.shape[1]) for blk in self._blocks), default=1)

    @property
    def b(self) -> np.ndarray:
        """B as one float32 array [covered, covered] (a copy of the blocks)."""
        import torch

        if not self._blocks:
            return np.zeros((len(self.items), 0), np.float32)
        return torch.cat(self._blocks, dim=1).numpy()

    def score_covered(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """X[users] B over the covered items only, and those items (None: all of them)."""
        xu = self.x[np.asarray(users, dtype=np.int64)][:, self.items]
        s = sparse_dense(xu, self._blocks).numpy()
        return s, (None if len(self.items) == self.n_items else self.items)

    def score(self, users: np.ndarray) -> np.ndarray:
        """X[users] B; items outside the covered set score -inf."""
        s, covered = self.score_covered(users)
        if covered is None:
            return s
        out = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        out[:, covered] = s
        return out

    array_keys = ("b", "items", "lam")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The name, B, the item indices it covers and lambda."""
        return {"name": np.array(self.name), "b": self.b, "items": self.items,
                "lam": np.array(self.lam)}  # fmt: skip

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], x: sp.csr_matrix, where: str = "retrieval"
    ) -> EASE:
        """The stored B on the covered items, checked against the catalogue of ``x``."""
        n_items = x.shape[1]
        items = stored_array(
            arrays, "items", where, kinds="iu", ndim=1, bounds=(0, n_items - 1)
        ).astype(np.int64)
        if len(items) > n_items or (len(items) > 1 and np.any(np.diff(items) <= 0)):
            raise RunError(f"{where}: 'items' must be distinct catalogue columns, ascending")
        b = stored_array(
            arrays, "b", where, kinds="f", ndim=2, shape=(len(items), len(items)), finite=True
        )
        lam = stored_array(arrays, "lam", where, kinds="fiu", ndim=0, finite=True)
        model = cls.__new__(cls)
        model.name = stored_name(arrays, where)
        model.lam = check_lambda(float(lam))
        model.n_items = n_items
        model.x = x.tocsr()
        model.items = items
        model.set_weights(np.ascontiguousarray(b, dtype=np.float32))
        return model

    def because(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's rated items j with the largest B[j, item] (their share of the score)."""
        col = np.searchsorted(self.items, item)
        if col >= len(self.items) or self.items[col] != item:
            return []
        row = self.x[int(user)]
        own = row.indices[np.isin(row.indices, self.items)]
        if not len(own):
            return []
        block, at = divmod(int(col), self._width)
        w = self._blocks[block][np.searchsorted(self.items, own), at].numpy()
        order = np.lexsort((own, -w))[:n]
        return [(int(own[o]), float(w[o])) for o in order]


__all__ = ["EASE", "ease_weights"]
