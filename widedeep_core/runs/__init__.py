"""The run record: one folder per training run, and the store that lists them.

``runs.schema`` (files, statuses, which runs can serve), ``runs.store`` (``Run``,
``RunStore``), ``runs.liveness`` (is the owner alive), ``runs.export`` (CSV) and
``runs.recorder`` (writes a run from the trainer's events; import it from there, it
depends on the trainer's event types).
"""

from widedeep_core.runs.export import export_run, read_curve, write_metrics_csv
from widedeep_core.runs.schema import SERVABLE_STATUSES, can_serve
from widedeep_core.runs.store import Run, RunInfo, RunStore, default_runs_root

__all__ = [
    "SERVABLE_STATUSES",
    "Run",
    "RunInfo",
    "RunStore",
    "can_serve",
    "default_runs_root",
    "export_run",
    "read_curve",
    "write_metrics_csv",
]
