"""The run recorder: listens to the trainer's events and writes the run folder.

The trainer never writes a file; ``api.make_trainer`` gives it a ``RunRecorder`` as
its first listener, so the folder is up to date before any other listener (the GUI,
the CLI) hears of an event.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from widedeep_core.errors import WideDeepError
from widedeep_core.fileio import display_path
from widedeep_core.runs.run import Run
from widedeep_core.runs.schema import INTERRUPTED
from widedeep_core.runs.store import RunStore
from widedeep_core.training.events import (
    BatchEvent,
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    StartedEvent,
)

log = logging.getLogger(__name__)


def path_fields(path: Path) -> dict[str, str]:
    """``path`` as JSON text, plus its exact bytes (base64) when they are not UTF-8.

    A Linux path may hold any bytes; ``path`` alone is printable (``\\xff`` escapes), and
    ``path_bytes`` lets ``Run.data_path`` reopen exactly that folder.
    """
    fields = {"path": display_path(path)}
    raw = os.fsencode(path)
    if fields["path"].encode("utf-8") != raw:
        fields["path_bytes"] = base64.b64encode(raw).decode("ascii")
    return fields


def data_info(data: Any) -> dict[str, Any]:
    """What a run records about the data (a ``MovieLensData``) it saw."""
    source = Path(data.source)
    return {
        "name": data.name,
        "layout": data.layout,
        **path_fields(source.resolve() if source.exists() else source),
        "fingerprint": data.fingerprint,
        "n_ratings": int(data.n_ratings),
        "n_users": int(data.ratings["user"].nunique()),
        "n_items": int(data.ratings["item"].nunique()),
    }


class RunRecorder:
    """Writes one run folder from a training's events (call it with each event)."""

    def __init__(
        self,
        store: RunStore,
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        resume: Run | None = None,
    ):
        """With ``resume`` (a run whose resume point the trainer continues from), the
        events go on in that folder: its rows after the point's epoch are dropped, the
        new ones appended, the wall-time axis continued."""
        self.store = store
        self.name = name
        self.tags = dict(tags or {})
        self.resume = resume
        self.run: Run | None = None
        self._t0 = time.monotonic()  # wall_s of the rows counts from the start event
        # a write that failed while recording a failure (e.g. the disk is full): the
        # trainer reports the first error; this one is only logged
        self.secondary_error: str | None = None

    @property
    def run_dir(self) -> Path | None:
        """The run folder, once the training started."""
        return self.run.path if self.run is not None else None

    def __call__(self, event: object) -> None:
        """Record one trainer event."""
        if isinstance(event, StartedEvent):
            self._started(event)
        elif self.run is None:
            return  # failed before the run existed: nothing to record
        elif isinstance(event, BatchEvent):
            # appended at each log point (flushed), so a crash loses one window at most
            row = {"epoch": event.epoch, "batch": event.batch, "step": event.step}
            self.run.append_batch_metrics([{**row, "loss": event.loss, **self._wall()}])
        elif isinstance(event, EpochEvent):
            self.run.append_epoch_metrics({**event.row(), **self._wall()})
            if event.weights is not None:
                self.run.save_weights(event.weights, "last")
                if event.improved:
                    self.run.save_weights(event.weights, "best")
            if event.resume is not None:  # last: the point never runs ahead of the rows
                self.run.save_resume(event.resume)
        elif isinstance(event, FinishedEvent):
            self.run.write_test_metrics(
                {
                    **event.test,
                    "best_epoch": event.best_epoch,
                    "best_val_auc": event.best_val_auc,
                    "monitor": event.monitor,
                    "best_value": event.best_value,
                    "epochs_run": event.epochs_run,
                    "train_seconds": event.train_seconds,
                }
            )
            message = None if event.epochs_run else "cancelled before the first epoch ended"
            self.run.set_status(event.status, message)
            if event.status == "finished":
                self.run.drop_resume()  # a cancelled run keeps it: it can go on
        elif isinstance(event, FailedEvent):
            self._failed(event)

    def _wall(self) -> dict[str, float]:
        """Seconds since the training started, for the curves' wall-time axis."""
        return {"wall_s": round(time.monotonic() - self._t0, 3)}

    def _started(self, event: StartedEvent) -> None:
        self._t0 = time.monotonic()
        if self.resume is not None:
            self._resumed(self.resume)
            return
        config = event.config
        self.run = self.store.create(
            config, data_info(event.data), name=self.name or config.name, tags=self.tags
        )
        self.run.write_split(event.split)
        self.run.write_encoder(event.encoder)
        if event.retrieval is not None:
            self.run.save_retrieval(event.retrieval)
        self.run.write_environment(event.device)
        self.run.set_status("running")

    def _resumed(self, run: Run) -> None:
        """Go on in ``run``: rows up to the resume point's epoch stay, the clock goes on."""
        point_epoch = int(run.load_resume().get("epoch", 0))
        run.keep_epochs(point_epoch)
        rows = run.read_epoch_metrics()
        last_wall = max((float(r.get("wall_s") or 0.0) for r in rows), default=0.0)
        self._t0 = time.monotonic() - last_wall
        self.run = run
        run.set_status("running")

    def _failed(self, event: FailedEvent) -> None:
        status = INTERRUPTED if getattr(event, "interrupted", False) else "failed"
        try:
            self.run.set_status(status, event.message)  # type: ignore[union-attr]
        except (WideDeepError, OSError) as exc:
            # Keep the first error: the trainer re-raises it. The run then reads
            # "interrupted" once this process is gone.
            self.secondary_error = str(exc)
            log.warning("could not record the failure in the run folder: %s", exc)
