"""The composition root: the core's jobs wired from its stations, as a caller wants them.

The trainer writes no file and the evaluation knows nothing of run folders; here a
trainer gets its recorder (``runs.recorder.RunRecorder`` over a ``runs.RunStore``), a
stored run is evaluated through ``serving.load_trained``, and a recommender is opened
from a run. The CLI, the sweeps and the app call these, so each is wired once. The trainer and the
recorder are imported by the jobs that train, so that serving never loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from widedeep_core.config import Config
from widedeep_core.data.types import MovieLensData
from widedeep_core.devices import resolve_device
from widedeep_core.errors import RunError
from widedeep_core.evaluation import evaluate_split
from widedeep_core.fileio import display_path
from widedeep_core.runs import Run, RunStore
from widedeep_core.serving import Recommender, load_trained
from widedeep_core.threads import CoreShare

if TYPE_CHECKING:
    from widedeep_core.training import Trainer, TrainResult

Callback = Callable[[object], None]


def make_trainer(
    config: Config,
    data: MovieLensData,
    *,
    runs_dir: str | Path | None = None,
    save_run: bool = True,
    callback: Callback | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Trainer:
    """A ``Trainer`` whose run is stored under ``runs_dir`` (the default runs folder when
    None; nothing when ``save_run`` is False); ``tags`` (e.g. a sweep's study and trial)
    are kept in run.json."""
    # imported here: serving a stored run (``open_recommender``) never loads the trainer
    from widedeep_core.runs.recorder import RunRecorder
    from widedeep_core.training import Trainer

    recorder = RunRecorder(RunStore(runs_dir), tags=tags) if save_run else None
    return Trainer(config, data, recorder=recorder, callback=callback)


def resume_trainer(
    run_dir: str | Path | Run,
    data: MovieLensData | None = None,
    *,
    callback: Callback | None = None,
) -> Trainer:
    """A ``Trainer`` that continues the stored run ``run_dir`` after its last finished
    epoch, in the same folder, on ``data`` (the data it was trained on; None: the folder
    the run recorded, reopened and checked).

    Refused with one line each: a finished run (nothing left), a run without a resume
    point, a resume point of another version, other data, a run still training.
    """
    from widedeep_core.runs.recorder import RunRecorder
    from widedeep_core.serving.loading import check_same_data, load_data_for_run
    from widedeep_core.training import Trainer
    from widedeep_core.training.resume import check_point

    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    where = display_path(run.path)
    status = run.status  # as recorded, or interrupted when its process is gone
    if status == "finished":
        raise RunError(f"{where}: the run finished; there is nothing to resume")
    if status in ("created", "running"):
        raise RunError(f"{where}: the run is still {status} in another process")
    if data is None:
        data = load_data_for_run(run)
    check_same_data(run, data)
    cfg = run.read_config()
    point = check_point(run.load_resume(), where)
    if int(point["epoch"]) >= cfg.epochs:
        raise RunError(f"{where}: all {cfg.epochs} epochs ran; there is nothing to resume")
    point["best_weights"] = run.load_weights("best") if run.has_weights("best") else None
    recorder = RunRecorder(RunStore(run.path.parent), resume=run)
    return Trainer(cfg, data, recorder=recorder, callback=callback, resume=point)


def train(
    config: Config,
    data: MovieLensData,
    *,
    runs_dir: str | Path | None = None,
    save_run: bool = True,
    callback: Callback | None = None,
    tags: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train one configuration and store its run (see ``make_trainer``)."""
    trainer = make_trainer(
        config, data, runs_dir=runs_dir, save_run=save_run, callback=callback, tags=tags
    )
    return trainer.fit()


def evaluate_run(
    run_dir: str | Path | Run,
    data: MovieLensData | None = None,
    *,
    part: str = "test",
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Every metric of a stored run's serving weights on its own test (or validation) split."""
    trained = load_trained(run_dir, data, device=device)
    # ranking every user is a training's worth of work: it takes a share of the cores
    with CoreShare():
        return evaluate_split(trained.model, trained.prepared(), part, resolve_device(device))


def open_recommender(
    run_dir: str | Path | Run,
    data: MovieLensData | None = None,
    *,
    device: str = "cpu",
    two_stage: bool | None = None,
) -> Recommender:
    """The ``Recommender`` of a stored run (``data`` None reopens the run's folder)."""
    return Recommender.from_run(run_dir, data, device, two_stage=two_stage)


__all__ = ["evaluate_run", "make_trainer", "open_recommender", "train"]
