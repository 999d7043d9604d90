"""Seeded synthetic MovieLens-like data drawn from a latent-factor model.

Tests and the app's offline demo use it; no MovieLens file ever enters the repository.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from widedeep_core.constants import AGE_CODES as ML1M_AGES
from widedeep_core.constants import GENRES

from .types import MovieLensData

OCCUPATIONS_100K = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment",
    "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none",
    "other", "programmer", "retired", "salesman", "scientist", "student", "technician",
    "writer",
)  # fmt: skip
_WORDS = (
    "Night", "River", "Dream", "Stone", "Silent", "Red", "City", "Last", "Garden", "Winter",
    "Shadow", "Golden", "Lost", "Star", "Ocean", "Iron", "Paper", "Glass", "Wild", "Secret",
    "Été", "Misérables", "Café", "Noël",
)  # fmt: skip
_CHUNK = 1 << 21  # rows per chunk when scoring pairs
_MAX_ROUNDS = 12
# The default (demo) size, one definition for write_synthetic, `widedeep demo` and the
# Data page's demo button: that of ML-100K (943 users, 1,682 movies, 100,000 ratings)
# rounded, where presets behave as on real data; it builds in well under a second.
DEMO_SIZE = {"n_users": 1000, "n_items": 1700, "n_ratings": 100_000}
# Long tails fitted to ML-100K's item and user rating counts (see make_synthetic).
_ITEM_SPREAD = 1.4  # sigma of log item popularity
_USER_SPREAD = 1.3  # sigma of log user activity
# How strongly taste steers which movies a user rates (pair weight popularity x
# exp(_TASTE * affinity)); above _TASTE_MAX_PAIRS users x movies (ML-10M and larger)
# the pairs are drawn by activity x popularity only, which is much cheaper.
_TASTE = 1.0
_TASTE_POP_POWER = 1.15
_TASTE_MAX_PAIRS = 60_000_000
_USER_FLOOR = 0.2  # every user's activity is at least this share of the mean: MovieLens
# keeps only users with 20+ ratings


def make_synthetic(
    n_users: int = DEMO_SIZE["n_users"],
    n_items: int = DEMO_SIZE["n_items"],
    n_ratings: int = DEMO_SIZE["n_ratings"],
    seed: int = 0,
    *,
    half_stars: bool = False,
    dim: int = 6,
) -> MovieLensData:
    """Draw users, movies, demographics and ratings from a seeded latent-factor model.

    A rating depends on user/item factors plus a demographic x genre taste, so both
    ids and side features carry signal and a trained model reaches an AUC well above 0.5.
    Item popularity and user activity are lognormal, long-tailed like MovieLens: at the
    default size the item-count Gini is ~0.6 and the top 10% of movies get ~44% of the
    ratings (ML-100K: 0.63 and 43%); popular movies are rated a little higher.
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

    # popularity-skewed sampling of distinct (user, item) pairs; the log-popularity leans on
    # the item bias so well-liked movies are rated more often, as in MovieLens
    item_pop = rng.lognormal(0.5 * i_bias, _ITEM_SPREAD)
    activity = rng.lognormal(0, _USER_SPREAD, n_users)
    user_act = activity + _USER_FLOOR * activity.mean()
    # per-(demographic group, item) genre taste, so no (n_ratings x n_genres) array is built
    gcount = item_genre.sum(1)
    taste_g = (g_taste @ item_genre.T) / gcount  # (2, n_items)
    taste_a = (a_taste @ item_genre.T) / gcount  # (n_ages, n_items)
    is_f = (gender == "F").astype(np.intp)
    age_idx = np.searchsorted(np.array(ML1M_AGES), age_code)

    def affinity(users: np.ndarray) -> np.ndarray:
        """[len(users), n_items] taste of users for every movie (the rating's signal)."""
        return u_f[users] @ i_f.T / np.sqrt(dim) + taste_g[is_f[users]] + taste_a[age_idx[users]]

    if n_users * n_items <= _TASTE_MAX_PAIRS:
        keys = _sample_taste_pairs(rng, user_act, item_pop, affinity, n_ratings)
    else:
        keys = _sample_pairs(rng, user_act, item_pop, n_ratings)
    u = (keys // n_items).astype(np.intp)
    i = (keys % n_items).astype(np.intp)
    del keys
    score = np.empty(len(u))
    for lo in range(0, len(u), _CHUNK):  # chunks bound the memory of the factor products
        cu, ci = u[lo : lo + _CHUNK], i[lo : lo + _CHUNK]
        score[lo : lo + _CHUNK] = (
            np.einsum("ij,ij->i", u_f[cu], i_f[ci]) / np.sqrt(dim)
            + u_bias[cu]
            + i_bias[ci]
            + taste_g[is_f[cu], ci]
            + taste_a[age_idx[cu], ci]
        )
    score += rng.normal(0, 0.5, len(score))
    # map the score to the 1..5 scale with the usual MovieLens skew towards 3-4
    quant = np.quantile(score, [0.06, 0.17, 0.43, 0.78])
    rating = 1.0 + np.searchsorted(quant, score).astype(np.float32)
    del score
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
            "title": _titles(rng, years),
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
    spec = f"synthetic:{n_users}:{n_items}:{n_ratings}:{seed}:{half_stars}:{dim}"
    fp = hashlib.sha256(spec.encode()).hexdigest()
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


def _sample_taste_pairs(
    rng: np.random.Generator,
    user_act: np.ndarray,
    item_pop: np.ndarray,
    affinity,
    n: int,
) -> np.ndarray:
    """Draw ``n`` distinct pair keys where a user picks movies by popularity x taste.

    Each user gets a multinomial share of ``n`` by activity (at most the catalogue), then
    draws that many distinct movies with weight ``item_pop * exp(TASTE * affinity)``
    (Gumbel top-k, one user block at a time): people watch what they expect to like, so
    movies liked by the same users are co-rated, as in MovieLens.
    """
    n_users, n_items = len(user_act), len(item_pop)
    counts = np.minimum(rng.multinomial(n, user_act / user_act.sum()), n_items)
    while counts.sum() < n:  # hand the capped users' excess to users with room
        room = (n_items - counts).astype(np.float64)
        counts = np.minimum(counts + rng.multinomial(n - counts.sum(), room / room.sum()), n_items)
    # taste spreads the choices; a steeper popularity keeps MovieLens's long tail
    log_pop = _TASTE_POP_POWER * np.log(item_pop)
    block = max(1, _CHUNK // max(n_items, 1))
    keys = []
    for lo in range(0, n_users, block):
        users = np.arange(lo, min(lo + block, n_users))
        g = log_pop + _TASTE * affinity(users) + rng.gumbel(size=(len(users), n_items))
        order = np.argsort(-g, axis=1, kind="stable")
        take = np.arange(n_items)[None, :] < counts[users, None]
        keys.append((users[:, None] * n_items + order)[take].astype(np.int64))
    return np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64)


def _sample_pairs(
    rng: np.random.Generator, user_act: np.ndarray, item_pop: np.ndarray, n: int
) -> np.ndarray:
    """Draw ``n`` distinct pair keys ``user * n_items + item``, skewed by activity/popularity.

    Vectorised for ML-25M sizes: counts come from one multinomial per side (no per-sample
    search), duplicates are removed by sorting, and later rounds only top up what is missing.
    """
    n_users, n_items = len(user_act), len(item_pop)
    space = n_users * n_items
    pu, pi = user_act / user_act.sum(), item_pop / item_pop.sum()
    keys = np.empty(0, dtype=np.int64)  # sorted, distinct
    for _ in range(_MAX_ROUNDS):
        need = n - len(keys)
        if need <= 0 or need > 0.5 * (space - len(keys)):
            break  # done, or so dense that rejection sampling would crawl
        m = need if not len(keys) else int(need * 1.3) + 16
        cu = np.repeat(np.arange(n_users, dtype=np.int64), rng.multinomial(m, pu))
        ci = rng.permutation(np.repeat(np.arange(n_items, dtype=np.int64), rng.multinomial(m, pi)))
        fresh = _sorted_unique(cu * n_items + ci)
        if len(keys):
            pos = np.searchsorted(keys, fresh).clip(max=len(keys) - 1)
            fresh = fresh[keys[pos] != fresh]
        if len(fresh) > need:  # a random subset, so no user range is favoured
            fresh = np.sort(rng.choice(fresh, size=need, replace=False))
        keys = np.insert(keys, np.searchsorted(keys, fresh), fresh)
        if len(fresh) < need // 20:  # popular pairs are exhausted: draw the rest uniformly
            pu, pi = np.full(n_users, 1 / n_users), np.full(n_items, 1 / n_items)
    need = n - len(keys)
    if need > 0:  # dense request: pick the rest from the unused pairs directly
        free = np.ones(space, dtype=bool)
        free[keys] = False
        extra = rng.choice(np.flatnonzero(free), size=need, replace=False)
        keys = np.sort(np.concatenate([keys, extra]))
    return keys


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values; sort + mask, as np.unique's hash path is slow on large arrays."""
    keys = np.sort(keys)
    if len(keys) < 2:
        return keys
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _titles(rng: np.random.Generator, years: np.ndarray) -> list[str]:
    """Movie titles in MovieLens style: some "X, The (1990)", some quoted, some accented."""
    n_words = len(_WORDS)
    a = rng.integers(0, n_words, size=len(years))
    b = (a + rng.integers(1, n_words, size=len(years))) % n_words
    titles = []
    for k, (wa, wb, year) in enumerate(zip(a.tolist(), b.tolist(), years.tolist(), strict=True)):
        name = f"{_WORDS[wa]} {_WORDS[wb]} {k + 1}"
        if k % 7 == 3:  # the trailing article puts a comma in the title, as in "Shining, The"
            name += ", The"
        elif k % 13 == 5:
            name = f'"{_WORDS[wa]}" {_WORDS[wb]} {k + 1}'
        titles.append(f"{name} ({year})")
    return titles
