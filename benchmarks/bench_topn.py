"""Top-N quality: popularity, EASE^R and a two-stage Wide & Deep (retrieval + ranking).

Seed protocol: random 80/10/10 split of the ratings (seed s), positive = rating >
threshold; for every user with a test positive, every movie not rated in training is
ranked; ties by item index ascending. EASE^R runs at lambda 500 and at the lambda with
the best validation NDCG@K. The two-stage model:

1. retrieval: EASE^R (tuned lambda) proposes the M best unrated movies per user;
2. ranking: a small Wide & Deep trained on "impressions" = the user's rated movies
   labelled by the threshold + k sampled unrated negatives per positive (resampled every
   epoch, popularity-weighted by default) [+ h hard negatives from the candidates].
   Features: the retrieval score (scaled by the user's best unseen score) and a second
   one from an EASE fitted on the liked movies only (dense, wide and deep), the
   log2-bucketed retrieval rank crossed with user activity (wide), smoothed like-rate and
   log count of item and user (dense, wide and deep), genres and demographics (deep),
   optionally user/item ids (``--ids``) and everything bucketed (``--categorical``).
   Training rows get OUT-OF-FOLD retrieval features (``--oof 5``): the EASE that scores a
   training row was fitted without it, as a served candidate's EASE never saw it; with
   in-sample scores the ranker learns that "rated" means "high score" and barely beats
   EASE. The ranker re-orders the M candidates; the epoch with the best validation
   NDCG@K is kept.

    python benchmarks/bench_topn.py ../shared/data/ml-100k --seeds 0,1,2
    python benchmarks/bench_topn.py synthetic:6040:3706:1000209 --seeds 0 --epochs 6
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from widedeep_core.data import MovieLensData, load_movielens, make_synthetic
from widedeep_core.evaluation.metrics import (
    catalogue_coverage,
    group_items,
    list_metrics,
    mean_popularity_rank,
    top_k_lists,
)
from widedeep_core.features.splits import make_split
from widedeep_core.serving import retrieval as bl
from widedeep_core.training.negatives import NegativeSampler

LAMBDAS = (50.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1200.0, 2000.0, 4000.0)
N_RANK_BUCKETS = 14  # log2 buckets of the retrieval rank: 0, 1, 2-3, 4-7, ...


@dataclass
class Problem:
    """One seed's split in index space, with side features for the ranker."""

    n_users: int
    n_items: int
    x: sp.csr_matrix  # train interactions
    seen: list[np.ndarray]
    tr_u: np.ndarray
    tr_i: np.ndarray
    tr_y: np.ndarray
    val_pos: list[np.ndarray]
    test_pos: list[np.ndarray]
    genres: np.ndarray  # [n_items, G] float32 multi-hot
    demo: np.ndarray  # [n_users, 3] int64 codes (gender, age, occupation)
    demo_sizes: tuple[int, ...]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))


def load(source: str) -> MovieLensData:
    """A MovieLens folder, or ``synthetic:USERS:ITEMS:RATINGS[:SEED]``."""
    if source.startswith("synthetic:"):
        parts = [int(p) for p in source.split(":")[1:]]
        seed = parts[3] if len(parts) > 3 else 0
        return make_synthetic(parts[0], parts[1], parts[2], seed=seed)
    return load_movielens(source)


def make_problem(data: MovieLensData, seed: int, threshold: float) -> Problem:
    r = data.ratings
    users = np.unique(r["user"].to_numpy())
    items = np.unique(r["item"].to_numpy())
    u = np.searchsorted(users, r["user"].to_numpy())
    i = np.searchsorted(items, r["item"].to_numpy())
    y = r["rating"].to_numpy() > threshold
    split = make_split(r, "random", (0.8, 0.1, 0.1), seed)
    nu, ni = len(users), len(items)
    tr = split.train
    x = bl.interaction_matrix(u[tr], i[tr], nu, ni)
    vp = split.val[y[split.val]]
    tp = split.test[y[split.test]]
    mv = data.movies.set_index("item").reindex(items)
    gnames = sorted({g for gs in mv["genres"] if isinstance(gs, tuple) for g in gs})
    genres = np.zeros((ni, max(len(gnames), 1)), np.float32)
    for row, gs in enumerate(mv["genres"]):
        for g in gs if isinstance(gs, tuple) else ():
            genres[row, gnames.index(g)] = 1.0
    genres /= np.maximum(genres.sum(1, keepdims=True), 1.0)
    if data.users is not None:
        us = data.users.set_index("user").reindex(users)
        cols = [np.unique(us[c].astype(str), return_inverse=True)[1] for c in ("gender", "age")]
        cols.append(np.unique(us["occupation"].astype(str), return_inverse=True)[1])
        demo = np.stack(cols, 1).astype(np.int64)
    else:
        demo = np.zeros((nu, 3), np.int64)
    return Problem(
        nu,
        ni,
        x,
        group_items(u[tr], i[tr], nu),
        u[tr],
        i[tr],
        y[tr].astype(np.float32),
        group_items(u[vp], i[vp], nu),
        group_items(u[tp], i[tp], nu),
        genres,
        demo,
        tuple(int(demo[:, c].max()) + 1 for c in range(3)),
        np.asarray(x.sum(0)).ravel(),
    )


def users_with(pos: list[np.ndarray]) -> np.ndarray:
    return np.flatnonzero([len(p) > 0 for p in pos])


def judge(top: np.ndarray, pos: list[np.ndarray], users: np.ndarray, prob: Problem, k: int):
    out = list_metrics(top, [pos[u] for u in users], k)
    out["coverage"] = catalogue_coverage(top[:, :k], prob.n_items)
    out["pop_rank"] = mean_popularity_rank(top[:, :k], bl.popularity_rank(prob.counts))
    return out


def rank_among_unseen(scores: np.ndarray, seen: list[np.ndarray], users: np.ndarray) -> np.ndarray:
    """For each (user, item): how many unseen items of the user score strictly higher.

    For an unseen item this is its 0-based retrieval rank; for a rated one, where it would
    land among the candidates, so training rows and served candidates share one scale.
    """
    out = np.empty(scores.shape, dtype=np.int64)
    for r, u in enumerate(users):
        s = scores[r]
        mask = np.ones(len(s), bool)
        mask[seen[u]] = False
        unseen = np.sort(s[mask])
        out[r] = len(unseen) - np.searchsorted(unseen, s, side="right")
    return out


def _normalised(s_all: np.ndarray, seen: list[np.ndarray], m: int):
    all_users = np.arange(s_all.shape[0])
    cand = top_k_lists(s_all, seen, all_users, m)
    # per-user scale: divide by the user's best unseen score, so the dense feature reads
    # the same whatever the user's activity (EASE scores grow with the history's length)
    top = np.take_along_axis(s_all, np.maximum(cand[:, :1], 0), 1)[:, 0]
    return (s_all / np.maximum(np.abs(top), 1e-6)[:, None]).astype(np.float16), cand


def retrieval_features(
    x: sp.csr_matrix, seen: list[np.ndarray], m: int, lam: float, liked_x: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense features [n_users, n_items, D] (fp16), rank buckets (uint8), top-m candidates."""
    all_users = np.arange(x.shape[0])
    s_all = bl.EASE(x, lam).score(all_users)
    dense, cand = _normalised(s_all, seen, m)
    rb = rank_bucket(rank_among_unseen(s_all, seen, all_users)).astype(np.uint8)
    feats = [dense]
    if liked_x is not None:
        feats.append(_normalised(bl.EASE(liked_x, lam).score(all_users), seen, m)[0])
    return np.stack(feats, -1), rb, cand


def rank_bucket(rank: np.ndarray) -> np.ndarray:
    return np.minimum(np.floor(np.log2(rank + 1.0)).astype(np.int64), N_RANK_BUCKETS - 1)


class Ranker(nn.Module):
    """Wide (ids, rank bucket, rank x activity cross, dense score) + deep (embeddings + MLP)."""

    def __init__(self, prob: Problem, opts: argparse.Namespace):
        super().__init__()
        d = opts.dim
        self.opts = opts
        self.w_item = nn.Embedding(prob.n_items, 1)
        self.w_user = nn.Embedding(prob.n_users, 1)
        self.w_rank = nn.Embedding(N_RANK_BUCKETS * 8, 1)  # rank bucket x user-activity bucket
        nd = 1 + bool(opts.liked)
        self.w_score = nn.Linear(nd, 1)
        self.w_rates = nn.Linear(4, 1)
        # --categorical: every dense feature as a bucketed field (what WideDeep takes today)
        self.n_cat = nd + 4
        self.w_cat = nn.Embedding(self.n_cat * 32, 1)
        self.e_cat = nn.Embedding(self.n_cat * 32, 4)
        nn.init.zeros_(self.w_cat.weight)
        nn.init.normal_(self.e_cat.weight, 0, 0.05)
        self.e_user = nn.Embedding(prob.n_users, d)
        self.e_item = nn.Embedding(prob.n_items, d)
        self.e_rank = nn.Embedding(N_RANK_BUCKETS, d)
        self.e_demo = nn.ModuleList(nn.Embedding(n, 4) for n in prob.demo_sizes)
        self.genre = nn.Linear(prob.genres.shape[1], 8, bias=False)
        self.bias = nn.Parameter(torch.zeros(1))
        ids = 2 * d if opts.ids else 0
        width = ids + 12 + 8 + (d if "deep" in opts.rank_in else 0)
        width += nd * ("deep" in opts.score_in) + 4 * bool(opts.rates)
        if opts.categorical:
            width = ids + 12 + 8 + d + (nd + 4) * 4
        self.mlp = nn.Sequential(
            nn.Linear(width, opts.hidden), nn.ReLU(), nn.Linear(opts.hidden, 1)
        )
        for emb in (self.w_item, self.w_user, self.w_rank):
            nn.init.zeros_(emb.weight)
        for emb in (self.e_user, self.e_item, self.e_rank):
            nn.init.normal_(emb.weight, 0, 0.05)
        self.genres = torch.from_numpy(prob.genres)
        self.demo = torch.from_numpy(prob.demo)
        act = np.asarray(prob.x.sum(1)).ravel()
        self.act = torch.from_numpy(np.minimum(np.log2(act + 1).astype(np.int64) // 2, 7))

    def forward(self, u, i, score, rb, rates=None):
        o = self.opts
        score, rb = score.float(), rb.long()
        wide = self.bias.expand(len(u))
        if o.ids:
            wide = wide + self.w_item(i)[:, 0] + self.w_user(u)[:, 0]
        if "wide" in o.rank_in:
            wide = wide + self.w_rank(rb * 8 + self.act[u])[:, 0]
        if "wide" in o.score_in:
            wide = wide + self.w_score(score)[:, 0]
        demo = self.demo[u]
        parts = [self.genre(self.genres[i])]
        if o.ids:
            parts += [self.e_user(u), self.e_item(i)]
        parts += [emb(demo[:, c]) for c, emb in enumerate(self.e_demo)]
        if "deep" in o.rank_in:
            parts.append(self.e_rank(rb))
        if "deep" in o.score_in:
            parts.append(score)
        if o.categorical:
            dense = torch.cat([score, rates], 1)
            # fixed edges: scores are ~[0, 1.2] after the per-user scaling, rates ~[-1, 1]
            # (like-rate x4) and [0, 2] (log count / 5)
            b = torch.clamp(((dense + 1.0) * 12).long(), 0, 31)
            b = b + 32 * torch.arange(dense.shape[1])
            wide = wide + self.w_rank(rb * 8 + self.act[u])[:, 0] + self.w_cat(b).sum((1, 2))
            parts.append(self.e_rank(rb))
            parts.append(self.e_cat(b).flatten(1))
            return wide + self.mlp(torch.cat(parts, 1))[:, 0]
        if rates is not None:
            wide = wide + self.w_rates(rates)[:, 0]
            parts.append(rates)
        return wide + self.mlp(torch.cat(parts, 1))[:, 0]


def two_stage(prob: Problem, ease: bl.EASE, opts: argparse.Namespace, seed: int, k: int):
    """Train the ranker; the top-K lists of the validation-best epoch on test users."""
    torch.manual_seed(seed)
    liked = prob.tr_y > 0.5

    def feats(keep: np.ndarray):
        xf = bl.interaction_matrix(prob.tr_u[keep], prob.tr_i[keep], prob.n_users, prob.n_items)
        seen_f = group_items(prob.tr_u[keep], prob.tr_i[keep], prob.n_users)
        lk = keep & liked
        lx = None
        if opts.liked:
            lx = bl.interaction_matrix(prob.tr_u[lk], prob.tr_i[lk], prob.n_users, prob.n_items)
        return (*retrieval_features(xf, seen_f, opts.m, ease.lam, lx), rate_stats(keep))

    def rate_stats(keep: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        # smoothed like-rate and log count per item and per user, from the kept rows only
        u, i, y = prob.tr_u[keep], prob.tr_i[keep], prob.tr_y[keep]
        prior = y.mean()
        out = []
        for idx, n in ((i, prob.n_items), (u, prob.n_users)):
            cnt = np.bincount(idx, minlength=n)
            lk = np.bincount(idx, weights=y, minlength=n)
            rate = (lk + 5 * prior) / (cnt + 5) - prior
            both = np.stack([rate * 4, np.log1p(cnt) / 5], 1).astype(np.float32)
            out.append(torch.from_numpy(both))
        return out[0], out[1]

    s_full, rb_full, cand, st_full = feats(np.ones(len(prob.tr_u), bool))
    if opts.oof > 1:
        # out-of-fold features: a train row's retrieval score comes from an EASE fitted
        # without that row, as a served candidate's comes from one that never saw it
        fold = np.random.default_rng([seed, 99]).integers(0, opts.oof, len(prob.tr_u))
        parts = [feats(fold != f) for f in range(opts.oof)]
        s_tr = torch.stack([torch.from_numpy(p[0]) for p in parts])
        rb_tr = torch.stack([torch.from_numpy(p[1]) for p in parts])
        it_tr = torch.stack([p[3][0] for p in parts])
        us_tr = torch.stack([p[3][1] for p in parts])
        del parts
    else:
        fold = np.zeros(len(prob.tr_u), np.int64)
        s_tr, rb_tr = torch.from_numpy(s_full)[None], torch.from_numpy(rb_full)[None]
        it_tr, us_tr = st_full[0][None], st_full[1][None]
    s_t, rb_t = torch.from_numpy(s_full), torch.from_numpy(rb_full)
    n_folds = s_tr.shape[0]

    sampler = NegativeSampler(
        prob.x, k=opts.k, weighting=opts.neg, power=opts.neg_power, seed=seed,
        hard_candidates=cand if opts.hard else None, hard_k=opts.hard,
    )  # fmt: skip
    pos_mask = prob.tr_y > 0.5
    model = Ranker(prob, opts)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.wd)
    loss_fn = nn.BCEWithLogitsLoss()

    def lists(pos_users: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            c = cand[pos_users]
            cu = torch.from_numpy(np.repeat(pos_users, c.shape[1]))
            ci = torch.from_numpy(np.maximum(c, 0).ravel())
            rates = torch.cat([st_full[0][ci], st_full[1][cu]], 1) if opts.rates else None
            logit = model(cu, ci, s_t[cu, ci], rb_t[cu, ci], rates).reshape(c.shape).numpy()
        logit = np.where(c >= 0, logit, -np.inf)
        # ties by item index: order candidates by (logit desc, item asc)
        order = np.lexsort((c, -logit), axis=-1)[:, :k]
        model.train()
        return np.take_along_axis(c, order, 1)

    val_users, test_users = users_with(prob.val_pos), users_with(prob.test_pos)
    best = (-1.0, None, 0)
    history = []
    for epoch in range(opts.epochs):
        nu, ni = sampler.sample(prob.tr_u[pos_mask], epoch)
        erng = np.random.default_rng([seed, epoch])
        u = np.concatenate([prob.tr_u, nu])
        i = np.concatenate([prob.tr_i, ni])
        y = np.concatenate([prob.tr_y, np.zeros(len(nu), np.float32)])
        fo = np.concatenate([fold, erng.integers(0, n_folds, len(nu))])
        perm = torch.from_numpy(erng.permutation(len(u)))
        ut, it, yt = torch.from_numpy(u)[perm], torch.from_numpy(i)[perm], torch.from_numpy(y)[perm]
        ft = torch.from_numpy(fo)[perm]
        for s in range(0, len(ut), opts.batch):
            sl = slice(s, s + opts.batch)
            bu, bi, by, bf = ut[sl], it[sl], yt[sl], ft[sl]
            rates = torch.cat([it_tr[bf, bi], us_tr[bf, bu]], 1) if opts.rates else None
            loss = loss_fn(model(bu, bi, s_tr[bf, bu, bi], rb_tr[bf, bu, bi], rates), by)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
        v = list_metrics(lists(val_users), [prob.val_pos[x] for x in val_users], k)["ndcg"]
        history.append(round(v, 4))
        if v > best[0]:
            best = (v, {n: t.detach().clone() for n, t in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    top = lists(test_users)
    return top, test_users, best[2], history


def fmt(vals: list[float], d: int = 4) -> str:
    if len(vals) == 1:
        return f"{vals[0]:.{d}f}"
    spread = (max(vals) - min(vals)) / 2
    return f"{statistics.mean(vals):.{d}f} ± {spread:.{d}f}"


def skew(counts: np.ndarray) -> str:
    c = np.sort(counts)[::-1].astype(float)
    top10 = c[: max(1, len(c) // 10)].sum() / c.sum()
    lor = np.cumsum(np.sort(c)) / c.sum()
    gini = 1 - 2 * lor.mean() + 1 / len(c)
    return f"item Gini {gini:.3f}, top-10% movies hold {top10:.1%} of train ratings"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("-k", "--top", type=int, default=10)
    p.add_argument("--threshold", type=float, default=3.0)
    p.add_argument("--m", type=int, default=200, help="retrieval candidates per user")
    p.add_argument("--k", dest="k", type=int, default=4, help="sampled negatives per positive")
    p.add_argument("--neg", choices=("uniform", "popularity"), default="popularity")
    p.add_argument("--neg-power", type=float, default=0.75)
    p.add_argument("--hard", type=int, default=0, help="hard negatives per positive")
    p.add_argument("--rank-in", default="wide", help="wide, deep, wide+deep or none")
    p.add_argument("--score-in", default="wide+deep", help="wide, deep, wide+deep or none")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lambdas", default=",".join(str(x) for x in LAMBDAS))
    p.add_argument("--oof", type=int, default=5, help="folds for out-of-fold features (0: off)")
    p.add_argument("--wd", type=float, default=0.0)
    p.add_argument(
        "--liked", action=argparse.BooleanOptionalAction, default=True,
        help="a second retrieval score: EASE on the liked train movies only",
    )  # fmt: skip
    p.add_argument(
        "--rates", action=argparse.BooleanOptionalAction, default=True,
        help="smoothed like-rate and log count of the item and of the user",
    )  # fmt: skip
    p.add_argument("--categorical", action="store_true", help="bucketed features only")
    p.add_argument("--ids", action="store_true", help="user and item id fields in both parts")
    p.add_argument("--no-model", action="store_true")
    opts = p.parse_args(argv)
    torch.set_num_threads(1)
    k = opts.top
    seeds = [int(s) for s in opts.seeds.split(",")]
    lambdas = [float(x) for x in opts.lambdas.split(",")]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, 1 thread"
    )
    t0 = time.perf_counter()
    data = load(opts.source)
    rows: dict[str, list[dict[str, float]]] = {}
    notes = []
    for seed in seeds:
        prob = make_problem(data, seed, opts.threshold)
        if seed == seeds[0]:
            print(f"data: {opts.source}: {prob.n_users} users, {prob.n_items} movies; "
                  f"{skew(prob.counts)}")  # fmt: skip
        test_users = users_with(prob.test_pos)
        val_users = users_with(prob.val_pos)

        def add(name, top, users, _p=prob):
            rows.setdefault(name, []).append(judge(top, _p.test_pos, users, _p, k))

        pop = bl.Popularity(prob.x)
        add("popularity", top_k_lists(pop.score, prob.seen, test_users, k), test_users)
        best_lam, best_v, fitted = None, -1.0, {}
        for lam in lambdas:
            e = bl.EASE(prob.x, lam)
            fitted[lam] = e
            v = list_metrics(
                top_k_lists(e.score, prob.seen, val_users, k),
                [prob.val_pos[u] for u in val_users],
                k,
            )["ndcg"]
            if v > best_v:
                best_lam, best_v = lam, v
        e500 = fitted.get(500.0) or bl.EASE(prob.x, 500.0)
        add("EASE^R lambda 500", top_k_lists(e500.score, prob.seen, test_users, k), test_users)
        ease = fitted[best_lam]
        add("EASE^R tuned", top_k_lists(ease.score, prob.seen, test_users, k), test_users)
        notes.append(f"seed {seed}: tuned lambda {best_lam:g} (val NDCG@{k} {best_v:.4f})")
        if not opts.no_model:
            t = time.perf_counter()
            top, users, ep, hist = two_stage(prob, ease, opts, seed, k)
            add("two-stage W&D", top, users)
            notes.append(
                f"seed {seed}: W&D best epoch {ep}, val NDCG per epoch {hist}, "
                f"{time.perf_counter() - t:.0f} s"
            )
        print(f"  seed {seed} done at {time.perf_counter() - t0:.0f} s", flush=True)
    cols = [("hr", "HR"), ("ndcg", "NDCG"), ("mrr", "MRR"), ("coverage", "coverage")]
    head = ["model"] + [f"{t}@{k}" for _, t in cols]
    head.append("mean pop rank")
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, res in rows.items():
        cells = [fmt([r[key] for r in res]) for key, _ in cols]
        cells.append(fmt([r["pop_rank"] for r in res], 1))
        print(f"| {name} | " + " | ".join(cells) + " |")
    base = statistics.mean(r["ndcg"] for r in rows["EASE^R tuned"])
    for name, res in rows.items():
        print(
            f"{name}: NDCG@{k} / EASE tuned = {statistics.mean(r['ndcg'] for r in res) / base:.3f}"
        )
    for n in notes:
        print(n)
    print("options:", {key: v for key, v in vars(opts).items() if key != "source"})
    print("rerun: python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
