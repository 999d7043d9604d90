"""The run a diagnosis looks at: its model, its split and what every diagnostic shares.

``open_subject`` loads a stored run (``serving.load_trained``), recomputes its split
(``Trained.prepared``: the protocol's data, hash-checked), scores the part's rows once
(wide and deep logits, ``model.widedeep.predict_parts``) and ranks the judged users'
top-K lists once, through the evaluation's own ``ListRanker`` path, so the diagnostics
judge the very lists and users the run's ranking metrics judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from widedeep_core.data.index import catalogue, rating_codes
from widedeep_core.errors import RunError
from widedeep_core.evaluation.judged import Judged
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.prepare import Prepared
from widedeep_core.model.widedeep import predict_parts
from widedeep_core.ranking.kernel import training_popularity
from widedeep_core.runs import Run
from widedeep_core.serving import Trained, load_trained

# The lists the diagnostics judge: the top ten (NDCG@10, the top-10's diversity).
DIAGNOSTIC_K = 10
PARTS = ("test", "val")

Progress = Callable[[float, str], None]
StopCheck = Callable[[], bool]


class DiagnosisCancelled(Exception):
    """A diagnosis stopped early because its ``should_stop`` said so (not an error)."""


def checkpoint(should_stop: StopCheck | None) -> None:
    """Raise ``DiagnosisCancelled`` when ``should_stop`` asks for it."""
    if should_stop is not None and should_stop():
        raise DiagnosisCancelled("the diagnosis was cancelled")


@dataclass
class Subject:
    """A loaded run on one part of its split, scored once."""

    trained: Trained
    prep: Prepared
    part: str
    k: int
    x: Encoded  # the part's encoded rows
    y: np.ndarray  # float64 0/1 labels of the part's rows
    wide: np.ndarray  # float64 wide logit per row (bias included)
    deep: np.ndarray  # float64 deep logit per row
    user_of: np.ndarray  # each row's user code (into ``users``)
    item_of: np.ndarray  # each row's catalogue column
    judged: Judged  # the users the ranking metrics judge, their history and positives
    top: np.ndarray  # [judged users, k] catalogue columns, best first (-1: none)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> Run:
        return self.trained.run

    @property
    def logit(self) -> np.ndarray:
        return self.wide + self.deep

    @property
    def items(self) -> np.ndarray:
        """The catalogue: every column index refers to it."""
        return catalogue(self.prep.data)

    @property
    def users(self) -> np.ndarray:
        return rating_codes(self.prep.data).users

    def user_train_counts(self) -> np.ndarray:
        """Training ratings of every user code (the activity of "who it fails")."""
        codes = rating_codes(self.prep.data)
        return np.bincount(codes.user_of[self.prep.split.train], minlength=len(codes.users))

    def item_train_counts(self) -> np.ndarray:
        """Training ratings of every catalogue column (the ranking kernel's popularity)."""
        return training_popularity(self.prep).numpy()

    def judged_codes(self) -> np.ndarray:
        """The judged users as user codes."""
        return np.searchsorted(self.users, self.judged.user_ids)


def as_run(run: str | Path | Run) -> Run:
    """A ``Run`` of a path (or the run itself); a missing folder is a RunError."""
    r = run if isinstance(run, Run) else Run(run)
    if not r.path.is_dir():
        raise RunError(f"{r.path}: no such run folder")
    return r


def check_part(part: str) -> str:
    """``part`` when it is one the diagnostics read, else a RunError naming the choices."""
    if part not in PARTS:
        raise RunError(f"part {part!r}: diagnose the test or the val(idation) split")
    return part


def require_test_metrics(run: Run) -> dict[str, Any]:
    """The run's test metrics; a run that never finished its evaluation is a RunError."""
    metrics = run.read_test_metrics()
    if not metrics:
        raise RunError(
            f"{run.path}: the run has no test metrics (it did not finish its end-of-run "
            "evaluation); diagnostics look at a finished run"
        )
    return metrics


def open_subject(
    run: str | Path | Run,
    data: Any = None,
    *,
    part: str = "test",
    device: str | torch.device = "cpu",
    trained: Trained | None = None,
) -> Subject:
    """Load ``run`` (on ``data``, default its own folder) and score ``part`` once."""
    from widedeep_core.evaluation.evaluate import _model_lists

    check_part(part)
    r = as_run(run)
    require_test_metrics(r)
    if trained is None:
        trained = load_trained(r, data, device=device)
    prep = trained.prepared()
    cfg = trained.config
    x, y = prep.encoded(part)
    if len(y) == 0:
        raise RunError(f"{r.path}: the {part} split of this run is empty; nothing to diagnose")
    wide, deep = predict_parts(trained.model, x, cfg.eval_batch_size)
    codes = rating_codes(prep.data)
    rows = getattr(prep.split, part)
    k = min(DIAGNOSTIC_K, len(catalogue(prep.data)))
    judged, top = _model_lists(trained.model, prep, part, k, None)
    return Subject(
        trained=trained,
        prep=prep,
        part=part,
        k=k,
        x=x,
        y=y.numpy().astype(np.float64),
        wide=wide.numpy().astype(np.float64),
        deep=deep.numpy().astype(np.float64),
        user_of=np.asarray(codes.user_of[rows]),
        item_of=np.asarray(codes.item_of[rows]),
        judged=judged,
        top=np.asarray(top, dtype=np.int64),
    )


__all__ = [
    "DIAGNOSTIC_K",
    "PARTS",
    "DiagnosisCancelled",
    "Progress",
    "StopCheck",
    "Subject",
    "as_run",
    "check_part",
    "checkpoint",
    "open_subject",
    "require_test_metrics",
]
