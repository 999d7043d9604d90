"""Seeded synthetic MovieLens-like data drawn from a latent-factor model.

Tests and the app's offline demo use it; no MovieLens file ever enters the repository.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from .types import MovieLensData

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
ML1M_AGES = (1, 18, 25, 35, 45, 50, 56)
OCCUPATIONS_100K = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment",
    "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none",
    "other", "programmer", "retired", "salesman", "scientist", "student", "technician",
    "writer",
)  # fmt: skip
_WORDS = (
    "Night", "River", "Dream", "Stone", "Silent", "Red", "City", "Last", "Garden", "Winter",
    "Shadow", "Golden", "Lost", "Star", "Ocean", "Iron", "Paper", "Glass", "Wild", "Secret",
)  # fmt: skip


def make_synthetic(
    n_users: int = 200,
    n_items: int = 300,
    n_ratings: int = 8000,
    seed: int = 0,
    *,
    half_stars: bool = False,
    dim: int = 6,
) -> MovieLensData:
    """Draw users, movies, demographics and ratings from a seeded latent-factor model.

    A rating depends on user/item factors plus a demographic x genre taste, so both
    ids and side features carry signal and a trained model reaches an AUC well above 0.5.
    """
    if n_users < 1 or n_items < 1 or n_ratings < 1:
        raise ValueError("n_users, n_items and n_ratings must be positive")
    n_ratings = min(n_ratings, n_users * n_items)
    rng = np.random.default_rng(seed)

    user_ids = np.arange(1, n_users + 1, dtype=np.int32)
    item_ids = np.arange(1, n_items + 1, dtype=np.int32)
    gender = rng.choice(np.array(["M", "F"]), size=n_users, p=[0.7, 0.3])
    age_code = rng.choice(
        np.array(ML1M_AGES), size=n_users, p=[0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06]
    )
    occupation = rng.integers(0, len(OCCUPATIONS_100K), size=n_users)
    zips = np.array([f"{z:05d}" for z in rng.integers(1000, 99999, size=n_users)])

    n_genres = len(GENRES)
    item_genre = np.zeros((n_items, n_genres), dtype=bool)
    first = rng.integers(0, n_genres, size=n_items)
    item_genre[np.arange(n_items), first] = True
    item_genre |= rng.random((n_items, n_genres)) < 0.08
    years = rng.integers(1930, 2001, size=n_items)

    u_f = rng.normal(0, 1, (n_users, dim))
    i_f = rng.normal(0, 1, (n_items, dim))
    u_bias = rng.normal(0, 0.5, n_users)
    i_bias = rng.normal(0, 0.7, n_items)
    # demographic taste per genre: women/men and age groups like different genres
    g_taste = rng.normal(0, 0.8, (2, n_genres))
    a_taste = rng.normal(0, 0.6, (len(ML1M_AGES), n_genres))

    # popularity-skewed sampling of (user, item) pairs without duplicates
    item_pop = rng.zipf(1.6, n_items).astype(float)
    item_pop = np.minimum(item_pop, 50.0) + i_bias.clip(0) * 3 + 1
    user_act = rng.lognormal(0, 0.8, n_users) + 0.2
    pairs: set[int] = set()
    us: list[np.ndarray] = []
    its: list[np.ndarray] = []
    pu, pi = user_act / user_act.sum(), item_pop / item_pop.sum()
    need = n_ratings
    while need > 0:
        m = int(need * 1.3) + 16
        cu = rng.choice(n_users, size=m, p=pu)
        ci = rng.choice(n_items, size=m, p=pi)
        key = cu.astype(np.int64) * n_items + ci
        _, first_idx = np.unique(key, return_index=True)
        first_idx.sort()
        fresh = [j for j in first_idx if int(key[j]) not in pairs][:need]
        if not fresh and len(pairs) >= n_users * n_items:
            break
        for j in fresh:
            pairs.add(int(key[j]))
        us.append(cu[fresh])
        its.append(ci[fresh])
        need -= len(fresh)
        if not fresh:  # sampling is saturated: fill uniformly from what is left
            pu = np.full(n_users, 1 / n_users)
            pi = np.full(n_items, 1 / n_items)
    u = np.concatenate(us)
    i = np.concatenate(its)

    gi = item_genre[i].astype(float)
    gcount = gi.sum(1)
    taste = (g_taste[(gender[u] == "F").astype(int)] * gi).sum(1) / gcount
    age_idx = np.searchsorted(np.array(ML1M_AGES), age_code[u])
    taste += (a_taste[age_idx] * gi).sum(1) / gcount
    score = (u_f[u] * i_f[i]).sum(1) / np.sqrt(dim) + u_bias[u] + i_bias[i] + taste
    score += rng.normal(0, 0.5, len(score))
    # map the score to the 1..5 scale with the usual MovieLens skew towards 3-4
    quant = np.quantile(score, [0.06, 0.17, 0.43, 0.78])
    rating = 1.0 + np.searchsorted(quant, score).astype(np.float32)
    if half_stars:
        rating = np.clip(rating - 0.5 * (rng.random(len(rating)) < 0.3), 0.5, 5.0)

    t0 = 956_703_932
    timestamp = t0 + np.sort(rng.integers(0, 3 * 365 * 86400, size=len(u)))
    order = rng.permutation(len(u))
    ratings = pd.DataFrame(
        {
            "user": user_ids[u[order]],
            "item": item_ids[i[order]],
            "rating": rating[order].astype(np.float32),
            "timestamp": timestamp.astype(np.int64),
        }
    )
    movies = pd.DataFrame(
        {
            "item": item_ids,
            "title": [_title(rng, k, int(y)) for k, y in enumerate(years)],
            "year": years.astype(np.float64),
            "genres": [tuple(GENRES[g] for g in np.flatnonzero(row)) for row in item_genre],
        }
    )
    users = pd.DataFrame(
        {
            "user": user_ids,
            "gender": gender.astype(object),
            "age": age_code.astype(np.int32),
            "occupation": occupation.astype(str).astype(object),
            "zip": zips.astype(object),
        }
    )
    fp = hashlib.sha256(f"synthetic:{n_users}:{n_items}:{n_ratings}:{seed}".encode()).hexdigest()
    return MovieLensData(
        layout="ml-1m",
        ratings=ratings,
        movies=movies,
        users=users,
        fingerprint=fp,
        source=Path(f"synthetic-{seed}"),
        rating_scale=(0.5 if half_stars else 1.0, 5.0),
        genres=GENRES,
    )


def _title(rng: np.random.Generator, k: int, year: int) -> str:
    a, b = rng.choice(len(_WORDS), size=2, replace=False)
    return f"{_WORDS[a]} {_WORDS[b]} {k + 1} ({year})"
