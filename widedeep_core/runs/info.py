"""What the run list shows about one run: ``RunInfo``, summarised from its files' contents.

Pure: ``summarize`` reads the parsed run.json, config.json, data.json, epoch rows and test
metrics (``runs.run.Run.info`` passes them) and decides the status, the monitored metric
and its best value, the epoch it came from and that epoch's AUC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from widedeep_core.config.protocols import protocol_name
from widedeep_core.constants import MONITORS
from widedeep_core.monitors import monitor_of
from widedeep_core.runs.liveness import effective_status
from widedeep_core.runs.schema import (
    KEY_HYPERPARAMETERS,
    can_serve,
    finite,
    now,
    parse_time,
)


@dataclass(frozen=True)
class RunInfo:
    """What the run list shows about one run (read-only snapshot)."""

    id: str
    path: Path
    name: str
    created: datetime | None
    status: str
    message: str | None = None
    preset: str | None = None
    data_name: str | None = None
    data_layout: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    best_val_auc: float | None = None
    test_auc: float | None = None
    duration_s: float | None = None
    epochs_run: int = 0
    tags: dict[str, Any] = field(default_factory=dict)
    # the metric that picked the best epoch (``monitors``), its value there, that epoch
    # (``best_val_auc`` is that epoch's validation AUC, whatever the monitor), and the K
    # of the ranking metrics
    monitor: str = "val_auc"
    best_value: float | None = None
    best_epoch: int | None = None
    ranking_k: int = 10
    # test_metrics.json as stored: the model's metrics and ``baselines``
    test_metrics: dict[str, Any] = field(default_factory=dict)
    # config.json as stored (every field, for the table's columns and the settings diff),
    # the kept epoch's row (its validation metrics), the evaluation protocol's name
    # (``config.protocols``; None without a readable config) and the data's fingerprint
    config: dict[str, Any] = field(default_factory=dict)
    best_row: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    data_fingerprint: str | None = None
    # the user's tags and note (annotations.json, ``runs.tags``), apart from ``tags``
    # (run.json: what the program recorded, e.g. a sweep's study and trial)
    user_tags: tuple[str, ...] = ()
    note: str = ""

    @property
    def can_serve(self) -> bool:
        """True when the run has weights worth serving (see ``runs.schema.can_serve``)."""
        return can_serve(self.status, self.epochs_run)


def summarize(
    run_id: str,
    path: Path,
    meta: Mapping[str, Any],
    config: Mapping[str, Any],
    data: Mapping[str, Any],
    epochs: Sequence[Mapping[str, Any]],
    tests: Mapping[str, Any],
    annotations: Mapping[str, Any] | None = None,
) -> RunInfo:
    """The ``RunInfo`` of one run from its files' parsed contents.

    The best epoch is the one the trainer kept by its monitor: recorded with the test
    metrics, or, while the run trains, in the last epoch row. Its validation AUC is
    ``best_val_auc`` (one meaning, whatever the monitor).
    """
    status = effective_status(meta)
    monitor: str = config["monitor"] if config.get("monitor") in MONITORS else "val_auc"
    k = _int_or(config.get("ranking_k"), 10)
    column = monitor_of(monitor, k).column
    last = epochs[-1] if epochs else {}
    best_epoch = _int_or(tests.get("best_epoch"), _int_or(last.get("best_epoch"), 0)) or None
    scored = [r for r in epochs if finite(r.get(column)) is not None]
    if best_epoch is None and scored:  # rows without the trainer's record: by the monitor
        sign = -1.0 if monitor == "val_logloss" else 1.0
        best = max(scored, key=lambda r: sign * float(r[column]))
        best_epoch = _int_or(best.get("epoch"), 0) or None
    best_row = next((r for r in epochs if r.get("epoch") == best_epoch), {})
    best_auc = finite(tests.get("best_val_auc"))
    if best_auc is None:
        best_auc = finite(best_row.get("val_auc"))
    best_value = finite(tests.get("best_value"))
    if best_value is None:
        best_value = finite(last.get("best_value"))
    if best_value is None:
        best_value = finite(best_row.get(column))
    duration = finite(meta.get("duration_s"))
    started = parse_time(meta.get("started"))
    if duration is None and status == "running" and started is not None:
        duration = (now() - started).total_seconds()
    notes = annotations or {}
    user_tags = notes.get("tags")
    note = notes.get("note")
    fingerprint = data.get("fingerprint")
    data_name = data.get("name")
    if not data_name and data.get("path"):
        data_name = Path(str(data["path"])).name
    return RunInfo(
        id=run_id,
        path=path,
        name=str(meta.get("name") or run_id),
        created=parse_time(meta.get("created")),
        status=status,
        message=meta.get("message"),
        preset=meta.get("preset") or config.get("preset"),
        data_name=data_name,
        data_layout=data.get("layout"),
        hyperparameters={k: config[k] for k in KEY_HYPERPARAMETERS if k in config},
        best_val_auc=best_auc,
        test_auc=finite(tests.get("auc", tests.get("test_auc"))),
        duration_s=duration,
        epochs_run=len(epochs),
        tags=dict(meta.get("tags") or {}),
        monitor=monitor,
        best_value=best_value,
        best_epoch=best_epoch,
        ranking_k=k,
        test_metrics=dict(tests),
        config=dict(config),
        best_row=dict(best_row),
        protocol=protocol_name(config) if config else None,
        data_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        user_tags=tuple(t for t in user_tags if isinstance(t, str))
        if isinstance(user_tags, list)
        else (),
        note=note if isinstance(note, str) else "",
    )


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


__all__ = ["RunInfo", "summarize"]
