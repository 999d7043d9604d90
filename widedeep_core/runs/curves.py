"""A run's curves against the x axis a reader picks: epoch, step or wall time.

Epoch rows carry ``epoch``, batch rows ``epoch``, ``batch`` and ``step``; both carry
``wall_s`` (seconds since the training started) in runs recorded since it was added.
Older runs get a wall time from the epochs' durations (``seconds``), batches placed
within their epoch by their step.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from widedeep_core.errors import RunError
from widedeep_core.fileio import file_stamp
from widedeep_core.runs.schema import BATCHES_JSONL, EPOCHS_JSONL, finite

X_AXES: tuple[tuple[str, str], ...] = (
    ("epoch", "epoch"),
    ("step", "step"),
    ("wall", "wall time (s)"),
)


def _epoch_ends(epochs: Sequence[Mapping[str, Any]], batches: Sequence[Mapping[str, Any]]):
    """Per epoch: (last step, wall time at its end), from what the rows hold."""
    last_step: dict[int, float] = {}
    for row in batches:
        e, step = row.get("epoch"), finite(row.get("step"))
        if isinstance(e, int) and step is not None:
            last_step[e] = max(last_step.get(e, 0.0), step)
    ends: dict[int, tuple[float | None, float | None]] = {}
    clock = 0.0
    for row in epochs:
        e = row.get("epoch")
        if not isinstance(e, int):
            continue
        wall = finite(row.get("wall_s"))
        if wall is None:
            clock += finite(row.get("seconds")) or 0.0
            wall = clock
        else:
            clock = wall
        ends[e] = (last_step.get(e), wall)
    return ends


def series(
    epochs: Sequence[Mapping[str, Any]],
    batches: Sequence[Mapping[str, Any]],
    source: str,
    column: str,
    x_axis: str = "epoch",
) -> tuple[list[float], list[float]]:
    """(x, y) of ``column`` of the ``source`` rows ("epochs" or "batches") against ``x_axis``.

    Pure: the rows as read from the run. A row without a number in ``column`` (or without
    an x) is left out.
    """
    if source not in ("epochs", "batches"):
        raise RunError(f"unknown curve source {source!r}; use epochs or batches")
    if x_axis not in dict(X_AXES):
        raise RunError(f"unknown x axis {x_axis!r}; use epoch, step or wall")
    rows = epochs if source == "epochs" else batches
    ends = _epoch_ends(epochs, batches) if x_axis != "epoch" or source == "batches" else {}
    xs: list[float] = []
    ys: list[float] = []
    for i, row in enumerate(rows, start=1):
        y = finite(row.get(column))
        if y is None:
            continue
        x = _x(row, i, source, x_axis, ends)
        if x is None:
            continue
        xs.append(x)
        ys.append(y)
    return xs, ys


def _x(
    row: Mapping[str, Any],
    i: int,
    source: str,
    x_axis: str,
    ends: Mapping[int, tuple[float | None, float | None]],
) -> float | None:
    epoch = row.get("epoch")
    wall = finite(row.get("wall_s"))
    if source == "epochs":
        if x_axis == "epoch":
            return float(epoch) if isinstance(epoch, int) else float(i)
        step, end_wall = ends.get(epoch, (None, None)) if isinstance(epoch, int) else (None, None)
        return step if x_axis == "step" else (wall if wall is not None else end_wall)
    step = finite(row.get("step"))
    if x_axis == "step":
        return step if step is not None else float(i)
    if not isinstance(epoch, int) or step is None:
        return None
    before_step, before_wall = ends.get(epoch - 1, (0.0, 0.0))
    end_step, end_wall = ends.get(epoch, (None, None))
    if x_axis == "epoch":  # a fraction of the epoch, by its steps
        if end_step is None or before_step is None or end_step <= before_step:
            return float(epoch)
        return (epoch - 1) + (step - before_step) / (end_step - before_step)
    if wall is not None:
        return wall
    if end_wall is None or end_step is None or before_step is None or before_wall is None:
        return None
    share = (step - before_step) / (end_step - before_step) if end_step > before_step else 1.0
    return before_wall + share * (end_wall - before_wall)


# (folder, source, column, x axis) -> (the metric files' stamps, the series): a redraw
# (another smoothing, metric or selection) re-reads only the files that changed
_SERIES: OrderedDict[tuple[str, str, str, str], tuple[Any, Any]] = OrderedDict()
_SERIES_MAX = 512
_SERIES_LOCK = threading.Lock()


def read_series(run: Any, source: str, column: str, x_axis: str = "epoch"):
    """``series`` of one run (a ``Run`` or anything with ``path``); the files are read
    again only when their size, mtime or inode changed since the last call."""
    from widedeep_core.runs.run import Run

    target = run if isinstance(run, Run) else Run(getattr(run, "path", run))
    needs_batches = source == "batches" or x_axis == "step"
    key = (str(target.path), source, column, x_axis)
    stamp = (file_stamp(target.path / EPOCHS_JSONL),
             file_stamp(target.path / BATCHES_JSONL) if needs_batches else None)  # fmt: skip
    with _SERIES_LOCK:
        held = _SERIES.get(key)
        if held is not None and held[0] == stamp and None not in stamp[: 1 + needs_batches]:
            _SERIES.move_to_end(key)
            xs, ys = held[1]
            return list(xs), list(ys)
    epochs = target.read_epoch_metrics()
    batches = target.read_batch_metrics() if needs_batches else []
    xs, ys = series(epochs, batches, source, column, x_axis)
    with _SERIES_LOCK:
        _SERIES[key] = (stamp, (tuple(xs), tuple(ys)))
        _SERIES.move_to_end(key)
        while len(_SERIES) > _SERIES_MAX:
            _SERIES.popitem(last=False)
    return xs, ys


__all__ = ["X_AXES", "read_series", "series"]
