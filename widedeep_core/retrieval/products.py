"""The two heavy products of the retrieval models, on torch's threads: sparse x dense and
the gram matrix ``X^T X``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import torch

# Floats of one column block of the dense side of ``sparse_dense`` (4 MiB): a block that
# stays in cache made ML-1M's gram 2.8x and its scoring 3x faster than whole rows.
_BLOCK_FLOATS = 1 << 20
# ``gram`` through ``sparse_dense`` costs ~nnz * n_items vectorised adds, scipy's sparse
# product ~sum(degree^2) hashed ones, ~30x dearer each (ML-1M: 0.36 s against 1.3-1.9 s).
_DENSE_GRAM_RATIO = 30.0


def column_blocks(dense: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
    """``dense`` [n, m] as contiguous float32 column blocks of ~``_BLOCK_FLOATS`` each, the
    layout ``sparse_dense`` reads: a model scoring many small user blocks keeps them, so
    its weights are not copied into blocks on every call."""
    import torch

    w = torch.as_tensor(dense, dtype=torch.float32)
    n, m = w.shape
    step = max(32, _BLOCK_FLOATS // max(n, 1))
    # one allocation, each block a contiguous stretch of it: 4 MiB blocks allocated one by
    # one sit below malloc's mmap threshold, and freed they stayed in the heap (a 5M-rating
    # topn run kept ~2 GB of dead fold models' blocks in its RSS)
    flat = torch.empty(n * m, dtype=torch.float32, device=w.device)
    blocks = []
    for start in range(0, m, step):
        width = min(step, m - start)
        block = flat[start * n : (start + width) * n].view(n, width)
        block.copy_(w[:, start : start + width])
        blocks.append(block)
    return blocks


def sparse_dense(
    x: sp.spmatrix, dense: np.ndarray | torch.Tensor | list[torch.Tensor]
) -> torch.Tensor:
    """``x @ dense`` (float32) for a sparse ``x``: each row of the product sums the rows of
    ``dense`` that the row of ``x`` selects, weighted by its values (``F.embedding_bag``
    over the CSR arrays, one cache-sized column block of ``dense`` at a time). Same
    float32 sums as scipy's product, on torch's threads where scipy's uses one core.
    ``dense`` may be given as its ``column_blocks``."""
    import torch
    import torch.nn.functional as F

    x = sp.csr_matrix(x)
    blocks = dense if isinstance(dense, list) else column_blocks(dense)
    n_cols = sum(int(b.shape[1]) for b in blocks)
    out = torch.zeros(x.shape[0], n_cols, dtype=torch.float32)
    if x.nnz == 0 or not blocks:
        return out
    device = blocks[0].device
    out = out.to(device)
    idx = torch.from_numpy(x.indices.astype(np.int64)).to(device)
    offsets = torch.from_numpy(x.indptr.astype(np.int64)).to(device)
    weights = None
    if not np.all(x.data == 1):
        weights = torch.from_numpy(x.data.astype(np.float32)).to(device)
    start = 0
    for block in blocks:
        stop = start + int(block.shape[1])
        out[:, start:stop] = F.embedding_bag(
            idx, block, offsets, mode="sum", per_sample_weights=weights, include_last_offset=True
        )
        start = stop
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


__all__ = ["column_blocks", "gram", "sparse_dense"]
