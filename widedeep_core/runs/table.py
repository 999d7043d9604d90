"""The run table's columns: every configuration field and every final metric, by key.

``COLUMNS`` is the catalogue (key, label, group, direction); ``run_values`` is one run's
row as ``{key: value}``. The Runs page, ``widedeep runs`` and the filter
(``runs.filters``) all read runs through these keys, so ``val_auc > 0.79`` names the
column the page shows as "Val AUC".

Ranking metrics are read at the run's own K (``ranking_k``), so ``test_ndcg`` is NDCG@10
for a run ranked at 10; a label's "@K" stands for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from widedeep_core.runs.grouping import Spread
from widedeep_core.runs.info import RunInfo
from widedeep_core.runs.schema import finite


@dataclass(frozen=True)
class Column:
    """One column a run table can show."""

    key: str
    label: str
    group: str  # "run", "val", "test", "baseline" or "config"
    # True: higher is better, False: lower is better, None: not a score (no best mark)
    higher_is_better: bool | None = None
    help: str = ""

    @property
    def is_metric(self) -> bool:
        """True for the final metrics (validation, test, baselines)."""
        return self.group in ("val", "test", "baseline")


_RUN = [
    Column("name", "Name", "run"),
    Column("id", "Id", "run", help="The run's folder name (what the CLI takes)."),
    Column("created", "Created", "run"),
    Column("status", "Status", "run"),
    Column("data", "Data", "run"),
    Column("preset", "Preset", "run"),
    Column(
        "protocol",
        "Protocol",
        "run",
        help="The evaluation protocol (which ratings, labels, split, test history): runs "
        "on different protocols answer different questions and are ranked apart.",
    ),
    Column("epochs_run", "Epochs", "run", help="Epochs the run trained."),
    Column(
        "monitor",
        "Monitor",
        "run",
        help="The validation metric that picked the best epoch (config.monitor), and its "
        "value there.",
    ),
    Column("best_epoch", "Best epoch", "run"),
    Column("duration", "Duration", "run"),
    Column("tags", "Tags", "run", help="Your tags (tag:NAME filters by one)."),
    Column("note", "Note", "run"),
    Column("study", "Study", "run", help="The sweep study a trial belongs to."),
    Column("trial", "Trial", "run"),
]
# (key, metric in the files, label): the model's validation metrics at its kept epoch
_VAL = [
    ("val_auc", "auc", "Val AUC", True),
    ("val_logloss", "logloss", "Val log loss", False),
    ("val_accuracy", "accuracy", "Val accuracy", True),
    ("val_hr", "hr@K", "Val HR@K", True),
    ("val_ndcg", "ndcg@K", "Val NDCG@K", True),
    ("val_mrr", "mrr@K", "Val MRR@K", True),
]
_TEST = [
    ("test_auc", "auc", "Test AUC", True),
    ("test_logloss", "logloss", "Test log loss", False),
    ("test_gauc", "gauc", "Test GAUC", True),
    ("test_accuracy", "accuracy", "Test accuracy", True),
    ("test_hr", "hr@K", "Test HR@K", True),
    ("test_ndcg", "ndcg@K", "Test NDCG@K", True),
    ("test_mrr", "mrr@K", "Test MRR@K", True),
    ("test_precision", "precision@K", "Test precision@K", True),
    ("test_recall", "recall@K", "Test recall@K", True),
    ("test_coverage", "coverage@K", "Test coverage@K", True),
    ("test_pop_rank", "pop_rank@K", "Test pop rank@K", None),
]
# (prefix, key in test_metrics["baselines"], title)
BASELINES = (("pop", "popularity", "Popularity"), ("ease", "ease", "EASE"))
_BASELINE_METRICS = (("hr", "HR"), ("ndcg", "NDCG"), ("mrr", "MRR"))


def _config_columns() -> list[Column]:
    from widedeep_core.config import config_fields

    taken = {c.key for c in _RUN}
    return [
        Column(f.name, f.label or f.name, "config", help=f.help)
        for f in config_fields()
        if f.name not in taken
    ]


COLUMNS: list[Column] = [
    *_RUN,
    *(Column(k, label, "val", better) for k, _, label, better in _VAL),
    *(Column(k, label, "test", better) for k, _, label, better in _TEST),
    *(
        Column(f"{prefix}_{m}", f"{title} {label}@K", "baseline", True, f"{title}, judged alike")
        for prefix, _, title in BASELINES
        for m, label in _BASELINE_METRICS
    ),
    *_config_columns(),
]
COLUMN_BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
# What the table shows before the user chose (the columns of the first releases)
DEFAULT_COLUMNS: tuple[str, ...] = (
    "name",
    "created",
    "data",
    "preset",
    "protocol",
    "status",
    "epochs_run",
    "monitor",
    "val_auc",
    "test_auc",
    "test_hr",
    "test_ndcg",
    "pop_ndcg",
    "ease_ndcg",
    "duration",
    "tags",
    "embed_dim",
    "hidden",
    "dropout",
    "optimizer",
    "lr",
    "batch_size",
    "crosses",
)


def run_k(info: RunInfo) -> int:
    """The K of a run's ranking metrics: its configuration's, else its stored keys'."""
    k = info.config.get("ranking_k")
    if isinstance(k, int) and not isinstance(k, bool) and k > 0:
        return k
    from widedeep_core.runs.compare import ranking_k

    return ranking_k(info.test_metrics) or info.ranking_k


def _number(value: Any) -> float | None:
    return finite(value)


def monitor_text(info: RunInfo) -> str:
    """The metric that picked the best epoch and its value, "val NDCG@10 0.1234"."""
    from widedeep_core.monitors import monitor_of

    try:
        monitor = monitor_of(info.monitor, run_k(info))
    except ValueError:
        return ""
    if info.best_value is None:
        return monitor.label
    return f"{monitor.label} {monitor.format(info.best_value)}"


def run_values(info: RunInfo) -> dict[str, Any]:
    """One run's row: ``{column key: value}`` (None where the run has no value)."""
    k = run_k(info)
    tests = info.test_metrics or {}
    base = tests.get("baselines") if isinstance(tests.get("baselines"), Mapping) else {}
    values: dict[str, Any] = {
        "name": info.name,
        "id": info.id,
        "created": info.created,
        "status": info.status,
        "data": info.data_name,
        "preset": info.preset or info.config.get("preset"),
        "protocol": info.protocol,
        "epochs_run": info.epochs_run,
        "monitor": monitor_text(info),
        "best_epoch": info.best_epoch,
        "duration": info.duration_s,
        "tags": tuple(info.user_tags),
        "note": info.note,
        "study": info.tags.get("study"),
        "trial": info.tags.get("trial"),
    }
    for key, metric, _, _ in _VAL:
        values[key] = _number(info.best_row.get(f"val_{metric.replace('@K', f'@{k}')}"))
    if info.best_val_auc is not None:
        values["val_auc"] = info.best_val_auc
    for key, metric, _, _ in _TEST:
        values[key] = _number(tests.get(metric.replace("@K", f"@{k}")))
    if values["test_auc"] is None:
        values["test_auc"] = info.test_auc
    for prefix, name, _ in BASELINES:
        table = base.get(name) if isinstance(base, Mapping) else None
        for m, _ in _BASELINE_METRICS:
            got = table.get(f"{m}@{k}") if isinstance(table, Mapping) else None
            values[f"{prefix}_{m}"] = _number(got)
    for column in COLUMNS:
        if column.group == "config":
            value = info.config.get(column.key)
            values[column.key] = tuple(value) if isinstance(value, list) else value
    return values


def format_value(key: str, value: Any) -> str:
    """How a table shows one value of column ``key`` ("" when missing)."""
    if value is None:
        return ""
    if key == "created" and hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    if key == "duration" and isinstance(value, int | float):
        s = round(float(value))
        return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"
    if isinstance(value, Spread):  # a seed set's value: a duration stays a duration
        if key != "duration":
            return value.text()
        mean = format_value(key, value.mean)
        return mean if value.n < 2 else f"{mean} ± {format_value(key, value.std)}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        if key == "hidden":
            return "-".join(str(v) for v in value)
        return ", ".join(str(v) for v in value)
    if key in ("lr", "wide_lr", "weight_decay", "ftrl_l1", "ftrl_l2") and isinstance(
        value, int | float
    ):
        return f"{float(value):g}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if (
            value.is_integer()
            and abs(value) < 1e15
            and COLUMN_BY_KEY.get(key, _NONE).group
            in (
                "config",
                "run",
            )
        ):
            return str(int(value))
        return f"{value:.4f}"
    return str(value)


_NONE = Column("", "", "")


def label_of(key: str, k: int | str = "K") -> str:
    """The label of column ``key``, "@K" read as ``@k``."""
    column = COLUMN_BY_KEY.get(key)
    return (column.label if column else key).replace("@K", f"@{k}")


def sort_value(value: Any) -> Any:
    """A value that sorts: numbers as floats, times as timestamps, the rest as text."""
    if value is None:
        return float("-inf")
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tuple | list):
        return "-".join(str(v) for v in value)
    return str(value)


def best_rows(
    rows: Sequence[Mapping[str, Any]], key: str, protocols: Sequence[str | None]
) -> set[int]:
    """Indices of the rows holding the best ``key`` among the rows of their protocol.

    Runs on different protocols answer different questions: a best mark is never given
    across protocols, only within each. Columns that are not scores mark nothing.
    """
    column = COLUMN_BY_KEY.get(key)
    if column is None or column.higher_is_better is None:
        return set()
    sign = 1.0 if column.higher_is_better else -1.0
    best: dict[str | None, tuple[float, list[int]]] = {}
    for i, (row, protocol) in enumerate(zip(rows, protocols, strict=True)):
        value = finite(row.get(key))
        if value is None:
            continue
        score = sign * value
        held = best.get(protocol)
        if held is None or score > held[0]:
            best[protocol] = (score, [i])
        elif score == held[0]:
            held[1].append(i)
    return {i for _, idx in best.values() for i in idx}


__all__ = [
    "BASELINES",
    "COLUMNS",
    "COLUMN_BY_KEY",
    "DEFAULT_COLUMNS",
    "Column",
    "best_rows",
    "format_value",
    "label_of",
    "monitor_text",
    "run_k",
    "run_values",
    "sort_value",
]
