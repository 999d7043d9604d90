"""The peer benchmark's RecBole atomic-file writer (benchmarks/bench_recbole.py); no RecBole."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from widedeep_core.data import load_movielens, make_synthetic, write_synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_recbole


def _parse(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """An atomic file as RecBole reads it: a typed header, then tab-separated cells."""
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == len(header) for r in rows)
    return header, rows


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=30, n_items=40, n_ratings=400, seed=3)


def test_inter_file_holds_every_rating(data):
    header, rows = _parse(bench_recbole.atomic_lines(data)["inter"])
    assert header == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    r = data.ratings
    assert len(rows) == len(r)
    assert [int(x[0]) for x in rows] == r["user"].tolist()
    assert [int(x[1]) for x in rows] == r["item"].tolist()
    assert np.allclose([float(x[2]) for x in rows], r["rating"].to_numpy())
    assert [int(x[3]) for x in rows] == r["timestamp"].tolist()


def test_user_file_has_recbole_context_fields(data):
    header, rows = _parse(bench_recbole.atomic_lines(data)["user"])
    assert header == ["user_id:token", "age:token", "gender:token", "occupation:token"]
    u = data.users
    assert [int(x[0]) for x in rows] == u["user"].tolist()
    assert [x[1] for x in rows] == [str(a) for a in u["age"].tolist()]
    assert [x[2] for x in rows] == u["gender"].tolist()


def test_item_genres_are_one_token_each_and_unknown_years_empty(data):
    movies = data.movies.copy()
    movies.loc[0, "genres"] = ("Film-Noir", "Children's", "(no genres listed)")
    movies.loc[1, "year"] = np.nan
    lines = bench_recbole.atomic_lines(dataclasses.replace(data, movies=movies))["item"]
    header, rows = _parse(lines)
    assert header == ["item_id:token", "genre:token_seq", "release_year:token"]
    assert rows[0][1].split(" ") == ["Film-Noir", "Children's", "(no_genres_listed)"]
    assert rows[1][2] == ""
    assert rows[2][2] == str(int(movies.loc[2, "year"]))
    assert len(rows) == len(movies)


def test_no_user_file_without_demographics(data):
    lines = bench_recbole.atomic_lines(dataclasses.replace(data, users=None))
    assert set(lines) == {"inter", "item"}
    cfg = bench_recbole.recbole_config("context", "WideDeep", has_users=False)
    assert "user" not in cfg["load_col"]


def test_written_folder_from_a_movielens_folder(tmp_path):
    folder = write_synthetic(tmp_path / "ml", "ml-1m", n_users=20, n_items=25, n_ratings=200)
    data = load_movielens(folder, cache=False)
    name = bench_recbole.atomic_name(data)
    assert name != "ml-100k" and name.startswith("wdbench-")  # RecBole's bundled name
    paths = bench_recbole.write_atomic(data, tmp_path / "atomic")
    assert set(paths) == {"inter", "user", "item"}
    for suffix, path in paths.items():
        assert path == tmp_path / "atomic" / name / f"{name}.{suffix}"
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines == bench_recbole.atomic_lines(data)[suffix]


def test_pairs_digest_ignores_order():
    a = bench_recbole.pairs_sha1([1, 2, 3], [10, 20, 30])
    assert a == bench_recbole.pairs_sha1([3, 1, 2], [30, 10, 20])
    assert a != bench_recbole.pairs_sha1([1, 2, 3], [10, 20, 31])


def test_split_files_hold_our_split(small_data, tmp_path):
    from widedeep_core.config import preset
    from widedeep_core.features.prepare import prepare

    prep = prepare(preset("recbole-general"), small_data)
    bench_recbole.write_split_atomic(prep, tmp_path, "x")
    r = prep.data.ratings
    for part, rows in (
        ("train", prep.split.train),
        ("valid", prep.split.val),
        ("test", prep.split.test),
    ):
        header, cells = _parse((tmp_path / "x" / f"x.{part}.inter").read_text().splitlines())
        assert header == list(bench_recbole.INTER_HEADER)
        users, items = r["user"].to_numpy()[rows], r["item"].to_numpy()[rows]
        assert [int(c[0]) for c in cells] == users.tolist()
        assert [int(c[1]) for c in cells] == items.tolist()


def test_model_specs():
    assert bench_recbole.model_spec("WideDeep") == ("WideDeep", {})
    assert bench_recbole.model_spec("EASE@500") == ("EASE", {"reg_weight": 500.0})
    assert bench_recbole.recbole_config("general", "EASE@500")["reg_weight"] == 500.0
    assert bench_recbole.recbole_config("general", "EASE")["reg_weight"] == 1000.0
    with pytest.raises(ValueError):
        bench_recbole.model_spec("Pop@3")
