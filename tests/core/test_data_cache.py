"""The parquet cache under damage, in-place edits, leftovers, eviction."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from widedeep_core import faultpoints
from widedeep_core.data import cache as cache_mod
from widedeep_core.data import display_path, load_movielens, write_synthetic, write_synthetic_zip
from widedeep_core.data import loader as loader_mod
from widedeep_core.errors import DataError

SIZE = {"n_users": 50, "n_items": 70, "n_ratings": 1200, "seed": 4}


@pytest.fixture
def parses(monkeypatch):
    """Count how often the ratings file is parsed (0 on a cache hit)."""
    calls = []
    real = loader_mod.parse_ratings

    def counting(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(loader_mod, "parse_ratings", counting)
    return calls


def _frames(cache: Path) -> Path:
    (one,) = [p for p in (cache / "frames").iterdir() if not p.name.startswith(".")]
    return one


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.movies, b.movies)
    assert a.fingerprint == b.fingerprint


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- a damaged cache is repaired once, a foreign one never served ---


def test_truncated_parquet_is_parsed_once_and_rewritten(tmp_path, parses, caplog):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    first = load_movielens(folder, cache_dir=cache)
    ratings = _frames(cache) / "ratings.parquet"
    ratings.write_bytes(ratings.read_bytes()[: ratings.stat().st_size // 2])
    caplog.set_level(logging.WARNING)
    _same(load_movielens(folder, cache_dir=cache), first)
    (line,) = _warnings(caplog)
    assert "ratings.parquet has" in line and str(cache / "keys") in line
    caplog.clear()
    _same(load_movielens(folder, cache_dir=cache), first)  # repaired: a clean hit
    assert len(parses) == 2 and not _warnings(caplog)


@pytest.mark.parametrize(
    "damage",
    [
        pa.table({"item": pa.array([1], pa.int32()), "rating": pa.array([5.0], pa.float32())}),
        pa.table(
            {
                "user": pa.array([1], pa.int64()),  # wrong dtype
                "item": pa.array([1], pa.int32()),
                "rating": pa.array([5.0], pa.float32()),
                "timestamp": pa.array([1], pa.int64()),
            }
        ),
    ],
    ids=["missing-column", "wrong-dtype"],
)
def test_missing_column_or_wrong_dtype_is_a_miss_and_rewritten(tmp_path, parses, damage):
    folder = write_synthetic(tmp_path / "d", "ml-100k", **SIZE)
    cache = tmp_path / "c"
    first = load_movielens(folder, cache_dir=cache)
    frames = _frames(cache)
    path = frames / "ratings.parquet"
    pq.write_table(damage, path)
    # even with a manifest that agrees with the file, the columns are checked
    manifest = json.loads((frames / "manifest.json").read_text())
    manifest["tables"]["ratings"]["bytes"] = path.stat().st_size
    (frames / "manifest.json").write_text(json.dumps(manifest))
    _same(load_movielens(folder, cache_dir=cache), first)
    _same(load_movielens(folder, cache_dir=cache), first)
    assert len(parses) == 2


def test_a_valid_parquet_of_other_data_is_never_served(tmp_path, parses):
    a = write_synthetic(tmp_path / "a", "ml-1m", **SIZE)
    b = write_synthetic(tmp_path / "b", "ml-1m", **{**SIZE, "seed": 9})
    cache = tmp_path / "c"
    da = load_movielens(a, cache_dir=cache)
    db = load_movielens(b, cache_dir=cache)
    fa, fb = (cache / "frames" / d.fingerprint for d in (da, db))
    # b's frames swapped for a's, file by file, then the whole folder
    for name in ("ratings.parquet", "movies.parquet", "users.parquet", "manifest.json"):
        shutil.copy2(fa / name, fb / name)
        _same(load_movielens(b, cache_dir=cache), db)
    # a's key record copied over b's key
    keys = sorted(cache.glob("keys/*.json"), key=lambda p: da.fingerprint not in p.read_text())
    assert len(keys) == 2
    shutil.copy2(keys[0], keys[1])
    _same(load_movielens(b, cache_dir=cache), db)
    _same(load_movielens(a, cache_dir=cache), da)


# --- in-place edits with the mtime restored are not served stale ---


def _edit_same_size(path: Path) -> None:
    """Change one rating digit, keeping size and (like touch -r) mtime and atime."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    pos = data.index(b"::", data.index(b"::") + 2) + 2  # the first line's rating
    data[pos] = ord("1") if data[pos] != ord("1") else ord("2")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("how", ["in-place", "cp-p", "rsync-t"])
def test_edit_with_restored_mtime_is_not_served_stale(tmp_path, how):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    old = load_movielens(folder, cache_dir=cache)
    target = folder / "ratings.dat"
    before = target.stat()
    if how == "in-place":
        _edit_same_size(target)
    else:
        edited = tmp_path / "edited.dat"
        shutil.copy2(target, edited)
        _edit_same_size(edited)
        if how == "cp-p":  # cp -p: rewrite the same inode, copy the times
            shutil.copy2(edited, target)
        else:  # rsync -t: a temp file renamed over the original, times copied
            tmp = folder / ".ratings.dat.rsync"
            shutil.copy2(edited, tmp)
            os.replace(tmp, target)
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    new = load_movielens(folder, cache_dir=cache)
    truth = load_movielens(folder, cache=False)
    assert new.fingerprint == truth.fingerprint != old.fingerprint
    pd.testing.assert_frame_equal(new.ratings, truth.ratings)


def test_zip_rewritten_with_restored_mtime_is_not_served_stale(tmp_path):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    old = load_movielens(archive, cache_dir=cache)
    st = archive.stat()
    other = write_synthetic_zip(tmp_path / "other.zip", "ml-1m", **{**SIZE, "seed": 8})
    shutil.copyfile(other, archive)
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    new = load_movielens(archive, cache_dir=cache)
    assert new.fingerprint == load_movielens(archive, cache=False).fingerprint != old.fingerprint


# --- leftovers of killed writes are removed on the next open ---


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_stale_temp_entries_are_removed_on_the_next_open(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    load_movielens(folder, cache_dir=cache)
    host = cache_mod._temp_prefix().split("-")[1]
    dead, live = _dead_pid(), os.getpid()
    made = {
        "dead": cache / "frames" / f".tmp-{host}-{dead}-abc",
        "old": cache / "frames" / f".tmp-otherhost-{live}-def",
        "young": cache / "frames" / f".tmp-{host}-{live}-ghi",
        "deadkey": cache / "keys" / f".tmp-{host}-{dead}-jkl",
        # this process's pid with another start time: the pid was reused, the writer is gone
        "reused": cache / "frames" / f".tmp-{host}-{live}-12345-mno",
        "current": cache / "frames" / f"{cache_mod._temp_prefix()}pqr",
    }
    for name, path in made.items():
        if name == "deadkey":
            path.write_text("{")
        else:
            path.mkdir()
            (path / "ratings.parquet").write_bytes(b"x" * 1000)
    past = time.time() - cache_mod.TEMP_GRACE_S - 60
    os.utime(made["old"], (past, past))
    load_movielens(folder, cache_dir=cache)
    left = {n for n, p in made.items() if p.exists()}
    # a live writer's fresh temp folder is left alone (named the old way or the new)
    assert left == {"young", "current"}


# --- eviction never removes what another process is putting in place ---


def test_entries_are_put_in_place_under_the_lock_that_eviction_takes(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    a = write_synthetic(tmp_path / "a", "ml-1m", **SIZE)
    b = write_synthetic(tmp_path / "b", "ml-1m", **{**SIZE, "seed": 6})
    cache = tmp_path / "c"
    seen = []

    def probe(point: str) -> None:
        if point in ("cache.frames.rename", "cache.key.replace", "cache.evict"):
            fd = os.open(cache / ".lock", os.O_RDWR)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
            seen.append(point)

    previous = faultpoints.set_hook(probe)
    try:
        da = load_movielens(a, cache_dir=cache)
    finally:
        faultpoints.set_hook(previous)
    assert seen == ["cache.frames.rename", "cache.key.replace", "cache.evict"]
    db = load_movielens(b, cache_dir=cache)  # b's eviction keeps a's referenced entry
    assert {p.name for p in (cache / "frames").iterdir()} == {da.fingerprint, db.fingerprint}


def test_without_a_lock_young_unreferenced_frames_are_kept(tmp_path):
    folder = write_synthetic(tmp_path / "d", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    data = load_movielens(folder, cache_dir=cache)
    orphan = cache / "frames" / ("0" * 64)
    shutil.copytree(cache / "frames" / data.fingerprint, orphan)
    cache_mod._evict_stale(cache, "k", "elsewhere", locked=False)
    assert orphan.is_dir()
    past = time.time() - cache_mod.TEMP_GRACE_S - 60
    os.utime(orphan, (past, past))
    cache_mod._evict_stale(cache, "k", "elsewhere", locked=False)
    assert not orphan.exists() and (cache / "frames" / data.fingerprint).is_dir()


# --- a non-UTF-8 byte in the path ---


def test_non_utf8_path_loads_caches_and_reports_printably(tmp_path, caplog):
    raw = os.fsencode(tmp_path) + b"/data\xff"
    try:
        os.mkdir(raw)
    except OSError as exc:  # pragma: no cover - e.g. macOS refuses non-UTF-8 names
        pytest.skip(f"this file system refuses non-UTF-8 names: {exc}")
    folder = write_synthetic(os.fsdecode(raw) + "/ml-1m", "ml-1m", **SIZE)
    cache = tmp_path / "c"
    first = load_movielens(raw + b"/ml-1m", cache_dir=cache)
    again = load_movielens(folder, cache_dir=cache)  # str form: a cache hit
    _same(first, again)
    assert os.fsencode(first.source) == raw + b"/ml-1m"  # exact bytes to reopen it
    shown = first.source_display
    assert shown.endswith("data\\xff/ml-1m") and shown.encode("utf-8")
    assert display_path(raw) == first.source_display.removesuffix("/ml-1m")
    first.name.encode("utf-8")
    (folder / "ratings.dat").write_bytes(b"1::2::x::3\n")
    with pytest.raises(DataError) as err:
        load_movielens(folder, cache_dir=cache)
    msg = str(err.value)
    assert msg.encode("utf-8") and "data\\xff/ml-1m/ratings.dat, line 1:" in msg
    zipped = write_synthetic_zip(os.fsdecode(raw) + "/r.zip", "csv", **SIZE)
    assert load_movielens(zipped, cache_dir=cache).source_display.endswith("data\\xff/r.zip")
