"""What the lists are made of: coverage, long tail, popularity, novelty, diversity.

The model's top-K lists (the ones its ranking metrics judge) beside the popularity and
EASE^R baselines, fitted and ranked as ``evaluation.baselines`` fits and ranks them:
same judged users, same masked history, the one kernel. Per list row:

- the ranking metrics @K and ``coverage`` / ``pop_rank`` (``baselines.list_columns``);
- ``long_tail``: share of the listed movies in the long tail (``tables.popularity_bucket``);
- ``novelty``: mean self-information -log2(p) of a listed movie, p = (training users
  who rated it + 1) / (training users + 1) (the +1 keeps a never-rated movie finite);
- ``diversity``: intra-list diversity, the mean Jaccard distance between the genre sets
  of two movies of one list (0: all of one genre set, 1: no genre shared), over users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from widedeep_core.diagnostics.subject import Subject
from widedeep_core.diagnostics.tables import popularity_bucket
from widedeep_core.evaluation.baselines import (
    baseline_lambda,
    list_columns,
    train_matrix,
    training_pop_rank,
)
from widedeep_core.evaluation.metrics import ranked_columns
from widedeep_core.retrieval import Popularity, make_retrieval

N_DECILES = 10


def baseline_lists(s: Subject) -> dict[str, np.ndarray]:
    """The popularity and EASE^R top-K lists of the judged users: {"popularity", "ease"}."""
    x, all_users, _ = train_matrix(s.prep)
    user_rows = np.searchsorted(all_users, s.judged.user_ids)
    ease, _ = make_retrieval(x, "auto", baseline_lambda(s.trained.config))
    out: dict[str, np.ndarray] = {}
    for name, model in (("popularity", Popularity(x)), ("ease", ease)):
        top = ranked_columns(
            lambda b, m=model: m.score(user_rows[b]),  # type: ignore[misc]
            s.judged.seen,
            np.arange(len(user_rows)),
            s.k,
        )
        out[name] = np.asarray(top, dtype=np.int64)
    return out


def genre_matrix(s: Subject) -> np.ndarray:
    """bool [catalogue, genres]: each catalogue movie's genres (none for an unlisted one)."""
    movies = s.prep.loaded.movies
    items = s.items
    genres = sorted({g for gs in movies["genres"] for g in gs})
    col = {g: j for j, g in enumerate(genres)}
    out = np.zeros((len(items), max(len(genres), 1)), dtype=bool)
    pos = np.searchsorted(items, movies["item"].to_numpy(dtype=np.int64))
    ok = (pos < len(items)) & (items[np.minimum(pos, len(items) - 1)] == movies["item"].to_numpy())
    for p, gs in zip(pos[ok], movies["genres"].to_numpy()[ok], strict=True):
        for g in gs:
            out[p, col[g]] = True
    return out


def intra_list_diversity(top: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """Per list: mean Jaccard distance of the genre sets of its pairs of real entries
    (nan for a list of fewer than two)."""
    top = np.asarray(top, dtype=np.int64)
    real = top >= 0
    g = genres[np.maximum(top, 0)].astype(np.float64) * real[..., None]  # [u, k, G]
    inter = np.einsum("ukg,ujg->ukj", g, g)
    size = g.sum(2)
    union = size[:, :, None] + size[:, None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(union > 0, 1.0 - inter / union, 0.0)
    pair = real[:, :, None] & real[:, None, :]
    pair &= ~np.eye(top.shape[1], dtype=bool)[None]
    n_pairs = pair.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pairs > 0, (dist * pair).sum((1, 2)) / n_pairs, np.nan)


def list_table(s: Subject, lists: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per ranker (model, popularity, ease): the columns of the module docstring."""
    pop_rank = training_pop_rank(s.prep)
    counts = s.item_train_counts()
    tail = popularity_bucket(counts) == 2
    train_users = s.user_train_counts()
    n_train_users = int((train_users > 0).sum())
    x, _, _ = train_matrix(s.prep)
    raters = np.asarray((x > 0).sum(0)).ravel().astype(np.float64)  # users per movie
    info = -np.log2((raters + 1.0) / (n_train_users + 1.0))
    genres = genre_matrix(s)
    out = []
    for name, top in lists.items():
        listed = top[top >= 0]
        row: dict[str, object] = {"ranker": name}
        row.update(list_columns(top, s.judged.positives, s.k, pop_rank))
        row["long_tail"] = float(tail[listed].mean()) if len(listed) else float("nan")
        row["novelty"] = float(info[listed].mean()) if len(listed) else float("nan")
        ild = intra_list_diversity(top, genres)
        row["diversity"] = float(np.nanmean(ild)) if np.isfinite(ild).any() else float("nan")
        row["lists"] = len(top)
        out.append(row)
    return pd.DataFrame(out)


def popularity_distribution(s: Subject, lists: dict[str, np.ndarray]) -> pd.DataFrame:
    """The catalogue in popularity deciles (1: the tenth rated most in training): each
    decile's share of the catalogue, of the training ratings and of each ranker's list
    slots. A ranker that lists the catalogue evenly has a share near 0.1 everywhere."""
    pop_rank = training_pop_rank(s.prep)
    n = len(pop_rank)
    decile = np.minimum((pop_rank - 1) * N_DECILES // max(n, 1), N_DECILES - 1)
    counts = s.item_train_counts()
    table = pd.DataFrame({"decile": np.arange(1, N_DECILES + 1)})
    table["items"] = np.bincount(decile, minlength=N_DECILES)
    table["catalogue_share"] = table["items"] / max(n, 1)
    table["train_share"] = np.bincount(decile, weights=counts, minlength=N_DECILES) / max(
        counts.sum(), 1
    )
    for name, top in lists.items():
        listed = top[top >= 0]
        table[f"{name}_share"] = np.bincount(decile[listed], minlength=N_DECILES) / max(
            len(listed), 1
        )
    return table


__all__ = [
    "baseline_lists",
    "genre_matrix",
    "intra_list_diversity",
    "list_table",
    "popularity_distribution",
]
