"""What the trainer tells its listeners: small frozen event objects, in this order.

``StartedEvent`` once the split and the encoder exist, a ``BatchEvent`` every
``config.log_every`` batches, an ``EpochEvent`` after each epoch, ``EvaluatingEvent``
before the test split is scored (not after a run with no finished epoch), then exactly one of
``FinishedEvent`` or ``FailedEvent``. The run recorder (``runs.recorder``) writes a
run folder from them; the GUI worker and the CLI draw them. This module imports
nothing, so a listener can import it without the trainer's dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Recorder(Protocol):
    """What the trainer needs of the listener that writes its run (``runs.recorder``)."""

    run: Any  # the ``runs.Run`` being written, None before the start

    @property
    def run_dir(self) -> Path | None:
        """The run folder, None before the start (a plain attribute will do)."""

    def __call__(self, event: object) -> None:
        """Hear one event, before any other listener."""


@dataclass(frozen=True)
class StartedEvent:
    """The split and the encoder are ready; the first batch comes next."""

    config: Any  # Config
    data: Any  # MovieLensData
    split: dict[str, Any]  # SplitRecord.to_dict()
    encoder: dict[str, Any] = field(repr=False)  # FeatureEncoder.to_json()
    device: Any = None  # torch.device
    # two-stage runs: the retrieval model's arrays (serving.twostage.retrieval_arrays)
    retrieval: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BatchEvent:
    """Emitted every ``config.log_every`` batches."""

    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    n_batches: int
    step: int  # global batch count
    loss: float  # mean training loss over the batches since the last event
    samples_per_s: float


@dataclass(frozen=True)
class EpochEvent:
    """Emitted after each epoch with the validation metrics.

    ``weights`` is the model's state after this epoch (CPU tensors; listeners must not
    change them) and ``improved`` says whether this epoch became the best one.
    """

    epoch: int
    epochs: int
    train_loss: float
    val: dict[str, float]
    best_epoch: int
    best_val_auc: float
    seconds: float
    lr: float
    weights: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    improved: bool = False
    # the metric that picks the best epoch (``monitors.Monitor.name``) and its value at
    # the best epoch; ``best_val_auc`` is that epoch's AUC whatever the monitor
    monitor: str = "val_auc"
    best_value: float = float("nan")
    # everything needed to go on after this epoch (``training.resume``): the recorder
    # keeps it as the run's resume.pt
    resume: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    # training dynamics, once an epoch: the parts' logit shares on the validation rows
    # and the gradient norms of the epoch's last step (``Trainer._dynamics``)
    dynamics: Mapping[str, float] = field(default_factory=dict, compare=False)

    def row(self) -> dict[str, Any]:
        """The epoch as one flat row (the trainer's history, a run's epochs.jsonl)."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            **{f"val_{k}": v for k, v in self.val.items()},
            "lr": self.lr,
            "seconds": self.seconds,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            **{f"dyn_{k}": v for k, v in self.dynamics.items()},
        }


@dataclass(frozen=True)
class EvaluatingEvent:
    """The epochs are over; the test split is being scored (the last quiet stretch)."""

    split: str = "test"


@dataclass(frozen=True)
class FinishedEvent:
    """Training ended normally or by a cancel request; test metrics use the serving weights."""

    status: str  # "finished" | "cancelled"
    run_dir: Path | None
    epochs_run: int
    best_epoch: int
    best_val_auc: float
    test: dict[str, float]
    train_seconds: float
    monitor: str = "val_auc"
    best_value: float = float("nan")  # the monitored metric at the best epoch


@dataclass(frozen=True)
class FailedEvent:
    """Training stopped on an error or a Ctrl-C; the run keeps the weights of whole epochs."""

    message: str
    epoch: int | None
    batch: int | None
    run_dir: Path | None
    interrupted: bool = False  # stopped by the user (Ctrl-C), not by an error
