"""Wall time from opening a MovieLens folder to a target validation AUC, per preset.

For each preset the clock starts before ``load_movielens`` and stops at the end of the
first epoch whose VALIDATION AUC reaches ``--target`` (default 0.7991, the reference
implementation's ML-1M test AUC); training then stops. The target is checked on the
validation split only, never on the test split; the test AUC of the weights that
reached it is printed once, at the end, for information.

"cold" opens the folder with ``cache=False`` (a full parse; the OS file cache may be
warm). "warm" is the parsed-data cache reopened (median of 3, into a temporary cache
folder) plus the same training time: training is deterministic for a given seed, so it
runs once per preset.

    python benchmarks/bench_time_to_quality.py ../shared/data/ml-1m
    python benchmarks/bench_time_to_quality.py ../shared/data/ml-100k --max-epochs 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
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
    parse_list,
    rerun_line,
    run_main,
)

from widedeep_core.config import preset
from widedeep_core.data import load_movielens
from widedeep_core.training import EpochEvent, Trainer

DEFAULT_TARGET = 0.7991


class TargetWatcher:
    """Trainer callback: notes the first epoch whose validation AUC reaches the target."""

    def __init__(self, target: float, label: str, trainer: Trainer | None = None):
        self.target = target
        self.label = label
        self.trainer = trainer
        self.reached_at: float | None = None  # perf_counter() at that epoch's event
        self.epoch: int | None = None
        self.val_auc: float | None = None

    def __call__(self, event: object) -> None:
        if not isinstance(event, EpochEvent):
            return
        auc = event.val["auc"]
        print(f"  {self.label} epoch {event.epoch}: val AUC {auc:.4f}", file=sys.stderr, flush=True)
        if self.epoch is None and auc >= self.target:
            self.reached_at = time.perf_counter()
            self.epoch, self.val_auc = event.epoch, auc
            if self.trainer is not None:
                self.trainer.request_cancel()  # honoured right after this epoch


@dataclass
class Outcome:
    """One preset's run: open time, time to target (None: not reached) and final metrics."""

    preset: str
    open_cold: float
    to_target: float | None  # seconds from the data being in memory to the target epoch
    epoch: int | None
    val_auc: float | None
    best_val_auc: float
    epochs_run: int
    test_auc: float


def time_preset(path: Path, name: str, args: argparse.Namespace) -> Outcome:
    """Open the folder cold and train ``name`` until the validation AUC reaches the target."""
    fixed: dict[str, object] = {"device": args.device}
    if args.max_epochs:
        fixed["epochs"] = args.max_epochs
    cfg = build_config(name, args.set, **fixed)
    start = time.perf_counter()
    data = load_movielens(path, cache=False)
    opened = time.perf_counter()
    watcher = TargetWatcher(args.target, name)
    trainer = Trainer(cfg, data, callback=watcher)
    watcher.trainer = trainer
    result = trainer.fit()
    to_target = None if watcher.reached_at is None else watcher.reached_at - opened
    return Outcome(
        preset=name,
        open_cold=opened - start,
        to_target=to_target,
        epoch=watcher.epoch,
        val_auc=watcher.val_auc,
        best_val_auc=result.best_val_auc,
        epochs_run=result.epochs_run,
        test_auc=result.test.get("auc", float("nan")),
    )


def warm_open_seconds(path: Path, repeat: int = 3) -> tuple[float, str]:
    """Median time to reopen ``path`` from a freshly filled parsed-data cache, and a data line."""
    with tempfile.TemporaryDirectory(prefix="bench-ttq-cache-") as cache:
        data = load_movielens(path, cache_dir=cache)  # fill the cache; not timed
        about = f"{data.name} ({data.n_ratings:,} ratings, layout {data.layout})"
        del data
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            load_movielens(path, cache_dir=cache)
            times.append(time.perf_counter() - t)
    return statistics.median(times), about


def table_rows(outcomes: list[Outcome], warm_open: float) -> list[list[str]]:
    """One table row per preset."""
    rows = []
    for o in outcomes:
        if o.to_target is None:
            reached = f"not reached (best val {o.best_val_auc:.4f})"
            cold = warm = "-"
        else:
            reached = f"epoch {o.epoch} (val {o.val_auc:.4f})"
            cold = fmt_seconds(o.open_cold + o.to_target)
            warm = fmt_seconds(warm_open + o.to_target)
        rows.append(
            [
                o.preset,
                reached,
                fmt_seconds(o.open_cold),
                cold,
                fmt_seconds(warm_open),
                warm,
                str(o.epochs_run),
                f"{o.test_auc:.4f}",
            ]
        )
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("path", type=Path, help="a MovieLens folder or official zip, any layout")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET, help="validation AUC to reach")
    p.add_argument(
        "--presets",
        type=lambda s: parse_list(s, lambda n: preset(n).preset),
        default=["reference", "full"],
        help="comma-separated presets (default: reference,full)",
    )
    p.add_argument("--max-epochs", type=int, default=None, help="cap each preset's epochs")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    add_device_argument(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every preset, print the table and the rerun command."""
    args = parse_args(argv)
    device = check_device(args.device)
    for name in args.presets:
        build_config(name, args.set)  # a bad --set fails before the data is read
    print(machine_line(device))
    warm_open, about = warm_open_seconds(args.path)
    print(f"data: {about}; target: validation AUC >= {args.target}", flush=True)
    outcomes = [time_preset(args.path, name, args) for name in args.presets]
    print()
    headers = [
        "preset", "target reached at", "open cold s", "to target cold s",
        "open warm s", "to target warm s", "epochs run", "test AUC",
    ]  # fmt: skip
    print(format_table(headers, table_rows(outcomes, warm_open)))
    base = outcomes[0]
    for o in outcomes[1:]:
        if base.to_target is not None and o.to_target is not None:
            ratio = (base.open_cold + base.to_target) / (o.open_cold + o.to_target)
            print(f"{o.preset} reaches the target {ratio:.2f}x as fast as {base.preset} (cold)")
    print()
    print(
        "The target is checked on the VALIDATION AUC after each epoch (the test split is never "
        "used to decide); test AUC: the weights the run keeps when it stops (those of the epoch "
        "that reached the target), scored once at the end. Cold: load_movielens(cache=False) "
        "+ training, one wall clock; warm: cached reopen (median of 3) + the same training time."
    )
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(main)
