"""The trainer (events, epoch loop, early stopping) and the optimisers (FTRL)."""

from widedeep_core.training.events import (
    BatchEvent,
    EpochEvent,
    EvaluatingEvent,
    FailedEvent,
    FinishedEvent,
    StartedEvent,
)
from widedeep_core.training.trainer import (
    EarlyStopping,
    Trainer,
    TrainResult,
    seed_everything,
    train,
)

__all__ = [
    "BatchEvent",
    "EarlyStopping",
    "EpochEvent",
    "EvaluatingEvent",
    "FailedEvent",
    "FinishedEvent",
    "StartedEvent",
    "TrainResult",
    "Trainer",
    "seed_everything",
    "train",
]
