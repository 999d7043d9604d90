"""Hyperparameter sweeps with Optuna: search spaces on configuration fields, studies
in an SQLite file or any SQLAlchemy URL, trials that are normal run folders.

Optuna and SQLAlchemy are imported only when a study is opened, so importing this
package (the CLI does) stays cheap.
"""

from .objective import Objective, SweepStopped, metric_key
from .report import (
    best_config,
    format_summary,
    param_importances,
    set_lines,
    study_summary,
    trial_record,
)
from .runner import SweepOutcome, run_sweep, threads_per_worker
from .space import (
    Param,
    SearchSpace,
    parse_param,
    parse_space,
    searchable_fields,
    suggested_text,
    validate_space,
)
from .storage import default_storage, display_url, normalize_url, open_storage
from .study import (
    METRICS,
    PRUNERS,
    SweepSpec,
    default_study_name,
    fail_dead_trials,
    load_study,
    metric_direction,
    open_study,
    study_names,
)

__all__ = [
    "METRICS",
    "PRUNERS",
    "Objective",
    "Param",
    "SearchSpace",
    "SweepOutcome",
    "SweepSpec",
    "SweepStopped",
    "best_config",
    "default_storage",
    "default_study_name",
    "display_url",
    "fail_dead_trials",
    "format_summary",
    "load_study",
    "metric_direction",
    "metric_key",
    "normalize_url",
    "open_storage",
    "open_study",
    "param_importances",
    "parse_param",
    "parse_space",
    "run_sweep",
    "searchable_fields",
    "set_lines",
    "study_names",
    "study_summary",
    "suggested_text",
    "threads_per_worker",
    "trial_record",
    "validate_space",
]
