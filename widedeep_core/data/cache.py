"""A parquet cache of parsed releases: reopening an unchanged folder takes a fraction of a second.

Layout under the cache folder::

    keys/<cheap key>.json     path + sizes + mtimes -> fingerprint, layout, problems
    frames/<fingerprint>/     ratings.parquet, movies.parquet, users.parquet

The cheap key needs no file content, so a hit never re-reads or re-hashes the data; the
frames are keyed by the content fingerprint, so a folder and its zip share one copy.
The cache is optional: any failure to read it means a fresh parse, any failure to write
it is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from .parsing import split_genres
from .types import MovieLensData, Problem

CACHE_VERSION = 1
_log = logging.getLogger(__name__)


def user_cache_dir() -> Path:
    """The app's cache folder: ``$WIDEDEEP_CACHE_DIR`` or the platform's user cache dir."""
    env = os.environ.get("WIDEDEEP_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("widedeep", appauthor=False))


def data_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where parsed releases are kept: ``cache_dir`` itself, else ``user_cache_dir()/movielens``."""
    return Path(cache_dir) if cache_dir is not None else user_cache_dir() / "movielens"


def read_cache(
    key: str, source: Path, cache_dir: str | os.PathLike[str] | None = None
) -> MovieLensData | None:
    """The cached release for a cheap key, or None on a miss or an unreadable entry."""
    root = data_cache_dir(cache_dir)
    entry = root / "keys" / f"{key}.json"
    if not entry.is_file():
        return None
    try:
        meta = json.loads(entry.read_text(encoding="utf-8"))
        if meta.get("version") != CACHE_VERSION:
            return None
        frames = root / "frames" / meta["fingerprint"]
        ratings = pq.read_table(frames / "ratings.parquet").to_pandas()
        movies = _restore_movies(pq.read_table(frames / "movies.parquet").to_pandas())
        users = None
        if meta["has_users"]:
            users = _restore_strings(pq.read_table(frames / "users.parquet").to_pandas())
        return MovieLensData(
            layout=meta["layout"],
            ratings=ratings,
            movies=movies,
            users=users,
            fingerprint=meta["fingerprint"],
            source=source,
            rating_scale=tuple(meta["rating_scale"]),
            genres=tuple(meta["genres"]),
            problems=[Problem(**p) for p in meta["problems"]],
        )
    except Exception as exc:  # a damaged cache must never stop a load: parse afresh
        _log.warning("ignoring unreadable cache entry %s: %s", entry, exc)
        return None


def write_cache(
    key: str, data: MovieLensData, cache_dir: str | os.PathLike[str] | None = None
) -> None:
    """Store a parsed release under its fingerprint and point the cheap key at it."""
    root = data_cache_dir(cache_dir)
    try:
        frames = root / "frames" / data.fingerprint
        if not frames.is_dir():
            _write_frames(frames, data)
        meta = {
            "version": CACHE_VERSION,
            "source": str(data.source),
            "fingerprint": data.fingerprint,
            "layout": data.layout,
            "has_users": data.users is not None,
            "rating_scale": list(data.rating_scale),
            "genres": list(data.genres),
            "problems": [vars(p) for p in data.problems],
        }
        keys = root / "keys"
        _atomic_write(keys / f"{key}.json", json.dumps(meta, indent=1))
        _evict_stale(root, key, str(data.source))
    except OSError as exc:
        _log.warning("could not write the data cache in %s: %s", root, exc)


def _write_frames(frames: Path, data: MovieLensData) -> None:
    """Write the three tables into a temporary folder, then rename it into place at once."""
    frames.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=frames.parent))
    try:
        # ratings: lz4 without dictionaries writes 25M rows ~2x faster than zstd and reads
        # back as fast; the small tables keep the default dictionary encoding
        pq.write_table(
            pa.Table.from_pandas(data.ratings, preserve_index=False),
            tmp / "ratings.parquet",
            compression="lz4",
            use_dictionary=False,
            write_statistics=False,
        )
        opts = {"compression": "zstd"}
        movies = data.movies.assign(genres=data.movies["genres"].map("|".join))
        pq.write_table(
            pa.Table.from_pandas(movies, preserve_index=False), tmp / "movies.parquet", **opts
        )
        if data.users is not None:
            table = pa.Table.from_pandas(data.users, preserve_index=False)
            pq.write_table(table, tmp / "users.parquet", **opts)
        try:
            os.rename(tmp, frames)
        except OSError:  # another process stored the same fingerprint first
            if not frames.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _evict_stale(root: Path, key: str, source: str) -> None:
    """Drop older keys of the same source (its files changed) and frames no key points at."""
    live = set()
    for entry in (root / "keys").glob("*.json"):
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("source") == source and entry.stem != key:
            entry.unlink(missing_ok=True)
        else:
            live.add(meta.get("fingerprint"))
    for frames in (root / "frames").iterdir():
        if frames.is_dir() and not frames.name.startswith(".") and frames.name not in live:
            shutil.rmtree(frames, ignore_errors=True)


def _restore_strings(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype):
            frame[col] = frame[col].astype("str")
    return frame


def _restore_movies(frame: pd.DataFrame) -> pd.DataFrame:
    frame["title"] = frame["title"].astype("str")
    frame["genres"] = pd.Series([split_genres(g) for g in frame["genres"]], dtype=object)
    return frame
