"""The baselines every evaluation shows beside the model: popularity and EASE^R.

Same split, same users, same protocol as the model's ranking metrics
(``judged.ranking_users``): for each user with a held-out positive, every catalogue
movie the user did not rate in training is ranked through the one kernel
(``metrics.ranked_columns``: ties by item id ascending) and the lists are judged by
``metrics.judge_lists``. Both baselines are fitted on the binary matrix of the
training ratings (every training rating counts, whatever its label).

Each row, the model's included (``list_columns``), has the same columns: hr, ndcg,
precision, recall, mrr, coverage (share of the catalogue listed at least once) and
pop_rank (mean popularity rank of the listed movies, 1 = most rated in training), @K.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from widedeep_core.errors import RunError
from widedeep_core.evaluation.judged import Judged, ranking_users
from widedeep_core.evaluation.metrics import (
    catalogue_coverage,
    judge_lists,
    mean_popularity_rank,
    ranked_columns,
)
from widedeep_core.retrieval import (
    DEFAULT_LAMBDA,
    EASE_MAX_ITEMS,
    Popularity,
    check_lambda,
    interaction_matrix,
    make_retrieval,
    popularity_rank,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

    from widedeep_core.features.prepare import Prepared

BASELINES = ("popularity", "ease")


def baseline_lambda(config: Any) -> float:
    """EASE^R's lambda for the baseline: the run's ``ease_lambda`` when it has one."""
    return float(getattr(config, "ease_lambda", DEFAULT_LAMBDA))


def train_matrix(prep: Prepared) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """(binary [all users, catalogue] matrix of the training ratings, user ids, item ids)."""
    from widedeep_core.data.index import catalogue, rating_codes

    users, user_of, item_of = rating_codes(prep.data)
    items = catalogue(prep.data)
    rows = prep.split.train
    return interaction_matrix(user_of[rows], item_of[rows], len(users), len(items)), users, items


def list_columns(
    top: Any, positives: list[np.ndarray], k: int, pop_rank: np.ndarray
) -> dict[str, float]:
    """The columns of one row of the table: judge_lists' five metrics, coverage, pop_rank @K.

    ``top`` [users, <=k] holds catalogue columns best first (-1 pads a short list).
    """
    import torch

    t = torch.as_tensor(np.asarray(top, dtype=np.int64))
    m = judge_lists(t, positives, k)
    m["coverage"] = catalogue_coverage(t.numpy(), len(pop_rank))
    m["pop_rank"] = mean_popularity_rank(t.numpy(), pop_rank)
    return {f"{name}@{k}": float(v) for name, v in m.items()}


def training_pop_rank(prep: Prepared) -> np.ndarray:
    """Popularity rank of each catalogue movie in the training split (1 = most rated):
    the pop_rank@K column of the model's row and of the baselines' rows."""
    from widedeep_core.ranking.kernel import training_popularity

    # training counts; the loader drops repeated pairs, so they equal Popularity's
    return popularity_rank(training_popularity(prep).numpy())


def model_list_columns(prep: Prepared, top: Any, k: int) -> dict[str, float]:
    """Coverage@K and pop_rank@K of the model's own lists (``evaluate.ranked_lists``)."""
    pop_rank = training_pop_rank(prep)
    t = np.asarray(top, dtype=np.int64)
    return {
        f"coverage@{k}": catalogue_coverage(t, len(pop_rank)),
        f"pop_rank@{k}": mean_popularity_rank(t, pop_rank),
    }


def evaluate_baselines(
    prep: Prepared,
    part: str = "test",
    *,
    k: int | None = None,
    lam: float = DEFAULT_LAMBDA,
    max_items: int = EASE_MAX_ITEMS,
    retrieval: tuple[Any, Any] | None = None,
    judged: Judged | None = None,
    cache: bool = True,
) -> dict[str, dict[str, Any]]:
    """Popularity and EASE^R judged like the model: {"popularity": {...}, "ease": {...}}.

    EASE^R inverts the whole catalogue up to ``max_items`` movies; above, the automatic
    route of ``make_retrieval`` runs and ``route`` / ``route_reason`` say which.
    ``retrieval`` (model, choice) from ``make_retrieval`` on the same training matrix and
    lambda skips the refit (the two-stage model's own EASE, when it has one). ``judged``
    (``judged.ranking_users``) are the model's judged users; default: that function's
    sample. The rows depend only on the data, the split and these arguments, so they are
    kept in the user cache folder (``cache``) and a second try on the same split reads them.
    """
    k = int(k if k is not None else prep.config.ranking_k)
    lam = check_lambda(lam)
    if judged is None:
        judged = ranking_users(prep, part)
    key = _rows_key(prep, part, judged, k, lam, max_items) if cache else None
    if key is not None and (rows := _read_rows(key)) is not None:
        return rows
    x, all_users, _ = train_matrix(prep)
    user_rows = np.searchsorted(all_users, judged.user_ids)
    pop = Popularity(x)
    pop_rank = training_pop_rank(prep)
    out: dict[str, dict[str, Any]] = {}
    ease, choice = retrieval or make_retrieval(x, "auto", lam, max_items=max_items)
    for name, model in (("popularity", pop), ("ease", ease)):
        top = ranked_columns(
            lambda b, m=model: m.score(user_rows[b]),  # type: ignore[misc]
            judged.seen,
            np.arange(len(user_rows)),
            k,
        )
        out[name] = list_columns(top, judged.positives, k, pop_rank)
    out["ease"].update({"lambda": lam, "route": choice.name, "route_reason": choice.reason})
    # the same user count as the model's row, so a reader can see they were judged alike
    for row in out.values():
        row["ranking_users"] = len(judged.user_ids)
    if key is not None:
        _write_rows(key, out)
    return out


# --- the rows' cache: one small JSON file per (data, split, judged users, K, lambda) ---

# Bump when the baselines' numbers change for the same inputs (the key has no code in it).
_ROWS_VERSION = 1
_ROWS_KEPT = 200  # files; the oldest go first


def _rows_dir() -> Path:
    from widedeep_core.data.cache import user_cache_dir

    return user_cache_dir() / "baselines"


def _rows_key(prep: Prepared, part: str, judged: Judged, k: int, lam: float, max_items: int) -> str:
    """A digest of everything the rows depend on: the training pairs, the judged users'
    lists (masked history and positives), the catalogue, K, lambda and the EASE size
    limit (~10 ms on ML-1M)."""
    ratings = prep.data.ratings
    train = prep.split.train
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((_ROWS_VERSION, part, k, lam, max_items, prep.data.fingerprint)).encode())
    for arr in (
        ratings["user"].to_numpy()[train],
        ratings["item"].to_numpy()[train],
        judged.user_ids,
        judged.items,
        np.array([len(p) for p in judged.positives], dtype=np.int64),
        np.concatenate(judged.positives) if judged.positives else np.zeros(0, np.int64),
        np.array([len(p) for p in judged.seen], dtype=np.int64),
        np.concatenate(judged.seen) if judged.seen else np.zeros(0, np.int64),
    ):
        h.update(np.ascontiguousarray(arr).view(np.uint8))  # type: ignore[arg-type]
    return h.hexdigest()


def _read_rows(key: str) -> dict[str, dict[str, Any]] | None:
    """The stored rows of ``key``, or None (missing, unreadable or damaged: recomputed)."""
    path = _rows_dir() / f"{key}.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rows, dict) or set(rows) != set(BASELINES):
        return None
    if not all(isinstance(row, dict) for row in rows.values()):
        return None
    return rows


def _write_rows(key: str, rows: dict[str, dict[str, Any]]) -> None:
    """Keep the rows for the next try; a cache that cannot be written is skipped."""
    from widedeep_core.fileio import atomic_write_text

    folder = _rows_dir()
    try:
        # Python's JSON keeps NaN (a metric without users) exactly; only this module reads it
        atomic_write_text(folder / f"{key}.json", json.dumps(rows))
        old = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-_ROWS_KEPT]:
            stale.unlink(missing_ok=True)
    except (OSError, RunError):
        pass  # a full disk or read-only cache costs the next try a refit, nothing else
