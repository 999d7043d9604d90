"""Time to quality of the ``fast`` preset: one whole ``widedeep train`` process, and where
its wall time goes (start-up, loading, preparation, training, end-of-run evaluation).

    python benchmarks/bench_fast_try.py                  # ML-1M-size synthetic data
    python benchmarks/bench_fast_try.py --data ../shared/data/ml-100k

Synthetic data says nothing about quality (its AUC is not MovieLens'); it times the
same amount of work as real ML-1M. Quality is tuned on ML-100K (benchmarks/tune_fast.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line, rerun_line, run_main

PHASES = """
import json, sys, time
t0 = time.perf_counter()
from widedeep_core.config import preset
from widedeep_core.data import load_movielens
from widedeep_core.evaluation import evaluate_split
from widedeep_core.protocol import prepare
from widedeep_core.training import EpochEvent, Trainer
t1 = time.perf_counter()
data = load_movielens(sys.argv[1])
t2 = time.perf_counter()
cfg = preset(sys.argv[2]).replace(device="cpu")
prep = prepare(cfg, data)
prep.encoded("train"); prep.encoded("val")
t3 = time.perf_counter()
epochs = []
def on_event(e):
    if isinstance(e, EpochEvent):
        epochs.append(e.seconds)
result = Trainer(cfg, data, save_run=False, callback=on_event).fit()
t4 = time.perf_counter()
test = evaluate_split(result.model, prep, "test")
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "prepare": t3 - t2,
                  "fit (prepare + epochs + test)": t4 - t3, "epochs": sum(epochs),
                  "n_epochs": len(epochs), "end-of-run evaluation": t5 - t4,
                  "ranking_users": test["ranking_users"], "test_auc": test["auc"]}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: synthetic ML-1M)")
    p.add_argument("--preset", default="fast")
    args = p.parse_args(argv)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = str(Path(tmp) / "ml-1m-synthetic")
            subprocess.run(
                [sys.executable, "-m", "widedeep_core.cli", "demo", folder, "--layout", "ml-1m",
                 "--users", "6040", "--items", "3706", "--ratings", "1000209"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
        print(machine_line())
        runs = str(Path(tmp) / "runs")
        cmd = [sys.executable, "-m", "widedeep_core.cli", "train", "--data", folder,
               "--preset", args.preset, "--runs-dir", runs, "--json", "--quiet"]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        summary = json.loads(done.stdout)
        print(f"widedeep train --preset {args.preset}: {wall:.2f} s wall from process start to "
              f"printed metrics; test AUC {summary['test_auc']:.4f}, "
              f"{summary['epochs_run']} epochs (best {summary['best_epoch']})")  # fmt: skip
        phases = subprocess.run(
            [sys.executable, "-c", PHASES, folder, args.preset],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        parts = json.loads(phases.stdout.strip().splitlines()[-1])
        print("where the time goes (a second process, same work):")
        for key, value in parts.items():
            print(f"  {key:32s} {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(lambda: main())
