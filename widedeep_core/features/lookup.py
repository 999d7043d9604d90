"""Vectorised value -> code lookups: a field's values to ``1..V`` (0: out of vocabulary),
and a cross's pairs of codes to its own codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

_DENSE_LIMIT = 1 << 22  # largest dense lookup table (int64 entries, 32 MiB)


class Lookup:
    """Maps values to ``1..V`` (their position in ``vocab`` plus one), anything else to 0."""

    def __init__(self, vocab: np.ndarray):
        self.vocab = vocab
        self._dense: np.ndarray | None = None
        self._index: pd.Index | None = None
        if vocab.dtype.kind in "iu" and len(vocab):
            lo, hi = int(vocab.min()), int(vocab.max())
            if lo >= 0 and hi < _DENSE_LIMIT:
                # a dense table indexed by the id: ~10x faster than hashing 1M ids
                self._dense = np.zeros(hi + 1, dtype=np.int64)
                self._dense[vocab] = np.arange(1, len(vocab) + 1)
        if self._dense is None:
            self._index = pd.Index(vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def codes(self, values: np.ndarray) -> np.ndarray:
        """int64 codes of ``values`` (0 = out of vocabulary)."""
        if len(self.vocab) == 0 or len(values) == 0:
            return np.zeros(len(values), dtype=np.int64)
        if self._dense is not None:
            if values.dtype.kind not in "iu":
                return self._hash_codes(values)
            v = values.astype(np.int64, copy=False)
            ok = (v >= 0) & (v < len(self._dense))
            return np.where(ok, self._dense[np.where(ok, v, 0)], 0)
        return self._hash_codes(values)

    def _hash_codes(self, values: np.ndarray) -> np.ndarray:
        if self._index is None:
            self._index = pd.Index(self.vocab)
        return self._index.get_indexer(values).astype(np.int64) + 1


class CrossLookup:
    """Codes of pairs of component codes; keys are ``ca * (nb + 1) + cb`` in sorted order."""

    def __init__(self, keys: np.ndarray, nb: int, na: int):
        self.keys = keys
        self.nb = nb
        self._dense: np.ndarray | None = None
        if (na + 1) * (nb + 1) <= _DENSE_LIMIT:
            self._dense = np.zeros((na + 1) * (nb + 1), dtype=np.int64)
            self._dense[keys] = np.arange(1, len(keys) + 1)

    def codes(self, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        """Codes of the pairs (``ca`` broadcast against ``cb``), 0 when unseen."""
        key = ca * (self.nb + 1) + cb
        if self._dense is not None:
            return self._dense[key]
        if len(self.keys) == 0:
            return np.zeros_like(key)
        pos = np.searchsorted(self.keys, key)
        pos = np.minimum(pos, len(self.keys) - 1)
        return np.where(self.keys[pos] == key, pos + 1, 0)


__all__ = ["CrossLookup", "Lookup"]
