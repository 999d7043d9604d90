"""A parquet cache of parsed releases: reopening an unchanged folder takes a fraction of a second.

Layout under the cache folder::

    keys/<cheap key>.json     key, path, fingerprint, layout, problems (see Source.cache_key)
    frames/<fingerprint>/     ratings/movies/users.parquet + manifest.json
    .lock                     taken while an entry is put in place or evicted

What is guaranteed:

- The cheap key needs no file content: path, size, mtime, change time, inode (and a zip's
  member CRCs). A hit never re-reads the data. The frames are keyed by the content
  fingerprint, so a folder and its zip share one copy.
- An entry is served only when its key record names this key, its manifest names the
  fingerprint, and each table has the recorded byte size, row count, exact column types and
  carries the fingerprint in its own metadata. Anything else (truncated, foreign, missing or
  retyped parquet) is one warning, the entry is deleted, the files are parsed again and the
  entry rewritten.
- Entries appear whole: tables are written into a ``.tmp-*`` folder renamed into place,
  keys through a temp file and ``os.replace``. A killed write leaves only ``.tmp-*`` entries,
  removed on a later open once their process is gone or after ``TEMP_GRACE_S``.
- Putting an entry in place and evicting entries hold one lock file, so one process never
  evicts what another has just written. Where no file lock exists (Windows), unreferenced
  frames younger than ``TEMP_GRACE_S`` are kept instead.
- The cache is optional: a failure to write it is one warning naming the file and the cause
  (e.g. no space left on device) and the load goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from ..faultpoints import checkpoint
from ..owners import owner_alive, process_start
from .parsing import split_genres
from .types import MovieLensData, Problem, display_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CACHE_VERSION = 2
TEMP_GRACE_S = 600.0  # a temp entry this old is a dead write's leftover, whoever owns it
_log = logging.getLogger(__name__)
_META_KEY = b"widedeep.cache"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_STR = pa.string()
SCHEMAS = {
    "ratings": pa.schema(
        [("user", pa.int32()), ("item", pa.int32()), ("rating", pa.float32()),
         ("timestamp", pa.int64())]
    ),
    "movies": pa.schema(
        [("item", pa.int32()), ("title", _STR), ("year", pa.float64()), ("genres", _STR)]
    ),
    "users": pa.schema(
        [("user", pa.int32()), ("gender", _STR), ("age", pa.int32()), ("occupation", _STR),
         ("zip", _STR)]
    ),
}  # fmt: skip


class _Damaged(Exception):
    """A cache entry that must not be served; the message says why."""


def user_cache_dir() -> Path:
    """The app's cache folder: ``$WIDEDEEP_CACHE_DIR`` or the platform's user cache dir."""
    env = os.environ.get("WIDEDEEP_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("widedeep", appauthor=False))


def data_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where parsed releases are kept: ``cache_dir`` itself, else ``user_cache_dir()/movielens``."""
    return Path(cache_dir) if cache_dir is not None else user_cache_dir() / "movielens"


# --- reading ---


def read_cache(
    key: str, source: Path, cache_dir: str | os.PathLike[str] | None = None
) -> MovieLensData | None:
    """The cached release for a cheap key, or None on a miss; a damaged entry is deleted."""
    root = data_cache_dir(cache_dir)
    remove_stale_temps(root)
    entry = root / "keys" / f"{key}.json"
    try:
        key_stat = entry.stat()
    except OSError:
        return None
    frames = frames_ino = None
    try:
        meta = json.loads(entry.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
            return None  # an older cache format: rewritten after this parse
        if meta.get("key") != key:
            raise _Damaged("the key record belongs to another entry")
        fp = meta.get("fingerprint")
        if not isinstance(fp, str) or not _FINGERPRINT.fullmatch(fp):
            raise _Damaged("the key record holds no valid fingerprint")
        frames = root / "frames" / fp
        frames_ino = frames.stat().st_ino
        names = ["ratings", "movies"] + (["users"] if meta["has_users"] else [])
        tables = _read_tables(frames, fp, names)
        if tables["ratings"].num_rows != meta.get("n_ratings"):
            raise _Damaged("the ratings hold another number of rows than the key records")
        ratings = tables["ratings"].to_pandas()
        movies = _restore_movies(tables["movies"].to_pandas())
        users = _restore_strings(tables["users"].to_pandas()) if "users" in tables else None
        return MovieLensData(
            layout=meta["layout"],
            ratings=ratings,
            movies=movies,
            users=users,
            fingerprint=fp,
            source=source,
            rating_scale=tuple(meta["rating_scale"]),
            genres=tuple(meta["genres"]),
            problems=[Problem(**p) for p in meta["problems"]],
        )
    except Exception as exc:  # a damaged cache must never stop a load: parse afresh
        reason = _reason(exc)
        _log.warning(
            "data cache entry %s is unusable (%s); parsing the files again and rewriting it",
            display_path(entry),
            reason,
        )
        _discard(root, entry, key_stat, frames, frames_ino)
        return None


def _read_tables(frames: Path, fingerprint: str, names: list[str]) -> dict[str, pa.Table]:
    """Read and verify the tables of one frames folder against its manifest."""
    manifest = _read_manifest(frames, fingerprint)
    tables = {}
    for name in names:
        info = manifest["tables"].get(name)
        if not isinstance(info, dict):
            raise _Damaged(f"the manifest lists no {name} table")
        path = frames / f"{name}.parquet"
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise _Damaged(f"{path.name} has {size:,} bytes, the manifest records {info['bytes']}")
        table = pq.read_table(path)
        _check_table(table, name, fingerprint, path.name)
        if table.num_rows != info.get("rows"):
            raise _Damaged(f"{path.name} holds {table.num_rows:,} rows, not {info.get('rows')}")
        tables[name] = table
    return tables


def _read_manifest(frames: Path, fingerprint: str) -> dict:
    manifest = json.loads((frames / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
        raise _Damaged("the manifest names another fingerprint")
    if manifest.get("version") != CACHE_VERSION or not isinstance(manifest.get("tables"), dict):
        raise _Damaged("the manifest is of another cache version")
    return manifest


def _check_table(table: pa.Table | pa.Schema, name: str, fingerprint: str, file: str) -> None:
    """The table must be this entry's (fingerprint in its metadata) with the exact columns."""
    schema = table if isinstance(table, pa.Schema) else table.schema
    tag = (schema.metadata or {}).get(_META_KEY)
    try:
        mine = json.loads(tag) if tag else {}
    except ValueError:
        mine = {}
    if mine.get("fingerprint") != fingerprint or mine.get("table") != name:
        raise _Damaged(f"{file} holds another entry's data")
    if not schema.remove_metadata().equals(SCHEMAS[name]):
        found = ", ".join(f"{f.name} {f.type}" for f in schema)
        raise _Damaged(f"{file} has the columns ({found}), not those of a {name} table")


def _frames_ok(frames: Path, fingerprint: str, names: list[str]) -> bool:
    """Cheap check that a frames folder is whole: manifest, sizes and footers (no data read)."""
    try:
        manifest = _read_manifest(frames, fingerprint)
        for name in names:
            path = frames / f"{name}.parquet"
            if path.stat().st_size != manifest["tables"][name]["bytes"]:
                return False
            _check_table(pq.read_schema(path), name, fingerprint, path.name)
        return True
    except Exception:
        return False


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong, with the OS's words for an errno."""
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
        return text[:1].lower() + text[1:]
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


# --- writing ---


def write_cache(
    key: str, data: MovieLensData, cache_dir: str | os.PathLike[str] | None = None
) -> None:
    """Store a parsed release under its fingerprint and point the cheap key at it.

    Never raises for a file-system error: the cache is optional; one warning names the file.
    """
    root = data_cache_dir(cache_dir)
    where = [root]  # the file being written, for the warning
    try:
        fp = data.fingerprint
        frames = root / "frames" / fp
        names = ["ratings", "movies"] + (["users"] if data.users is not None else [])
        if not _frames_ok(frames, fp, names):
            tmp = _write_frames(frames, data, where)
            try:
                where[0] = frames
                with _locked(root):
                    checkpoint("cache.frames.rename")
                    if _frames_ok(frames, fp, names):
                        pass  # another process stored the same fingerprint first
                    else:
                        if frames.exists():
                            _trash(frames)
                        os.rename(tmp, frames)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        meta = {
            "version": CACHE_VERSION,
            "key": key,
            "source": str(data.source),  # json escapes a non-UTF-8 path's surrogates
            "fingerprint": fp,
            "layout": data.layout,
            "has_users": data.users is not None,
            "n_ratings": len(data.ratings),
            "rating_scale": list(data.rating_scale),
            "genres": list(data.genres),
            "problems": [vars(p) for p in data.problems],
        }
        keys = root / "keys"
        where[0] = keys / f"{key}.json"
        with _locked(root) as locked:
            _atomic_write(where[0], json.dumps(meta, indent=1))
            where[0] = root
            checkpoint("cache.evict")
            _evict_stale(root, key, str(data.source), locked)
    except OSError as exc:
        _log.warning(
            "could not write the data cache file %s: %s", display_path(where[0]), _reason(exc)
        )


def _write_frames(frames: Path, data: MovieLensData, where: list[Path]) -> Path:
    """Write the tables and manifest of ``frames`` into a new temp folder beside it; returns it.

    ``where[0]`` names the file being written by its final path, for the warning.
    """
    frames.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(), dir=frames.parent))
    try:
        checkpoint("cache.frames.tmpdir")
        movies = data.movies.assign(genres=data.movies["genres"].map("|".join))
        content = {"ratings": data.ratings, "movies": movies}
        if data.users is not None:
            content["users"] = data.users
        tables = {}
        for name, frame in content.items():
            path = tmp / f"{name}.parquet"
            where[0] = frames / path.name
            table = pa.Table.from_pandas(frame, schema=SCHEMAS[name], preserve_index=False)
            tag = json.dumps({"fingerprint": data.fingerprint, "table": name}).encode()
            table = table.replace_schema_metadata({**table.schema.metadata, _META_KEY: tag})
            if name == "ratings":
                # lz4 without dictionaries writes 25M rows ~2x faster than zstd and reads
                # back as fast; the small tables keep the default dictionary encoding
                opts = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}
            else:
                opts = {"compression": "zstd"}
            pq.write_table(table, path, **opts)
            checkpoint(f"cache.frames.{name}")
            tables[name] = {"rows": table.num_rows, "bytes": path.stat().st_size}
        manifest = {"version": CACHE_VERSION, "fingerprint": data.fingerprint, "tables": tables}
        where[0] = frames / "manifest.json"
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        checkpoint("cache.frames.manifest")
        return tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        checkpoint("cache.key.replace")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _evict_stale(root: Path, key: str, source: str, locked: bool) -> None:
    """Drop older keys of the same source (its files changed) and frames no key points at.

    Runs under the cache lock, so no entry is half put in place meanwhile. Without a lock
    (no fcntl), unreferenced frames younger than TEMP_GRACE_S are kept: they may be a
    concurrent write whose key is not there yet.
    """
    live = set()
    for entry in (root / "keys").glob("*.json"):
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        if meta.get("source") == source and entry.stem != key:
            entry.unlink(missing_ok=True)
        else:
            live.add(meta.get("fingerprint"))
    now = time.time()
    for frames in (root / "frames").iterdir():
        if not frames.is_dir() or frames.name.startswith(".") or frames.name in live:
            continue
        with contextlib.suppress(OSError):
            if locked or now - frames.stat().st_mtime > TEMP_GRACE_S:
                _trash(frames)


# --- locking, temp entries and removal ---


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[bool]:
    """Hold the cache's lock file; yields whether a lock is actually held (no fcntl: False)."""
    root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing releases the lock, also when the process is killed


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _temp_prefix() -> str:
    """``.tmp-<host>-<pid>-<start>-``: a later open can tell (``owners``) whether the
    writer is still alive, and still the same process."""
    pid = os.getpid()
    return f".tmp-{_host_tag()}-{pid}-{process_start(pid) or 0}-"


def _writer_alive(name: str) -> bool:
    """Whether the writer a temp entry's name records is alive (only this host's)."""
    parts = name.split("-")
    if len(parts) < 4 or parts[1] != _host_tag() or not parts[2].isdigit():
        return False
    # the start time, where the name has one (older names hold the pid alone)
    start = int(parts[3]) if len(parts) > 4 and parts[3].isdigit() and parts[3] != "0" else None
    return owner_alive({"host": socket.gethostname(), "pid": int(parts[2]), "pid_start": start})


def remove_stale_temps(root: Path) -> int:
    """Remove ``.tmp-*`` entries left by killed writes; returns how many were removed.

    An entry is stale when its writer (host + pid in its name) is gone, or when it is older
    than TEMP_GRACE_S whoever wrote it (the pid may have been reused).
    """
    now = time.time()
    removed = 0
    for folder in (root / "frames", root / "keys"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for de in entries:
            if not de.name.startswith(".tmp-"):
                continue
            try:
                age = now - de.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            # young entries of another host, or of a live writer here, are in use
            here = de.name.split("-")[1:2] == [_host_tag()]
            if age <= TEMP_GRACE_S and (not here or _writer_alive(de.name)):
                continue
            path = Path(de.path)
            if de.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


def _trash(path: Path) -> None:
    """Remove a frames folder: renamed aside first, so no reader sees it half deleted."""
    aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(), dir=path.parent))
    try:
        os.rename(path, aside / "old")
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _discard(
    root: Path, entry: Path, key_stat: os.stat_result, frames: Path | None, frames_ino: int | None
) -> None:
    """Delete a damaged entry, unless another process replaced it meanwhile (new inode)."""
    with contextlib.suppress(OSError), _locked(root):
        st = entry.stat()
        if (st.st_ino, st.st_mtime_ns) == (key_stat.st_ino, key_stat.st_mtime_ns):
            entry.unlink()
        if frames is not None and frames_ino is not None and frames.stat().st_ino == frames_ino:
            _trash(frames)


def _restore_strings(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype):
            frame[col] = frame[col].astype("str")
    return frame


def _restore_movies(frame: pd.DataFrame) -> pd.DataFrame:
    frame["title"] = frame["title"].astype("str")
    frame["genres"] = pd.Series([split_genres(g) for g in frame["genres"]], dtype=object)
    return frame
