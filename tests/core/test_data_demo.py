"""Demo data (a first launch that helps): ML-100K-sized, long-tailed like MovieLens."""

from __future__ import annotations

import numpy as np

from widedeep_core.cli import main
from widedeep_core.data import DEMO_SIZE, load_movielens, make_synthetic


def _gini(counts: np.ndarray) -> float:
    x = np.sort(counts)
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def _top_share(counts: np.ndarray, share: float = 0.1) -> float:
    x = np.sort(counts)[::-1]
    return float(x[: int(np.ceil(len(x) * share))].sum() / x.sum())


def test_default_size_is_that_of_ml100k():
    assert DEMO_SIZE == {"n_users": 1000, "n_items": 1700, "n_ratings": 100_000}
    data = make_synthetic()
    assert data.n_ratings == 100_000 and len(data.users) == 1000 and len(data.movies) == 1700


def test_popularity_is_long_tailed_like_movielens():
    """ML-100K: item-count Gini 0.63, top 10% of movies 43% of ratings; user Gini 0.47."""
    r = make_synthetic(seed=0).ratings
    items = np.unique(r["item"].to_numpy(), return_counts=True)[1]
    users = np.unique(r["user"].to_numpy(), return_counts=True)[1]
    assert 0.55 < _gini(items) < 0.7
    assert 0.38 < _top_share(items) < 0.52
    assert 0.35 < _gini(users) < 0.55
    assert users.min() >= 10 and items.max() < 0.9 * len(users)


def test_cli_demo_writes_the_default_size(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "demo")]) == 0
    assert load_movielens(tmp_path / "demo", cache=False).n_ratings == DEMO_SIZE["n_ratings"]
    assert main(["demo", str(tmp_path / "small"), "--ratings", "500", "--users", "40"]) == 0
    assert load_movielens(tmp_path / "small", cache=False).n_ratings == 500
