"""Scoring a trained model on a split: pointwise metrics, GAUC and top-K ranking metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import nn

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import ConfigError
from widedeep_core.evaluation.baselines import (
    baseline_lambda,
    evaluate_baselines,
    model_list_columns,
)
from widedeep_core.evaluation.metrics import (
    accuracy,
    auc,
    gauc,
    judge_lists,
    logloss,
    ranked_columns,
)
from widedeep_core.features.encoder import Encoded
from widedeep_core.ranking.kernel import popularity_for_cold, training_popularity, users_per_block
from widedeep_core.ranking.pairs import PairScorer
from widedeep_core.threads import CoreShare

if TYPE_CHECKING:
    from pathlib import Path

    from widedeep_core.features.prepare import Prepared
    from widedeep_core.model.widedeep import WideDeep
    from widedeep_core.runs.store import Run

# Ranking every unseen movie for every user costs n_users x n_items pair scores. With
# the split first layer a pair costs only the MLP after that layer, so every user is
# ranked while that stays under RANKING_FLOPS (all of ML-1M for the `fast` and
# `reference` presets); past it, and past MAX_RANKING_PAIRS, a seeded sample of at
# least MAX_RANKING_USERS users is ranked (their count is reported as ``ranking_users``).
# A two-stage run ranks only its M candidates per user: every user, always.
# ``config.ranking_users`` caps either (a seeded sample) for very large data.
MAX_RANKING_USERS = 2000
MAX_RANKING_PAIRS = 40_000_000
# Past this many floating-point operations for the whole ranking, a sample of users is
# ranked (the split scorer knows its cost per pair).
RANKING_FLOPS = 50e9


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: Encoded, batch_size: int = 8192, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits of every row of ``x`` (eval mode, in batches), as a float32 CPU tensor."""
    was_training = model.training
    model.eval()
    try:
        out = [
            model(x.take(slice(s, s + batch_size)).to(device)).float().cpu()
            for s in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def pointwise(y: torch.Tensor | np.ndarray, logits: torch.Tensor) -> dict[str, float]:
    """AUC, log loss and accuracy of logits against 0/1 labels."""
    p = torch.sigmoid(logits.double()).numpy()
    yy = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    return {"auc": auc(yy, p), "logloss": logloss(yy, p), "accuracy": accuracy(yy, p)}


def evaluate_pointwise(
    model: nn.Module,
    x: Encoded,
    y: torch.Tensor,
    batch_size: int = 8192,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Pointwise metrics of ``model`` on encoded rows ``x`` with labels ``y``."""
    return pointwise(y, predict_logits(model, x, batch_size, device))


def evaluate_split(
    model: WideDeep, prep: Prepared, part: str = "test", device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Every metric on one split: AUC, log loss, accuracy, GAUC and ranking metrics at K."""
    cfg = prep.config
    x, y = prep.encoded(part)
    logits = predict_logits(model, x, cfg.eval_batch_size, device)
    out = pointwise(y, logits)
    users = prep.data.ratings["user"].to_numpy()[getattr(prep.split, part)]
    out["gauc"] = gauc(users, y.numpy(), logits.numpy())
    # one set of judged users for the model and its baselines: same users, same lists
    judged, top = _model_lists(model, prep, part, cfg.ranking_k, None)
    out.update(_ranking_row(prep, judged, top, cfg.ranking_k))
    out["baselines"] = evaluate_baselines(
        prep, part, k=cfg.ranking_k, lam=baseline_lambda(cfg), judged=judged
    )
    return out


class Judged(NamedTuple):
    """The users a ranking is judged on (``ranking_users``); column indices into ``items``."""

    user_ids: np.ndarray
    seen: list[np.ndarray]  # per user: training items (masked from the lists)
    positives: list[np.ndarray]  # per user: held-out positives of the part
    items: np.ndarray  # the catalogue


def ranking_users(
    prep: Prepared, part: str = "test", max_users: int | None = MAX_RANKING_USERS
) -> Judged:
    """The users the ranking metrics judge: those with a held-out positive in ``part``.

    Returns ``Judged`` (user ids, per-user training items, per-user positives, items): items are
    the catalogue (``serving.scoring.catalogue``), and the per-user lists hold column
    indices into it. Past ``max_users`` (or ``MAX_RANKING_PAIRS`` pairs) a sample of
    the users, seeded by the config's seed, stands in for all of them; None: every user.
    """
    items = catalogue(prep.data)
    all_users, u_of, i_of = rating_codes(prep.data)
    rows = getattr(prep.split, part)
    pos_rows = rows[prep.labels[rows] > 0.5]
    eval_users = np.unique(u_of[pos_rows])
    if max_users is not None:
        max_users = max(1, min(max_users, MAX_RANKING_PAIRS // max(len(items), 1)))
    if max_users is not None and len(eval_users) > max_users:
        rng = np.random.default_rng(prep.config.seed)
        eval_users = np.sort(rng.choice(eval_users, size=max_users, replace=False))
    slot = np.full(len(all_users), -1, dtype=np.int64)
    slot[eval_users] = np.arange(len(eval_users))

    def per_user(sel_rows: np.ndarray) -> list[np.ndarray]:
        s = slot[u_of[sel_rows]]
        keep = s >= 0
        s, cols = s[keep], i_of[sel_rows][keep]
        # one sort of (slot, column) keys: 6x a lexsort of the two on ML-1M
        key = np.sort(s * len(items) + cols)
        counts = np.bincount(s, minlength=len(eval_users))
        return np.split(key % len(items), np.cumsum(counts)[:-1])

    return Judged(all_users[eval_users], per_user(prep.split.train), per_user(pos_rows), items)


def check_k(k: int, data: MovieLensData) -> None:
    """A ConfigError when a top-K list cannot be filled from the catalogue."""
    n_items = len(catalogue(data))
    if int(k) > n_items:
        raise ConfigError(
            "ranking_k", f"K = {k} is larger than the catalogue ({n_items} movies of {data.name})"
        )


def ranked_lists(
    model: nn.Module,
    prep: Prepared,
    part: str = "test",
    *,
    k: int = 10,
    max_users: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """The lists the ranking metrics judge: (user ids, [users, k] columns, positives, items).

    Each user's training items are masked; every other catalogue item is ranked by the
    serving kernel, exactly as ``Recommender.recommend`` ranks them. A two-stage run
    ranks its retrieval candidates (``serving.twostage.rank_users``), as the Recommender
    does, for every user. ``max_users`` None takes the config's ``ranking_users``, else
    (one stage) every user while the cost stays under ``RANKING_FLOPS``.
    """
    judged, top = _model_lists(model, prep, part, k, max_users)
    return judged.user_ids, top, judged.positives, judged.items


def _model_lists(
    model: nn.Module, prep: Prepared, part: str, k: int, max_users: int | None
) -> tuple[Judged, np.ndarray]:
    """(the judged users, their [users, k] top columns): ``ranked_lists``' work."""
    check_k(k, prep.data)
    if max_users is None:
        max_users = prep.config.ranking_users
    if prep.retrieval is not None:
        return _two_stage_lists(model, prep, part, k, max_users)
    items = catalogue(prep.data)
    pair_scorer = PairScorer(model, prep.encoder, prep.data, items)
    if max_users is None:
        affordable = RANKING_FLOPS / max(pair_scorer.pair_flops * len(items), 1.0)
        max_users = max(MAX_RANKING_USERS, int(affordable))
    judged = ranking_users(prep, part, max_users)
    user_ids, seen = judged.user_ids, judged.seen
    popularity = training_popularity(prep)

    def scorer(batch: np.ndarray) -> torch.Tensor:
        cold = np.array([len(seen[b]) == 0 for b in batch], dtype=bool)
        return popularity_for_cold(pair_scorer(user_ids[batch]), cold, popularity)

    users = np.arange(len(user_ids))
    top = ranked_columns(scorer, seen, users, k, users_per_block(len(items)))
    return judged, top.numpy()


def _two_stage_lists(
    model, prep: Prepared, part: str, k: int, max_users: int | None
) -> tuple[Judged, np.ndarray]:
    """``_model_lists`` of a two-stage run: ``serving.twostage.rank_users`` per user block."""
    from widedeep_core.ranking.twostage import rank_users

    judged = ranking_users(prep, part, max_users)
    user_ids, seen = judged.user_ids, judged.seen
    block = max(1, users_per_block(prep.config.candidates))
    tops = [
        rank_users(
            model, prep, user_ids[s : s + block], seen[s : s + block], k,
            batch_size=prep.config.eval_batch_size,
        ).columns
        for s in range(0, len(user_ids), block)
    ]  # fmt: skip
    top = np.concatenate(tops) if tops else np.zeros((0, k), np.int64)
    return judged, top


def evaluate_ranking(
    model: WideDeep,
    prep: Prepared,
    part: str = "test",
    *,
    k: int = 10,
    device: torch.device | str = "cpu",
    max_users: int | None = None,
) -> dict[str, float]:
    """HR@K, NDCG@K, precision@K, recall@K: every movie a user did not rate in training
    is ranked (by the serving kernel) against the user's held-out positives of ``part``.

    ``device`` is unused: the model is scored where it lives.
    """
    judged, top = _model_lists(model, prep, part, k, max_users)
    return _ranking_row(prep, judged, top, k)


def _ranking_row(prep: Prepared, judged: Judged, top: np.ndarray, k: int) -> dict[str, float]:
    """The model's ranking columns: HR, NDCG, ... @K, coverage, pop_rank, ranking_users."""
    m = judge_lists(torch.from_numpy(top), judged.positives, k)
    out = {f"{name}@{k}": value for name, value in m.items()}
    out.update(model_list_columns(prep, top, k))
    out["ranking_users"] = len(judged.user_ids)
    return out


def evaluate_run(
    run_dir: str | Path | Run,
    data: MovieLensData | None = None,
    *,
    part: str = "test",
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Every metric of a stored run's serving weights on its own test (or validation) split."""
    from widedeep_core.devices import resolve_device
    from widedeep_core.serving.loading import load_trained

    trained = load_trained(run_dir, data, device=device)
    # ranking every user is a training's worth of work: it takes a share of the cores
    with CoreShare():
        return evaluate_split(trained.model, trained.prepared(), part, resolve_device(device))
