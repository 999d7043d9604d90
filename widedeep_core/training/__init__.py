"""The trainer (events, epoch loop, early stopping) and the optimisers (FTRL)."""

from widedeep_core.training.trainer import (
    BatchEvent,
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    Trainer,
    TrainResult,
    build_model,
    seed_everything,
    train,
)

__all__ = [
    "BatchEvent",
    "EpochEvent",
    "FailedEvent",
    "FinishedEvent",
    "TrainResult",
    "Trainer",
    "build_model",
    "seed_everything",
    "train",
]
