"""Hyperparameter sweeps with Optuna: search spaces on configuration fields, studies
in an SQLite file or any SQLAlchemy URL, trials that are normal run folders.

Optuna and SQLAlchemy are imported only when a study is opened, so importing this
package (the CLI does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .objective import Objective, SweepStopped, metric_key
    from .report import (
        best_config,
        format_summary,
        param_importances,
        set_lines,
        study_list,
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

# ``widedeep --help`` imports sweeps.cli and so this package: its submodules (config,
# runs, multiprocessing) load only when one of these names is first used.
_SOURCES = {
    "METRICS": "study",
    "Objective": "objective",
    "PRUNERS": "study",
    "Param": "space",
    "SearchSpace": "space",
    "SweepOutcome": "runner",
    "SweepSpec": "study",
    "SweepStopped": "objective",
    "best_config": "report",
    "default_storage": "storage",
    "default_study_name": "study",
    "display_url": "storage",
    "fail_dead_trials": "study",
    "format_summary": "report",
    "load_study": "study",
    "metric_direction": "study",
    "metric_key": "objective",
    "normalize_url": "storage",
    "open_storage": "storage",
    "open_study": "study",
    "param_importances": "report",
    "parse_param": "space",
    "parse_space": "space",
    "run_sweep": "runner",
    "searchable_fields": "space",
    "set_lines": "report",
    "study_list": "report",
    "study_names": "study",
    "study_summary": "report",
    "suggested_text": "space",
    "threads_per_worker": "runner",
    "trial_record": "report",
    "validate_space": "space",
}

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
    "study_list",
    "study_names",
    "study_summary",
    "suggested_text",
    "threads_per_worker",
    "trial_record",
    "validate_space",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use (PEP 562)."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value
