"""Pure numpy pieces of the diagnostics: per-user metrics, buckets, bins, quantiles.

Nothing here knows a run: arrays in, arrays or DataFrames out, so each piece is checked
against an independent computation in the tests (``metrics.judge_lists`` for the
per-user lists, ``metrics.auc`` per user, hand-made bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from widedeep_core.ranking.kernel import list_cells

# Training ratings per user: the activity buckets of "who it fails" (issue 21). A user
# without a training rating (possible under a per-row split) gets a bucket of its own.
ACTIVITY_EDGES: tuple[tuple[int, float], ...] = (
    (1, 20),
    (21, 50),
    (51, 100),
    (101, 300),
    (301, float("inf")),
)
ACTIVITY_LABELS: tuple[str, ...] = ("1-20", "21-50", "51-100", "101-300", ">300")
COLD_LABEL = "0 (cold)"

# Item popularity buckets: the catalogue sorted by training ratings (most first, ties by
# movie id), cut where the cumulative count passes one and two thirds of all training
# ratings. The head is the few movies that hold the first third of the ratings, the long
# tail the many that hold the last third (every movie never rated in training included).
POPULARITY_LABELS: tuple[str, ...] = ("head", "torso", "long tail")
LIST_METRICS: tuple[str, ...] = ("hr", "ndcg", "precision", "recall", "mrr")
QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def per_user_lists(top: np.ndarray, positives: Sequence[Any], k: int) -> pd.DataFrame:
    """HR, NDCG, precision, recall and MRR @``k`` of each row of ``top`` [users, <=k]
    (catalogue columns best first, -1 pads) against ``positives[r]``: the per-user values
    whose means ``metrics.judge_lists`` reports (same formulas, same -1 rule)."""
    top = np.asarray(top, dtype=np.int64)
    n = len(top)
    if n == 0:
        return pd.DataFrame({m: np.zeros(0) for m in LIST_METRICS})
    kk = top.shape[1]
    rows, cols = list_cells(positives, np.arange(n))
    width = int(max(top.max(initial=0), cols.max(initial=0))) + 1
    hits = np.isin(np.arange(n)[:, None] * width + np.maximum(top, 0), rows * width + cols)
    hits &= top >= 0
    n_hits = hits.sum(1).astype(np.float64)
    n_pos = np.bincount(rows, minlength=n).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, kk + 2, dtype=np.float64))
    dcg = (hits * disc).sum(1)
    ideal = np.cumsum(disc)[np.clip(np.minimum(n_pos, kk) - 1, 0, None).astype(np.int64)]
    first = np.where(n_hits > 0, 1.0 / (hits.argmax(1) + 1.0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "hr": (n_hits > 0).astype(np.float64),
                "ndcg": dcg / ideal,
                "precision": n_hits / k,
                "recall": n_hits / n_pos,
                "mrr": first,
            }
        )


def per_user_auc(groups: np.ndarray, y: np.ndarray, s: np.ndarray) -> pd.DataFrame:
    """Per group (user code) of rows: AUC with ties counted half (nan for one class),
    rows, positives. One sort for every group; ``metrics.auc`` on each group agrees."""
    g = np.asarray(groups, dtype=np.int64)
    yy = np.asarray(y, dtype=np.float64) > 0.5
    ss = np.asarray(s, dtype=np.float64)
    if len(g) == 0:
        return pd.DataFrame({"group": [], "auc": [], "rows": [], "positives": []})
    order = np.lexsort((ss, g))
    gs, ys, sv = g[order], yy[order], ss[order]
    n = len(gs)
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    starts = np.flatnonzero(new_group)
    group_id = np.cumsum(new_group) - 1
    run_start = np.flatnonzero(np.r_[True, (gs[1:] != gs[:-1]) | (sv[1:] != sv[:-1])])
    run_end = np.r_[run_start[1:], n]
    run_of = np.repeat(np.arange(len(run_start)), run_end - run_start)
    # 1-based rank within the group, ties averaged over their run
    avg_rank = (run_start + run_end - 1) / 2.0 + 1.0
    rank = avg_rank[run_of] - starts[group_id]
    rows = np.bincount(group_id).astype(np.float64)
    pos = np.bincount(group_id, weights=ys.astype(np.float64))
    neg = rows - pos
    rank_sum = np.bincount(group_id, weights=np.where(ys, rank, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    value[(pos == 0) | (neg == 0)] = np.nan
    return pd.DataFrame(
        {"group": gs[starts], "auc": value, "rows": rows.astype(np.int64), "positives": pos}
    )


def activity_bucket(train_ratings: np.ndarray) -> np.ndarray:
    """The activity bucket label of each training-rating count (``ACTIVITY_LABELS``,
    ``COLD_LABEL`` for 0)."""
    counts = np.asarray(train_ratings, dtype=np.int64)
    out = np.full(len(counts), COLD_LABEL, dtype=object)
    for (lo, hi), label in zip(ACTIVITY_EDGES, ACTIVITY_LABELS, strict=True):
        out[(counts >= lo) & (counts <= hi)] = label
    return out


def activity_order(labels: Any) -> list[str]:
    """The bucket labels present in ``labels``, cold first, then by activity."""
    present = set(labels)
    return [b for b in (COLD_LABEL, *ACTIVITY_LABELS) if b in present]


def popularity_bucket(counts: np.ndarray) -> np.ndarray:
    """Bucket index (0 head, 1 torso, 2 long tail) of each catalogue column from its
    training count: see ``POPULARITY_LABELS``."""
    c = np.asarray(counts, dtype=np.float64)
    out = np.full(len(c), 2, dtype=np.int64)
    total = c.sum()
    if total <= 0:
        return out
    order = np.lexsort((np.arange(len(c)), -c))  # most rated first, ties by column
    before = np.cumsum(c[order]) - c[order]  # ratings of the movies ranked above
    out[order] = np.minimum((3.0 * before / total).astype(np.int64), 2)
    out[c == 0] = 2
    return out


def histogram(values: np.ndarray, bins: int = 20, lo: float = 0.0, hi: float = 1.0) -> pd.DataFrame:
    """Equal-width bins over [lo, hi] (the last one closed) of the finite values: lo, hi,
    count, share."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    share = counts / max(len(v), 1)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": counts, "share": share})


def quantile_row(values: np.ndarray) -> dict[str, float]:
    """n, mean, std and ``QUANTILES`` of the finite values (nan without any)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    row: dict[str, float] = {"n": float(len(v))}
    row["mean"] = float(v.mean()) if len(v) else float("nan")
    row["std"] = float(v.std()) if len(v) else float("nan")
    for q in QUANTILES:
        row[f"q{round(q * 100):02d}"] = float(np.quantile(v, q)) if len(v) else float("nan")
    return row


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(mean of b - a, low, high): a percentile interval of the mean paired difference,
    users resampled with replacement ``n_boot`` times (seeded). Pairs with a NaN are
    dropped; nan without a pair."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, 2_000_000 // len(d))  # bounds one draw's memory
    for s in range(0, n_boot, step):
        m = min(step, n_boot - s)
        means[s : s + m] = d[rng.integers(0, len(d), size=(m, len(d)))].mean(1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(d.mean()), float(lo), float(hi)


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width probability bins [i/n, (i+1)/n) (the last one closed): count,
    mean predicted, observed positive rate and their gap; empty bins kept (count 0)."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    idx = np.clip((pp * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=pp, minlength=n_bins) / count
        observed = np.bincount(idx, weights=yy, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "lo": edges[:-1],
            "hi": edges[1:],
            "count": count.astype(np.int64),
            "mean_predicted": mean_p,
            "observed_rate": observed,
            "gap": observed - mean_p,
        }
    )


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """ECE: the count-weighted mean of |observed rate - mean predicted| over the bins."""
    count = bins["count"].to_numpy(dtype=np.float64)
    if count.sum() == 0:
        return float("nan")
    gap = np.nan_to_num(np.abs(bins["gap"].to_numpy(dtype=np.float64)))
    return float((count * gap).sum() / count.sum())


__all__ = [
    "ACTIVITY_LABELS",
    "COLD_LABEL",
    "LIST_METRICS",
    "POPULARITY_LABELS",
    "activity_bucket",
    "activity_order",
    "expected_calibration_error",
    "histogram",
    "paired_bootstrap",
    "per_user_auc",
    "per_user_lists",
    "popularity_bucket",
    "quantile_row",
    "reliability_bins",
]
