"""Time MovieLens loading against the usual pandas baseline, in one run, on synthetic data.

Cases:
  * an ML-1M-size ``ratings.dat`` (1,000,209 lines): our parser and the full
    ``load_movielens`` against ``pandas.read_csv(sep='::', engine='python')``;
  * reopening the same folder from the parquet cache;
  * the cache's stale check (file identity: size, mtime, ctime, inode) against hashing the
    files' content on every open, each as a share of a cached reopen;
  * with ``--rows N`` (e.g. 25000000) an ML-25M-shape CSV folder: first open (parse,
    validate, write the cache) and cached reopen, each in a fresh process for its peak RSS.

Usage: python benchmarks/bench_load.py [--workdir DIR] [--repeat 3] [--rows 25000000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from widedeep_core.data import load_movielens, write_synthetic
from widedeep_core.data.parsing import FORMAT_DAT, parse_ratings
from widedeep_core.data.sources import open_source

ML1M = {"n_users": 6040, "n_items": 3706, "n_ratings": 1_000_209}
ML25M = {"n_users": 162_541, "n_items": 59_047}

_CHILD = """
import resource, sys, time
from widedeep_core.data import load_movielens
t = time.perf_counter()
d = load_movielens(sys.argv[1], cache_dir=sys.argv[2])
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
print(dt, rss, d.n_ratings)
"""


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _child_open(folder: Path, cache: Path) -> tuple[float, float, int]:
    """Open a folder in a fresh interpreter: (seconds, peak RSS MiB, ratings)."""
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), str(cache)],
        check=True,
        capture_output=True,
        text=True,
    )
    dt, rss, n = res.stdout.split()
    return float(dt), float(rss), int(n)


def bench_1m(work: Path, repeat: int) -> list[tuple[str, float, float | None]]:
    folder = work / "ml-1m"
    if not (folder / "ratings.dat").is_file():
        write_synthetic(folder, "ml-1m", **ML1M)
    path = folder / "ratings.dat"
    raw = path.read_bytes()
    ours_parse = _time(lambda: parse_ratings(path.read_bytes(), FORMAT_DAT, str(path)), repeat)
    ours_load = _time(lambda: load_movielens(folder, cache=False), repeat)
    names = ["user", "item", "rating", "timestamp"]
    base = _time(
        lambda: pd.read_csv(path, sep="::", engine="python", names=names, encoding="latin-1"), 1
    )
    cache = work / "cache-1m"
    load_movielens(folder, cache_dir=cache)  # fill the cache
    hit = _time(lambda: load_movielens(folder, cache_dir=cache), repeat)
    _stale_check_cost(folder, statistics.median(hit), max(repeat, 5))
    n_lines = raw.count(b"\n")
    print(f"ratings.dat: {len(raw):,} bytes, {n_lines:,} lines")
    b = statistics.median(base)
    return [
        ("ML-1M ratings.dat parse (ours)", statistics.median(ours_parse), b),
        ("ML-1M load_movielens, no cache", statistics.median(ours_load), b),
        ("ML-1M cached reopen", statistics.median(hit), b),
        ("pandas sep='::' engine='python'", b, None),
    ]


def _stale_check_cost(folder: Path, hit: float, repeat: int) -> None:
    """Print what each way of noticing an edited file costs next to a cached reopen."""

    def sha256_files() -> None:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                with open(f, "rb") as fh:
                    hashlib.file_digest(fh, "sha256")

    key = statistics.median(_time(lambda: open_source(folder).cache_key(1), repeat))
    content = statistics.median(_time(sha256_files, repeat))
    print(f"cached reopen {hit * 1e3:.1f} ms; stale check by file identity (stat) "
          f"{key * 1e3:.2f} ms ({key / hit:.1%}); by SHA-256 of the files "
          f"{content * 1e3:.1f} ms ({content / hit:.0%})")  # fmt: skip


def bench_csv(work: Path, rows: int) -> list[tuple[str, float, float | None]]:
    folder = work / f"csv-{rows}"
    if not (folder / "ratings.csv").is_file():
        t = time.perf_counter()
        write_synthetic(folder, "csv", n_ratings=rows, **ML25M)
        print(f"generated {rows:,} ratings in {time.perf_counter() - t:.1f} s")
    size = (folder / "ratings.csv").stat().st_size
    print(f"ratings.csv: {size / 1e6:,.0f} MB")
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    first, rss1, n = _child_open(folder, cache)
    again, rss2, _ = _child_open(folder, cache)
    return [
        (f"{n / 1e6:.0f}M CSV first open (peak RSS {rss1:,.0f} MiB)", first, None),
        (f"{n / 1e6:.0f}M CSV cached reopen (peak RSS {rss2:,.0f} MiB)", again, None),
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, help="keep generated data here (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--rows", type=int, default=0, help="also time a CSV folder of this many ratings"
    )
    args = ap.parse_args(argv)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-load-")
        work = Path(tmp.name)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    try:
        rows = bench_1m(work, args.repeat)
        if args.rows:
            rows += bench_csv(work, args.rows)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"\n{'case':<52} {'seconds':>9} {'baseline/ours':>14}")
    for name, secs, base in rows:
        ratio = f"{base / secs:,.1f}x" if base else ""
        print(f"{name:<52} {secs:>9.3f} {ratio:>14}")
    cmd = " ".join(["python", "benchmarks/bench_load.py", *(argv or sys.argv[1:])])
    print(f"\nmedian of {args.repeat} runs (baseline: 1 run); rerun: {cmd}")


if __name__ == "__main__":
    main()
