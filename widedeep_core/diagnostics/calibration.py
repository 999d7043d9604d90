"""Can the probabilities be trusted: reliability bins, expected calibration error, Brier.

On the part's rows (a rating's label against sigmoid(wide + deep)); for a two-stage run
also on its ranked candidates: every candidate the retrieval proposed to a judged user,
ordered by the model (``ranking.lists.ListRanker``, as the ranking metrics rank them),
labelled 1 when it is one of the user's held-out positives. The second view asks what
the model's P(like) means among the movies it actually chooses from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from widedeep_core.diagnostics.subject import Subject
from widedeep_core.diagnostics.tables import expected_calibration_error, reliability_bins
from widedeep_core.ranking.kernel import list_cells

N_BINS = 10


@dataclass
class Calibration:
    """Reliability bins and the summary of one set of (label, probability) pairs."""

    source: str  # "rows" (the part's ratings) or "candidates" (two-stage lists)
    bins: pd.DataFrame
    ece: float
    brier: float
    n: int
    mean_predicted: float
    observed_rate: float


def calibration_of(y: np.ndarray, p: np.ndarray, source: str, n_bins: int = N_BINS) -> Calibration:
    """The ``Calibration`` of labels ``y`` against probabilities ``p``."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    bins = reliability_bins(yy, pp, n_bins)
    n = len(yy)
    return Calibration(
        source=source,
        bins=bins,
        ece=expected_calibration_error(bins),
        brier=float(np.mean((pp - yy) ** 2)) if n else float("nan"),
        n=n,
        mean_predicted=float(pp.mean()) if n else float("nan"),
        observed_rate=float(yy.mean()) if n else float("nan"),
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def row_calibration(s: Subject) -> Calibration:
    """Calibration on the part's rated rows."""
    return calibration_of(s.y, sigmoid(s.logit), "rows")


def candidate_calibration(s: Subject) -> Calibration | None:
    """A two-stage run's calibration on every ranked candidate of its judged users; None
    for a one-stage run (it ranks the whole catalogue: the rows answer the question)."""
    from widedeep_core.ranking.lists import ListRanker

    prep = s.prep
    if prep.retrieval is None:
        return None
    ranker = ListRanker(s.trained.model, prep, batch_size=prep.config.eval_batch_size)
    m = int(prep.config.candidates)
    users, seen, positives = s.judged.user_ids, s.judged.seen, s.judged.positives
    labels, probs = [], []
    step = ranker.block_size
    for start in range(0, len(users), step):
        block = ranker.rank(users[start : start + step], seen[start : start + step], m)
        cols, valid = block.columns, block.valid
        # (row in block, column) of each held-out positive
        rows, pos = list_cells(positives, np.arange(start, min(start + step, len(users))))
        width = int(max(cols.max(initial=0), pos.max(initial=0))) + 1
        is_pos = np.isin(
            (np.arange(len(cols))[:, None]) * width + np.maximum(cols, 0),
            rows * width + pos,
        )
        labels.append(is_pos[valid].astype(np.float64))
        probs.append(sigmoid(block.scores[valid]))
    y = np.concatenate(labels) if labels else np.zeros(0)
    p = np.concatenate(probs) if probs else np.zeros(0)
    return calibration_of(y, p, "candidates")


__all__ = ["Calibration", "calibration_of", "candidate_calibration", "row_calibration", "sigmoid"]
