# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .export import export_run, read_curve, write_metrics_csv
from .info import RunInfo
from .run import Run
from .schema import SERVABLE_STATUSES, can_serve
from .store import RunStore, default_runs_root

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
