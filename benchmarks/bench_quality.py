"""Model quality per preset over several seeds: validation/test AUC and log loss, HR@K, NDCG@K.

Each (preset, seed) is a full training run with that preset's own stopping rule (the
``reference`` preset runs its 100 epochs unless ``--set epochs=N``). Validation and test
metrics are of the weights the run keeps: the best epoch's, or the last epoch's where
``restore_best`` is off (the ``reference`` protocol). Then mean ± sample standard
deviation per preset over the seeds.

    python benchmarks/bench_quality.py ../shared/data/ml-100k --markdown
    python benchmarks/bench_quality.py ../shared/data/ml-100k --seeds 0 --set epochs=2
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    add_device_argument,
    build_config,
    check_device,
    fmt_seconds,
    format_table,
    machine_line,
    markdown_table,
    mean_std,
    parse_list,
    rerun_line,
    run_main,
)

from widedeep_core.config import preset
from widedeep_core.data import MovieLensData, load_movielens
from widedeep_core.training import Trainer

# (key in RunScore.metrics, column title, decimals)
METRICS: tuple[tuple[str, str, int], ...] = (
    ("val_auc", "val AUC", 4),
    ("val_logloss", "val logloss", 4),
    ("test_auc", "test AUC", 4),
    ("test_logloss", "test logloss", 4),
    ("hr", "HR@{k}", 4),
    ("ndcg", "NDCG@{k}", 4),
    ("epochs", "epochs", 1),
    ("seconds", "train s", 1),
)


@dataclass
class RunScore:
    """The figures of one (preset, seed) run."""

    preset: str
    seed: int
    k: int
    kept_epoch: int  # the epoch whose weights were tested
    metrics: dict[str, float]


def score_run(data: MovieLensData, name: str, seed: int, args: argparse.Namespace) -> RunScore:
    """Train one preset with one seed and collect its validation and test figures."""
    cfg = build_config(name, args.set, seed=seed, device=args.device)
    print(f"  training {name}, seed {seed} ...", flush=True)
    result = Trainer(cfg, data).fit()
    # The test split is scored with the weights the run keeps: the best epoch's, or the
    # last epoch's for presets that do not restore the best (the reference protocol).
    kept = result.best_epoch if cfg.restore_best else result.epochs_run
    best = next((row for row in result.history if row["epoch"] == kept), {})
    k = cfg.ranking_k
    metrics = {
        "val_auc": float(best.get("val_auc", float("nan"))),
        "val_logloss": float(best.get("val_logloss", float("nan"))),
        "test_auc": result.test.get("auc", float("nan")),
        "test_logloss": result.test.get("logloss", float("nan")),
        "hr": result.test.get(f"hr@{k}", float("nan")),
        "ndcg": result.test.get(f"ndcg@{k}", float("nan")),
        "epochs": float(result.epochs_run),
        "seconds": result.train_seconds,
    }
    return RunScore(name, seed, k, kept, metrics)


def run_rows(scores: list[RunScore]) -> list[list[str]]:
    """One row per run."""
    rows = []
    for s in scores:
        cells = [s.preset, str(s.seed), str(s.kept_epoch)]
        for key, _title, digits in METRICS:
            value = s.metrics[key]
            cells.append(str(int(value)) if key == "epochs" else f"{value:.{digits}f}")
        rows.append(cells)
    return rows


def summary_rows(scores: list[RunScore], presets: list[str]) -> list[list[str]]:
    """One row per preset: mean ± std of every metric over its seeds."""
    rows = []
    for name in presets:
        mine = [s for s in scores if s.preset == name]
        cells = [name, str(len(mine))]
        for key, _title, digits in METRICS:
            mean, std = mean_std([s.metrics[key] for s in mine])
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        rows.append(cells)
    return rows


def titles(k: int) -> list[str]:
    """Metric column titles with K filled in."""
    return [title.format(k=k) for _key, title, _digits in METRICS]


def deltas(scores: list[RunScore], presets: list[str]) -> list[str]:
    """Mean test AUC and NDCG of each preset against the first one (the baseline)."""
    base = presets[0]
    lines = []
    for name in presets[1:]:
        parts = []
        for key, label in (("test_auc", "test AUC"), ("ndcg", "NDCG")):
            a, _ = mean_std([s.metrics[key] for s in scores if s.preset == name])
            b, _ = mean_std([s.metrics[key] for s in scores if s.preset == base])
            parts.append(f"{label} {a - b:+.4f}")
        lines.append(f"{name} vs {base} (means over seeds): " + ", ".join(parts))
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("path", type=Path, help="a MovieLens folder or official zip, any layout")
    p.add_argument(
        "--presets",
        type=lambda s: parse_list(s, lambda n: preset(n).preset),
        default=["reference", "full"],
        help="comma-separated presets (default: reference,full)",
    )
    p.add_argument(
        "--seeds",
        type=lambda s: parse_list(s, int),
        default=[0, 1, 2],
        help="comma-separated seeds (default: 0,1,2)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    p.add_argument("--markdown", action="store_true", help="also print the summary as Markdown")
    add_device_argument(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train every preset with every seed and print per-run and summary tables."""
    args = parse_args(argv)
    device = check_device(args.device)
    for name in args.presets:
        build_config(name, args.set)  # a bad --set fails before the data is read
    print(machine_line(device))
    t = time.perf_counter()
    data = load_movielens(args.path)
    print(
        f"data: {data.name} ({data.n_ratings:,} ratings, layout {data.layout}), "
        f"opened in {fmt_seconds(time.perf_counter() - t)} s",
        flush=True,
    )
    scores = [score_run(data, name, seed, args) for name in args.presets for seed in args.seeds]
    k = scores[0].k
    print()
    print(format_table(["preset", "seed", "kept epoch", *titles(k)], run_rows(scores)))
    print()
    summary = summary_rows(scores, args.presets)
    headers = ["preset", "seeds", *titles(k)]
    print(format_table(headers, summary))
    for line in deltas(scores, args.presets):
        print(line)
    if args.markdown:
        print()
        print(markdown_table(headers, summary))
    print()
    print(
        "mean ± sample std over seeds; validation and test figures of the weights the run keeps "
        "(the best epoch by the monitor, or the last epoch where restore_best is off, as in "
        "the reference protocol); HR/NDCG rank every movie a user did not "
        "rate in training against the user's positive test ratings; train s excludes test scoring."
    )
    if args.set:
        print("overrides: " + ", ".join(args.set))
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(main)
