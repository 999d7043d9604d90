"""Every diagnostic of a `fast` run against its end-of-run evaluation, in one run (issue 21).

For each data set (ML-100K from a MovieLens folder, and ML-1M-size synthetic data) a
`fast` run is trained, then timed on the same process and machine:

- ``api.evaluate_run``: the end-of-run evaluation (pointwise metrics, every judged user's
  ranking, the popularity and EASE^R baselines), with a cold baseline cache;
- ``diagnostics.diagnose`` without its cache: each diagnostic's seconds, their total
  without and with the permutation importance.

The issue asks every diagnostic together to take no longer than the evaluation
(``ratio`` <= 1); the permutation importance may take longer (it shows progress and can
be cancelled).

    python benchmarks/bench_diagnose.py --ml100k /work/shared/data/ml-100k [--skip-1m]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import fmt_seconds, format_table, machine_line, rerun_line, run_main


def _time_one(label: str, data, epochs: int, root: Path) -> list[list[str]]:
    from widedeep_core.api import evaluate_run, train
    from widedeep_core.config import preset
    from widedeep_core.diagnostics import diagnose

    cfg = preset("fast").replace(device="cpu", epochs=epochs)
    run_dir = train(cfg, data, runs_dir=root).run_dir
    os.environ["WIDEDEEP_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-diag-cache-")
    start = time.perf_counter()
    evaluate_run(run_dir, data)
    evaluation = time.perf_counter() - start
    start = time.perf_counter()
    d = diagnose(run_dir, data, cache=False)
    total = time.perf_counter() - start
    perm = d.seconds.get("permutation", 0.0)
    rows = [[label, name, fmt_seconds(s), f"{s / evaluation:.2f}"] for name, s in d.seconds.items()]
    rows.append(
        [
            label,
            "all but permutation",
            fmt_seconds(total - perm),
            f"{(total - perm) / evaluation:.2f}",
        ]
    )
    rows.append([label, "all", fmt_seconds(total), f"{total / evaluation:.2f}"])
    rows.append([label, "evaluate_run", fmt_seconds(evaluation), "1.00"])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ml100k", default="/work/shared/data/ml-100k", help="MovieLens folder")
    p.add_argument("--skip-1m", action="store_true", help="only ML-100K")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the fast run (default 3)")
    args = p.parse_args(argv)
    from widedeep_core.data import load_movielens
    from widedeep_core.data.synthetic import make_synthetic

    print(machine_line("cpu"))
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-diagnose-") as tmp:
        root = Path(tmp) / "runs"
        rows += _time_one("ml-100k", load_movielens(args.ml100k), args.epochs, root)
        if not args.skip_1m:
            big = make_synthetic(n_users=6040, n_items=3706, n_ratings=1_000_209, seed=0)
            rows += _time_one("synthetic 1M", big, args.epochs, root)
    print(format_table(["data", "diagnostic", "seconds", "ratio to evaluation"], rows))
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(main)
