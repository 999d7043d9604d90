"""load_movielens: every layout round-trips from folder and zip; the cache; real ml-100k."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from widedeep_core.data import (
    LAYOUTS,
    load_movielens,
    make_synthetic,
    write_synthetic,
    write_synthetic_zip,
)
from widedeep_core.data import loader as loader_mod
from widedeep_core.data.parsing import title_year
from widedeep_core.data.synthetic import OCCUPATIONS_100K

SIZE = {"n_users": 60, "n_items": 80, "n_ratings": 1500, "seed": 3}


def _expected(layout: str):
    return make_synthetic(
        SIZE["n_users"], SIZE["n_items"], SIZE["n_ratings"], SIZE["seed"],
        half_stars=layout in ("ml-10m", "csv"),
    )  # fmt: skip


def _by_pair(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["user", "item"], ignore_index=True)


def _assert_same_content(data, layout: str) -> None:
    exp = _expected(layout)
    pd.testing.assert_frame_equal(_by_pair(data.ratings), _by_pair(exp.ratings))
    pd.testing.assert_frame_equal(data.movies, exp.movies)
    if layout in ("ml-10m", "csv"):
        assert data.users is None
        assert data.rating_scale == (0.5, 5.0)
    else:
        users = exp.users.copy()
        if layout == "ml-100k":  # ml-100k writes occupation names, ml-1m the codes
            users["occupation"] = [OCCUPATIONS_100K[int(c)] for c in users["occupation"]]
            users["occupation"] = users["occupation"].astype("str")
        pd.testing.assert_frame_equal(data.users, users)
        assert data.rating_scale == (1.0, 5.0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_round_trips_from_folder_and_zip(tmp_path, layout):
    folder = write_synthetic(tmp_path / layout, layout, **SIZE)
    archive = write_synthetic_zip(tmp_path / f"{layout}.zip", layout, **SIZE)
    from_folder = load_movielens(folder, cache=False)
    from_zip = load_movielens(archive, cache=False)
    for data in (from_folder, from_zip):
        assert data.layout == layout
        assert data.problems == []
        _assert_same_content(data, layout)
    # the fingerprint is of the content, so a folder and its zip agree
    assert from_folder.fingerprint == from_zip.fingerprint
    assert len(from_folder.fingerprint) == 64
    assert from_zip.source == archive.resolve()


def test_frames_have_the_documented_dtypes(tmp_path):
    data = load_movielens(write_synthetic(tmp_path / "d", "ml-1m", **SIZE), cache=False)
    assert data.ratings.dtypes.astype(str).to_dict() == {
        "user": "int32", "item": "int32", "rating": "float32", "timestamp": "int64",
    }  # fmt: skip
    assert isinstance(data.ratings.index, pd.RangeIndex)
    assert data.movies["year"].dtype == np.float64
    assert all(isinstance(g, tuple) for g in data.movies["genres"])
    assert data.users["age"].dtype == np.int32
    assert set(data.users["age"]) <= {1, 18, 25, 35, 45, 50, 56}  # ml-1m age codes as given


def test_latin1_titles_and_quoted_csv_titles_survive(tmp_path):
    one_m = write_synthetic(tmp_path / "a", "ml-1m", **SIZE)
    raw = (one_m / "movies.dat").read_bytes()
    assert "Été".encode("latin-1") in raw or "Noël".encode("latin-1") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    csv_dir = write_synthetic(tmp_path / "b", "csv", **SIZE)
    assert b'",' in (csv_dir / "movies.csv").read_bytes()  # quoted titles with commas
    for folder in (one_m, csv_dir):
        titles = load_movielens(folder, cache=False).movies["title"]
        assert titles.str.contains(", The").any()
        assert titles.str.contains("[ÉéË]", regex=True).any()


def test_zip_without_top_folder_and_folder_one_level_up(tmp_path):
    archive = write_synthetic_zip(tmp_path / "flat.zip", "csv", top="", **SIZE)
    with zipfile.ZipFile(archive) as zf:
        assert "ratings.csv" in zf.namelist()
    assert load_movielens(archive, cache=False).layout == "csv"
    write_synthetic(tmp_path / "outer" / "ml-1m", "ml-1m", **SIZE)
    data = load_movielens(tmp_path / "outer", cache=False)
    assert data.layout == "ml-1m"
    assert data.source == (tmp_path / "outer" / "ml-1m").resolve()


def test_a_file_of_the_release_opens_its_folder(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-100k", **SIZE)
    assert load_movielens(folder / "u.data", cache=False).layout == "ml-100k"


def test_ml10m_is_told_from_ml1m_without_tags_or_users(tmp_path):
    folder = write_synthetic(tmp_path / "plain", "ml-10m", **SIZE)
    (folder / "tags.dat").unlink()
    data = load_movielens(folder, cache=False)
    assert data.layout == "ml-10m"  # half stars give it away
    assert data.problems == []  # ml-10m has no users file to miss


def test_progress_reports_fractions_up_to_one(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    seen: list[tuple[float, str]] = []
    load_movielens(folder, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)


def test_reopen_is_served_from_the_cache(tmp_path, monkeypatch):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    first = load_movielens(folder)
    cache_root = Path(os.environ["WIDEDEEP_CACHE_DIR"]) / "movielens"
    assert list((cache_root / "frames").glob("*/ratings.parquet"))

    def no_parse(*args, **kwargs):
        raise AssertionError("a cache hit must not parse the files")

    monkeypatch.setattr(loader_mod, "parse_ratings", no_parse)
    second = load_movielens(folder)
    for a, b in ((first.ratings, second.ratings), (first.movies, second.movies)):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(first.users, second.users)
    assert (second.fingerprint, second.layout, second.genres) == (
        first.fingerprint, first.layout, first.genres,
    )  # fmt: skip
    assert second.rating_scale == first.rating_scale


def test_changed_file_misses_the_cache_and_problems_are_cached(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    first = load_movielens(folder)
    with open(folder / "ratings.dat", "ab") as fh:  # repeat the first rating: a duplicate
        fh.write((folder / "ratings.dat").read_bytes().split(b"\n", 1)[0] + b"\n")
    second = load_movielens(folder)
    assert second.fingerprint != first.fingerprint
    assert [p.kind for p in second.problems] == ["duplicates"]
    third = load_movielens(folder)  # from the cache, problems included
    assert third.problems == second.problems
    # the stale entry of the same folder was evicted: one key, one frames folder
    root = Path(os.environ["WIDEDEEP_CACHE_DIR"]) / "movielens"
    assert len(list((root / "keys").glob("*.json"))) == 1
    assert len([p for p in (root / "frames").iterdir() if p.is_dir()]) == 1


def test_explicit_cache_dir_and_damaged_cache_falls_back_to_parsing(tmp_path):
    folder = write_synthetic(tmp_path / "d", "csv", **SIZE)
    cache = tmp_path / "my-cache"
    first = load_movielens(folder, cache_dir=cache)
    # the explicit folder holds the cache itself, not the user cache
    (key,) = cache.glob("keys/*.json")
    (parquet,) = cache.glob("frames/*/ratings.parquet")
    assert key.stat().st_size > 0 and parquet.stat().st_size > 0
    user_cache = Path(os.environ["WIDEDEEP_CACHE_DIR"]) / "movielens"
    assert not list(user_cache.glob("keys/*.json"))
    parquet.write_bytes(b"not parquet")
    again = load_movielens(folder, cache_dir=cache)
    pd.testing.assert_frame_equal(first.ratings, again.ratings)


def test_cache_false_writes_nothing(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-100k", **SIZE)
    cache = tmp_path / "c"
    load_movielens(folder, cache=False, cache_dir=cache)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995.0),
        ("Heidi Fleiss: Hollywood Madam (1995) ", 1995.0),
        ("Land Before Time III (1995) (V)", 1995.0),
        ("1984 (1984)", 1984.0),
        ("Stranger Things (2016\u2013 )", 2016.0),
        ("unknown", None),
        ("Babylon 5", None),
    ],
)
def test_title_year(title, year):
    got = title_year(title)
    assert np.isnan(got) if year is None else got == year


def _real_ml100k() -> Path | None:
    here = Path(__file__).resolve()
    for cand in (Path("/work/shared/data/ml-100k"), here.parents[3] / "shared/data/ml-100k"):
        if (cand / "u.data").is_file():
            return cand
    return None


@pytest.mark.skipif(_real_ml100k() is None, reason="the real ml-100k folder is not present")
def test_real_ml100k_folder():
    data = load_movielens(_real_ml100k())
    assert data.layout == "ml-100k"
    assert data.n_ratings == 100_000
    assert data.ratings["user"].nunique() == 943 == len(data.users)
    assert data.ratings["item"].nunique() == 1682 == len(data.movies)
    assert data.problems == []
    assert len(data.genres) == 19 and data.genres[0] == "unknown"
    toy = data.movies.loc[data.movies["item"] == 1].iloc[0]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995.0
    assert toy["genres"] == ("Animation", "Children's", "Comedy")
    assert data.movies["title"].str.contains("Misérables").any()  # latin-1 decoded
    assert data.users["occupation"].iloc[0] == "technician"
