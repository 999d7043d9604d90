"""The model beside its baselines, read from a run's test metrics (no torch: the GUI uses it).

``evaluation.evaluate_split`` stores the baselines under ``"baselines"``
(``{"popularity": {...}, "ease": {...}}``); every row has the same columns @K.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# (metric, label) in the order the table shows them
TABLE_METRICS = (
    ("hr", "HR"),
    ("ndcg", "NDCG"),
    ("mrr", "MRR"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("coverage", "Coverage"),
    ("pop_rank", "Pop rank"),
)
# (key in metrics["baselines"], column title); the model's own column comes first
BASELINE_COLUMNS = (("popularity", "Popularity"), ("ease", "EASE"))


def ranking_k(metrics: Mapping[str, Any]) -> int | None:
    """The K of the stored ranking metrics (from a key like ``ndcg@10``), None without any."""
    for key in metrics:
        m = re.fullmatch(r"ndcg@(\d+)", str(key))
        if m:
            return int(m.group(1))
    return None


def baseline_note(metrics: Mapping[str, Any]) -> str:
    """Which EASE ran and why, e.g. "EASE^R lambda 500 (ease: 1682 movies fit one inverse)"."""
    ease = (metrics.get("baselines") or {}).get("ease") or {}
    if not ease:
        return ""
    lam = ease.get("lambda")
    lam_text = f" lambda {lam:g}" if isinstance(lam, int | float) else ""
    return f"EASE^R{lam_text} ({ease.get('route', '?')}: {ease.get('route_reason', '')})"


def comparison(metrics: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the model vs baselines table: one row per metric @K.

    Values are floats or None (missing); an empty table when the metrics have no K.
    """
    k = ranking_k(metrics)
    base = metrics.get("baselines") or {}
    header = ["metric", "model"] + [title for key, title in BASELINE_COLUMNS if key in base]
    if k is None:
        return header, []
    rows = []
    for name, label in TABLE_METRICS:
        key = f"{name}@{k}"
        row = [f"{label}@{k}", _number(metrics.get(key))]
        row += [_number((base.get(b) or {}).get(key)) for b, _ in BASELINE_COLUMNS if b in base]
        if any(v is not None for v in row[1:]):
            rows.append(row)
    return header, rows


def format_comparison(metrics: Mapping[str, Any]) -> str:
    """The comparison as an aligned plain-text table (empty string without ranking metrics)."""
    header, rows = comparison(metrics)
    if not rows:
        return ""
    cells = [header] + [[r[0]] + [cell_text(v, r[0]) for v in r[1:]] for r in rows]
    widths = [max(len(row[c]) for row in cells) for c in range(len(header))]
    lines = [
        "  ".join(
            text.ljust(w) if c == 0 else text.rjust(w)
            for c, (text, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    note = baseline_note(metrics)
    return "\n".join(lines + ([note] if note else []))


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level numbers only (the model's own), nested tables left out."""
    return {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted keys (``baselines.ease.ndcg@10``), for one CSV row."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        else:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def cell_text(value: float | None, label: str = "") -> str:
    """How a table shows one value of the row ``label``: "-" when missing."""
    if value is None:
        return "-"
    return f"{value:.1f}" if label.startswith("Pop rank") else f"{value:.4f}"


# ---------------------------------------------------------------- N runs side by side

# the settings a diff compares besides the configuration's fields
_RUN_SETTINGS = ("data", "protocol")


def settings_of(info: Any) -> dict[str, Any]:
    """A run's settings as the diff compares them: its configuration, data and protocol."""
    config = getattr(info, "config", {}) or {}
    out: dict[str, Any] = {
        "data": getattr(info, "data_name", None),
        "protocol": getattr(info, "protocol", None),
    }
    for key, value in config.items():
        if key != "name":  # the name tells runs apart; it is not a setting
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def settings_diff(infos: Any) -> tuple[list[str], list[str]]:
    """(keys whose values differ among the runs, keys all share), in the config's order."""
    rows = [settings_of(i) for i in infos]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    differ = [k for k in keys if len({repr(row.get(k)) for row in rows}) > 1]
    same = [k for k in keys if k not in differ]
    return differ, same


# a setting's value in a label is cut to this many characters (the diff table has all)
LABEL_VALUE_CHARS = 16


def _short(key: str, value: Any) -> str:
    if isinstance(value, tuple | list):
        value = "-".join(map(str, value)) if key == "hidden" else ",".join(map(str, value))
    elif isinstance(value, float):
        value = f"{value:g}"
    text = str(value)
    if len(text) > LABEL_VALUE_CHARS:
        text = text[: LABEL_VALUE_CHARS - 1] + "…"
    return f"{key}={text}"


def run_labels(infos: Any, max_settings: int = 2) -> list[str]:
    """Labels that tell the runs apart: the name alone where names differ; where a name
    repeats, the id's end and the settings that differ ("fast [3f2a] · lr=0.003").

    Short on purpose: they head the compare table's columns and fill the legend, where
    a label listing every field pushed the values and the plot off the page.
    """
    infos = list(infos)
    names = [str(getattr(i, "name", "")) for i in infos]
    differ, _ = settings_diff(infos) if len(infos) > 1 else ([], [])
    shown = [k for k in differ if k not in ("seed",)][:max_settings] or differ[:max_settings]
    labels = []
    for info, name in zip(infos, names, strict=True):
        if names.count(name) == 1:
            labels.append(name)
            continue
        settings = settings_of(info)
        extra = ", ".join(_short(k, settings.get(k)) for k in shown)
        label = f"{name} [{str(info.id)[-4:]}]"
        labels.append(f"{label} · {extra}" if extra else label)
    return labels


# (metric, label) of the compare table's rows: the classification metrics, then @K
_COMPARE_PLAIN = (("auc", "AUC"), ("logloss", "Log loss"), ("gauc", "GAUC"))


def compare_runs(
    infos: Any, labels: Any | None = None
) -> tuple[list[str], list[list[Any]], list[str]]:
    """(header, rows, notes) of N runs' test metrics side by side, with the baselines.

    One column per run, then the baselines: one Popularity and one EASE column when the
    runs' baselines agree (same data, split and protocol), else one per run. A row is a
    metric ("NDCG@10"); runs ranked at different K get one row per K. Values are floats
    or None.
    """
    infos = list(infos)
    labels = list(labels) if labels is not None else run_labels(infos)
    metrics = [dict(getattr(i, "test_metrics", {}) or {}) for i in infos]
    bases = [m.get("baselines") or {} for m in metrics]
    header = ["metric", *labels]
    notes: list[str] = []
    distinct = {repr(sorted((b or {}).items())) for b in bases if b}
    base_cols: list[tuple[str, int]] = []  # (title, run index)
    for key, title in BASELINE_COLUMNS:
        owners = [i for i, b in enumerate(bases) if key in b]
        if not owners:
            continue
        if len(distinct) <= 1:
            base_cols.append((title, owners[0]))
        else:
            base_cols += [(f"{title} ({labels[i]})", i) for i in owners]
    if len(distinct) > 1:
        notes.append("The runs' baselines differ (other data, split or protocol): one per run.")
    header += [t for t, _ in base_cols]
    base_keys = {t: key for key, t in BASELINE_COLUMNS}
    rows: list[list[Any]] = []
    for name, label in _COMPARE_PLAIN:
        row: list[Any] = [label, *(_number(m.get(name)) for m in metrics)]
        row += [None for _ in base_cols]
        if any(v is not None for v in row[1:]):
            rows.append(row)
    ks = sorted({k for k in (ranking_k(m) for m in metrics) if k is not None})
    for k in ks:
        for name, label in TABLE_METRICS:
            key = f"{name}@{k}"
            row = [f"{label}@{k}", *(_number(m.get(key)) for m in metrics)]
            for title, owner in base_cols:
                base_key = base_keys.get(title.split(" (")[0], "")
                row.append(_number((bases[owner].get(base_key) or {}).get(key)))
            if any(v is not None for v in row[1:]):
                rows.append(row)
    return header, rows, notes
