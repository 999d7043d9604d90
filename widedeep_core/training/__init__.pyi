# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .events import (
    BatchEvent,
    EpochEvent,
    EvaluatingEvent,
    FailedEvent,
    FinishedEvent,
    StartedEvent,
)
from .trainer import EarlyStopping, Trainer, TrainResult, seed_everything, train

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
