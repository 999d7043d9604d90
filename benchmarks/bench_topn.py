"""Top-N quality of the package's ``topn`` preset against popularity and EASE^R, one run.

For each seed: ``train(preset("topn"), data)`` writes a run folder exactly as
``widedeep train --preset topn`` does; the stored run is then reloaded
(``serving.load_trained``) and ranked through ``evaluation.ranked_lists`` (the lists
``Recommender.recommend_all`` exports). Popularity and EASE^R are fitted on the same
run's training split and ranked by the same kernel for the same users (every user
with a test positive, every movie not rated in training). Printed: HR, NDCG, MRR@K,
catalogue coverage and the mean popularity rank of listed movies, mean ± half-range.

    python benchmarks/bench_topn.py /work/shared/data/ml-100k --seeds 0,1,2
    python benchmarks/bench_topn.py synthetic:6040:3706:1000209 --seeds 0
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from widedeep_core import retrieval as rt
from widedeep_core.api import train
from widedeep_core.config import parse_assignments, parse_value, preset
from widedeep_core.data import MovieLensData, load_movielens, make_synthetic
from widedeep_core.evaluation.evaluate import ranked_lists
from widedeep_core.evaluation.judged import ranking_users
from widedeep_core.evaluation.metrics import (
    catalogue_coverage,
    judge_lists,
    mean_popularity_rank,
    ranked_columns,
)
from widedeep_core.features.retrieval_features import interactions, training_rows
from widedeep_core.serving import load_trained


def load(source: str) -> MovieLensData:
    """A MovieLens folder, or ``synthetic:USERS:ITEMS:RATINGS[:SEED]``."""
    if source.startswith("synthetic:"):
        parts = [int(p) for p in source.split(":")[1:]]
        return make_synthetic(parts[0], parts[1], parts[2], seed=parts[3] if len(parts) > 3 else 0)
    return load_movielens(source)


def judge(top: np.ndarray, positives, k: int, n_items: int, pop_rank: np.ndarray) -> dict:
    out = judge_lists(torch.from_numpy(np.asarray(top)), positives, k)
    out["coverage"] = catalogue_coverage(top, n_items)
    out["pop_rank"] = mean_popularity_rank(top, pop_rank)
    return out


def one_seed(data, seed: int, k: int, changes: dict, runs_dir: str, lam: float) -> dict:
    cfg = preset("topn").replace(seed=seed, ranking_k=k, **changes)
    t0 = time.perf_counter()
    result = train(cfg, data, runs_dir=runs_dir)
    seconds = time.perf_counter() - t0
    trained = load_trained(result.run_dir, data)
    prep = trained.prepared()
    # every user with a test positive, as the two-stage ranking does (no sample)
    user_ids, seen, positives, items = ranking_users(prep, "test", None)
    _, top, _, _ = ranked_lists(trained.model, prep, "test", k=k)
    all_users = np.unique(data.ratings["user"].to_numpy())
    u, i, _ = training_rows(data, prep.split.train, prep.labels)
    x = interactions(u, i, len(all_users), len(items))
    counts = np.asarray(x.sum(0)).ravel()
    pop_rank = rt.popularity_rank(counts)
    rows = np.searchsorted(all_users, user_ids)
    res = {"topn (W&D two-stage)": judge(top, positives, k, len(items), pop_rank)}
    for name, model in (("popularity", rt.Popularity(x)), (f"EASE^R λ={lam:g}", rt.EASE(x, lam))):
        cols = ranked_columns(lambda b, m=model: m.score(rows[b]), seen, np.arange(len(rows)), k)
        res[name] = judge(cols.numpy(), positives, k, len(items), pop_rank)
    hist = [round(h.get(f"val_ndcg@{k}", float("nan")), 4) for h in result.history]
    res["_note"] = (
        f"seed {seed}: best epoch {result.best_epoch}, val NDCG@{k} per epoch {hist}, "
        f"train+test {seconds:.0f} s, {len(user_ids)} test users"
    )
    return res


def fmt(vals: list[float], d: int = 4) -> str:
    if len(vals) == 1:
        return f"{vals[0]:.{d}f}"
    return f"{statistics.mean(vals):.{d}f} ± {(max(vals) - min(vals)) / 2:.{d}f}"


def skew(data: MovieLensData) -> str:
    c = np.sort(data.ratings["item"].value_counts().to_numpy())[::-1].astype(float)
    lor = np.cumsum(np.sort(c)) / c.sum()
    gini = 1 - 2 * lor.mean() + 1 / len(c)
    top10 = c[: max(1, len(c) // 10)].sum() / c.sum()
    return f"item Gini {gini:.3f}, top-10% of movies hold {top10:.1%} of the ratings"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("-k", "--top", type=int, default=10)
    p.add_argument("--lambda", dest="lam", type=float, default=500.0, help="EASE^R baseline")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE over the topn preset")
    p.add_argument("--threads", type=int, default=1)
    opts = p.parse_args(argv)
    torch.set_num_threads(opts.threads)
    sets = {key: parse_value(key, text) for key, text in parse_assignments(opts.set).items()}
    changes = {"device": "cpu", **sets}
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {opts.threads} thread(s)"
    )
    data = load(opts.source)
    print(f"data: {opts.source}: {data.n_ratings} ratings; {skew(data)}")
    rows: dict[str, list[dict]] = {}
    notes = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in (int(s) for s in opts.seeds.split(",")):
            res = one_seed(data, seed, opts.top, changes, runs_dir, opts.lam)
            ndcgs = ", ".join(f"{n} {m['ndcg']:.4f}" for n, m in res.items() if n != "_note")
            notes.append(res.pop("_note") + f"; test NDCG@{opts.top}: {ndcgs}")
            for name, m in res.items():
                rows.setdefault(name, []).append(m)
            print("  " + notes[-1], flush=True)
    k = opts.top
    cols = [("hr", "HR"), ("ndcg", "NDCG"), ("mrr", "MRR"), ("coverage", "coverage")]
    head = ["model", *(f"{t}@{k}" for _, t in cols), "mean pop rank"]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, res in rows.items():
        cells = [fmt([r[key] for r in res]) for key, _ in cols]
        print(f"| {name} | " + " | ".join(cells) + f" | {fmt([r['pop_rank'] for r in res], 1)} |")
    ndcg = {name: statistics.mean(r["ndcg"] for r in res) for name, res in rows.items()}
    model = ndcg["topn (W&D two-stage)"]
    print(f"\ntopn NDCG@{k} / popularity = {model / ndcg['popularity']:.2f}")
    ease = next(v for n, v in ndcg.items() if n.startswith("EASE"))
    print(f"topn NDCG@{k} / EASE^R = {model / ease:.3f}")
    print("rerun: python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
