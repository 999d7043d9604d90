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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_device_argument, check_device, machine_line, rerun_line, run_main

PHASES = """
import json, sys, time
clock = lambda: (time.perf_counter(), time.process_time())
marks = [clock()]
import widedeep_core.threads as threads
threads.apply_thread_share()
from widedeep_core.config import preset
from widedeep_core.data import load_movielens
from widedeep_core.devices import resolve_device
from widedeep_core.evaluation import evaluate_split
from widedeep_core.features import prepare
from widedeep_core.training import EpochEvent, Trainer
marks.append(clock())
data = load_movielens(sys.argv[1])
marks.append(clock())
cfg = preset(sys.argv[2]).replace(device=sys.argv[3])
if len(sys.argv) > 4:
    cfg = cfg.replace(epochs=int(sys.argv[4]))
prep = prepare(cfg, data)
prep.encoded("train"); prep.encoded("val")
marks.append(clock())
epochs = []
def on_event(e):
    if isinstance(e, EpochEvent):
        epochs.append(clock())
result = Trainer(cfg, data, callback=on_event).fit()
marks.append(epochs[0])
marks.append(epochs[-1])
marks.append(clock())
test = evaluate_split(result.model, prep, "test", resolve_device(cfg.device))
marks.append(clock())
names = ["import", "load", "prepare", "fit up to the end of epoch 1",
         f"epochs 2-{len(epochs)}", "fit's test evaluation", "end-of-run evaluation again"]
out = {n: [b[0] - a[0], b[1] - a[1]] for n, a, b in zip(names, marks, marks[1:])}
out["n_epochs"] = len(epochs)
out["ranking_users"] = test["ranking_users"]
print(json.dumps(out))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _whole_cli(
    folder: str,
    preset: str,
    runs: str,
    env: dict[str, str],
    epochs: int | None,
    label: str,
    device: str,
) -> None:
    """Time one ``widedeep train`` process from its start to its printed metrics."""
    cmd = [sys.executable, "-m", "widedeep_core.cli", "train", "--data", folder,
           "--preset", preset, "--runs-dir", runs, "--json", "--quiet",
           "--set", f"device={device}"]  # fmt: skip
    if epochs:
        cmd += ["--set", f"epochs={epochs}"]
    start = time.perf_counter()
    cpu0 = _children_cpu()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    summary = json.loads(done.stdout)
    print(f"{label}: widedeep train --preset {preset}: {wall:.2f} s wall from process start to "
          f"printed metrics; test AUC {summary['test_auc']:.4f}, "
          f"{summary['epochs_run']} epochs (best {summary['best_epoch']})")  # fmt: skip
    print(f"  its CPU time: {cpu:.2f} s (user + system; on a shared machine the wall "
          "time of a 1-thread run on idle cores is close to this)")  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: synthetic ML-1M)")
    p.add_argument("--preset", default="fast")
    p.add_argument("--phases-only", action="store_true", help="skip the whole-CLI run")
    p.add_argument(
        "--epochs", type=int, default=None, help="cap both runs (synthetic data never stops)"
    )
    add_device_argument(p)
    args = p.parse_args(argv)
    device = check_device(args.device)
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
        print(machine_line(device))
        if not args.phases_only:
            # a fresh cache folder: the first try parses the files and fits the baselines
            # (their rows are then cached per split); the second try is the usual one
            fresh = {**env, "WIDEDEEP_CACHE_DIR": str(Path(tmp) / "cache")}
            for label in ("first try (empty cache)", "second try"):
                _whole_cli(
                    folder, args.preset, str(Path(tmp) / "runs"), fresh, args.epochs, label,
                    args.device,
                )  # fmt: skip
        phases = subprocess.run(
            [sys.executable, "-c", PHASES, folder, args.preset, args.device,
             *([str(args.epochs)] if args.epochs else [])],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        parts = json.loads(phases.stdout.strip().splitlines()[-1])
        print("where the time goes (a second process, same work): wall s, CPU s")
        for key, value in parts.items():
            if isinstance(value, list):
                print(f"  {key:32s} {value[0]:8.3f} {value[1]:8.3f}")
            else:
                print(f"  {key}: {value}")
        _by_epochs(parts)
    print(rerun_line(__file__, argv))
    return 0


def _by_epochs(parts: dict) -> None:
    """The try's wall time for other epoch counts, from the measured parts (an estimate:
    on real data early stopping decides the count, unknown here)."""
    n = int(parts["n_epochs"])
    if n < 2:
        return
    per_epoch = parts[f"epochs 2-{n}"][0] / (n - 1)
    fixed = sum(parts[k][0] for k in ("import", "load", "prepare", "fit's test evaluation"))
    fixed += parts["fit up to the end of epoch 1"][0] - per_epoch
    print(f"a try by epoch count (fixed {fixed:.2f} s + {per_epoch:.2f} s an epoch; estimate):")
    print("  " + "  ".join(f"{k} epochs {fixed + k * per_epoch:5.1f} s" for k in range(2, 9)))


if __name__ == "__main__":
    run_main(lambda: main())
