"""How much memory a configuration's model needs, estimated before anything is built.

A model too big for the machine would otherwise be found out by the OOM killer, minutes
into a run (a hidden layer of 65,536 units is 16 GiB of float32 weights). Two checks:
the MLP from the config alone (a validation rule on ``hidden``, ``config.validation``)
and, once the data's vocabulary sizes are known, the embedding tables too
(``check_model_memory``, called by ``features.prepare``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from widedeep_core.errors import ConfigError

BYTES_PER_VALUE = 4  # float32
# Training keeps the weights, their gradients and two optimiser moments (Adam), CPU copies
# of the best and last epoch's weights, and one transient copy while a state is saved or
# restored: 7 values per parameter.
TRAINING_COPIES = 7
# The MLP's activations of one batch: each layer's output, its activation and its
# gradient (batch-norm and dropout add about as much again): values per unit and row.
ACTIVATION_COPIES = 4
# The share of the machine's memory a training may plan to use: the rest is for the
# system, the data, the encoded splits and the evaluation.
RAM_SHARE = 0.75


def total_ram() -> int | None:
    """This machine's physical memory in bytes, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def gib(n_bytes: float) -> str:
    """``n_bytes`` as GiB with one decimal (MiB below 1 GiB)."""
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:.1f} MiB"
    return f"{n_bytes / 2**30:.1f} GiB"


def mlp_parameters(n_fields: int, embed_dim: int, hidden: Sequence[int], batch_norm: bool) -> int:
    """Parameters of the deep part's MLP: Linear (+ BatchNorm) per layer, then Linear(., 1)."""
    total, width = 0, n_fields * embed_dim
    for h in hidden:
        total += width * h + h + (2 * h if batch_norm else 0)
        width = h
    return total + width + 1


def activation_values(n_fields: int, embed_dim: int, hidden: Sequence[int], batch: int) -> int:
    """Values the MLP's activations of one training batch hold (``ACTIVATION_COPIES``)."""
    return int(batch) * (n_fields * embed_dim + sum(hidden)) * ACTIVATION_COPIES


def training_bytes(parameters: int, activations: int = 0) -> float:
    """Bytes a training holds for ``parameters`` weights and one batch's activations."""
    return (parameters * TRAINING_COPIES + activations) * BYTES_PER_VALUE


def _too_big(parameters: int, activations: int = 0) -> tuple[float, float, int] | None:
    """(weights bytes, training bytes, RAM) when a training would not fit in its share of
    RAM, else None."""
    ram = total_ram()
    need = training_bytes(parameters, activations)
    if ram is None or need <= ram * RAM_SHARE:
        return None
    return parameters * BYTES_PER_VALUE, need, ram


def _advice(need: float, ram: int) -> str:
    return (
        f"training holds about {gib(need)} (weights {TRAINING_COPIES}x: gradients, "
        f"optimiser state, saved epochs; and a batch's activations), more than "
        f"{RAM_SHARE:.0%} of this machine's {gib(ram)} RAM"
    )


def mlp_memory_error(values: Mapping[str, Any]) -> str | None:
    """The validation rule on ``hidden``: the MLP alone must fit in memory for training."""
    if not values["deep_fields"] or not values["hidden"]:
        return None
    n_fields, dim, hidden = len(values["deep_fields"]), values["embed_dim"], values["hidden"]
    n = mlp_parameters(n_fields, dim, hidden, values["batch_norm"])
    found = _too_big(n, activation_values(n_fields, dim, hidden, values["batch_size"]))
    if found is None:
        return None
    weights, need, ram = found
    return (
        f"hidden layers of up to {max(hidden)} units need {gib(weights)} for weights; "
        f"{_advice(need, ram)}; use smaller layers or a smaller batch"
    )


def check_model_memory(config: Any, specs: Iterable[Any]) -> None:
    """Refuse (``ConfigError``) a model whose embedding tables and MLP will not fit in RAM.

    ``specs`` are the encoder's field specs (vocabulary sizes from the data). The wide
    table is counted over every field, an upper bound: crosses and wide fields vary.
    """
    specs = list(specs)
    deep = set(config.deep_fields)
    wide_rows = sum(s.size for s in specs) + 1
    deep_rows = sum(s.size for s in specs if s.name in deep) + 1 if deep else 0
    embeddings = wide_rows + deep_rows * config.embed_dim
    mlp = (
        mlp_parameters(len(deep), config.embed_dim, config.hidden, config.batch_norm) if deep else 0
    )
    acts = (
        activation_values(len(deep), config.embed_dim, config.hidden, config.batch_size)
        if deep
        else 0
    )
    found = _too_big(embeddings + mlp, acts)
    if found is None:
        return
    weights, need, ram = found
    field = "embed_dim" if embeddings >= mlp else "hidden"
    raise ConfigError(
        field,
        f"on this data the embedding tables ({deep_rows:,} rows of {config.embed_dim} "
        f"values, {wide_rows:,} wide weights) and the MLP need {gib(weights)} for weights; "
        f"{_advice(need, ram)}",
    )


# Per sampled negative kept for every epoch up front: its user and movie (two int32), its
# retrieval features (float16 each) and, in a two-stage run, its fold (int8). Past
# SPILL_BYTES the pairs and features are kept on disk (``training.epoch_store``) and
# memory holds one epoch's. Per row of one epoch: the rated rows' encoded input (an int64
# id per field, a float32 per retrieval feature), and a label (float32) and a place in
# the shuffle (int64) for every row; batches are encoded a chunk at a time.
PAIR_BYTES = 8
DENSE_STORED_BYTES = 2
FOLD_BYTES = 1
ID_BYTES = 8
DENSE_BYTES = 4
ROW_BYTES = 12
SPILL_BYTES = 1 << 30


def negatives_bytes(
    config: Any, n_positives: int, n_rows: int, n_fields: int, n_dense: int
) -> float:
    """Bytes of RAM a run with sampled negatives holds for its training rows: every
    epoch's negatives (drawn up front; one epoch's when they are spilled to disk, past
    ``SPILL_BYTES``), their folds, the encoded rated rows and one epoch's labels and
    shuffle."""
    per_epoch = int(n_positives) * (int(config.negatives) + int(config.hard_negatives))
    stored = negatives_disk_bytes(config, n_positives, n_dense)
    held = stored if stored <= SPILL_BYTES else stored / max(config.epochs, 1)
    folds = config.epochs * per_epoch * FOLD_BYTES if n_dense else 0
    rated = int(n_rows) * (n_fields * ID_BYTES + n_dense * DENSE_BYTES)
    return float(held + folds + rated + (int(n_rows) + per_epoch) * ROW_BYTES)


def negatives_disk_bytes(config: Any, n_positives: int, n_dense: int) -> float:
    """Bytes every epoch's negatives and their features take (on disk past SPILL_BYTES)."""
    per_epoch = int(n_positives) * (int(config.negatives) + int(config.hard_negatives))
    return float(config.epochs * per_epoch * (PAIR_BYTES + n_dense * DENSE_STORED_BYTES))


def check_negatives_memory(
    config: Any, n_positives: int, n_rows: int, n_fields: int, n_dense: int
) -> None:
    """Refuse (``ConfigError`` on ``negatives``) a run whose sampled negatives will not fit
    in RAM, before any is drawn: the figure, and what to lower."""
    ram = total_ram()
    need = negatives_bytes(config, n_positives, n_rows, n_fields, n_dense)
    if ram is None or need <= ram * RAM_SHARE:
        return
    per_epoch = int(n_positives) * int(config.negatives)
    raise ConfigError(
        "negatives",
        f"on this data {config.negatives} negatives per positive are {per_epoch:,} rows an "
        f"epoch; for {config.epochs} epochs (drawn up front) with their features they hold "
        f"about {gib(need)}, more than {RAM_SHARE:.0%} of this machine's {gib(ram)} RAM; "
        "use fewer negatives or epochs",
    )
