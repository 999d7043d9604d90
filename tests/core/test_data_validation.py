"""Bad input: each case raises DataError naming file and line, or loads with a Problem."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from widedeep_core.data import (
    load_movielens,
    make_synthetic,
    write_movielens,
    write_synthetic,
    write_synthetic_zip,
)
from widedeep_core.errors import DataError

SIZE = {"n_users": 40, "n_items": 50, "n_ratings": 600, "seed": 5}
DAT = "UserID::MovieID::Rating::Timestamp"
USERS = "UserID::Gender::Age::Occupation::Zip-code"


def _folder(tmp_path: Path, layout: str = "ml-1m", name: str = "d") -> Path:
    return write_synthetic(tmp_path / name, layout, **SIZE)


def _set_line(path: Path, line: int, text: bytes) -> None:
    """Replace the 1-based ``line`` of a file."""
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = text
    path.write_bytes(b"\n".join(lines))


def _load_error(path: Path) -> DataError:
    with pytest.raises(DataError) as info:
        load_movielens(path, cache=False)
    return info.value


# --- paths, folders, zips ---


def test_nonexistent_path(tmp_path):
    err = _load_error(tmp_path / "nope")
    assert "no such file or folder" in str(err) and err.path.endswith("nope")


def test_folder_without_a_layout_lists_what_was_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    msg = str(_load_error(tmp_path / "empty"))
    for name in ("u.data", "ratings.dat", "ratings.csv", "ml-100k", "ml-1m", "ml-25m"):
        assert name in msg


def test_file_that_is_not_a_zip(tmp_path):
    bogus = tmp_path / "data.zip"
    bogus.write_bytes(b"this is not a zip archive at all")
    assert "zip" in str(_load_error(bogus))


def test_zip_without_movielens_files(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("photos/cat.jpg", b"\xff\xd8")
    assert "no MovieLens layout" in str(_load_error(archive))


def test_corrupt_zip_member(tmp_path):
    folder = _folder(tmp_path)
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-1m/{f.name}")
    raw = bytearray(archive.read_bytes())
    at = raw.index(b"ratings.dat") + 200  # inside the stored ratings: CRC now mismatches
    raw[at : at + 4] = b"9999"
    archive.write_bytes(bytes(raw))
    err = _load_error(archive)
    assert "corrupt" in str(err) and err.path.endswith("ratings.dat")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    folder = _folder(tmp_path)
    (folder / "ratings.dat").chmod(0)
    try:
        assert "read" in str(_load_error(folder))
    finally:
        (folder / "ratings.dat").chmod(0o644)


# --- ratings files ---


@pytest.mark.parametrize(("layout", "name"), [("ml-1m", "ratings.dat"), ("ml-100k", "u.data")])
def test_empty_ratings_file(tmp_path, layout, name):
    folder = _folder(tmp_path, layout)
    (folder / name).write_bytes(b"")
    err = _load_error(folder)
    assert "empty" in str(err) and err.path.endswith(name)


@pytest.mark.parametrize(
    ("layout", "name", "line", "text", "expect"),
    [
        ("ml-1m", "ratings.dat", 57, b"12::34::5", f"expected 4 fields ({DAT}), found 3"),
        ("ml-1m", "ratings.dat", 3, b"12::abc::5::97830", "movie id 'abc' is not a whole number"),
        ("ml-1m", "ratings.dat", 8, b"x1::3::5::97830", "user id 'x1' is not a whole number"),
        ("ml-1m", "ratings.dat", 9, b"1::3::five::97830", "rating 'five' is not a number"),
        ("ml-1m", "ratings.dat", 10, b"1::3::4::soon", "timestamp 'soon' is not a whole number"),
        ("ml-1m", "ratings.dat", 11, b"1:::3::4::97830", "movie id ':3' is not"),
        ("ml-100k", "u.data", 400, b"1\t2\t3", "expected 4 fields"),
        ("csv", "ratings.csv", 2, b"1,2,3.5", "found 3"),
        ("csv", "ratings.csv", 300, b"1,2,,978300760", "rating '' is not a number"),
        ("csv", "ratings.csv", 301, b"1,99999999999,4.0,978300760", "too large"),
    ],
)  # fmt: skip
def test_malformed_ratings_line(tmp_path, layout, name, line, text, expect):
    folder = _folder(tmp_path, layout)
    _set_line(folder / name, line, text)
    err = _load_error(folder)
    assert expect in str(err)
    assert err.line == line
    assert err.path.endswith(name)
    assert f"{name}, line {line}: " in str(err)


def test_bad_line_far_into_a_large_file_is_found_exactly(tmp_path):
    folder = write_synthetic(tmp_path / "big", "ml-1m", n_users=300, n_items=400, n_ratings=90_000)
    assert (folder / "ratings.dat").stat().st_size > 1.5 * (1 << 20)  # several scan chunks
    _set_line(folder / "ratings.dat", 81_234, b"1::2::3::4::5")
    err = _load_error(folder)
    assert err.line == 81_234 and "found 5" in str(err)


@pytest.mark.parametrize(
    ("layout", "name", "line", "text", "expect"),
    [
        ("ml-1m", "ratings.dat", 20, b"1::2::6::97830", "rating 6 is outside the ml-1m scale: "
         "expected 1 to 5 in whole stars"),
        ("ml-1m", "ratings.dat", 21, b"1::2::3.5::97830", "rating 3.5 is outside the ml-1m scale"),
        ("ml-100k", "u.data", 22, b"1\t2\t0\t978300760", "rating 0 is outside the ml-100k scale"),
        ("csv", "ratings.csv", 23, b"1,2,5.5,978300760", "expected 0.5 to 5 in half stars"),
        ("ml-10m", "ratings.dat", 24, b"1::2::3.25::978300760", "outside the ml-10m scale"),
    ],
)  # fmt: skip
def test_rating_outside_the_scale(tmp_path, layout, name, line, text, expect):
    folder = _folder(tmp_path, layout)
    _set_line(folder / name, line, text)
    err = _load_error(folder)
    assert expect in str(err) and err.line == line


def test_line_numbers_count_blank_lines(tmp_path):
    folder = _folder(tmp_path)
    path = folder / "ratings.dat"
    lines = path.read_bytes().split(b"\n")
    lines[4:4] = [b"", b"", b"\r"]  # blank lines (one CRLF-style) after line 4
    lines[99] = b"7::8::9::978300760"
    path.write_bytes(b"\n".join(lines))
    err = _load_error(folder)
    assert err.line == 100 and "rating 9" in str(err)


def test_csv_header_is_checked(tmp_path):
    folder = _folder(tmp_path, "csv")
    _set_line(folder / "ratings.csv", 1, b"user,movie,rating,time")
    err = _load_error(folder)
    assert err.line == 1 and "userId,movieId,rating,timestamp" in str(err)


def test_negative_id(tmp_path):
    folder = _folder(tmp_path)
    _set_line(folder / "ratings.dat", 5, b"-3::2::4::978300760")
    err = _load_error(folder)
    assert err.line == 5 and "negative" in str(err)


# --- companion files ---


def test_missing_users_file_loads_without_demographics(tmp_path):
    folder = _folder(tmp_path)
    (folder / "users.dat").unlink()
    data = load_movielens(folder, cache=False)
    assert data.layout == "ml-1m" and data.users is None and not data.has_demographics
    (problem,) = data.problems
    assert problem.kind == "missing-file" and "users.dat" in str(problem)
    assert "demographics" in problem.message


def test_missing_movies_file_gives_minimal_movies(tmp_path):
    folder = _folder(tmp_path, "csv")
    (folder / "movies.csv").unlink()
    data = load_movielens(folder, cache=False)
    assert sorted(data.movies["item"]) == sorted(data.ratings["item"].unique())
    assert (data.movies["title"] == "").all() and data.movies["year"].isna().all()
    assert [p.kind for p in data.problems] == ["missing-file"]
    assert "movies.csv" in data.problems[0].message


@pytest.mark.parametrize(
    ("layout", "name", "line", "text", "expect"),
    [
        ("ml-1m", "users.dat", 4, "4::M::25", f"expected 5 fields ({USERS}), found 3"),
        ("ml-1m", "users.dat", 6, "6::F::old::3::12345", "age 'old' is not a whole number"),
        ("ml-1m", "movies.dat", 7, "x7::Title (1999)::Drama", "movie id 'x7' is not a whole"),
        ("ml-100k", "u.user", 3, "3|23|M|writer", "expected 5 fields"),
        ("ml-100k", "u.item", 2, "2|T (1995)|1995||url" + "|0" * 18 + "|2", "flag '2' for Western"),
        ("csv", "movies.csv", 1, "id,title,genres", "expected the header 'movieId,title,genres'"),
        ("csv", "movies.csv", 5, '5,"Unclosed (1990),Drama', "malformed CSV"),
    ],
)  # fmt: skip
def test_malformed_companion_line(tmp_path, layout, name, line, text, expect):
    folder = _folder(tmp_path, layout)
    path = folder / name
    enc = "latin-1" if name in ("movies.dat", "u.item") else "utf-8"
    lines = path.read_text(encoding=enc).split("\n")
    lines[line - 1] = text
    path.write_text("\n".join(lines), encoding=enc)
    err = _load_error(folder)
    assert expect in str(err) and err.line == line and err.path.endswith(name)


def test_empty_companion_file(tmp_path):
    folder = _folder(tmp_path)
    (folder / "movies.dat").write_text("\n")
    err = _load_error(folder)
    assert "empty" in str(err) and err.path.endswith("movies.dat")


def test_duplicates_keep_the_latest_rating(tmp_path):
    base = make_synthetic(40, 50, 600, 5)
    r = base.ratings
    first = r.iloc[0]
    extra = r.iloc[[0, 0, 1]].copy()
    extra["rating"] = [1.0, 2.0, 3.0]
    extra["timestamp"] = [first["timestamp"] + 10, first["timestamp"] + 5, r.iloc[1]["timestamp"]]
    base.ratings = pd.concat([r, extra], ignore_index=True)
    folder = write_movielens(base, tmp_path / "dup", "ml-100k")  # ml-100k keeps file order
    data = load_movielens(folder, cache=False)
    (problem,) = data.problems
    assert problem.kind == "duplicates" and problem.count == 3
    assert problem.line == 1  # the first line dropped: the oldest rating of the first pair
    assert "kept the latest" in problem.message
    assert data.n_ratings == 600
    got = data.ratings.set_index(["user", "item"])["rating"]
    assert got[(first["user"], first["item"])] == 1.0  # the newest of three
    assert got[(r.iloc[1]["user"], r.iloc[1]["item"])] == 3.0  # tie: the last in the file
    assert data.ratings.index.equals(pd.RangeIndex(600))


def test_ratings_of_unlisted_users_and_movies_are_kept_and_reported(tmp_path):
    base = make_synthetic(40, 50, 600, 5)
    base.users = base.users.iloc[2:].reset_index(drop=True)  # users 1 and 2 unlisted
    base.movies = base.movies.iloc[:-3].reset_index(drop=True)  # movies 48-50 unlisted
    folder = write_movielens(base, tmp_path / "unk", "ml-1m")
    data = load_movielens(folder, cache=False)
    kinds = {p.kind: p for p in data.problems}
    r = base.ratings
    n_user = int(r["user"].isin([1, 2]).sum())
    n_movie = int(r["item"].isin([48, 49, 50]).sum())
    assert kinds["unknown-user"].count == n_user > 0
    assert kinds["unknown-movie"].count == n_movie > 0
    assert "users.dat" in kinds["unknown-user"].message
    assert "2 users" in kinds["unknown-user"].message
    assert data.n_ratings == 600  # nothing dropped


def test_duplicate_ids_in_a_companion_file(tmp_path):
    base = make_synthetic(40, 50, 600, 5)
    base.users = pd.concat([base.users, base.users.iloc[[3]]], ignore_index=True)
    folder = write_movielens(base, tmp_path / "dupid", "ml-1m")
    data = load_movielens(folder, cache=False)
    (problem,) = data.problems
    assert problem.kind == "duplicate-id" and problem.line == 41 and problem.count == 1
    assert len(data.users) == 40


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    line=st.integers(1, 600),
    junk=st.binary(min_size=0, max_size=30).filter(lambda b: b"\n" not in b),
)
def test_any_corrupted_line_gives_data_error_or_a_valid_load(tmp_path, line, junk):
    folder = tmp_path / "fuzz"
    if not folder.exists():
        write_synthetic(folder, "ml-1m", **SIZE)
    path = folder / "ratings.dat"
    original = path.read_bytes()
    try:
        _set_line(path, line, junk)
        try:
            data = load_movielens(folder, cache=False)
        except DataError as err:
            assert err.path and err.path.endswith(".dat")
        else:
            r = data.ratings["rating"].to_numpy()
            assert np.isin(r, [1, 2, 3, 4, 5]).all()
    finally:
        path.write_bytes(original)


def test_read_failure_becomes_data_error(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    real = Path.read_bytes

    def deny(self):
        if self.name == "ratings.dat":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    err = _load_error(folder)
    assert "Permission denied" in str(err) and err.path.endswith("ratings.dat")


def test_truncated_zip(tmp_path):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    err = _load_error(archive)
    assert "zip" in str(err) and err.path.endswith("ml-1m.zip")
