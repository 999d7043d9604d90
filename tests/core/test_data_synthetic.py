"""make_synthetic, the official-format writers, and summarize."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from widedeep_core.data import (
    DataSummary,
    MovieLensData,
    Problem,
    make_synthetic,
    summarize,
    write_synthetic,
)

# --- generator ---


@pytest.mark.parametrize(
    ("n_users", "n_items", "n_ratings"), [(200, 300, 8000), (7, 9, 63), (10, 10, 95), (1, 1, 5)]
)
def test_pairs_are_distinct_and_counts_exact(n_users, n_items, n_ratings):
    r = make_synthetic(n_users, n_items, n_ratings, seed=2).ratings
    assert len(r) == min(n_ratings, n_users * n_items)
    assert not r.duplicated(["user", "item"]).any()
    assert r["user"].between(1, n_users).all() and r["item"].between(1, n_items).all()
    assert r["timestamp"].is_monotonic_increasing


def test_seeded_and_skewed():
    a = make_synthetic(300, 400, 20_000, seed=4)
    b = make_synthetic(300, 400, 20_000, seed=4)
    c = make_synthetic(300, 400, 20_000, seed=5)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.movies, b.movies)
    assert not a.ratings.equals(c.ratings)
    per_item = a.ratings["item"].value_counts()
    assert per_item.max() > 4 * per_item.median()  # popularity skew, as in MovieLens
    hist = a.ratings["rating"].value_counts(normalize=True)
    assert set(hist.index) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert hist[4.0] > hist[1.0] and hist[3.0] > hist[1.0]


def test_ratings_carry_signal():
    """User and item effects exist: per-user means spread far more than shuffled ones."""
    r = make_synthetic(300, 400, 30_000, seed=1).ratings
    spread = r.groupby("user")["rating"].mean().std()
    shuffled = r.assign(rating=np.random.default_rng(0).permutation(r["rating"].to_numpy()))
    assert spread > 2 * shuffled.groupby("user")["rating"].mean().std()


def test_half_stars():
    r = make_synthetic(100, 100, 3000, seed=0, half_stars=True).ratings["rating"]
    assert set(r.unique()) <= {x / 2 for x in range(1, 11)}
    assert (r % 1 == 0.5).any()


# --- writers: official formats ---


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return path.read_text(encoding=encoding).splitlines()


def test_ml100k_files(tmp_path):
    folder = write_synthetic(tmp_path / "a", "ml-100k", n_users=20, n_items=30, n_ratings=200)
    assert {p.name for p in folder.iterdir()} >= {
        "u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info",
    }  # fmt: skip
    data_line = _lines(folder / "u.data")[0].split("\t")
    assert len(data_line) == 4 and all(f.isdigit() for f in data_line)
    item = _lines(folder / "u.item", "latin-1")[0].split("|")
    assert len(item) == 24 and set(item[5:]) <= {"0", "1"} and item[2].startswith("01-Jan-")
    assert item[4].startswith("http://us.imdb.com/M/title-exact?")
    assert _lines(folder / "u.genre")[:2] == ["unknown|0", "Action|1"]
    user = _lines(folder / "u.user")[0].split("|")
    assert len(user) == 5 and user[3].isalpha()  # occupation names, not codes
    assert _lines(folder / "u.info")[-1] == "200 ratings"


def test_ml1m_and_ml10m_files(tmp_path):
    one = write_synthetic(tmp_path / "a", "ml-1m", n_users=20, n_items=30, n_ratings=200)
    ratings = _lines(one / "ratings.dat")
    assert all(len(line.split("::")) == 4 for line in ratings)
    users_in_order = [int(line.split("::")[0]) for line in ratings]
    assert users_in_order == sorted(users_in_order)  # grouped by user like ml-1m
    assert len(_lines(one / "users.dat")[0].split("::")) == 5
    ten = write_synthetic(tmp_path / "b", "ml-10m", n_users=20, n_items=30, n_ratings=400)
    assert not (ten / "users.dat").exists() and (ten / "tags.dat").exists()
    stars = {line.split("::")[2] for line in _lines(ten / "ratings.dat")}
    assert "3.5" in stars and "4" in stars and "4.0" not in stars


def test_csv_files(tmp_path):
    folder = write_synthetic(tmp_path / "c", "csv", n_users=20, n_items=30, n_ratings=400)
    ratings = _lines(folder / "ratings.csv")
    assert ratings[0] == "userId,movieId,rating,timestamp"
    assert {line.split(",")[2] for line in ratings[1:]} >= {"3.5", "4.0"}
    movies = _lines(folder / "movies.csv")
    assert movies[0] == "movieId,title,genres"
    assert any(", The (" in m and '"' in m for m in movies)  # comma titles are quoted
    assert any('""' in m for m in movies)  # quotes inside a title are doubled
    assert {"links.csv", "tags.csv"} <= {p.name for p in folder.iterdir()}


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ml-100k"):
        write_synthetic(tmp_path / "x", "ml-7m")


# --- summarize ---


def _tiny() -> MovieLensData:
    ratings = pd.DataFrame(
        {
            "user": np.array([1, 1, 1, 2, 2, 3], dtype=np.int32),
            "item": np.array([10, 11, 12, 10, 11, 10], dtype=np.int32),
            "rating": np.array([5, 4, 4, 3, 1, 4], dtype=np.float32),
            "timestamp": np.array([100, 50, 300, 200, 150, 250], dtype=np.int64),
        }
    )
    movies = pd.DataFrame(
        {
            "item": np.array([10, 11, 12, 13], dtype=np.int32),
            "title": ["A (1990)", "B (1991)", "C (1992)", "D (1993)"],
            "year": [1990.0, 1991.0, 1992.0, 1993.0],
            "genres": [("Drama",), ("Comedy",), (), ("Drama",)],
        }
    )
    return MovieLensData(
        layout="csv",
        ratings=ratings,
        movies=movies,
        users=None,
        fingerprint="f" * 64,
        source=Path("/data/tiny"),
        genres=("Comedy", "Drama"),
        problems=[Problem("duplicates", "2 ratings repeat", path="/data/tiny/r.csv", count=2)],
    )


def test_summarize_counts_and_quantiles():
    s = summarize(_tiny())
    assert isinstance(s, DataSummary)
    assert (s.n_ratings, s.n_users, s.n_movies, s.movies_listed) == (6, 3, 3, 4)
    assert s.users_listed is None and not s.has_demographics
    assert s.sparsity == pytest.approx(1 - 6 / 9)
    assert s.rating_histogram == {1.0: 1, 3.0: 1, 4.0: 3, 5.0: 1}
    assert s.mean_rating == pytest.approx(21 / 6)
    assert s.ratings_per_user == {
        "min": 1.0, "p25": 1.5, "p50": 2.0, "p75": 2.5, "p90": 2.8, "max": 3.0,
    }  # fmt: skip
    assert s.ratings_per_movie["min"] == 1.0 and s.ratings_per_movie["max"] == 3.0
    assert s.time_range == (50, 300)
    assert [p.kind for p in s.problems] == ["duplicates"]


def test_summary_to_dict_is_json():
    d = summarize(_tiny()).to_dict()
    back = json.loads(json.dumps(d))
    assert back["rating_histogram"] == {"1": 1, "3": 1, "4": 3, "5": 1}
    assert back["time_range"] == [50, 300]
    assert back["time_range_iso"][0] == "1970-01-01T00:00:50Z"
    assert back["problems"][0]["count"] == 2 and back["layout"] == "csv"


def test_summary_of_half_star_data():
    s = summarize(make_synthetic(50, 60, 1000, seed=3, half_stars=True))
    assert sum(s.rating_histogram.values()) == 1000
    assert min(s.rating_histogram) >= 0.5 and max(s.rating_histogram) <= 5.0
    assert "4.5" in s.to_dict()["rating_histogram"] or "3.5" in s.to_dict()["rating_histogram"]
