"""A sweep on real data: trials per hour, pruned share, best val AUC against the preset's,
and the throughput of two worker processes against one, measured in the same run.

    python benchmarks/bench_sweep.py --data /work/shared/data/ml-100k
    python benchmarks/bench_sweep.py --data PATH --trials 20 --workers 2 --ratio-trials 6

Part 1 runs ``--trials`` trials of the ``full`` preset with ``--workers`` processes and a
median pruner, then trains the plain ``full`` preset once (one process, every core) for
the baseline (with its own 40 epochs and early stopping: ``--epochs`` caps only the
trials). Part 2 runs ``--ratio-trials`` unpruned trials twice, with one worker and
with two, on fresh studies with the same seed (so the same start-up configurations):
the ratio of the two throughputs is what a second worker buys on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line, markdown_table, rerun_line, run_main

from widedeep_core.config import adapt_to_data, fields_available, from_strings, preset
from widedeep_core.data import load_movielens
from widedeep_core.sweeps import (
    SweepSpec,
    normalize_url,
    parse_space,
    run_sweep,
    study_summary,
    validate_space,
)

SPACE = (
    "lr=1e-4..1e-2:log",
    "hidden=64,32|128,64|256,128",
    "embed_dim=8..32",
    "dropout=0.0..0.3",
)


def sweep(data, base, root: Path, name: str, trials: int, workers: int, pruner: str):
    """Run one study; returns (summary, wall seconds)."""
    space = parse_space(SPACE)
    validate_space(space, base, fields_available(data))
    spec = SweepSpec(
        study=name,
        storage=normalize_url(root / "sweeps.db"),
        space=space,
        base=base,
        data_path=str(data.source),
        data_fingerprint=data.fingerprint,
        runs_dir=str(root / "runs"),
        pruner=pruner,
        seed=0,
    )
    started = time.perf_counter()
    outcome = run_sweep(spec, data, n_trials=trials, workers=workers, in_process=False)
    return study_summary(outcome.study), time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/ml-100k")
    p.add_argument("--trials", type=int, default=20, help="0 skips part 1")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=40, help="cap on each trial's epochs")
    p.add_argument("--ratio-trials", type=int, default=6, help="0 skips part 2")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    data = load_movielens(args.data)
    available = fields_available(data)
    base, _ = adapt_to_data(preset("full"), available)
    base = from_strings(base, dict(s.split("=", 1) for s in args.set)).replace(
        epochs=args.epochs, device="cpu"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    print(machine_line("cpu"))
    print(f"data {data.name}: {data.n_ratings:,} ratings; space: {'; '.join(SPACE)}")

    if args.trials:
        summary, wall = sweep(data, base, root, "main", args.trials, args.workers, "median")
        states = [t["state"] for t in summary["trials"]]
        pruned = states.count("pruned") / len(states)
        best = summary["best"]

        from widedeep_core.api import train

        # the preset as shipped (its own epochs and early stopping), not capped like the trials
        shipped = base.replace(epochs=preset("full").epochs)
        t0 = time.perf_counter()
        plain = train(shipped, data, runs_dir=root / "plain")
        plain_s = time.perf_counter() - t0
        rows = [
            ["trials", len(states)],
            ["workers", args.workers],
            ["wall (s)", f"{wall:.0f}"],
            ["trials / hour", f"{len(states) / wall * 3600:.0f}"],
            ["pruned share", f"{pruned:.0%}"],
            ["failed", states.count("fail")],
            ["best val AUC (sweep)", f"{best['value']:.4f}" if best else "-"],
            [f"val AUC of the `full` preset ({plain_s:.0f} s)", f"{plain.best_val_auc:.4f}"],
            ["best trial's settings", " ".join(best["set"]) if best else "-"],
        ]
        print(markdown_table(["sweep", "value"], rows))

    if args.ratio_trials:
        n = args.ratio_trials
        one, t1 = sweep(data, base, root, "one", n, 1, "none")
        two, t2 = sweep(data, base, root, "two", n, 2, "none")
        ratio = (len(two["trials"]) / t2) / (len(one["trials"]) / t1)
        print(
            markdown_table(
                ["workers", "trials", "wall (s)", "trials / hour"],
                [
                    [1, len(one["trials"]), f"{t1:.0f}", f"{len(one['trials']) / t1 * 3600:.0f}"],
                    [2, len(two["trials"]), f"{t2:.0f}", f"{len(two['trials']) / t2 * 3600:.0f}"],
                ],
            )
        )
        print(f"two workers / one worker throughput: {ratio:.2f}x")
    print(rerun_line("benchmarks/bench_sweep.py", sys.argv[1:]))
    return 0


if __name__ == "__main__":
    run_main(main)
