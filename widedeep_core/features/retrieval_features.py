"""Dense ranking features from a retrieval stage, fitted on the training split only.

A two-stage run (``config.retrieval != "none"``) gives the model, for every (user,
movie) pair, a float vector ``Encoded.dense`` whose columns are named by
``dense_names(config)``:

- ``score``: the retrieval score divided by the user's best score over the movies
  they did not rate, so it reads the same whatever the length of the history;
- ``liked_score``: the same from a retrieval fitted on the liked (label 1) rows only;
- ``rank_bucket``: log2 bucket of the retrieval rank (how many unrated movies score
  higher: 0 for the top candidate), and ``activity_bucket`` (log of the user's
  training count); the model crosses the two in its wide part;
- ``item_rate``, ``item_count``, ``user_rate``, ``user_count``: smoothed like-rate
  (minus the base rate) and log count of the movie and the user.

Training rows get OUT-OF-FOLD features (``out_of_fold``): a row is scored by a
retrieval fitted without it, as a served candidate is by one that never saw it; with
in-sample scores the ranker learns "rated means high score" and only ties EASE.

The retrieval models themselves (EASE^R, item-kNN) live in the ``retrieval`` package; this
module receives a ``fit`` callable (interactions -> scorer), so features never import
a higher station. Every computation runs one user block at a time: memory is bounded
by the block (users x movies) and by the pairs asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.retrieval import interaction_matrix

N_RANK_BUCKETS = 14  # log2 buckets of the retrieval rank: 0, 1, 2-3, 4-7, ...
N_ACTIVITY_BUCKETS = 8
BUCKET_COLUMNS = ("rank_bucket", "activity_bucket")
RATE_COLUMNS = ("item_rate", "item_count", "user_rate", "user_count")
_PRIOR_WEIGHT = 5.0  # pseudo-ratings of the smoothed like-rates
_BLOCK_CELLS = 1 << 22  # users x movies scored at once
_FEATURE_MAX = 65504.0  # float16's largest: the stored negatives' features stay finite

Fit = Callable[[sp.csr_matrix], Any]


def dense_names(config: Any) -> tuple[str, ...]:
    """The dense columns a configuration's model reads (empty for a one-stage run)."""
    if config.retrieval == "none":
        return ()
    wanted = config.retrieval_features
    names = [n for n in ("score", "liked_score") if n in wanted]
    if "rank" in wanted:
        names += BUCKET_COLUMNS
    if config.rate_features:
        names += RATE_COLUMNS
    return tuple(names)


def activity_buckets(x: sp.csr_matrix) -> np.ndarray:
    """Per-user bucket of the training count: floor(log2(count + 1) / 2), at most 7."""
    counts = np.diff(x.tocsr().indptr)
    return np.minimum(np.log2(counts + 1.0).astype(np.int64) // 2, N_ACTIVITY_BUCKETS - 1)


@dataclass
class FoldModels:
    """The retrieval models and rate statistics fitted on one set of training rows."""

    main: Any
    liked: Any | None
    seen: sp.csr_matrix  # the rows' interactions: the movies that are not candidates
    item_stats: np.ndarray  # [n_items, 2] like-rate, log count
    user_stats: np.ndarray  # [n_users, 2]


def rate_stats(u: np.ndarray, i: np.ndarray, y: np.ndarray, n_users: int, n_items: int):
    """(item, user) [n, 2] float32 tables: smoothed like-rate minus the base rate (x4)
    and log count / 5, scaled to about [-1, 2]."""
    prior = float(y.mean()) if len(y) else 0.5
    out = []
    for idx, n in ((i, n_items), (u, n_users)):
        cnt = np.bincount(idx, minlength=n)
        likes = np.bincount(idx, weights=y, minlength=n)
        rate = (likes + _PRIOR_WEIGHT * prior) / (cnt + _PRIOR_WEIGHT) - prior
        out.append(np.stack([rate * 4, np.log1p(cnt) / 5], 1).astype(np.float32))
    return out[0], out[1]


def fit_fold(
    u: np.ndarray,
    i: np.ndarray,
    y: np.ndarray,
    shape: tuple[int, int],
    fit: Fit,
    *,
    liked: bool = True,
    fit_liked: Fit | None = None,
) -> FoldModels:
    """Retrieval on all rows (u, i) and on the liked ones (y > 0.5), plus rate stats.

    ``fit_liked`` fits the liked-only model when it differs from ``fit`` (a stored
    run restores each model from its own arrays).
    """
    n_users, n_items = shape
    seen = interaction_matrix(u, i, n_users, n_items)
    main = fit(seen)
    liked_model = None
    if liked:
        lk = y > 0.5
        liked_model = (fit_liked or fit)(interaction_matrix(u[lk], i[lk], n_users, n_items))
    item_stats, user_stats = rate_stats(u, i, y, n_users, n_items)
    return FoldModels(main, liked_model, seen, item_stats, user_stats)


def _scaled_and_bucket(
    scored: tuple[np.ndarray, np.ndarray | None],
    seen: sp.csr_matrix,
    rows: np.ndarray,
    cols: np.ndarray,
    rank: bool,
):
    """Scores of (rows, cols) divided by each row's best unseen score, and the log2
    bucket of their rank among the row's unseen movies (how many score strictly higher).

    ``scored`` is a model's ``score_covered``: scores over the movies it covers and which
    (None: all). A movie outside them scores -inf, as in ``score``, so it reads 0 and
    ranks below every covered one; only the covered columns are searched.
    """
    scores, covered = scored
    # NaN and -inf rank last and read 0; nan_to_num's default would turn -inf into
    # -3.4e38, which a finite scale leaves finite and past float16's range (the stored
    # negatives' features)
    s = scores.astype(np.float32)
    s[np.isnan(s)] = -np.inf
    if covered is not None:
        pos = np.minimum(np.searchsorted(covered, cols), max(len(covered) - 1, 0))
        hit = covered[pos] == cols if len(covered) else np.zeros(len(cols), bool)
        pair = np.where(hit, s[rows, pos] if len(covered) else -np.inf, -np.inf)
        seen = seen[:, covered]
    else:
        pair = s[rows, cols]
    masked = s.copy()
    r, c = seen.nonzero()
    masked[r, c] = -np.inf
    best = masked.max(1) if masked.shape[1] else np.full(len(masked), -np.inf, np.float32)
    scale = np.where(np.isfinite(best), np.maximum(np.abs(best), 1e-6), 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        value = pair / scale[rows]
    value = np.where(np.isfinite(value), value, 0.0)
    value = np.clip(value, -_FEATURE_MAX, _FEATURE_MAX).astype(np.float32)
    if not rank:
        return value, None
    # bucket b holds ranks 2^b - 1 .. 2^(b+1) - 2: a pair is in bucket >= b when the
    # (2^b - 1)-th best unseen score beats it, so the block's rows sorted at once (one
    # SIMD sort call; np.partition at those places was 1.6x slower) answer every pair
    n_cols = masked.shape[1]
    places = [2**b - 2 for b in range(1, N_RANK_BUCKETS) if 2**b - 2 < n_cols]
    thresholds = np.full((len(masked), N_RANK_BUCKETS - 1), -np.inf, np.float32)
    if places:
        thresholds[:, : len(places)] = -np.sort(-masked, axis=1)[:, places]
    bucket = (thresholds[rows] > pair[:, None]).sum(1)
    return value, bucket


def pair_features(
    fm: FoldModels,
    users: np.ndarray,
    items: np.ndarray,
    names: Sequence[str],
    activity: np.ndarray,
) -> np.ndarray:
    """float32 [len(users), len(names)] features of (user index, item index) pairs."""
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    out = np.zeros((len(users), len(names)), np.float32)
    if not len(users) or not names:
        return out
    col = {n: k for k, n in enumerate(names)}
    if "item_rate" in col:
        out[:, col["item_rate"]] = fm.item_stats[items, 0]
        out[:, col["item_count"]] = fm.item_stats[items, 1]
        out[:, col["user_rate"]] = fm.user_stats[users, 0]
        out[:, col["user_count"]] = fm.user_stats[users, 1]
    if "activity_bucket" in col:
        out[:, col["activity_bucket"]] = activity[users]
    need_rank = "rank_bucket" in col
    if not ({"score", "liked_score"} & set(col) or need_rank):
        return out
    order = np.argsort(users, kind="stable")
    su = users[order]
    uniq = np.unique(su)
    # the scored columns: a capped route's covered movies, else the catalogue
    covered = getattr(fm.main, "items", None)
    n_cols = len(covered) if covered is not None else fm.seen.shape[1]
    per_block = max(1, _BLOCK_CELLS // max(n_cols, 1))
    for lo in range(0, len(uniq), per_block):
        block = uniq[lo : lo + per_block]
        a, b = np.searchsorted(su, [block[0], block[-1] + 1])
        sel = order[a:b]
        rows = np.searchsorted(block, users[sel])
        cols = items[sel]
        seen = fm.seen[block]
        if "score" in col or need_rank:
            value, bucket = _scaled_and_bucket(
                fm.main.score_covered(block), seen, rows, cols, need_rank
            )
            if "score" in col:
                out[sel, col["score"]] = value
            if need_rank:
                out[sel, col["rank_bucket"]] = bucket
        if "liked_score" in col and fm.liked is not None:
            scored = fm.liked.score_covered(block)
            value, _ = _scaled_and_bucket(scored, seen, rows, cols, False)
            out[sel, col["liked_score"]] = value
    return out


@dataclass
class PairSets:
    """Sets of (user index, item index) pairs scored beside the training rows (an epoch's
    negatives each), read through ``load`` and answered through ``emit``, so the caller
    decides where they live (``training.epoch_store``)."""

    sizes: Sequence[int]  # pairs per set
    load: Callable[[int], tuple[np.ndarray, np.ndarray]]  # set -> (users, items)
    emit: Callable[[int, np.ndarray, np.ndarray], None]  # (set, positions, features)


# Pairs scored in one ``pair_features`` call: bounds its inputs and output (~100 bytes a
# pair with every feature); above it a fold's users are taken in ranges, each scored once.
# 2^22 (~0.4 GB): at 2^24 an ML-25M-size fold (13M pairs) was scored in one 1.3 GB call.
PAIRS_PER_CALL = 1 << 22


def out_of_fold(
    u: np.ndarray,
    i: np.ndarray,
    y: np.ndarray,
    extra: PairSets,
    shape: tuple[int, int],
    fit: Fit,
    names: Sequence[str],
    *,
    folds: int,
    seed: int,
    full: FoldModels | None = None,
) -> np.ndarray:
    """Features of the training rows (u, i, y), returned, and of each extra pair set (the
    epochs' negatives), given to ``extra.emit``, each pair scored by a retrieval fitted
    without the rows of its fold.

    Rows get a seeded fold each, extra pairs a random one. ``folds`` 0 scores
    everything with ``full`` (in-sample). One fold's models live at a time; within a
    fold, past ``PAIRS_PER_CALL`` pairs its users are taken in ranges (a pair's features
    do not depend on the others scored with it).
    """
    activity = activity_buckets(interaction_matrix(u, i, *shape))
    liked = "liked_score" in names
    rows_out = np.zeros((len(u), len(names)), np.float32)
    if folds < 2:
        row_fold: np.ndarray = np.zeros(len(u), np.int8)
        extra_fold = [np.zeros(n, np.int8) for n in extra.sizes]
    else:
        rng = np.random.default_rng([seed, 99])
        row_fold = rng.integers(0, folds, len(u))
        extra_fold = [rng.integers(0, folds, n).astype(np.int8) for n in extra.sizes]
    fm: FoldModels | None = None
    for f in range(max(folds, 1)):
        keep = row_fold != f
        fm = None  # the previous fold's models go before the next fit (~0.5 GB at 5M)
        if folds < 2:
            fm = full or fit_fold(u, i, y, shape, fit, liked=liked)
        else:
            fm = fit_fold(u[keep], i[keep], y[keep], shape, fit, liked=liked)
        in_fold = np.flatnonzero(~keep)
        for lo, hi in _user_ranges(u[in_fold], extra, extra_fold, f, shape[0]):
            rows = in_fold[(u[in_fold] >= lo) & (u[in_fold] < hi)]
            parts, where = [(u[rows], i[rows])], []
            for k, ef in enumerate(extra_fold):
                eu, ei = extra.load(k)
                pos = np.flatnonzero((ef == f) & (eu >= lo) & (eu < hi))
                parts.append((eu[pos], ei[pos]))
                where.append(pos)
            feats = pair_features(
                fm,
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
                names,
                activity,
            )
            pieces = np.split(feats, np.cumsum([len(p[0]) for p in parts])[:-1])
            rows_out[rows] = pieces[0]
            for k, pos in enumerate(where):
                extra.emit(k, pos, pieces[k + 1])
    return rows_out


def _user_ranges(
    row_users: np.ndarray, extra: PairSets, extra_fold: list[np.ndarray], f: int, n_users: int
) -> list[tuple[int, int]]:
    """[lo, hi) user ranges whose pairs in fold ``f`` stay near ``PAIRS_PER_CALL`` each;
    one range (every user) when the whole fold fits."""
    total = len(row_users) + sum(int((ef == f).sum()) for ef in extra_fold)
    if total <= PAIRS_PER_CALL:
        return [(0, n_users)]
    per_user = np.bincount(row_users, minlength=n_users)
    for k, ef in enumerate(extra_fold):
        eu = extra.load(k)[0]
        per_user += np.bincount(eu[ef == f], minlength=n_users)
    cuts = np.searchsorted(
        np.cumsum(per_user), np.arange(1, total // PAIRS_PER_CALL + 1) * (PAIRS_PER_CALL)
    )
    bounds = np.unique(np.r_[0, np.minimum(cuts + 1, n_users), n_users])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


@dataclass
class RetrievalFeatures:
    """The full training split's retrieval and stats: features of any (user, movie)."""

    names: tuple[str, ...]
    user_ids: np.ndarray  # every user id of the data, ascending (index space)
    item_ids: np.ndarray  # the catalogue, ascending (index space)
    full: FoldModels
    activity: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def user_index(self, user_ids: np.ndarray) -> np.ndarray:
        """Indices of user ids (every id must be in the data)."""
        return np.searchsorted(self.user_ids, np.asarray(user_ids, np.int64))

    def item_index(self, item_ids: np.ndarray) -> np.ndarray:
        """Indices of movie ids in the catalogue."""
        return np.searchsorted(self.item_ids, np.asarray(item_ids, np.int64))

    def for_pairs(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Dense features of (user id, movie id) pairs, from the full training split."""
        return pair_features(
            self.full,
            self.user_index(user_ids),
            self.item_index(item_ids),
            self.names,
            self.activity,
        )


def training_rows(data: Any, rows: np.ndarray, labels: np.ndarray):
    """(user index, item index, label) of rating rows ``rows``: indices into
    ``rating_codes(data).users`` and ``catalogue(data)``."""
    codes = rating_codes(data)
    return codes.user_of[rows], codes.item_of[rows], labels[rows].astype(np.float32)


def fit_retrieval_features(
    config: Any,
    data: Any,
    train_rows: np.ndarray,
    labels: np.ndarray,
    fit: Fit,
    fit_liked: Fit | None = None,
) -> RetrievalFeatures:
    """The retrieval features of a two-stage config, fitted on ``train_rows`` only."""
    user_ids, item_ids = rating_codes(data).users, catalogue(data)
    names = dense_names(config)
    u, i, y = training_rows(data, train_rows, labels)
    shape = (len(user_ids), len(item_ids))
    full = fit_fold(u, i, y, shape, fit, liked="liked_score" in names, fit_liked=fit_liked)
    return RetrievalFeatures(names, user_ids, item_ids, full, activity_buckets(full.seen))
