"""The paper's two stages: retrieval proposes M candidates per user, Wide & Deep orders them.

``rank_users`` is the one ranking function of a two-stage run: the Recommender
(``recommend``, ``recommend_all``) and the ranking metrics (``evaluation``) call it on
blocks of users, so the metrics judge exactly the lists users see.

1. retrieval (EASE^R or item-kNN, fitted on the training split) scores the catalogue,
   the movies ``seen`` are masked, and ``serving.scoring.top_k`` keeps the best M
   (ties by movie id ascending); a user without training ratings gets the popularity
   order instead (EASE has nothing to go on);
2. the candidates get their features (``features.retrieval``) and the model's wide and
   deep logits;
3. the candidates are ordered by logit, ties by movie id ascending (the same kernel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from widedeep_core.errors import RunError
from widedeep_core.features.retrieval_features import fit_retrieval_features
from widedeep_core.model.widedeep import predict_parts
from widedeep_core.ranking.kernel import list_cells, mask, top_k
from widedeep_core.retrieval import column_counts, make_retrieval, retrieval_from_arrays

RETRIEVAL_WHERE = "retrieval.npz"  # how a restore error names the stored arrays


def retrieval_fitter(config: Any):
    """A callable fitting the configured retrieval model on an interaction matrix."""

    def fit(x: sp.csr_matrix):
        return make_retrieval(x, config.retrieval, config.ease_lambda)[0]

    return fit


def attach_retrieval(
    prep: Any, arrays: dict[str, np.ndarray] | None = None, where: str = RETRIEVAL_WHERE
) -> Any:
    """Fit (or, with a stored run's ``arrays``, restore) the retrieval of a two-stage
    ``prep`` on its training rows and attach it as ``prep.retrieval``; returns ``prep``.
    A restore error names ``where`` (the stored file)."""
    cfg = prep.config
    if not cfg.two_stage:
        return prep
    if arrays is None:
        fit = fit_liked = retrieval_fitter(cfg)
    else:
        fit, fit_liked = _restorer(arrays, "main", where), _restorer(arrays, "liked", where)
    prep.retrieval = fit_retrieval_features(
        cfg, prep.data, prep.split.train, prep.labels, fit, fit_liked
    )
    return prep


def retrieval_arrays(prep: Any) -> dict[str, np.ndarray]:
    """The fitted retrieval models of ``prep`` as named arrays (``retrieval.npz``): each
    model's ``to_arrays`` under its part's prefix (``main_``, ``liked_``)."""
    out: dict[str, np.ndarray] = {}
    full = prep.retrieval.full
    for key, model in (("main", full.main), ("liked", full.liked)):
        if model is not None:
            out.update({f"{key}_{k}": v for k, v in model.to_arrays().items()})
    return out


def _restorer(arrays: dict[str, np.ndarray], key: str, where: str):
    def restore(x: sp.csr_matrix):
        part = {k[len(key) + 1 :]: v for k, v in arrays.items() if k.startswith(f"{key}_")}
        if "name" not in part:
            raise RunError(f"{where}: the stored retrieval model has no {key!r} part")
        return retrieval_from_arrays(part, x, where=f"{where} ({key} model)")

    return restore


def check_two_stage(config: Any, where: Any = "this run") -> None:
    """A RunError unless ``config`` trained a ranker for two-stage serving."""
    if config.negatives < 1 or not config.two_stage:
        raise RunError(
            f"{where}: two-stage ranking needs a run trained with sampled negatives and a "
            f"retrieval stage (this one: negatives={config.negatives}, "
            f"retrieval={config.retrieval!r}); train with --preset topn"
        )


@dataclass
class RankedBlock:
    """A block of users' two-stage lists: catalogue columns and what ranked them."""

    columns: np.ndarray  # [b, <=k] catalogue columns, best first (-1: fewer candidates)
    logit: np.ndarray  # wide + deep, float64
    wide: np.ndarray
    deep: np.ndarray
    retrieval_rank: np.ndarray  # 1-based position in the retrieval list
    retrieval_score: np.ndarray
    fallback: np.ndarray  # bool per user: popularity stood in for retrieval


def retrieval_candidates(
    rf: Any,
    u_idx: np.ndarray,
    seen: list[np.ndarray],
    m: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The retrieval stage for a block of users (indices into ``rf``'s users): the best
    ``m`` catalogue columns each, ``seen[r]`` masked, only ``allowed`` columns (sorted)
    when given. A user without training ratings gets the popularity order (EASE^R has
    nothing to go on): the one cold-start rule of the two stages. Returns (candidates
    [b, m] in retrieval order, which are real (bool), the retrieval scores [b, n_items],
    which users fell back to popularity)."""
    scores = rf.full.main.score(u_idx).astype(np.float64)
    fallback = np.diff(rf.full.seen.indptr)[u_idx] == 0
    if fallback.any():
        counts = column_counts(rf.full.seen)
        scores[fallback] = counts
    shown = scores
    if allowed is not None:
        # NaN, not -inf: the kernel's mask turns NaN into -inf (and -inf into the lowest
        # finite number, which would still count as a candidate)
        shown = np.full_like(scores, np.nan)
        shown[:, allowed] = scores[:, allowed]
    masked = mask(torch.from_numpy(shown), *list_cells(seen, np.arange(len(u_idx))))
    m = min(int(m), masked.shape[1])
    cand = top_k(masked, m)  # retrieval order
    valid = torch.isfinite(masked.gather(1, cand)).numpy()
    return cand.numpy(), valid, scores, fallback


@torch.no_grad()
def rank_users(
    model: torch.nn.Module,
    prep: Any,
    user_ids: np.ndarray,
    seen: list[np.ndarray],
    k: int,
    *,
    candidates: np.ndarray | None = None,
    batch_size: int = 8192,
) -> RankedBlock:
    """Two-stage top-``k`` catalogue columns of a block of users; ``seen[r]`` lists the
    catalogue columns never shown to user r (their training movies); ``candidates`` (a
    sorted column subset, e.g. one genre) restricts what retrieval may propose."""
    rf = prep.retrieval
    assert rf is not None, "rank_users needs a two-stage Prepared"
    user_ids = np.asarray(user_ids, np.int64)
    cand, valid, scores, fallback = retrieval_candidates(
        rf, rf.user_index(user_ids), seen, prep.config.candidates, candidates
    )
    m = cand.shape[1]
    b = len(user_ids)
    rrank = np.broadcast_to(np.arange(1, m + 1), (b, m))
    # the model's logits of every (user, candidate) pair, in one flat batch
    flat_u = np.repeat(user_ids, m)
    flat_i = rf.item_ids[cand.ravel()]
    x = prep.encode_pairs(flat_u, flat_i)
    w, d = predict_parts(model, x, max(batch_size, m))
    wide = w.double().numpy().reshape(b, m) if len(w) else np.zeros((b, m))
    deep = d.double().numpy().reshape(b, m) if len(d) else np.zeros((b, m))
    logit = np.where(valid, wide + deep, -np.inf)
    # the kernel's tie rule (lower movie id first) needs the columns in id order
    by_id = np.argsort(cand, axis=1, kind="stable")
    top = top_k(torch.from_numpy(np.take_along_axis(logit, by_id, 1)), k).numpy()
    pick = np.take_along_axis(by_id, top, 1)
    cols = np.take_along_axis(cand, pick, 1)
    ok = np.take_along_axis(valid, pick, 1)
    raw = np.take_along_axis(scores, cand, 1)

    def take(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, pick, 1)

    return RankedBlock(
        np.where(ok, cols, -1),
        take(logit),
        take(wide),
        take(deep),
        take(np.asarray(rrank)),
        take(raw),
        fallback,
    )
