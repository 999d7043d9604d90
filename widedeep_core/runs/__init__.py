"""The run record: one folder per training run, and the store that lists them."""

from widedeep_core.runs.store import Run, RunInfo, RunStore, default_runs_root

__all__ = ["Run", "RunInfo", "RunStore", "default_runs_root"]
