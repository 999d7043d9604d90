"""For whom the model fails: per-user AUC and NDCG distributions, metrics by user
activity and by movie popularity (the cold-start view).

Activity: a user's training ratings, in the buckets of ``tables.ACTIVITY_LABELS``.
Popularity: a movie's training ratings, head / torso / long tail as
``tables.POPULARITY_LABELS`` defines them. Pointwise metrics (AUC, log loss, accuracy)
are over the part's rows of a bucket; ranking metrics (@K) over its judged users, the
users and lists of the run's own ranking metrics. Each bucket row carries its weight
(``row_share``, ``user_share``): the weighted bucket means give back the overall
value, except AUC, which does not add up over groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from widedeep_core.diagnostics.calibration import sigmoid
from widedeep_core.diagnostics.subject import Subject
from widedeep_core.diagnostics.tables import (
    LIST_METRICS,
    POPULARITY_LABELS,
    activity_bucket,
    activity_order,
    per_user_auc,
    per_user_lists,
    popularity_bucket,
)
from widedeep_core.evaluation.metrics import accuracy, auc, logloss
from widedeep_core.ranking.kernel import list_cells

ALL = "all"


def per_user(s: Subject) -> pd.DataFrame:
    """One row per user with rows in the part: user id, training ratings, activity
    bucket, rows, positives, AUC over the user's rows, and the ranking metrics @K of the
    user's list (NaN for a user the ranking did not judge)."""
    counts = s.user_train_counts()
    aucs = per_user_auc(s.user_of, s.y, s.logit)
    codes = aucs["group"].to_numpy(dtype=np.int64)
    table = pd.DataFrame(
        {
            "user": s.users[codes],
            "train_ratings": counts[codes],
            "activity": activity_bucket(counts[codes]),
            "rows": aucs["rows"].to_numpy(),
            "positives": aucs["positives"].to_numpy(dtype=np.int64),
            "auc": aucs["auc"].to_numpy(),
        }
    )
    lists = per_user_lists(s.top, s.judged.positives, s.k)
    slot = np.searchsorted(codes, s.judged_codes())
    for m in LIST_METRICS:
        column = np.full(len(table), np.nan)
        column[slot] = lists[m].to_numpy()
        table[m] = column
    table["judged"] = False
    table.loc[slot, "judged"] = True
    return table


def _pointwise(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if len(y) == 0:
        return {"auc": float("nan"), "logloss": float("nan"), "accuracy": float("nan")}
    return {"auc": auc(y, p), "logloss": logloss(y, p), "accuracy": accuracy(y, p)}


def by_activity(s: Subject, users: pd.DataFrame) -> pd.DataFrame:
    """Every metric by user activity bucket, then the whole part (``all``)."""
    p = sigmoid(s.logit)
    counts = s.user_train_counts()
    row_bucket = activity_bucket(counts[s.user_of])
    judged = users[users["judged"]]
    out = []
    for bucket in [*activity_order(row_bucket), ALL]:
        sel = np.ones(len(s.y), bool) if bucket == ALL else row_bucket == bucket
        j = judged if bucket == ALL else judged[judged["activity"] == bucket]
        u = users if bucket == ALL else users[users["activity"] == bucket]
        row: dict[str, object] = {
            "bucket": bucket,
            "users": len(u),
            "judged_users": len(j),
            "rows": int(sel.sum()),
            "row_share": float(sel.mean()),
            "user_share": len(j) / max(len(judged), 1),
        }
        row.update(_pointwise(s.y[sel], p[sel]))
        row["user_auc"] = float(np.nanmean(u["auc"])) if u["auc"].notna().any() else np.nan
        for m in LIST_METRICS:
            row[f"{m}@{s.k}"] = float(j[m].mean()) if len(j) else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def by_popularity(s: Subject) -> pd.DataFrame:
    """Metrics by movie popularity bucket (head / torso / long tail), then ``all``: the
    part's rows of the bucket's movies, its share of the held-out positives that the
    model's top-K lists hit (``recall``), of the list slots (``list_share``) and of the
    precision (``precision_share``: the buckets' values add up to precision@K)."""
    p = sigmoid(s.logit)
    item_counts = s.item_train_counts()
    bucket_of = popularity_bucket(item_counts)
    row_bucket = bucket_of[s.item_of]
    rows, pos_cols = list_cells(s.judged.positives, np.arange(len(s.top)))
    top = s.top
    width = int(max(top.max(initial=0), pos_cols.max(initial=0))) + 1
    hit = np.isin(
        np.arange(len(top))[:, None] * width + np.maximum(top, 0), rows * width + pos_cols
    ) & (top >= 0)
    listed = top >= 0
    top_bucket = np.where(listed, bucket_of[np.maximum(top, 0)], -1)
    n_slots = max(len(top), 1) * s.k
    total = max(float(item_counts.sum()), 1.0)
    out = []
    for b, label in [*enumerate(POPULARITY_LABELS), (-1, ALL)]:
        items = np.ones(len(bucket_of), bool) if b < 0 else bucket_of == b
        sel = np.ones(len(s.y), bool) if b < 0 else row_bucket == b
        in_top = listed if b < 0 else top_bucket == b
        positives = len(pos_cols) if b < 0 else int((bucket_of[pos_cols] == b).sum())
        hits = int((hit & in_top).sum())
        row: dict[str, object] = {
            "bucket": label,
            "items": int(items.sum()),
            "train_share": float(item_counts[items].sum() / total),
            "rows": int(sel.sum()),
            "row_share": float(sel.mean()),
        }
        row.update(_pointwise(s.y[sel], p[sel]))
        row["positives"] = positives
        row["hits"] = hits
        row["recall"] = hits / positives if positives else float("nan")
        row["list_share"] = float(in_top.sum() / max(listed.sum(), 1))
        row["precision_share"] = hits / n_slots
        out.append(row)
    return pd.DataFrame(out)


__all__ = ["by_activity", "by_popularity", "per_user"]
