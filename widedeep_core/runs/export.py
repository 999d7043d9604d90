"""Curves and metrics of runs, read for plotting and written to CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from widedeep_core.errors import RunError
from widedeep_core.fileio import write_output_text
from widedeep_core.runs.compare import flatten_metrics
from widedeep_core.runs.info import RunInfo
from widedeep_core.runs.run import Run

# Which rows a curve comes from, and the column that is its x axis.
CURVE_SOURCES = {"epochs": "epoch", "batches": "step"}


def _as_run(run: Run | RunInfo | str | Path) -> Run:
    if isinstance(run, Run):
        return run
    return Run(run.path if isinstance(run, RunInfo) else run)


def read_curve(
    run: Run | RunInfo | str | Path, source: str, column: str
) -> tuple[list[float], list[float]]:
    """x and y of one metric of a run: per epoch or per global batch step.

    Rows without a numeric value in ``column`` are skipped.
    """
    if source not in CURVE_SOURCES:
        raise RunError(f"unknown curve source {source!r}; use one of {', '.join(CURVE_SOURCES)}")
    target = _as_run(run)
    rows = target.read_epoch_metrics() if source == "epochs" else target.read_batch_metrics()
    xkey = CURVE_SOURCES[source]
    xs, ys = [], []
    for i, row in enumerate(rows, start=1):
        y = row.get(column)
        if isinstance(y, (int, float)) and not isinstance(y, bool):
            xs.append(float(row.get(xkey, i)))
            ys.append(float(y))
    return xs, ys


def _csv_text(rows: Sequence[Mapping[str, Any]], first: Sequence[str] = ()) -> str:
    """CSV of dict rows; columns in order of first appearance (``first`` when empty)."""
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields or list(first), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text value that a spreadsheet would run as a formula, quoted to stay text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_rows_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], first: Sequence[str] = ()
) -> Path:
    """Write dict rows to a CSV file atomically (columns in order of first appearance)."""
    return write_output_text(path, _csv_text(rows, first))


def write_metrics_csv(path: str | Path, runs: Iterable[Run | RunInfo | str | Path]) -> int:
    """Every epoch row of ``runs`` in one CSV, run id and name first; returns the row count."""
    rows: list[dict[str, Any]] = []
    for ref in runs:
        run = _as_run(ref)
        name = ref.name if isinstance(ref, RunInfo) else run.name
        rows += [{"run_id": run.id, "run_name": name, **row} for row in run.read_epoch_metrics()]
    write_rows_csv(path, rows, first=("run_id", "run_name"))
    return len(rows)


def export_run(run: Run | RunInfo | str | Path, output: str | Path) -> list[Path]:
    """Export a run's curves and metrics as CSV; returns the files written.

    ``output`` ending in ``.csv`` gets the per-epoch table (run id and name first).
    Any other path is a folder (created when missing) that gets ``epochs.csv``,
    ``batches.csv`` and ``test_metrics.csv`` (one row; empty before the test set
    was scored).
    """
    target = _as_run(run)
    out = Path(output).expanduser()
    if out.suffix.lower() == ".csv":
        write_metrics_csv(out, [target])
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    tests = target.read_test_metrics()
    return [
        write_rows_csv(out / "epochs.csv", target.read_epoch_metrics(), first=("epoch",)),
        write_rows_csv(out / "batches.csv", target.read_batch_metrics(), first=("step",)),
        # the baselines are a nested table: dotted columns keep the CSV one row
        write_rows_csv(
            out / "test_metrics.csv", [flatten_metrics(tests)] if tests else [], first=("auc",)
        ),
    ]
