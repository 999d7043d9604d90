"""``load_movielens``: any official MovieLens layout, from a folder or zip, validated and cached."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from widedeep_core.constants import GENRES

from ..errors import DataError
from .cache import read_cache, write_cache
from .parsing import (
    FORMAT_100K,
    FORMAT_CSV,
    FORMAT_DAT,
    RatingsText,
    movies_frame,
    parse_id,
    parse_int,
    parse_ratings,
    read_csv_rows,
    row_lines,
    split_genres,
    split_lines,
    title_year,
    users_frame,
)
from .sources import RATINGS_FILES, Source, ZipLimits, open_source
from .types import MovieLensData, Problem, display_path


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


Progress = Callable[[float, str], None]
"""Load progress: ``progress(fraction in [0, 1], what is being done)``."""

# (lowest, highest, step) of each release's rating scale
SCALES = {
    "ml-100k": (1.0, 5.0, 1.0),
    "ml-1m": (1.0, 5.0, 1.0),
    "ml-10m": (0.5, 5.0, 0.5),
    "csv": (0.5, 5.0, 0.5),
}
# (users file, movies file) of each layout; the later releases have no demographics
COMPANIONS = {
    "ml-100k": ("u.user", "u.item"),
    "ml-1m": ("users.dat", "movies.dat"),
    "ml-10m": (None, "movies.dat"),
    "csv": (None, "movies.csv"),
}
GENRES_100K = ("unknown", *GENRES)
_LOADER_VERSION = 1  # bump when parsing changes, so old cache entries are not served
_KNOWN_GENRE_ORDER = (*GENRES, "Children", "IMAX")  # README order; later releases add these
_UITEM_FIELDS = "movie id|title|release date|video release date|IMDb URL|{n} genre flags"


def load_movielens(
    path: str | bytes | os.PathLike[str],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    zip_limits: ZipLimits | None = None,
) -> MovieLensData:
    """Open a MovieLens folder or official zip of any layout; cached while files are unchanged.

    ``zip_limits`` bounds what a zip may declare (default: ``ZipLimits.from_env()``).
    """
    report = progress or (lambda _f, _m: None)
    report(0.0, "looking for MovieLens files")
    source = open_source(path, zip_limits)
    key = source.cache_key(_LOADER_VERSION) if cache else None
    if key is not None:
        hit = read_cache(key, source.path, cache_dir)
        if hit is not None:
            report(1.0, "loaded from the cache")
            return hit
    data = _load(source, report)
    if key is not None:
        report(0.95, "writing the cache")
        write_cache(key, data, cache_dir)
    report(1.0, "loaded")
    return data


def _load(source: Source, report: Progress) -> MovieLensData:
    hasher = hashlib.sha256()
    problems: list[Problem] = []
    family = source.family
    present = [n for n in RATINGS_FILES if source.has(n)]
    if len(present) > 1:  # a folder of two releases: say which one is read
        problems.append(
            Problem(
                "several-layouts",
                f"the folder holds the ratings of several layouts ({', '.join(present)}); "
                f"read {present[0]}, ignored the others",
                path=display_path(source.path),
                count=len(present),
            )
        )
    name, fmt = {
        "ml-100k": ("u.data", FORMAT_100K),
        "dat": ("ratings.dat", FORMAT_DAT),
        "csv": ("ratings.csv", FORMAT_CSV),
    }[family]
    label = source.label(name)
    report(0.05, f"reading {name}")
    raw = _read_hashed(source, name, hasher)
    report(0.2, f"parsing {name}")
    text = parse_ratings(raw, fmt, label)
    del raw
    layout = family if family != "dat" else _dat_layout(source, text.frame)
    _check_scale(text, layout, label)

    report(0.6, "reading users and movies")
    users = _read_users(source, layout, hasher, problems)
    movies, genres = _read_movies(source, layout, hasher, problems, text.frame)

    report(0.8, "checking the ratings")
    ratings = _drop_duplicates(text, label, problems)
    del text
    users_file, movies_file = COMPANIONS[layout]
    _check_known(ratings, "user", users, source.label(users_file or ""), problems)
    _check_known(ratings, "item", movies, source.label(movies_file), problems)
    return MovieLensData(
        layout=layout,
        ratings=ratings,
        movies=movies,
        users=users,
        fingerprint=hasher.hexdigest(),
        source=source.path,
        rating_scale=SCALES[layout][:2],
        genres=genres,
        problems=problems,
    )


def _read_hashed(source: Source, name: str, hasher: _Hasher) -> bytes:
    """Read a file and add its name, size and content to the fingerprint."""
    data = source.read(name)
    hasher.update(f"{name}\0{len(data)}\0".encode())
    hasher.update(data)
    return data


def _dat_layout(source: Source, ratings: pd.DataFrame) -> str:
    """ml-1m or ml-10m: both write ratings.dat; users.dat, tags.dat, names and stars tell."""
    if source.has("users.dat"):
        return "ml-1m"
    hint = (source.path.name + " " + Path(source.label("ratings.dat")).parent.name).lower()
    if source.has("tags.dat") or "10m" in hint:
        return "ml-10m"
    r = ratings["rating"].to_numpy()
    return "ml-10m" if bool(np.any(r != np.round(r))) else "ml-1m"


def _check_scale(text: RatingsText, layout: str, label: str) -> None:
    lo, hi, step = SCALES[layout]
    r = text.frame["rating"].to_numpy()
    units = r / np.float32(step)
    bad = np.flatnonzero(~((r >= lo) & (r <= hi) & (units == np.round(units))))
    if len(bad):
        stars = "whole stars" if step == 1 else "half stars"
        raise DataError(
            f"rating {float(r[bad[0]]):g} is outside the {layout} scale: expected "
            f"{lo:g} to {hi:g} in {stars}",
            path=label,
            line=text.line_of(int(bad[0])),
        )


def _missing(source: Source, name: str, what: str, problems: list[Problem]) -> None:
    problems.append(Problem("missing-file", f"{name} not found: {what}", path=source.label(name)))


def _read_users(
    source: Source, layout: str, hasher: _Hasher, problems: list[Problem]
) -> pd.DataFrame | None:
    name = COMPANIONS[layout][0]
    if name is None:
        return None
    if not source.has(name):
        _missing(
            source,
            name,
            "user demographics (gender, age, occupation, zip) are unavailable",
            problems,
        )
        return None
    label = source.label(name)
    data = _read_hashed(source, name, hasher)
    if layout == "ml-100k":
        rows = split_lines(data, "|", 5, "user id|age|gender|occupation|zip code", label)
        order = (0, 2, 1, 3, 4)  # id, gender, age, occupation, zip
    else:
        rows = split_lines(data, "::", 5, "UserID::Gender::Age::Occupation::Zip-code", label)
        order = (0, 1, 2, 3, 4)
    cols: tuple[list, ...] = ([], [], [], [], [])
    for line, parts in rows:
        uid, gender, age, occupation, zipcode = (parts[k] for k in order)
        cols[0].append(parse_id(uid, "user id", label, line))
        cols[1].append(gender.strip())
        cols[2].append(parse_int(age, "age", label, line))
        cols[3].append(occupation.strip())
        cols[4].append(zipcode.strip())
    return _dedupe_ids(users_frame(*cols), "user", label, rows, problems)


def _read_movies(
    source: Source,
    layout: str,
    hasher: _Hasher,
    problems: list[Problem],
    ratings: pd.DataFrame,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    name = COMPANIONS[layout][1]
    genre_names = _read_genres_100k(source, hasher, problems) if layout == "ml-100k" else ()
    if not source.has(name):
        ids = np.unique(ratings["item"].to_numpy())
        what = "titles, years and genres are unavailable; using the movie ids of the ratings"
        _missing(source, name, what, problems)
        n = len(ids)
        return movies_frame(ids.tolist(), [""] * n, [np.nan] * n, [()] * n), genre_names
    label = source.label(name)
    data = _read_hashed(source, name, hasher)
    if layout == "ml-100k":
        rows = split_lines(
            data, "|", 5 + len(genre_names), _UITEM_FIELDS.format(n=len(genre_names)), label
        )
        cols = _uitem_columns(rows, genre_names, label)
    else:
        if layout == "csv":
            rows = read_csv_rows(data, ["movieId", "title", "genres"], label)
        else:
            rows = split_lines(data, "::", 3, "MovieID::Title::Genres", label)
        cols = (
            [parse_id(mid, "movie id", label, line) for line, (mid, _, _) in rows],
            [title.strip() for _, (_, title, _) in rows],
            [title_year(title) for _, (_, title, _) in rows],
            [split_genres(gs) for _, (_, _, gs) in rows],
        )
        genre_names = _genre_order({g for gs in cols[3] for g in gs})
    movies = _dedupe_ids(movies_frame(*cols), "item", label, rows, problems)
    return movies, genre_names


def _uitem_columns(
    rows: list[tuple[int, list[str]]], genre_names: tuple[str, ...], label: str
) -> tuple[list[int], list[str], list[float], list[tuple[str, ...]]]:
    """Columns of u.item: the year from the title, else from the release date; genre flags."""
    items, titles, years, genres = [], [], [], []
    for line, parts in rows:
        items.append(parse_id(parts[0], "movie id", label, line))
        title, date = parts[1].strip(), parts[2].strip()
        year = title_year(title)
        if np.isnan(year) and date[-4:].isdigit():
            year = float(date[-4:])
        flags = [f.strip() for f in parts[5:]]
        for flag, genre in zip(flags, genre_names, strict=True):
            if flag not in ("0", "1"):
                raise DataError(
                    f"genre flag {flag[:20]!r} for {genre} is not 0 or 1", path=label, line=line
                )
        titles.append(title)
        years.append(year)
        genres.append(tuple(g for f, g in zip(flags, genre_names, strict=True) if f == "1"))
    return items, titles, years, genres


def _read_genres_100k(source: Source, hasher: _Hasher, problems: list[Problem]) -> tuple[str, ...]:
    if not source.has("u.genre"):
        _missing(source, "u.genre", "using the 19 standard ml-100k genre names", problems)
        return GENRES_100K
    label = source.label("u.genre")
    rows = split_lines(_read_hashed(source, "u.genre", hasher), "|", 2, "genre|index", label)
    indexed = sorted(
        (parse_int(idx, "genre index", label, line), g.strip()) for line, (g, idx) in rows
    )
    if [i for i, _ in indexed] != list(range(len(indexed))):
        raise DataError("genre indexes must run 0, 1, 2, ... without gaps", path=label)
    return tuple(g for _, g in indexed)


def _genre_order(found: set[str]) -> tuple[str, ...]:
    """The README's genre order first, then any others alphabetically."""
    known = [g for g in _KNOWN_GENRE_ORDER if g in found]
    return tuple(known + sorted(found - set(known)))


def _dedupe_ids(
    frame: pd.DataFrame,
    col: str,
    label: str,
    rows: list[tuple[int, list[str]]],
    problems: list[Problem],
) -> pd.DataFrame:
    """Keep the first row of an id listed twice in a companion file, and say so."""
    dup = frame[col].duplicated(keep="first").to_numpy()
    if not dup.any():
        return frame
    first = int(np.flatnonzero(dup)[0])
    line = rows[first][0]
    what = "user" if col == "user" else "movie"
    problems.append(
        Problem(
            "duplicate-id",
            f"{int(dup.sum())} {what} ids are listed more than once; kept the first entry",
            path=label,
            line=line,
            count=int(dup.sum()),
        )
    )
    return frame.loc[~dup].reset_index(drop=True)


def _drop_duplicates(text: RatingsText, label: str, problems: list[Problem]) -> pd.DataFrame:
    """Keep one rating per (user, movie): the latest by timestamp, the last in the file on a tie.

    The latest rating is the user's current opinion; keeping both would weigh the pair twice.
    """
    r = text.frame
    user = r["user"].to_numpy().astype(np.int64)
    item = r["item"].to_numpy().astype(np.int64)
    key = user * (int(item.max()) + 1) + item
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):  # sorted files: no sort needed
        return r
    skey = np.sort(key)
    if not bool(np.any(skey[1:] == skey[:-1])):
        return r
    rows = np.arange(len(key))
    order = np.lexsort((rows, r["timestamp"].to_numpy(), key))
    sk = key[order]
    is_last = np.ones(len(sk), dtype=bool)
    is_last[:-1] = sk[1:] != sk[:-1]
    dropped = np.sort(order[~is_last])
    keep = np.sort(order[is_last])
    problems.append(
        Problem(
            "duplicates",
            f"{len(dropped)} ratings repeat a (user, movie) pair rated elsewhere in the file; "
            "kept the latest by timestamp (the last in the file on a tie); the line named "
            "is the first one dropped",
            path=label,
            line=int(row_lines(text.body, text.skip, dropped[:1])[0]),
            count=len(dropped),
        )
    )
    return r.iloc[keep].reset_index(drop=True)


def _check_known(
    ratings: pd.DataFrame,
    col: str,
    table: pd.DataFrame | None,
    label: str,
    problems: list[Problem],
) -> None:
    """Record ratings whose user or movie the companion file does not list (they are kept)."""
    if table is None:
        return
    ids = ratings[col].to_numpy()
    unknown = ~np.isin(ids, table[col].to_numpy())
    n = int(unknown.sum())
    if not n:
        return
    n_ids = len(np.unique(ids[unknown]))
    kind, noun = ("unknown-user", "users") if col == "user" else ("unknown-movie", "movies")
    problems.append(
        Problem(
            kind,
            f"{n} ratings refer to {n_ids} {noun} not listed in {Path(label).name}; they are kept",
            path=label,
            count=n,
        )
    )
