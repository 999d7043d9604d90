"""Scoring a trained model on a split: pointwise metrics, GAUC and top-K ranking metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from widedeep_core.evaluation.baselines import (
    baseline_lambda,
    evaluate_baselines,
    model_list_columns,
)
from widedeep_core.evaluation.judged import (
    MAX_RANKING_USERS,
    MAX_TWO_STAGE_USERS,
    RANKING_FLOPS,
    Judged,
    check_k,
    ranking_users,
)
from widedeep_core.evaluation.metrics import (
    accuracy,
    auc,
    gauc,
    judge_lists,
    logloss,
)
from widedeep_core.features.inputs import Encoded
from widedeep_core.model.widedeep import predict_parts
from widedeep_core.ranking.lists import ListRanker

if TYPE_CHECKING:
    from widedeep_core.features.prepare import Prepared
    from widedeep_core.model.widedeep import WideDeep


def predict_logits(
    model: nn.Module, x: Encoded, batch_size: int = 8192, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits of every row of ``x`` (eval mode, in batches), as a float32 CPU tensor."""
    wide, deep = predict_parts(model, x, batch_size, device)
    return wide + deep


def pointwise(y: torch.Tensor | np.ndarray, logits: torch.Tensor) -> dict[str, float]:
    """AUC, log loss and accuracy of logits against 0/1 labels."""
    p = torch.sigmoid(logits.double()).numpy()
    yy = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    return {"auc": auc(yy, p), "logloss": logloss(yy, p), "accuracy": accuracy(yy, p)}


def part_shares(wide: torch.Tensor, deep: torch.Tensor) -> dict[str, float]:
    """The wide and deep parts' mean absolute logit over some rows and the wide part's
    share of their sum (``wide_share``; NaN when both are zero): how much each part
    moves the prediction, as the training goes on."""
    w = float(wide.double().abs().mean()) if len(wide) else float("nan")
    d = float(deep.double().abs().mean()) if len(deep) else float("nan")
    total = w + d
    return {
        "wide_abs_logit": w,
        "deep_abs_logit": d,
        "wide_share": w / total if total > 0 else float("nan"),
    }


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
) -> dict[str, Any]:
    """Every metric on one split: AUC, log loss, accuracy, GAUC and ranking metrics at K."""
    cfg = prep.config
    x, y = prep.encoded(part)
    logits = predict_logits(model, x, cfg.eval_batch_size, device)
    out: dict[str, Any] = pointwise(y, logits)
    users = prep.data.ratings["user"].to_numpy()[getattr(prep.split, part)]
    out["gauc"] = gauc(users, y.numpy(), logits.numpy())
    # one set of judged users for the model and its baselines: same users, same lists
    judged, top = _model_lists(model, prep, part, cfg.ranking_k, None)
    out.update(_ranking_row(prep, judged, top, cfg.ranking_k))
    out["baselines"] = evaluate_baselines(
        prep, part, k=cfg.ranking_k, lam=baseline_lambda(cfg), judged=judged
    )
    return out


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
    does, for every user up to ``MAX_TWO_STAGE_USERS`` (past it a seeded sample).
    ``max_users`` None takes the config's ``ranking_users``, else (one stage) every user
    while the cost stays under ``RANKING_FLOPS``.
    """
    judged, top = _model_lists(model, prep, part, k, max_users)
    return judged.user_ids, top, judged.positives, judged.items


def _model_lists(
    model: nn.Module, prep: Prepared, part: str, k: int, max_users: int | None
) -> tuple[Judged, np.ndarray]:
    """(the judged users, their [users, k] top columns): ``ranked_lists``' work, through
    the ranking station's ``ListRanker`` (the Recommender's too)."""
    check_k(k, prep.data)
    if max_users is None:
        max_users = prep.config.ranking_users
    ranker = ListRanker(model, prep, batch_size=prep.config.eval_batch_size)
    if max_users is None and ranker.pair_scorer is not None:
        # one stage: every user while the whole ranking stays affordable
        affordable = RANKING_FLOPS / max(ranker.pair_scorer.pair_flops * len(ranker.items), 1.0)
        max_users = max(MAX_RANKING_USERS, int(affordable))
    if ranker.two_stage:
        # M candidates a user: the pairs cap of one stage does not apply, the users cap does
        users_cap = MAX_TWO_STAGE_USERS if max_users is None else max_users
        judged = ranking_users(prep, part, users_cap, max_pairs=None)
    else:
        judged = ranking_users(prep, part, max_users)
    user_ids, seen = judged.user_ids, judged.seen
    step = ranker.block_size
    tops = [
        ranker.rank(user_ids[s : s + step], seen[s : s + step], k)
        for s in range(0, len(user_ids), step)
    ]
    if not tops:
        return judged, np.zeros((0, k), np.int64)
    # two stages report -1 past a short candidate list; one stage its masked columns
    cols = [t.shown() if ranker.two_stage else t.columns for t in tops]
    return judged, np.concatenate(cols)


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
