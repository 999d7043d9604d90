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
