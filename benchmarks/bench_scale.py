"""How the pipeline's cost grows with the data: synthetic ML-25M-shaped folders of several sizes.

For each size a CSV folder (the ML-20M/25M layout) is generated with ``write_synthetic``
in a child process, then a second child process measures, in order: the parse
(``load_movielens(cache=False)``), the first open that fills the parsed-data cache, the
cached reopen, prepare/encode (labels, split, vocabulary, tensors), one epoch of the
``reference`` preset at a large batch (training + validation scoring), the test scoring
that ends a run, loading the run into a ``Recommender`` and the top-10 latency for one
user (the user with the median number of ratings; median of 20 calls). Every size runs
in its own process, so its peak RSS is its own.

Shape: 25M ratings ~ 162,541 users x 59,047 movies (ML-25M); smaller sizes scale users
and movies in proportion, keeping ~154 ratings per user like MovieLens (1M gives
~6.5k x 2.4k, close to ML-1M's 6,040 x 3,706).

    python benchmarks/bench_scale.py                      # 1M, 5M, 25M
    python benchmarks/bench_scale.py --sizes 100k,1M      # a quick check
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from _common import (
    add_device_argument,
    check_device,
    format_table,
    machine_line,
    parse_list,
    peak_rss_mib,
    rerun_line,
    run_main,
)

ML25M_RATINGS, ML25M_USERS, ML25M_ITEMS = 25_000_095, 162_541, 59_047
MIN_SPACE = 5  # user x movie pairs at least 5x the ratings, so tiny sizes stay sparse
RESULT = "RESULT "  # prefix of the child's JSON line on stdout
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}


# ---------------------------------------------------------------- sizes and shapes


def parse_size(text: str) -> int:
    """'100k' -> 100_000, '5M' -> 5_000_000, '250000' -> 250_000."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"size {text!r} is not a positive count like 100k, 1M or 25M")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def size_label(n: int) -> str:
    """A short label of a rating count: 100k, 1M, 25M."""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1e6:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1e3:g}k"
    return str(n)


def shape_for(n_ratings: int) -> tuple[int, int]:
    """(users, movies) for ``n_ratings``: ML-25M's shape scaled in proportion."""
    scale = n_ratings / ML25M_RATINGS
    users, items = ML25M_USERS * scale, ML25M_ITEMS * scale
    if users * items < MIN_SPACE * n_ratings:
        # proportional scaling makes small sizes dense; widen both sides alike
        grow = math.sqrt(MIN_SPACE * n_ratings / (users * items))
        users, items = users * grow, items * grow
    return max(round(users), 10), max(round(items), 10)


# ---------------------------------------------------------------- child: generate


def generate(folder: Path, n_ratings: int) -> dict[str, Any]:
    """Write the synthetic CSV folder (or reuse a matching one); seconds and peak RSS."""
    from widedeep_core.data import write_synthetic

    users, items = shape_for(n_ratings)
    stamp = folder / "bench-shape.json"
    want = {"n_ratings": n_ratings, "users": users, "items": items, "seed": 0}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return {"generate_s": None, "generate_rss": None, "reused": True}
    t = time.perf_counter()
    write_synthetic(folder, "csv", n_users=users, n_items=items, n_ratings=n_ratings, seed=0)
    seconds = time.perf_counter() - t
    stamp.write_text(json.dumps(want))
    return {"generate_s": seconds, "generate_rss": peak_rss_mib(), "reused": False}


# ---------------------------------------------------------------- child: measure


class EpochWatch:
    """Trainer callback that timestamps batches, the epoch and the end; cancels at a cap."""

    def __init__(self, max_batches: int | None):
        self.max_batches = max_batches
        self.cancel: Callable[[], None] | None = None
        self.first: tuple[int, float] | None = None  # (batch, time) of the first batch event
        self.last: tuple[int, float] | None = None
        self.n_batches = 0
        self.epoch_at: float | None = None
        self.epoch_seconds: float | None = None
        self.finished_at: float | None = None

    def __call__(self, event: object) -> None:
        from widedeep_core.training import BatchEvent, EpochEvent, FinishedEvent

        now = time.perf_counter()
        if isinstance(event, BatchEvent):
            self.first = self.first or (event.batch, now)
            self.last = (event.batch, now)
            self.n_batches = event.n_batches
            if self.max_batches and event.batch >= self.max_batches and self.cancel:
                self.cancel()
        elif isinstance(event, EpochEvent):
            self.epoch_at, self.epoch_seconds = now, event.seconds
        elif isinstance(event, FinishedEvent):
            self.finished_at = now

    def extrapolated_train_seconds(self) -> float | None:
        """Training time of a whole epoch from the per-batch time between two events."""
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return None  # fewer than two logged batches
        per_batch = (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])
        return per_batch * self.n_batches


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median_user(ratings) -> int:
    """The user with the median number of ratings (ties: the smallest id)."""
    counts = ratings["user"].value_counts().sort_index(kind="stable")
    order = counts.sort_values(kind="stable")
    return int(order.index[len(order) // 2])


def measure(folder: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every timed step for one size, in this process (so peak RSS is this size's)."""
    from widedeep_core.api import make_trainer
    from widedeep_core.config import adapt_to_data, fields_available, preset
    from widedeep_core.data import load_movielens
    from widedeep_core.devices import resolve_device
    from widedeep_core.evaluation import evaluate_pointwise
    from widedeep_core.features.prepare import prepare
    from widedeep_core.runs import Run
    from widedeep_core.serving.loading import Trained
    from widedeep_core.serving.recommend import Recommender

    out: dict[str, Any] = {"rss_start": peak_rss_mib()}
    shutil.rmtree(work, ignore_errors=True)  # a kept cache would turn the first open into a hit
    cache = work / "cache"
    out["parse_s"], data = _timed(lambda: load_movielens(folder, cache=False))
    out["n_users"] = int(data.ratings["user"].nunique())
    out["n_items"] = int(data.ratings["item"].nunique())
    out["n_ratings"] = int(data.n_ratings)
    del data
    gc.collect()
    out["first_open_s"] = _timed(lambda: load_movielens(folder, cache_dir=cache))[0]
    gc.collect()
    out["reopen_s"], data = _timed(lambda: load_movielens(folder, cache_dir=cache))
    out["rss_open"] = peak_rss_mib()
    _log(f"  opened: parse {out['parse_s']:.2f} s, cached reopen {out['reopen_s']:.2f} s")

    capped = bool(args.max_batches)
    # ~50 batch events per epoch: enough for the steady rate; few syncs on a GPU
    n_batches = math.ceil(0.8 * data.n_ratings / (args.batch or 16384))
    log_every = 1 if capped else max(1, n_batches // 50)
    base = preset(args.preset)
    batch = args.batch or (16384 if args.preset == "reference" else base.batch_size)
    cfg = base.replace(epochs=1, batch_size=batch, device=args.device, log_every=log_every)
    # the CSV layout has no demographics: the preset's fields are cut to the data's, as the
    # CLI does (a note, not an error)
    cfg, _ = adapt_to_data(cfg, fields_available(data))
    out["preset"], out["batch"] = args.preset, batch
    t = time.perf_counter()
    prep = prepare(cfg, data)
    encoded = {part: prep.encoded(part) for part in ("train", "val", "test")}
    out["prepare_s"] = time.perf_counter() - t
    x_val, y_val = encoded["val"]
    del prep, encoded
    gc.collect()
    _log(f"  prepared/encoded in {out['prepare_s']:.2f} s; training one epoch")

    watch = EpochWatch(args.max_batches)
    trainer = make_trainer(cfg, data, runs_dir=work / "runs", save_run=not capped, callback=watch)
    watch.cancel = trainer.request_cancel
    t_fit = time.perf_counter()
    result = trainer.fit()
    out["n_batches"] = watch.n_batches
    out["capped"] = capped and watch.epoch_at is None
    if not out["capped"]:
        assert watch.epoch_at is not None and watch.last is not None  # one full epoch ran
        out["epoch_s"] = watch.epoch_seconds
        # prepare again, plus a two-stage run's retrieval fits and negatives
        out["setup_s"] = watch.epoch_at - (watch.epoch_seconds or 0.0) - t_fit
        out["val_s"] = watch.epoch_at - watch.last[1]
        out["test_s"] = (watch.finished_at or watch.epoch_at) - watch.epoch_at
        # The first batches pay one-time costs (allocator, kernel selection); at small
        # sizes they are a large part of a single epoch, so the steady rate is shown too.
        steady = watch.extrapolated_train_seconds()
        out["steady_epoch_s"] = None if steady is None else steady + out["val_s"]
    else:
        # A partial epoch is neither validated nor tested: time validation scoring apart.
        train_s = watch.extrapolated_train_seconds()
        if train_s is None or watch.first is None:
            raise SystemExit("error: the epoch was too short to extrapolate; raise --max-batches")
        per_batch = train_s / max(watch.n_batches, 1)
        out["setup_s"] = watch.first[1] - t_fit - per_batch * watch.first[0]
        if cfg.retrieval != "none":
            # a two-stage model reads retrieval features that only the trainer's own prep
            # has: its validation is not timed here (the epoch is training alone)
            out["val_s"] = None
            _log("  validation not timed (a capped two-stage run); epoch = training only")
            out["epoch_s"] = out["steady_epoch_s"] = train_s
        else:
            device = resolve_device(cfg.device)
            out["val_s"] = _timed(
                lambda: evaluate_pointwise(result.model, x_val, y_val, cfg.eval_batch_size, device)
            )[0]
            out["epoch_s"] = out["steady_epoch_s"] = train_s + out["val_s"]
        out["test_s"] = None
        out["batches_run"] = watch.last[0] if watch.last else 0
    out["rss_train"] = peak_rss_mib()
    _log(f"  setup {out['setup_s']:.1f} s, peak RSS {out['rss_train']:,.0f} MiB")
    _log(f"  epoch {out['epoch_s']:.2f} s ({'extrapolated' if out['capped'] else 'measured'})")

    if result.run_dir is not None:
        out["rec_load_s"], rec = _timed(
            lambda: Recommender.from_run(result.run_dir, data, device=args.device)
        )
    elif cfg.retrieval != "none":
        # a two-stage recommender reads its run's stored split and retrieval: a capped
        # run stores none, so its latency is not measured
        _log("  top-10 latency not measured (a capped two-stage run stores no run)")
        out["rss_peak"] = peak_rss_mib()
        return out
    else:
        # Capped: no epoch ended, so no stored weights; latency does not depend on them.
        trained = Trained(cast(Run, None), cfg, data, result.encoder, result.model.eval())
        out["rec_load_s"], rec = _timed(lambda: Recommender(trained))
    user = median_user(data.ratings)
    out["user"], out["user_ratings"] = user, int((data.ratings["user"] == user).sum())
    out["top10_first_ms"] = _timed(lambda: rec.recommend(user, 10))[0] * 1e3
    calls = [_timed(lambda: rec.recommend(user, 10))[0] * 1e3 for _ in range(args.calls)]
    out["top10_ms"] = statistics.median(calls)
    out["rss_peak"] = peak_rss_mib()
    return out


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- parent


def _child(mode: str, folder: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run this script as a child for one step and return its JSON result."""
    cmd = [sys.executable, __file__, f"--_child={mode}", str(folder), "--sizes", str(n)]
    cmd += ["--workdir", str(folder.parent / f"state-{size_label(n)}")]
    cmd += ["--device", args.device, "--calls", str(args.calls), "--preset", args.preset]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    if args.max_batches:
        cmd += ["--max-batches", str(args.max_batches)]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(RESULT)]
    if res.returncode != 0 or not lines:
        why = "killed (out of memory?)" if res.returncode < 0 else f"exit status {res.returncode}"
        raise SystemExit(f"error: the {mode} step for {size_label(n)} failed: {why}")
    return json.loads(lines[-1][len(RESULT) :])


def mem_available_mib() -> float | None:
    """MemAvailable from /proc/meminfo, in MiB (None where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_estimate(prev: dict[str, Any], n_prev: int, n: int) -> float:
    """Peak RSS of size ``n`` extrapolated linearly from a smaller size (above the base)."""
    base = prev["rss_start"]
    return base + (prev["rss_peak"] - base) * n / n_prev


def run_size(n: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Generate (child 1) and measure (child 2) one size."""
    folder = work / f"csv-{size_label(n)}"
    users, items = shape_for(n)
    _log(f"size {size_label(n)}: {users:,} users x {items:,} movies; generating ...")
    gen = _child("generate", folder, n, args)
    size_mb = (folder / "ratings.csv").stat().st_size / 1e6
    _log(f"size {size_label(n)}: ratings.csv {size_mb:,.0f} MB; measuring ...")
    out = _child("measure", folder, n, args)
    shutil.rmtree(folder.parent / f"state-{size_label(n)}", ignore_errors=True)
    shape = f"{out['n_users']:,} x {out['n_items']:,}"
    return {**gen, **out, "csv_mb": size_mb, "n": n, "shape": shape}


ROWS: tuple[tuple[str, str, str], ...] = (
    # (result key, row title, format)
    ("shape", "users x movies", "s"),
    ("csv_mb", "ratings.csv MB", ",.0f"),
    ("generate_s", "generate s (not part of the pipeline)", ".1f"),
    ("parse_s", "parse s (load_movielens cache=False)", ".2f"),
    ("first_open_s", "first open + cache write s", ".2f"),
    ("reopen_s", "cached reopen s", ".2f"),
    ("prepare_s", "prepare/encode s", ".2f"),
    ("setup_s", "training setup s (prepare, retrieval fits, negatives)", ".2f"),
    ("epoch_s", "first epoch s (train + validation)", ".2f"),
    ("val_s", "  of which validation scoring s", ".2f"),
    ("steady_epoch_s", "one epoch s at the steady batch rate", ".2f"),
    ("test_s", "test scoring s (AUC, GAUC, HR/NDCG@10)", ".2f"),
    ("rec_load_s", "recommender load s", ".2f"),
    ("top10_first_ms", "top-10 first call ms", ".1f"),
    ("top10_ms", "top-10 ms (median of calls)", ".1f"),
    ("rss_open", "peak RSS after open MiB", ",.0f"),
    ("rss_train", "peak RSS after the epoch MiB", ",.0f"),
    ("rss_peak", "peak RSS MiB", ",.0f"),
    ("generate_rss", "generator peak RSS MiB", ",.0f"),
)
GROWTH_KEYS = (
    "parse_s", "reopen_s", "prepare_s", "setup_s", "epoch_s", "steady_epoch_s", "test_s",
    "top10_ms", "rss_peak",
)  # fmt: skip
PIPELINE = (
    ("parse_s", "parse"),
    ("prepare_s", "prepare/encode"),
    ("setup_s", "training setup"),
    ("epoch_s", "one epoch"),
    ("test_s", "test scoring"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    return format(value, fmt)


def results_table(results: list[dict[str, Any]]) -> str:
    """Metrics as rows, sizes as columns."""
    headers = ["", *(size_label(r["n"]) for r in results)]
    rows = [[title, *(_cell(r.get(key), fmt) for r in results)] for key, title, fmt in ROWS]
    return format_table(headers, rows)


def growth_lines(results: list[dict[str, Any]]) -> list[str]:
    """Cost ratio between consecutive sizes, with the exponent b of cost ~ n^b."""
    lines = []
    for a, b in itertools.pairwise(results):
        data_x = b["n"] / a["n"]
        parts = []
        for key in GROWTH_KEYS:
            if a.get(key) and b.get(key):
                ratio = b[key] / a[key]
                exp = math.log(ratio) / math.log(data_x) if data_x != 1 else float("nan")
                parts.append(f"{key.removesuffix('_s')} x{ratio:.1f} (n^{exp:.2f})")
        label = f"{size_label(a['n'])} -> {size_label(b['n'])} (data x{data_x:g})"
        lines.append(f"growth {label}: " + ", ".join(parts))
    return lines


def dominant_line(r: dict[str, Any]) -> str:
    """Which step of a cold start to one trained, tested epoch costs the most."""
    parts = [(r.get(key) or 0.0, name) for key, name in PIPELINE]
    total = sum(p for p, _ in parts)
    top, name = max(parts)
    share = 100 * top / total if total else 0.0
    return (
        f"{size_label(r['n'])}: {name} dominates ({top:.1f} s of {total:.1f} s, {share:.0f}%; "
        "parse + prepare + setup + epoch + test scoring)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "--sizes",
        type=lambda s: parse_list(s, parse_size),
        default=[1_000_000, 5_000_000, 25_000_000],
        help="comma-separated rating counts (default: 1M,5M,25M)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="training batch size (default: 16384 for reference, else the preset's)",
    )
    p.add_argument(
        "--preset",
        default="reference",
        help="the preset whose one epoch and end-of-run evaluation (with the baselines) "
        "are timed (default reference)",
    )
    p.add_argument(
        "--max-batches",
        type=int,
        default=None,
        help="stop the epoch after N batches and extrapolate its time",
    )
    p.add_argument("--calls", type=int, default=20, help="top-10 calls to time (median)")
    p.add_argument("--workdir", type=Path, help="where data is written (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the generated folders")
    p.add_argument(
        "--force", action="store_true", help="run a size even if its RSS estimate exceeds memory"
    )
    add_device_argument(p)
    p.add_argument("--_child", help=argparse.SUPPRESS)
    p.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    bad_batch = args.batch is not None and args.batch < 1
    if bad_batch or args.calls < 1 or (args.max_batches is not None and args.max_batches < 2):
        p.error("--batch and --calls must be >= 1, --max-batches >= 2")
    if args.folder is not None and not args._child:
        p.error(f"unexpected argument {args.folder}")
    return args


def child_main(args: argparse.Namespace) -> int:
    """One step for one size, reporting JSON on stdout."""
    n = args.sizes[0]
    folder: Path = args.folder
    is_gen = args._child == "generate"
    out = generate(folder, n) if is_gen else measure(folder, args.workdir, args)
    print(RESULT + json.dumps(out), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run every size in child processes and print the table, growth and dominant step."""
    args = parse_args(argv)
    if args._child:
        return child_main(args)
    device = check_device(args.device)
    print(machine_line(device), flush=True)
    sizes = sorted(args.sizes)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            if results and (avail := mem_available_mib()) is not None:
                est = rss_estimate(results[-1], results[-1]["n"], n)
                _log(f"size {size_label(n)}: estimated peak RSS {est:,.0f} MiB, {avail:,.0f} free")
                if est > 0.9 * avail and not args.force:
                    _log(
                        f"size {size_label(n)} skipped: it may not fit in memory (--force runs it)"
                    )
                    break
            results.append(run_size(n, work, args))
    finally:
        if args.keep:
            _log(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not results:
        return 1
    print()
    print(results_table(results))
    print()
    for r in results:
        print(dominant_line(r))
    for line in growth_lines(results):
        print(line)
    print()
    notes = [
        f"{args.preset} preset, batch {args.batch or 'its own'}, device {device}; "
        f"top-10 for the user with the median rating count, median of {args.calls} calls.",
        "Each size runs in its own process; the generator runs in another one.",
    ]
    if any(r.get("capped") for r in results):
        notes.append(
            f"Epoch times marked by --max-batches {args.max_batches} are EXTRAPOLATED from the "
            "per-batch time to a whole epoch; validation scoring is timed in full; no test "
            "scoring; top-10 uses the partly trained model (latency does not depend on weights)."
        )
    print("\n".join(notes))
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(main)
