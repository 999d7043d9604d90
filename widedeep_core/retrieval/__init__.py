"""Retrieval models, one family: popularity, EASE^R and item-kNN (``_base.Retrieval``).

Used as top-N baselines beside every evaluation and as the first stage of a two-stage
run. numpy and scipy for the matrices; torch for the heavy products (``products``).
``make_retrieval`` picks and fits one; ``retrieval_from_arrays`` restores a stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from widedeep_core.errors import ConfigError, RunError
from widedeep_core.retrieval._base import (
    DEFAULT_KNN_NEIGHBOURS,
    DEFAULT_LAMBDA,
    EASE_MAX_ITEMS,
    Retrieval,
    check_lambda,
    column_counts,
    interaction_matrix,
    stored_name,
)
from widedeep_core.retrieval.ease import EASE, ease_weights
from widedeep_core.retrieval.item_knn import ItemKNN
from widedeep_core.retrieval.popularity import Popularity, popularity_rank
from widedeep_core.retrieval.products import gram, sparse_dense


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
) -> tuple[Retrieval, RetrievalChoice]:
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


def retrieval_from_arrays(
    arrays: Mapping[str, np.ndarray], x: sp.csr_matrix, where: str = "retrieval"
) -> Retrieval:
    """The model whose ``to_arrays`` made ``arrays``, over the training matrix ``x``; a
    RunError naming ``where`` when the arrays are not one of ours or are damaged."""
    name = stored_name(arrays, where)
    family: type[Retrieval] | None = (
        ItemKNN if name == "item-knn" else EASE if name.startswith("ease") else None
    )
    if name == "popularity":
        family = Popularity
    if family is None:
        raise RunError(f"{where}: unknown retrieval model {name!r}")
    return family.from_arrays(arrays, x, where)


__all__ = [
    "DEFAULT_KNN_NEIGHBOURS",
    "DEFAULT_LAMBDA",
    "EASE",
    "EASE_MAX_ITEMS",
    "ItemKNN",
    "Popularity",
    "Retrieval",
    "RetrievalChoice",
    "check_lambda",
    "column_counts",
    "ease_weights",
    "gram",
    "interaction_matrix",
    "make_retrieval",
    "popularity_rank",
    "retrieval_from_arrays",
    "sparse_dense",
]
