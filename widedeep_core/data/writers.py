"""Write MovieLens-shaped folders and zips (synthetic content) in each official layout.

The files copy the official formats byte for byte where it matters to a reader: separators,
latin-1 titles in ml-100k and ml-1m, u.item genre flags, quoted CSV titles, half-star
ratings written as "3.5" ("5" in .dat files, "5.0" in CSV), rows sorted like the releases.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from widedeep_core.constants import GENRES
from widedeep_core.errors import DataError

from .synthetic import DEMO_SIZE, OCCUPATIONS_100K, make_synthetic
from .types import LAYOUTS, MovieLensData

# the folder name inside each official zip
TOP_FOLDERS = {"ml-100k": "ml-100k", "ml-1m": "ml-1m", "ml-10m": "ml-10M100K", "csv": "ml-25m"}
_README = (
    "SYNTHETIC DATA in the {layout} layout of the MovieLens data sets, drawn from a seeded\n"
    "latent-factor model by widedeep_core.data.write_synthetic. It is not MovieLens data.\n"
)


def write_synthetic(
    folder: str | os.PathLike[str],
    layout: str = "ml-1m",
    *,
    n_users: int = DEMO_SIZE["n_users"],
    n_items: int = DEMO_SIZE["n_items"],
    n_ratings: int = DEMO_SIZE["n_ratings"],
    seed: int = 0,
) -> Path:
    """Write an official-looking MovieLens folder of ``layout`` with synthetic content."""
    _check_layout(layout)
    half = layout in ("ml-10m", "csv")
    data = make_synthetic(n_users, n_items, n_ratings, seed, half_stars=half)
    return write_movielens(data, folder, layout)


def write_synthetic_zip(
    path: str | os.PathLike[str],
    layout: str = "ml-1m",
    *,
    n_users: int = DEMO_SIZE["n_users"],
    n_items: int = DEMO_SIZE["n_items"],
    n_ratings: int = DEMO_SIZE["n_ratings"],
    seed: int = 0,
    top: str | None = None,
) -> Path:
    """Write a zip like the official one: files in ``top`` (default: the release's folder name)."""
    _check_layout(layout)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic(
            Path(tmp) / "release", layout, n_users=n_users, n_items=n_items,
            n_ratings=n_ratings, seed=seed,
        )  # fmt: skip
        return zip_folder(folder, path, TOP_FOLDERS[layout] if top is None else top)


def zip_folder(folder: str | os.PathLike[str], path: str | os.PathLike[str], top: str = "") -> Path:
    """Zip a folder's files (deflated) under ``top`` inside the archive."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        if top:
            zf.writestr(top.rstrip("/") + "/", b"")
        for f in sorted(Path(folder).iterdir()):
            if f.is_file():
                zf.write(f, f"{top.rstrip('/')}/{f.name}" if top else f.name)
    return path


def write_movielens(data: MovieLensData, folder: str | os.PathLike[str], layout: str) -> Path:
    """Write a MovieLensData in one official layout (the files of that release, no others)."""
    _check_layout(layout)
    folder = Path(folder)
    _refuse_other_layout(folder, layout)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
    (folder / ("README.txt" if layout == "csv" else "README")).write_text(
        _README.format(layout=layout), encoding="ascii"
    )
    {"ml-100k": _write_100k, "ml-1m": _write_1m, "ml-10m": _write_10m, "csv": _write_csv}[layout](
        data, folder
    )
    return folder


# The ratings file that names each layout's folder (ml-1m and ml-10m share ratings.dat).
_RATINGS_OF = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "ml-10m": "ratings.dat",
               "csv": "ratings.csv"}  # fmt: skip


def _refuse_other_layout(folder: Path, layout: str) -> None:
    """A DataError when ``folder`` already holds the ratings of another layout: writing
    beside them would leave a folder of two releases."""
    if not folder.is_dir():
        return
    mine = _RATINGS_OF[layout]
    others = sorted({f for f in _RATINGS_OF.values() if f != mine and (folder / f).exists()})
    if others:
        raise DataError(
            f"{folder}: already holds {', '.join(others)} of another layout; "
            f"choose an empty folder for the {layout} demo"
        )


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")


def _rating_strings(rating: np.ndarray, whole: str) -> pa.DictionaryArray:
    """Ratings as text without a per-row Python loop: half-star codes into a string table."""
    codes = np.rint(np.asarray(rating, dtype=np.float64) * 2).astype(np.int8)
    table = [f"{k / 2:.1f}" if k % 2 else f"{k // 2}{whole}" for k in range(11)]
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(table))


def _write_ratings(
    ratings: pd.DataFrame, path: Path, sep: str, whole: str, header: str | None = None
) -> None:
    """Write ``user<sep>item<sep>rating<sep>timestamp`` lines with pyarrow (fast at 25M rows)."""
    table = pa.table(
        {
            "u": ratings["user"].to_numpy(),
            "i": ratings["item"].to_numpy(),
            "r": _rating_strings(ratings["rating"].to_numpy(), whole),
            "t": ratings["timestamp"].to_numpy(),
        }
    )
    path.write_bytes((header + "\n").encode() if header else b"")
    one_byte = len(sep) == 1
    opts = pacsv.WriteOptions(
        include_header=False, delimiter=sep if one_byte else "\t", quoting_style="none"
    )
    if one_byte:
        with pa.OSFile(str(path), "ab") as out:
            pacsv.write_csv(table, out, opts)
        return
    buf = pa.BufferOutputStream()  # "::" is two bytes: write with a tab, then replace
    pacsv.write_csv(table, buf, opts)
    with open(path, "ab") as fh:
        fh.write(buf.getvalue().to_pybytes().replace(b"\t", sep.encode()))


def _sorted(ratings: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return ratings.sort_values(by, kind="stable", ignore_index=True)


def _lines(rows: list[str]) -> str:
    return "".join(r + "\n" for r in rows)


def _write_100k(data: MovieLensData, folder: Path) -> None:
    _write_ratings(data.ratings, folder / "u.data", "\t", "")
    names = ("unknown", *GENRES)
    (folder / "u.genre").write_text(
        _lines([f"{g}|{k}" for k, g in enumerate(names)]) + "\n", encoding="ascii"
    )
    (folder / "u.occupation").write_text(_lines(list(OCCUPATIONS_100K)), encoding="ascii")
    m = data.movies
    rows = []
    for item, title, year, genres in zip(
        m["item"], m["title"], m["year"], m["genres"], strict=True
    ):
        date = f"01-Jan-{int(year)}" if year == year else ""
        url = "http://us.imdb.com/M/title-exact?" + quote(title, safe="")
        flags = "|".join("1" if g in genres else "0" for g in names)
        rows.append(f"{item}|{title}|{date}||{url}|{flags}")
    (folder / "u.item").write_bytes(_lines(rows).encode("latin-1"))
    if data.users is not None:
        u = data.users
        occupation = [_occupation_name(o) for o in u["occupation"]]
        cols = zip(u["user"], u["age"], u["gender"], occupation, u["zip"], strict=True)
        (folder / "u.user").write_text(_lines(["|".join(map(str, c)) for c in cols]), "ascii")
    n_users = 0 if data.users is None else len(data.users)
    info = f"{n_users} users\n{len(m)} items\n{len(data.ratings)} ratings\n"
    (folder / "u.info").write_text(info, encoding="ascii")


def _occupation_name(code: str) -> str:
    """ml-1m style codes ("4") become ml-100k names ("engineer"); names pass through."""
    return OCCUPATIONS_100K[int(code)] if str(code).isdigit() else str(code)


def _dat_movies(data: MovieLensData, encoding: str) -> bytes:
    m = data.movies
    rows = [
        f"{i}::{t}::{'|'.join(g)}"
        for i, t, g in zip(m["item"], m["title"], m["genres"], strict=True)
    ]
    return _lines(rows).encode(encoding)


def _write_1m(data: MovieLensData, folder: Path) -> None:
    ratings = _sorted(data.ratings, ["user"])  # ml-1m groups each user's ratings
    _write_ratings(ratings, folder / "ratings.dat", "::", "")
    (folder / "movies.dat").write_bytes(_dat_movies(data, "latin-1"))
    if data.users is not None:
        u = data.users
        cols = zip(u["user"], u["gender"], u["age"], u["occupation"], u["zip"], strict=True)
        (folder / "users.dat").write_text(_lines(["::".join(map(str, c)) for c in cols]), "ascii")


def _write_10m(data: MovieLensData, folder: Path) -> None:
    ratings = _sorted(data.ratings, ["user", "item"])
    _write_ratings(ratings, folder / "ratings.dat", "::", "")
    (folder / "movies.dat").write_bytes(_dat_movies(data, "utf-8"))
    tags = ratings.head(50)
    rows = [
        f"{u}::{i}::tag {i % 7}::{t}"
        for u, i, t in tags[["user", "item", "timestamp"]].itertuples(index=False)
    ]
    (folder / "tags.dat").write_text(_lines(rows), encoding="utf-8")


def _write_csv(data: MovieLensData, folder: Path) -> None:
    ratings = _sorted(data.ratings, ["user", "item"])
    _write_ratings(ratings, folder / "ratings.csv", ",", ".0", "userId,movieId,rating,timestamp")
    m = data.movies
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # quotes only titles with commas or quotes
    writer.writerow(["movieId", "title", "genres"])
    for i, t, g in zip(m["item"], m["title"], m["genres"], strict=True):
        writer.writerow([i, t, "|".join(g) if g else "(no genres listed)"])
    (folder / "movies.csv").write_text(buf.getvalue(), encoding="utf-8")
    links = _lines(["movieId,imdbId,tmdbId"] + [f"{i},{100000 + i:07d},{i}" for i in m["item"]])
    (folder / "links.csv").write_text(links, encoding="ascii")
    tags = ratings.head(50)
    rows = ["userId,movieId,tag,timestamp"] + [
        f"{u},{i},tag {i % 7},{t}"
        for u, i, t in tags[["user", "item", "timestamp"]].itertuples(index=False)
    ]
    (folder / "tags.csv").write_text(_lines(rows), encoding="utf-8")
