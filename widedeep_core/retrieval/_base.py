"""What every retrieval model is: fitted on a binary user x item matrix, it scores users.

A model is fitted on ``X`` (CSR, rows = user indices, columns = item indices; 1 where
the user rated the movie in training) and exposes:

- ``name``: what ran, for the output ("popularity", "ease", "ease-top8192", "item-knn");
- ``score(users)``: dense float32 scores [len(users), n_items] of a block of users;
- ``iter_scores(users, block_size)``: the same, block by block, for large catalogues;
- ``because(user, item, n)``: the user's own items that brought ``item`` in, with
  their weights (empty for popularity);
- ``to_arrays()`` / ``from_arrays(arrays, x)``: the fitted state as named numpy arrays
  (a run's ``retrieval.npz``) and back, every array checked before use.

Ranking is left to the caller (``ranking.kernel``: one kernel, one tie-break rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import ConfigError, RunError

# One dense n_items^2 float64 inverse costs ~n^3 and two n^2 float64 matrices. Measured
# here (2 cores): 8k items 7.7 s and 1.1 GB at the peak, 20k items ~2 min and 6.4 GB (a
# two-stage run fits 12 of them). Above this, EASE runs on the most-rated items only
# (the "ease-top" route): on ml-100k, EASE on the most-rated half of the movies (93% of
# the ratings) scores the same validation NDCG@10 as on all of them (0.2583 vs 0.2566),
# on 30% (78% of the ratings) 0.2560; the cap touches ML-10M and larger catalogues only.
EASE_MAX_ITEMS = 8192
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


def column_counts(x: sp.spmatrix) -> np.ndarray:
    """How many users interacted with each item (column sums of ``X``, float64): the
    popularity that the baseline ranks by, that stands in for users without ratings
    and that weights popular negatives."""
    return np.asarray(x.sum(axis=0), dtype=np.float64).ravel()


class Retrieval:
    """The shared interface: block iteration over users, no explanation by default."""

    name = "baseline"
    n_items = 0
    # the keys ``to_arrays`` writes (after the name): how a stored model is recognised
    array_keys: ClassVar[tuple[str, ...]] = ()

    def score(self, users: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Dense float32 scores [len(users), n_items]."""
        raise NotImplementedError

    def score_covered(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores over the items the model covers and those item indices (None: every
        item, as ``score``); the items it leaves out score -inf in ``score``."""
        return self.score(users), None

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

    def to_arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        """The fitted state as named arrays, ``name`` included."""
        raise NotImplementedError

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], x: sp.csr_matrix, where: str = "retrieval"
    ) -> Retrieval:  # pragma: no cover - abstract
        """The model ``to_arrays`` stored, scoring the users of ``x`` (its training matrix)."""
        raise NotImplementedError


def stored_array(
    arrays: Mapping[str, Any],
    key: str,
    where: str,
    *,
    kinds: str,
    ndim: int,
    shape: tuple[int | None, ...] | None = None,
    bounds: tuple[float, float] | None = None,
    finite: bool = False,
) -> np.ndarray:
    """One array of a stored model, checked before use: present, of a numpy kind in
    ``kinds`` ("f" float, "i" signed, "u" unsigned), ``ndim`` dimensions, the given
    ``shape`` (None: any length), values in ``bounds`` and finite where asked; else a
    RunError naming ``where`` and the problem."""
    if key not in arrays:
        raise RunError(f"{where}: the array {key!r} is missing")
    a = np.asarray(arrays[key])
    if a.dtype.kind not in kinds or a.ndim != ndim:
        raise RunError(
            f"{where}: {key!r} is a {a.ndim}-dimensional {a.dtype} array; "
            f"expected {ndim} dimension(s) of kind {kinds!r}"
        )
    if shape is not None and any(
        want is not None and got != want for got, want in zip(a.shape, shape, strict=True)
    ):
        raise RunError(f"{where}: {key!r} has shape {a.shape}, expected {shape}")
    if finite and a.size and not np.isfinite(a).all():
        raise RunError(f"{where}: {key!r} holds NaN or infinite values")
    if bounds is not None and a.size and (a.min() < bounds[0] or a.max() > bounds[1]):
        raise RunError(
            f"{where}: {key!r} holds values outside {bounds[0]:g}..{bounds[1]:g} "
            f"({a.min():g}..{a.max():g})"
        )
    return a


def stored_name(arrays: Mapping[str, Any], where: str) -> str:
    """The ``name`` of a stored model, as text."""
    name = stored_array(arrays, "name", where, kinds="U", ndim=0)
    return str(name)


__all__ = [
    "DEFAULT_KNN_NEIGHBOURS",
    "DEFAULT_LAMBDA",
    "EASE_MAX_ITEMS",
    "Retrieval",
    "check_lambda",
    "column_counts",
    "interaction_matrix",
    "stored_array",
    "stored_name",
]
