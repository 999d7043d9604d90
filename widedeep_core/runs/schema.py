"""The run folder's schema: file names, statuses, and which weights serve a run.

Layout of one run folder (every JSON file written atomically, metrics appended
line by line and flushed as training goes, so a crash keeps what was done)::

    run.json           format, name, created, status, owner (pid, its start time, host,
                       boot id), timings, tags
    config.json        Config.to_dict()
    data.json          data identity: name, layout, path (+ path_bytes, base64 of the
                       exact bytes when the path is not UTF-8), fingerprint, counts
    split.json         SplitRecord.to_dict() (kind, fractions, seed, hash)
    encoder.json       FeatureEncoder.to_json()
    epochs.jsonl       one row per epoch (epoch, train_loss, val_auc, val_logloss, ...)
    batches.jsonl      one row every ``log_every`` batches (epoch, batch, step, loss)
    test_metrics.json  test-set metrics (auc, logloss, ...) and the run's totals
    environment.json   versions, platform and device
    weights_best.pt    state_dict of the best epoch (torch.load(weights_only=True))
    weights_last.pt    state_dict after the last epoch
    annotations.json   the user's tags and note (``runs.tags``), written only by the user,
                       never by the trainer, so a tag added while a run trains is kept
    retrieval.npz      two-stage runs only: the retrieval models fitted on the training
                       split (serving.twostage.retrieval_arrays), np.load(allow_pickle=False)

This module imports nothing heavy: serving, the store and the GUI all read it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

# The run.json "format" this version writes and reads. Runs without the key were
# written by the first releases, which used the same layout.
FORMAT_VERSION = 1

RUN_JSON = "run.json"
CONFIG_JSON = "config.json"
DATA_JSON = "data.json"
SPLIT_JSON = "split.json"
ENCODER_JSON = "encoder.json"
EPOCHS_JSONL = "epochs.jsonl"
BATCHES_JSONL = "batches.jsonl"
TEST_METRICS_JSON = "test_metrics.json"
ENVIRONMENT_JSON = "environment.json"
WEIGHTS = {"best": "weights_best.pt", "last": "weights_last.pt"}
RESUME_PT = "resume.pt"  # the last finished epoch's resume point (training.resume)
RETRIEVAL_NPZ = "retrieval.npz"
ANNOTATIONS_JSON = "annotations.json"

# Status written to run.json; "created" until the trainer starts. "interrupted" is
# written when the user stops the process (Ctrl-C), and derived on reading for a live
# run whose owner process is gone (killed, crashed, machine restarted).
STATUSES = ("created", "running", "finished", "cancelled", "interrupted", "failed")
SETTABLE_STATUSES = ("running", "finished", "cancelled", "interrupted", "failed")
TERMINAL_STATUSES = ("finished", "cancelled", "interrupted", "failed")
LIVE_STATUSES = ("created", "running")
INTERRUPTED = "interrupted"
# Only ever derived on reading, never written: run.json unreadable, or missing from a
# folder named like a run (cut short while it was being created).
DAMAGED = "damaged"
INCOMPLETE = "incomplete"
# A run can serve recommendations once it ended normally or by a cancel after at
# least one whole epoch (a cancel keeps the weights of finished epochs).
SERVABLE_STATUSES = ("finished", "cancelled")

# The hyper-parameters the run list shows.
KEY_HYPERPARAMETERS = (
    "embed_dim",
    "hidden",
    "dropout",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "wide_fields",
    "deep_fields",
    "crosses",
    "split",
    "seed",
)


def can_serve(status: str, epochs_run: int) -> bool:
    """True when a run with this status and epoch count has weights worth serving."""
    return status in SERVABLE_STATUSES and epochs_run > 0


# How a run folder records times and numbers (run.json, the summaries).
def now() -> datetime:
    """This moment, with the local time zone."""
    return datetime.now().astimezone()


def iso(moment: datetime) -> str:
    """A timestamp as run.json writes it (ISO 8601, milliseconds)."""
    return moment.isoformat(timespec="milliseconds")


def parse_time(text: Any) -> datetime | None:
    """A timestamp run.json holds, or None when there is none or it is unreadable."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.astimezone()


def finite(value: Any) -> float | None:
    """A stored number as a float when it is a finite number, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
