"""How the ``full`` preset was chosen: a seeded random search scored on VALIDATION AUC.

The test split is never looked at; each candidate trains with early stopping on the
validation split and the best validation AUC decides.

    python benchmarks/tune_full.py ../shared/data/ml-100k --trials 16
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from widedeep_core.api import train
from widedeep_core.config import preset
from widedeep_core.data import load_movielens

SPACE = {
    "embed_dim": [8, 16, 32],
    "hidden": [(64, 32), (128, 64), (256, 128), (64,)],
    "dropout": [0.0, 0.1, 0.2, 0.3, 0.5],
    "lr": [5e-4, 1e-3, 2e-3, 5e-3],
    "weight_decay": [0.0, 1e-6, 1e-5, 1e-4],
    "batch_size": [512, 1024, 2048, 4096],
    "crosses": [(), ("gender x genres", "age x genres", "occupation x genres")],
    "batch_norm": [True, False],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--seed", type=int, default=0, help="seed of the search and of training")
    args = p.parse_args(argv)
    data = load_movielens(args.data)
    base = preset("full").replace(device="cpu", seed=args.seed, epochs=40, patience=3)
    rng = random.Random(args.seed)
    trials = [{}]  # the current preset first
    trials += [{k: rng.choice(v) for k, v in SPACE.items()} for _ in range(args.trials - 1)]
    rows = []
    for i, changes in enumerate(trials):
        cfg = base.replace(**changes)
        t = time.perf_counter()
        result = train(cfg, data, save_run=False)
        secs = time.perf_counter() - t
        rows.append((result.best_val_auc, result.best_epoch, secs, changes))
        auc, epoch = result.best_val_auc, result.best_epoch
        print(f"[{i + 1}/{len(trials)}] val AUC {auc:.4f} (epoch {epoch}, {secs:.0f} s) {changes}")
    rows.sort(key=lambda r: -r[0])
    print("\nbest by validation AUC:")
    for auc, epoch, secs, changes in rows[:5]:
        print(f"  {auc:.4f}  epoch {epoch:>3}  {secs:5.0f} s  {changes or '(current preset)'}")
    print("rerun: python benchmarks/tune_full.py " + " ".join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
