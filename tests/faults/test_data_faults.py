"""The data cache under faults: killed at each write step, a full disk, concurrent processes.

After any of them the next open returns exactly the data of the files, leaves no ``.tmp-*``
entry behind, and the failure was one line naming the file and the cause.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from widedeep_core.data import load_movielens, write_synthetic, write_synthetic_zip
from widedeep_core.data import loader as loader_mod

SIZE = {"n_users": 80, "n_items": 90, "n_ratings": 3000, "seed": 11}
WRITE_STEPS = [
    "cache.frames.tmpdir",
    "cache.frames.ratings",
    "cache.frames.movies",
    "cache.frames.users",
    "cache.frames.manifest",
    "cache.frames.rename",
    "cache.key.replace",
    "cache.evict",
]
PRELUDE = """
import sys
from pathlib import Path
from widedeep_core.data import load_movielens
"""
LOAD = "load_movielens(FOLDER, cache_dir=Path(CACHE) / (POINT or 'clean'))"


def _temps(cache: Path) -> list[Path]:
    return [p for p in cache.glob("*/.tmp-*")]


def _digest(data) -> tuple:
    r = data.ratings
    return (data.fingerprint, int(pd.util.hash_pandas_object(r, index=False).sum()), len(r))


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_synthetic(tmp_path / "ml-1m", "ml-1m", **SIZE)


def test_the_write_steps_are_the_ones_killed_below(faults, folder, tmp_path):
    prelude = PRELUDE + f"FOLDER, CACHE = {str(folder)!r}, {str(tmp_path / 'c')!r}\n"
    assert faults.points(LOAD, prelude=prelude) == WRITE_STEPS


def test_killed_at_each_write_step_the_next_open_is_correct(faults, folder, tmp_path, monkeypatch):
    cache = tmp_path / "c"
    prelude = PRELUDE + f"FOLDER, CACHE = {str(folder)!r}, {str(cache)!r}\n"
    statuses = faults.kill_at(WRITE_STEPS, LOAD, prelude=prelude)
    assert statuses == dict.fromkeys(WRITE_STEPS, -9), faults.last_stderr
    truth = _digest(load_movielens(folder, cache=False))
    parses = []
    real = loader_mod.parse_ratings
    monkeypatch.setattr(loader_mod, "parse_ratings", lambda *a: parses.append(1) or real(*a))
    for point in WRITE_STEPS:
        root = cache / point
        assert _digest(load_movielens(folder, cache_dir=root)) == truth, point
        assert not _temps(root), f"{point}: temp entries left: {_temps(root)}"
        before = len(parses)
        assert _digest(load_movielens(folder, cache_dir=root)) == truth, point
        assert len(parses) == before, f"{point}: the entry was not repaired into a hit"
    # killed after the key was written (eviction): that entry was whole and is served as is
    assert len(parses) == len(WRITE_STEPS) - 1


@pytest.mark.parametrize("where", ["first-table", "later-table"])
def test_full_disk_is_one_line_and_nothing_half_written_is_served(
    small_disk, tmp_path, caplog, where
):
    folder = write_synthetic(tmp_path / "ml-1m", "ml-1m", n_users=300, n_items=400,
                             n_ratings=60_000, seed=3)  # fmt: skip
    truth = _digest(load_movielens(folder, cache=False))
    cache = small_disk.path / "cache"
    if where == "first-table":
        small_disk.fill(leave=8 * 1024)
        point = "cache.frames.ratings"
    else:  # room for the ratings only: fails on a later file
        probe = tmp_path / "probe"
        load_movielens(folder, cache_dir=probe)
        (ratings,) = probe.glob("frames/*/ratings.parquet")
        small_disk.fill(leave=ratings.stat().st_size + 4096)
        point = "cache.frames.movies"
    caplog.set_level(logging.WARNING)
    with small_disk.no_space_at(point):
        assert _digest(load_movielens(folder, cache_dir=cache)) == truth
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    table = "ratings" if where == "first-table" else "movies"
    assert line.startswith(f"could not write the data cache file {cache}/frames/")
    assert f"/{table}.parquet: " in line or small_disk.mounted
    assert line.endswith(": no space left on device") and "\n" not in line
    assert not _temps(cache) and not list(cache.glob("keys/*.json"))
    small_disk.free()
    caplog.clear()
    assert _digest(load_movielens(folder, cache_dir=cache)) == truth
    assert _digest(load_movielens(folder, cache_dir=cache)) == truth
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_concurrent_writers_and_readers_share_one_cache(faults, tmp_path):
    """Four processes open two releases (folder and zip of each) in turns on one cache."""
    a = write_synthetic(tmp_path / "a", "ml-1m", **SIZE)
    b = write_synthetic_zip(tmp_path / "b.zip", "csv", **{**SIZE, "seed": 12})
    truth = {str(p): _digest(load_movielens(p, cache=False)) for p in (a, b)}
    body = """
    import pandas as pd
    for k in range(6):
        path = PATHS[(INDEX + k) % 2]
        d = load_movielens(path, cache_dir=CACHE)
        r = d.ratings
        got = [d.fingerprint, int(pd.util.hash_pandas_object(r, index=False).sum()), len(r)]
        if got != TRUTH[path]:
            raise AssertionError(f"{path}: served {got}, expected {TRUTH[path]}")
    """
    prelude = PRELUDE + (
        f"PATHS = {[str(a), str(b)]!r}\nCACHE = {str(tmp_path / 'c')!r}\n"
        f"TRUTH = { ({k: list(v) for k, v in truth.items()})!r}\n"
    )
    assert faults.run_parallel(4, body, prelude=prelude) == [0, 0, 0, 0], faults.last_stderr
    cache = tmp_path / "c"
    assert not _temps(cache)
    for p in (a, b):
        assert _digest(load_movielens(p, cache_dir=cache)) == truth[str(p)]
