"""Item-kNN: cosine item-item similarity on co-occurrence, ``k`` neighbours per item."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import RunError
from widedeep_core.retrieval._base import (
    DEFAULT_KNN_NEIGHBOURS,
    Retrieval,
    stored_array,
)


class ItemKNN(Retrieval):
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

    array_keys = ("data", "indices", "indptr")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The name and the sparse similarity matrix's CSR arrays."""
        w = self.w.tocsr()
        return {"name": np.array(self.name), "data": w.data, "indices": w.indices,
                "indptr": w.indptr}  # fmt: skip

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], x: sp.csr_matrix, where: str = "retrieval"
    ) -> ItemKNN:
        """The stored similarities, checked (a CSR matrix over the catalogue of ``x``:
        indices in range, indptr non-decreasing from 0 to nnz, finite weights) before
        scipy sees them: out-of-range indices make scipy read and write out of bounds."""
        n_items = x.shape[1]
        indptr = stored_array(
            arrays, "indptr", where, kinds="iu", ndim=1, shape=(n_items + 1,)
        ).astype(np.int64)
        nnz = int(indptr[-1]) if len(indptr) else 0
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise RunError(f"{where}: 'indptr' must rise from 0 (a CSR row pointer)")
        if nnz > n_items * n_items:
            raise RunError(f"{where}: {nnz} similarities for {n_items} movies is too many")
        indices = stored_array(
            arrays, "indices", where, kinds="iu", ndim=1, shape=(nnz,), bounds=(0, n_items - 1)
        ).astype(np.int32)
        data = stored_array(arrays, "data", where, kinds="f", ndim=1, shape=(nnz,), finite=True)
        model = cls.__new__(cls)
        model.x = x.tocsr().astype(np.float32)
        model.n_items = n_items
        model.w = sp.csr_matrix(
            (data.astype(np.float32), indices, indptr.astype(np.int32)), shape=(n_items, n_items)
        )
        return model

    def because(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's rated items most similar to ``item``."""
        own = self.x[int(user)].indices
        w = np.asarray(self.w[own, int(item)].todense()).ravel()
        order = [o for o in np.lexsort((own, -w)) if w[o] > 0][:n]
        return [(int(own[o]), float(w[o])) for o in order]


__all__ = ["ItemKNN"]
