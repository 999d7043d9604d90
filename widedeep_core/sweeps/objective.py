"""One trial = one normal training run, tagged with its study and trial number.

The trainer's epoch events carry the validation metrics; each one is reported to the
trial, and when the pruner says so the trainer is cancelled between batches and the
trial ends as pruned. The run folder stays a normal (cancelled) run whose message and
tags say it was pruned, so the Runs page, Recommend and the CLI all work on trials.

When the study storage fails during training (a report, a prune question), the
training is cancelled the same way, its run says why, and the storage failure (one
line naming the storage) ends the sweep: every other trial would fail alike.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

from widedeep_core.config import Config
from widedeep_core.errors import ConfigError, TrainingError, WideDeepError
from widedeep_core.owners import owner_fields

from .storage import is_storage_error, storage_failure
from .study import SweepSpec


class SweepStopped(Exception):
    """The user stopped the sweep; the trial in progress ends as failed ("stopped")."""


def metric_key(metric: str) -> str:
    """The key of ``EpochEvent.val`` for an objective name (``val_auc`` -> ``auc``)."""
    return metric[len("val_") :] if metric.startswith("val_") else metric


class Objective:
    """Callable for ``study.optimize``: trains the trial's configuration and returns its score.

    ``stop`` is anything with ``is_set()`` (a threading or multiprocessing Event); it is
    polled at every batch event.
    """

    def __init__(self, spec: SweepSpec, data: Any, stop: Any = None):
        self.spec = spec
        self.data = data
        self.stop = stop
        self.maximize = spec.direction == "maximize"
        self.key = metric_key(spec.metric)
        self.last_number: int | None = None

    def config_for(self, params: dict[str, Any], number: int) -> Config:
        """The trial's configuration: the fixed one with the suggested values."""
        return self.spec.space.apply(self.spec.base, params).replace(
            name=f"{self.spec.study} #{number}"
        )

    def __call__(self, trial: Any) -> float:
        import optuna

        from widedeep_core.api import make_trainer
        from widedeep_core.runs import Run
        from widedeep_core.training import BatchEvent, EpochEvent, Trainer

        self.last_number = trial.number
        trial.set_user_attr("worker", owner_fields())
        try:
            cfg = self.config_for(self.spec.space.suggest(trial), trial.number)
        except ConfigError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        state: dict[str, Any] = {
            "best": None, "pruned_at": None, "stopped": False, "storage_error": None,
        }  # fmt: skip
        trainer: Trainer | None = None

        def on_event(event: object) -> None:
            assert trainer is not None  # events come from trainer.fit()
            if state["storage_error"] is not None:
                return  # cancelled: the batches until the next check need no storage
            if self.stop is not None and not state["stopped"] and self.stop.is_set():
                state["stopped"] = True
                trainer.request_cancel()
            try:
                if isinstance(event, BatchEvent):
                    if "run_dir" not in trial.user_attrs and trainer.run is not None:
                        # early, so the app can open a trial's run while it trains
                        trial.set_user_attr("run_dir", str(trainer.run.path))
                elif isinstance(event, EpochEvent):
                    self._on_epoch(trial, trainer, event, state)
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                # not raised through the trainer (its run would end "failed" with the
                # driver's words): the run is cancelled and says why below
                state["storage_error"] = exc
                trainer.request_cancel()

        tags = {"study": self.spec.study, "trial": trial.number}
        trainer = make_trainer(
            cfg, self.data, runs_dir=self.spec.runs_dir, callback=on_event, tags=tags
        )
        started = time.monotonic()
        try:
            result = trainer.fit()
        except WideDeepError as exc:
            trial.set_user_attr("error", str(exc))
            self._record_run(trial, trainer)
            raise
        if state["storage_error"] is not None:
            failure = storage_failure(state["storage_error"], self.spec.storage)
            if trainer.run is not None:
                with contextlib.suppress(WideDeepError, OSError):  # the failure says more
                    Run(trainer.run.path).set_status("cancelled", f"sweep stopped: {failure}")
            raise failure
        self._record_run(trial, trainer)
        trial.set_user_attr("epochs_run", result.epochs_run)
        trial.set_user_attr("train_seconds", round(time.monotonic() - started, 3))
        if state["pruned_at"] is not None:
            epoch = state["pruned_at"]
            trial.set_user_attr("pruned_at", epoch)
            if trainer.run is not None:
                run = Run(trainer.run.path)
                run.update_meta(tags={**tags, "pruned_at_epoch": epoch})
                run.set_status("cancelled", f"pruned by sweep {self.spec.study} at epoch {epoch}")
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
        if state["stopped"] or result.status != "finished":
            trial.set_user_attr("error", "stopped by the user")
            raise SweepStopped("stopped by the user")
        if state["best"] is None:
            raise TrainingError(f"no epoch reported {self.spec.metric}")
        return float(state["best"])

    def _record_run(self, trial: Any, trainer: Any) -> None:
        if trainer.run is not None and "run_dir" not in trial.user_attrs:
            trial.set_user_attr("run_dir", str(trainer.run.path))

    def _on_epoch(self, trial: Any, trainer: Any, event: Any, state: dict[str, Any]) -> None:
        if self.key not in event.val:
            raise TrainingError(
                f"the objective {self.spec.metric} is not among the validation metrics "
                f"({', '.join('val_' + k for k in event.val)})"
            )
        value = float(event.val[self.key])
        if not math.isfinite(value):
            return  # a NaN AUC (one class only) is no evidence either way
        best = state["best"]
        if best is None or (value > best if self.maximize else value < best):
            state["best"] = value
        trial.report(value, event.epoch)
        if event.epoch < event.epochs and state["pruned_at"] is None and trial.should_prune():
            state["pruned_at"] = event.epoch
            trainer.request_cancel()
