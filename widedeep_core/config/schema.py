"""The configuration: the ``Config`` dataclass and its ``FieldInfo`` records.

``Config`` is a frozen dataclass whose flat field names are also the CLI
``--set KEY=VALUE`` keys and the keys of ``config.json``. Each field carries
metadata (help, group, range, choices) so the GUI form and the CLI are generated
from the same source; ``config_fields()`` exposes it as ``FieldInfo`` records.
A ``Config`` can never be invalid: ``__post_init__`` coerces and validates through the
rule book (``validation``), and every failure is a ``ConfigError`` naming the field and
the allowed values.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from widedeep_core.config.fields import FieldInfo, field_infos, split_cross
from widedeep_core.config.fields import declare as _f
from widedeep_core.config.validation import coerce, errors_of
from widedeep_core.constants import (
    ACTIVATIONS,
    FIELDS,
    LR_SCHEDULES,
    MONITORS,
    NEGATIVE_SAMPLINGS,
    OPTIMIZERS,
    POSITIVE_RULES,
    RETRIEVAL_FEATURES,
    RETRIEVALS,
    SPLIT_KINDS,
    TEST_HISTORIES,
)
from widedeep_core.errors import ConfigError


@dataclass(frozen=True)
class Config:
    """Everything that decides a training run: data protocol, features, model, optimiser, device.

    The defaults are exactly the ``reference`` preset (the PyTorch reference
    implementation's protocol), so ``Config()`` reproduces it.
    """

    # --- data protocol
    threshold: float = _f(
        3.0,
        "A rating above this (or at least this, see positive_rule) counts as a positive (label 1).",
        group="data",
        min=0.0,
        max=10.0,
    )
    positive_rule: str = _f(
        ">",
        "Whether a positive is a rating above the threshold (>) or at least the threshold (>=).",
        group="data",
        label="positive rule",
        choices=POSITIVE_RULES,
    )
    drop_neutral: bool = _f(
        False,
        "Leave out ratings equal to the threshold instead of labelling them.",
        group="data",
        label="drop ratings equal to the threshold",
    )
    min_rating: float = _f(
        0.0,
        "Ratings below this are dropped before anything else (0 keeps every rating).",
        group="data",
        label="drop ratings below",
        min=0.0,
        max=10.0,
    )
    min_user_ratings: int = _f(
        0,
        "k-core on users: keep only users with at least this many ratings, applied with "
        "min_item_ratings until both hold (0: no filter).",
        group="data",
        label="k-core: ratings per user",
        min=0,
        max=100_000,
    )
    min_item_ratings: int = _f(
        0,
        "k-core on movies: keep only movies with at least this many ratings, applied with "
        "min_user_ratings until both hold (0: no filter).",
        group="data",
        label="k-core: ratings per movie",
        min=0,
        max=100_000,
    )
    split: str = _f(
        "random",
        "How ratings are split into train/validation/test: random rows, per-user by time, "
        "each user's last rating for test and the one before for validation, each "
        "user's ratings at random (per-user fractions), or random rows sized as "
        "RecBole's ratio split (random-rs: validation and test get floor(f * n)).",
        group="data",
        choices=SPLIT_KINDS,
    )
    split_fractions: tuple[float, float, float] = _f(
        (0.8, 0.1, 0.1),
        "Train, validation and test fractions (each > 0, summing to 1); "
        "leave-last-out ignores them.",
        group="data",
        min=0.0,
        max=1.0,
        min_exclusive=True,
    )
    test_history: str = _f(
        "train",
        "What the test lists treat as the user's history (masked, never listed): the "
        "training split, or training and validation (RecBole's general protocol).",
        group="data",
        label="test history",
        choices=TEST_HISTORIES,
    )
    seed: int = _f(
        0,
        "Seed for the split, the weight initialisation and the batch order.",
        group="data",
        min=0,
        max=2**32 - 1,
    )
    # --- features
    wide_fields: tuple[str, ...] = _f(
        ("user", "item"),
        "Fields fed to the wide (linear) part.",
        group="features",
        choices=FIELDS,
    )
    deep_fields: tuple[str, ...] = _f(
        ("user", "item"),
        "Fields embedded and fed to the deep (MLP) part.",
        group="features",
        choices=FIELDS,
    )
    crosses: tuple[str, ...] = _f(
        (),
        "Cross-product features for the wide part, written 'a x b' (e.g. 'gender x genres').",
        group="features",
    )
    # --- model
    embed_dim: int = _f(
        16,
        "Embedding size of each deep field.",
        group="model",
        label="embedding size",
        min=1,
        max=1024,
    )
    hidden: tuple[int, ...] = _f(
        (16, 16),
        "Sizes of the MLP's hidden layers, first to last (e.g. 64,32).",
        group="model",
        label="hidden layers",
        min=1,
        max=65536,
    )
    activation: str = _f(
        "relu", "Activation after each hidden layer.", group="model", choices=ACTIVATIONS
    )
    dropout: float = _f(
        0.5,
        "Dropout probability after each hidden layer.",
        group="model",
        min=0.0,
        max=1.0,
        max_exclusive=True,
    )
    batch_norm: bool = _f(
        True, "Batch normalisation after each hidden layer.", group="model", label="batch norm"
    )
    # --- optimisation
    optimizer: str = _f(
        "adam",
        "Optimiser of the deep part (and of the wide part unless wide_optimizer is set).",
        group="optimisation",
        choices=OPTIMIZERS,
    )
    lr: float = _f(
        1e-3,
        "Learning rate of the deep part (and of the wide part unless wide_lr is set).",
        group="optimisation",
        label="learning rate",
        min=0.0,
        max=10.0,
        min_exclusive=True,
    )
    weight_decay: float = _f(
        1e-6,
        "L2 weight decay (ignored by ftrl, which uses ftrl_l2).",
        group="optimisation",
        label="weight decay",
        min=0.0,
        max=1.0,
    )
    wide_optimizer: str | None = _f(
        None,
        "Optimiser of the wide part; empty means the same as optimizer.",
        group="optimisation",
        label="wide optimiser",
        choices=OPTIMIZERS,
    )
    wide_lr: float | None = _f(
        None,
        "Learning rate of the wide part (the alpha of FTRL); empty means the same as lr.",
        group="optimisation",
        label="wide learning rate",
        min=0.0,
        max=10.0,
        min_exclusive=True,
    )
    ftrl_l1: float = _f(
        0.0,
        "L1 strength of FTRL-Proximal (drives unused wide weights to exactly 0).",
        group="optimisation",
        label="FTRL L1",
        min=0.0,
        max=100.0,
    )
    ftrl_l2: float = _f(
        0.0,
        "L2 strength of FTRL-Proximal.",
        group="optimisation",
        label="FTRL L2",
        min=0.0,
        max=100.0,
    )
    # --- training loop
    batch_size: int = _f(
        512, "Training examples per step.", group="training", label="batch size", min=1, max=2**22
    )
    epochs: int = _f(
        100, "Maximum passes over the training set.", group="training", min=1, max=100_000
    )
    shuffle: bool = _f(
        False,
        "Draw a new seeded order of the training rows every epoch. Off, one seeded order "
        "is kept for all epochs, as the reference implementation's DataLoader did.",
        group="training",
        label="reshuffle every epoch",
    )
    restore_best: bool = _f(
        False,
        "Report test metrics (and serve recommendations) with the weights of the best "
        "validation epoch. Off, the last epoch's weights are used, as the reference did.",
        group="training",
        label="restore best weights",
    )
    patience: int | None = _f(
        None,
        "Stop after this many epochs without improvement of monitor; empty or 0 disables "
        "early stopping.",
        group="training",
        min=0,
        max=100_000,
    )
    monitor: str = _f(
        "val_auc",
        "Validation metric that picks the best epoch and drives early stopping.",
        group="training",
        choices=MONITORS,
    )
    lr_schedule: str = _f(
        "none",
        "Learning-rate schedule over the epochs.",
        group="training",
        label="LR schedule",
        choices=LR_SCHEDULES,
    )
    # --- device
    device: str = _f(
        "auto",
        "Compute device: cpu, cuda, cuda:N, mps, or auto (cuda, then mps, then cpu).",
        group="device",
    )
    amp: bool = _f(
        False, "Mixed precision on GPUs (ignored on CPU).", group="device", label="mixed precision"
    )
    eval_batch_size: int = _f(
        8192,
        "Examples per step when scoring validation and test sets.",
        group="device",
        label="evaluation batch size",
        min=1,
        max=2**24,
    )
    # --- run bookkeeping
    log_every: int = _f(
        20,
        "Batches between two batch events (loss points on the live curve).",
        group="run",
        label="log every (batches)",
        min=1,
        max=1_000_000,
    )
    ranking_k: int = _f(
        10,
        "K of HR@K, NDCG@K, precision@K and recall@K.",
        group="run",
        label="ranking K",
        min=1,
        max=1000,
    )
    # --- top-N: sampled negatives and the retrieval stage
    negatives: int = _f(
        0,
        "Sampled unrated movies per positive, labelled 0 and drawn anew every epoch; "
        "0 trains on the rated movies only (pointwise, as the reference).",
        group="training",
        label="negatives per positive",
        min=0,
        max=50,
    )
    negative_sampling: str = _f(
        "uniform",
        "How negatives are drawn: every unrated movie equally likely, or in proportion "
        "to (training count + 1) ** negative_power.",
        group="training",
        label="negative sampling",
        choices=NEGATIVE_SAMPLINGS,
    )
    negative_power: float = _f(
        0.75,
        "Exponent of the popularity weighting of negatives (0: uniform).",
        group="training",
        label="negative power",
        min=0.0,
        max=1.5,
    )
    hard_negatives: int = _f(
        0,
        "Extra negatives per positive drawn from the user's retrieval candidates.",
        group="training",
        label="hard negatives",
        min=0,
        max=20,
    )
    retrieval: str = _f(
        "none",
        "Retrieval stage proposing the candidates the model ranks: none (the model ranks "
        "every unrated movie), EASE^R, item-kNN, or auto (EASE^R, on the most-rated "
        "movies when the catalogue is too large to invert).",
        group="features",
        choices=RETRIEVALS,
    )
    ease_lambda: float = _f(
        500.0,
        "L2 weight (lambda) of EASE^R; larger values smooth the item-item weights.",
        group="features",
        label="EASE lambda",
        min=0.0,
        max=1e7,
        min_exclusive=True,
    )
    candidates: int = _f(
        200,
        "Candidates per user the retrieval stage proposes (M); at least ranking K.",
        group="features",
        label="candidates (M)",
        min=1,
        max=100_000,
    )
    retrieval_folds: int = _f(
        5,
        "Folds for out-of-fold retrieval features of training rows: each row is scored by "
        "a retrieval model fitted without it, as a served candidate is (0: in-sample).",
        group="features",
        label="retrieval folds",
        min=0,
        max=10,
    )
    retrieval_features: tuple[str, ...] = _f(
        RETRIEVAL_FEATURES,
        "Retrieval features the ranker reads: the score (scaled by the user's best), the "
        "score of a retrieval fitted on liked movies only, and the retrieval rank.",
        group="features",
        label="retrieval features",
        choices=RETRIEVAL_FEATURES,
    )
    rate_features: bool = _f(
        True,
        "Smoothed like-rate and log rating count of the user and of the movie as features.",
        group="features",
        label="rate features",
    )
    ranking_users: int | None = _f(
        None,
        "Rank for at most this many (seeded) users with a held-out positive; empty ranks "
        "every such user (a cap for very large data).",
        group="run",
        label="ranking users cap",
        min=1,
        max=10_000_000,
    )
    preset: str = _f(
        "reference", "Name of the preset this configuration started from.", group="run"
    )
    name: str | None = _f(None, "Optional display name of the run.", group="run", label="run name")

    def __post_init__(self) -> None:
        for info in config_fields():
            object.__setattr__(self, info.name, coerce(info, getattr(self, info.name)))
        self.validate()

    @property
    def protocol(self) -> str:
        """The evaluation protocol's name (``config.protocols``): "seed",
        "recbole-context", "recbole-general" or "custom"."""
        from widedeep_core.config.protocols import protocol_name

        return protocol_name(self)

    @property
    def serving_weights(self) -> str:
        """Which weights a run reports its test metrics with and serves: "best" (the best
        validation epoch's) when the config restores them, else "last" (as the
        reference implementation did)."""
        return "best" if self.restore_best else "last"

    def validate(self) -> None:
        """Raise ``ConfigError(field, message)`` for the first impossible value."""
        values = {info.name: getattr(self, info.name) for info in config_fields()}
        errors = errors_of(values, config_fields())
        if errors:
            field_name, message = next(iter(errors.items()))
            raise ConfigError(field_name, message)

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with ``changes`` applied; unknown keys raise ``ConfigError``."""
        for key in changes:
            if key not in _field_map():
                raise _unknown_key(key)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for info in config_fields():
            value = getattr(self, info.name)
            out[info.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build from a JSON dict; missing keys take defaults, unknown keys raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError("config", f"expected a JSON object, got {type(data).__name__}")
        for key in data:
            if key not in _field_map():
                raise _unknown_key(str(key))
        return cls(**dict(data))

    # --- derived views other modules rely on
    @property
    def wide_optimizer_name(self) -> str:
        """The optimiser the wide part actually uses."""
        return self.wide_optimizer or self.optimizer

    @property
    def wide_learning_rate(self) -> float:
        """The learning rate the wide part actually uses."""
        return self.wide_lr if self.wide_lr is not None else self.lr

    @property
    def early_stopping(self) -> bool:
        """True when ``patience`` asks for early stopping."""
        return bool(self.patience)

    @property
    def two_stage(self) -> bool:
        """True when a retrieval stage proposes candidates that the model re-ranks."""
        return self.retrieval != "none"

    @property
    def cross_pairs(self) -> tuple[tuple[str, str], ...]:
        """Crosses as (a, b) field pairs, in the configured order."""
        return tuple(split_cross(c) for c in self.crosses)

    @property
    def all_fields(self) -> tuple[str, ...]:
        """Every field the model reads (wide, deep and cross components), in ``FIELDS`` order."""
        used = set(self.wide_fields) | set(self.deep_fields)
        for a, b in self.cross_pairs:
            used.update((a, b))
        return tuple(f for f in FIELDS if f in used)


@functools.cache
def config_fields() -> tuple[FieldInfo, ...]:
    """Describe every ``Config`` field in declaration order (for forms, the CLI and docs)."""
    return field_infos(Config)


@functools.cache
def _field_map() -> dict[str, FieldInfo]:
    return {info.name: info for info in config_fields()}


def field_info(name: str) -> FieldInfo:
    """The ``FieldInfo`` of one field; an unknown name raises ``ConfigError``."""
    try:
        return _field_map()[name]
    except KeyError:
        raise _unknown_key(name) from None


def unknown_key_message(key: str) -> str:
    """The error text of a setting that does not exist: the nearest names, else all."""
    import difflib

    names = [info.name for info in config_fields()]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    if close:
        return f"unknown setting; did you mean {' or '.join(close)}?"
    return f"unknown setting; known settings: {', '.join(names)}"


def _unknown_key(key: str) -> ConfigError:
    return ConfigError(key, unknown_key_message(key))


__all__ = [
    "Config",
    "FieldInfo",
    "config_fields",
    "field_info",
    "split_cross",
    "unknown_key_message",
]
