"""Grouping runs: by study, data set, preset, protocol or tag; and seed sets.

A *seed set* is the runs that differ only by their seed (same settings, same data): the
Runs page and ``widedeep runs --group seed`` show it as one row, each metric as the mean
and the spread (sample standard deviation) over its runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from widedeep_core.runs.info import RunInfo
from widedeep_core.runs.schema import finite

# group-by choices: (key, label)
GROUPINGS: tuple[tuple[str, str], ...] = (
    ("none", "No grouping"),
    ("study", "Study"),
    ("data", "Data set"),
    ("preset", "Preset"),
    ("protocol", "Protocol"),
    ("tag", "Tag"),
)
# the settings that do not make two runs different experiments
SEED_FREE = ("seed", "name")
NO_GROUP = {"study": "(no study)", "data": "(unknown data)", "preset": "(no preset)"}


def group_labels(info: RunInfo, by: str) -> list[str]:
    """The group(s) a run belongs to when grouping ``by`` (a run has one group per tag)."""
    if by == "study":
        study = info.tags.get("study")
        return [str(study)] if study not in (None, "") else [NO_GROUP["study"]]
    if by == "data":
        return [info.data_name or NO_GROUP["data"]]
    if by == "preset":
        return [info.preset or NO_GROUP["preset"]]
    if by == "protocol":
        return [info.protocol or "(unknown protocol)"]
    if by == "tag":
        return list(info.user_tags) or ["(untagged)"]
    return [""]


def group_runs(infos: Sequence[RunInfo], by: str) -> dict[str, list[RunInfo]]:
    """``{group label: runs}`` in the order first met (groups with a "(" label last)."""
    groups: dict[str, list[RunInfo]] = {}
    for info in infos:
        for label in group_labels(info, by):
            groups.setdefault(label, []).append(info)
    return dict(sorted(groups.items(), key=lambda kv: kv[0].startswith("(")))


def seed_key(info: RunInfo) -> str:
    """Equal for runs that differ only by their seed (and name): same settings and data."""
    if not info.config:
        return f"run:{info.id}"  # damaged or incomplete: never folded with another
    settings = {k: v for k, v in info.config.items() if k not in SEED_FREE}
    data = info.data_fingerprint or info.data_name
    return json.dumps([settings, data, info.tags.get("study")], sort_keys=True, default=str)


def seed_sets(
    infos: Sequence[RunInfo], key: Callable[[RunInfo], str] = seed_key
) -> list[list[RunInfo]]:
    """The runs as seed sets, in the order of their first run; a set of one is a lone run.

    ``key`` is ``seed_key`` or a caller's memo of it (the Runs page regroups 500 runs).
    """
    sets: dict[str, list[RunInfo]] = {}
    for info in infos:
        sets.setdefault(key(info), []).append(info)
    return list(sets.values())


@dataclass(frozen=True)
class Spread:
    """One metric over the runs of a seed set."""

    mean: float
    std: float  # sample standard deviation (0 for one value)
    low: float
    high: float
    n: int

    def text(self, digits: int = 4) -> str:
        """ "0.7123 ± 0.0040" (the mean alone for one value)."""
        if self.n < 2:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def spread(values: Sequence[Any]) -> Spread | None:
    """Mean and spread of the finite numbers among ``values`` (None without any)."""
    numbers = [v for v in (finite(x) for x in values) if v is not None]
    if not numbers:
        return None
    # plain float sums: statistics.stdev's exact fractions took a third of a regroup of
    # 500 runs
    n = len(numbers)
    mean = math.fsum(numbers) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / (n - 1)) if n > 1 else 0.0
    return Spread(mean, std, min(numbers), max(numbers), n)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One row for a seed set: numbers as ``Spread``, values all runs share as they are.

    ``seed`` lists the seeds; a setting the runs do not share (only the seed, by
    construction, and the name) is left out.
    """
    out: dict[str, Any] = {}
    keys = dict.fromkeys(k for row in rows for k in row)
    for key in keys:
        values = [row.get(key) for row in rows]
        if key == "seed":
            out[key] = tuple(sorted(v for v in values if isinstance(v, int)))
        elif is_metric_key(key) or key == "duration":
            out[key] = spread(values)
        else:
            first = values[0]
            out[key] = first if all(v == first for v in values) else None
    return out


_METRIC_HINT = ("val_", "test_", "pop_", "ease_")


def is_metric_key(key: str) -> bool:
    """True for the metrics a seed set averages (the rest are shared settings)."""
    return key.startswith(_METRIC_HINT)


def mean_band(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]], by_position: bool = False
) -> tuple[list[float], list[float], list[float], list[float]]:
    """(x, mean, min, max) over the x values every curve has (seed runs share their steps
    and epochs). ``by_position`` pairs the curves' k-th points instead, at the mean of
    their x: for wall time, where no two runs log at the same second."""
    if not curves:
        return [], [], [], []
    if by_position:
        n = min(len(xs) for xs, _ in curves)
        points = [
            (math.fsum(float(c[0][k]) for c in curves) / len(curves), [c[1][k] for c in curves])
            for k in range(n)
        ]
    else:
        maps = [dict(zip(xs, ys, strict=False)) for xs, ys in curves]
        common = sorted(set(maps[0]).intersection(*maps[1:]))
        points = [(x, [m[x] for m in maps]) for x in common]
    xs, mean, low, high = [], [], [], []
    for x, ys in points:
        if not all(math.isfinite(y) for y in ys):
            continue
        xs.append(x)
        mean.append(math.fsum(ys) / len(ys))
        low.append(min(ys))
        high.append(max(ys))
    return xs, mean, low, high


__all__ = [
    "GROUPINGS",
    "Spread",
    "aggregate",
    "group_labels",
    "group_runs",
    "is_metric_key",
    "mean_band",
    "seed_key",
    "seed_sets",
    "spread",
]
