"""End-of-run evaluation: the split-layer pair scorer against the plain forward, same run.

Ranking every movie for every user costs n_users x n_items model calls. The plain path
encodes every (user, movie) pair and runs the whole model on it; the split path computes
the first layer's user half and item half once and only adds them per pair
(``model.factored.SplitScorer`` via ``widedeep_core.ranking.pairs.PairScorer``). Both give the same
logits (tests/core/test_split_scoring.py bounds the difference to 1e-5).

    python benchmarks/bench_eval.py                     # ML-1M-size synthetic data
    python benchmarks/bench_eval.py --presets fast,full --plain-users 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from _common import (
    add_device_argument,
    check_device,
    format_table,
    machine_line,
    rerun_line,
    run_main,
)

from widedeep_core.config import preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.evaluation import evaluate_split, predict_logits
from widedeep_core.features import prepare
from widedeep_core.model import WideDeep
from widedeep_core.ranking.pairs import PairScorer
from widedeep_core.threads import apply_thread_share
from widedeep_core.training import seed_everything


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="fast,reference,full")
    p.add_argument("--plain-users", type=int, default=100, help="users scored the plain way")
    p.add_argument("--repeats", type=int, default=3)
    add_device_argument(p)
    args = p.parse_args(argv)
    device = check_device(args.device)
    apply_thread_share()
    # an empty cache, so the first evaluation of each judged user set fits the baselines
    os.environ["WIDEDEEP_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-eval-")
    data = make_synthetic(6040, 3706, 1_000_209, seed=0)
    print(machine_line(device))
    print(f"data: {data.name} ({data.n_ratings:,} ratings)")
    items = np.unique(data.ratings["item"].to_numpy())
    users = np.unique(data.ratings["user"].to_numpy())
    rows = []
    for name in args.presets.split(","):
        cfg = preset(name).replace(device=args.device)
        prep = prepare(cfg, data)
        seed_everything(0)
        model = WideDeep.from_config(cfg, prep.encoder.specs).to(device).eval()
        sample = users[: args.plain_users]

        def plain(sample=sample, prep=prep, model=model) -> None:
            x = prep.encoder.transform_pairs(
                data, np.repeat(sample, len(items)), np.tile(items, len(sample))
            )
            predict_logits(model, x, 1 << 16, device)

        def split(sample=sample, prep=prep, model=model) -> None:
            PairScorer(model, prep.encoder, data, items)(sample)

        t_plain = _timed(plain, args.repeats)
        t_split = _timed(split, args.repeats)
        t = time.perf_counter()
        test = evaluate_split(model, prep, "test", device)
        t_eval = time.perf_counter() - t
        t = time.perf_counter()
        evaluate_split(model, prep, "test", device)  # the baselines' rows now come from the cache
        t_again = time.perf_counter() - t
        per_user = t_plain / len(sample)
        rows.append(
            (
                name,
                f"{t_plain / len(sample) * 1e3:.2f}",
                f"{t_split / len(sample) * 1e3:.3f}",
                f"{t_plain / t_split:.1f}x",
                f"{int(test['ranking_users']):,}",
                f"{per_user * test['ranking_users']:.1f}",
                f"{t_eval:.2f}",
                f"{t_again:.2f}",
            )
        )
    headers = ("preset", "plain ms/user", "split ms/user", "speed-up", "ranked users",
               "plain eval s (est.)", "split eval s", "again s")  # fmt: skip
    print(format_table(headers, rows))
    print("eval s: evaluate_split on the test split (AUC, log loss, GAUC, ranking over every")
    print("unrated movie, popularity and EASE^R on the same users); plain eval s extrapolates")
    print("the plain path's per-user time; again s: the same call with the baselines' rows")
    print("cached (a second try on the split; the cache starts empty)")
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(lambda: main())
