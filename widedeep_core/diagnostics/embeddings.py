"""What the movie embeddings learned: a 2D PCA map and nearest neighbours.

The deep part's "item" rows (one vector per movie of the training vocabulary; the OOV
row left out). PCA by numpy's SVD of the centred vectors; each component's sign is
fixed so that its largest loading is positive (a run maps the same way every time).
Neighbours: cosine similarity between movie vectors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from widedeep_core.errors import RunError
from widedeep_core.serving import Trained

ITEM = "item"


def item_vectors(trained: Trained) -> tuple[np.ndarray, np.ndarray] | None:
    """(movie ids, float64 [movies, dim] deep embeddings); None when the deep part has
    no movie field."""
    model = trained.model
    part = model.deep
    if part is None or ITEM not in part.offsets_by_name:
        return None
    ids = np.asarray(trained.encoder.values(ITEM), dtype=np.int64)
    start = part.offsets_by_name[ITEM]
    # code 0 is the OOV row; code c (c >= 1) is ids[c - 1]
    weight = part.embedding.weight.detach().cpu().double().numpy()
    return ids, weight[start + 1 : start + 1 + len(ids)]


def no_embeddings_note(trained: Trained) -> str:
    """Why a run has no movie map."""
    fields = ", ".join(trained.config.deep_fields) or "none"
    return f"the deep part has no movie embeddings (its fields: {fields})"


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([n, 2] coordinates on the first two principal components, their explained
    variance ratios)."""
    v = np.asarray(vectors, dtype=np.float64)
    centred = v - v.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = sv**2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(len(comps))
    coords = centred @ comps.T
    if coords.shape[1] < 2:  # one-dimensional embeddings
        coords = np.c_[coords, np.zeros(len(coords))]
        ratio = np.r_[ratio, 0.0]
    return coords, ratio


def movie_info(trained: Trained, ids: np.ndarray) -> pd.DataFrame:
    """Title, genres (joined by '|') and first genre of each movie id (as loaded)."""
    movies = trained.prepared().loaded.movies.set_index("item")
    titles = movies["title"].reindex(ids)
    genres = movies["genres"].reindex(ids)
    return pd.DataFrame(
        {
            "item": ids,
            "title": titles.fillna("").astype(str).to_numpy(),
            "genres": ["|".join(g) if isinstance(g, tuple) else "" for g in genres],
            "genre": [g[0] if isinstance(g, tuple) and g else "(none)" for g in genres],
        }
    )


def embedding_map(
    trained: Trained, item_counts: dict[int, int]
) -> tuple[pd.DataFrame, list[float]] | None:
    """(one row per movie: item, title, genres, first genre, training ratings, x, y;
    the two components' explained variance ratios), or None without movie embeddings."""
    got = item_vectors(trained)
    if got is None:
        return None
    ids, vectors = got
    coords, ratio = pca_2d(vectors)
    table = movie_info(trained, ids)
    table["train_ratings"] = [int(item_counts.get(int(i), 0)) for i in ids]
    table["x"] = coords[:, 0]
    table["y"] = coords[:, 1]
    return table, [float(r) for r in ratio]


def neighbours(trained: Trained, item: int, n: int = 10) -> pd.DataFrame:
    """The ``n`` movies whose embeddings are nearest to ``item``'s by cosine similarity
    (the movie itself left out; ties by movie id): item, title, genres, similarity."""
    got = item_vectors(trained)
    if got is None:
        raise RunError(f"{trained.run.path}: {no_embeddings_note(trained)}")
    ids, vectors = got
    where = np.flatnonzero(ids == int(item))
    if len(where) == 0:
        raise RunError(
            f"{trained.run.path}: movie {item} has no embedding (not in the training split)"
        )
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
    sim = unit @ unit[where[0]]
    sim[where[0]] = -np.inf
    order = np.lexsort((ids, -sim))[: max(0, min(int(n), len(ids) - 1))]
    table = movie_info(trained, ids[order])
    table["similarity"] = sim[order]
    return table.drop(columns="genre")


__all__ = ["embedding_map", "item_vectors", "neighbours", "no_embeddings_note", "pca_2d"]
