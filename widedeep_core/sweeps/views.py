"""What the slice and contour plots of a study show, from its summary (pure numpy).

A *slice* is the objective against one parameter, one point per finished trial; a
*contour* is the objective over two parameters: the trials' points and a surface
interpolated between them on a grid (inverse-distance weighting in the axes' own
scales, so a log-spaced learning rate is spread as the sampler drew it). Optuna's
``plot_slice`` and ``plot_contour`` answer the same questions; these return arrays a
GUI or a PNG writer draws.

A parameter is an *axis*: numbers on a log10 scale where the search space samples
them on one (``lr=1e-4..1e-2:log``; without the space, where they span more than two
decades), else linear; categories at their sorted rank with their names as ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Axis:
    """One parameter's positions (one per trial) and how to label them."""

    name: str
    positions: np.ndarray  # in the axis's own scale (log10 for a log axis)
    log: bool
    ticks: list[tuple[float, str]] | None  # categories: (position, name); numbers: None


@dataclass(frozen=True)
class Slice:
    axis: Axis
    values: np.ndarray  # the objective of each trial
    numbers: np.ndarray  # the trials' numbers (colour, hover)


@dataclass(frozen=True)
class Contour:
    x: Axis
    y: Axis
    values: np.ndarray
    numbers: np.ndarray
    grid_x: np.ndarray  # (n,) grid positions in the x axis's scale
    grid_y: np.ndarray
    surface: np.ndarray  # (n, n): surface[i, j] at (grid_x[i], grid_y[j]); NaN if unknown


def finished(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials with a finite objective value, in trial order."""
    out = []
    for t in summary.get("trials", []):
        v = t.get("value")
        if isinstance(v, int | float) and math.isfinite(v):
            out.append(t)
    return out


def log_params(summary: dict[str, Any]) -> set[str]:
    """The parameters the study's space samples on a log scale ("lr=1e-4..1e-2:log")."""
    return {
        str(text).split("=", 1)[0].strip()
        for text in summary.get("space", [])
        if str(text).strip().endswith(":log")
    }


def axis_of(trials: list[dict[str, Any]], name: str, log: bool | None = None) -> Axis:
    """The axis of parameter ``name`` over ``trials`` (a missing value: position NaN);
    ``log`` None decides by the values' span."""
    raw = [t["params"].get(name) for t in trials]
    present = [v for v in raw if v is not None]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if numeric and present:
        nums = np.array([np.nan if v is None else float(v) for v in raw])
        ok = nums[~np.isnan(nums)]
        if log is None:
            log = bool(ok.min() > 0 and ok.max() / ok.min() > 100)
        log = bool(log and ok.min() > 0)
        return Axis(name, np.log10(nums) if log else nums, log, None)
    order = sorted({str(v) for v in present})
    rank = {v: float(i) for i, v in enumerate(order)}
    positions = np.array([np.nan if v is None else rank[str(v)] for v in raw])
    return Axis(name, positions, False, [(rank[v], v) for v in order])


def slice_view(summary: dict[str, Any], name: str) -> Slice:
    """The objective against parameter ``name``, one point per finished trial."""
    trials = finished(summary)
    log = name in log_params(summary) or None
    return Slice(
        axis_of(trials, name, log),
        np.array([float(t["value"]) for t in trials]),
        np.array([int(t["number"]) for t in trials]),
    )


def contour_view(
    summary: dict[str, Any], x: str, y: str, n: int = 40, power: float = 2.0
) -> Contour:
    """The objective over parameters ``x`` and ``y``: points and an interpolated surface.

    The surface weights each trial by ``1 / distance**power`` (distances in the axes'
    scales, each axis stretched to 0..1); at a trial's own position it is that trial's
    value. With fewer than three trials at distinct positions it is all NaN.
    """
    trials = finished(summary)
    logs = log_params(summary)
    ax = axis_of(trials, x, x in logs or None)
    ay = axis_of(trials, y, y in logs or None)
    values = np.array([float(t["value"]) for t in trials])
    numbers = np.array([int(t["number"]) for t in trials])
    ok = ~(np.isnan(ax.positions) | np.isnan(ay.positions))
    px, py, pv = ax.positions[ok], ay.positions[ok], values[ok]

    def grid(p: np.ndarray) -> np.ndarray:
        if p.size == 0:
            return np.zeros(n)
        lo, hi = float(p.min()), float(p.max())
        return np.linspace(lo, hi, n) if hi > lo else np.full(n, lo)

    gx, gy = grid(px), grid(py)
    surface = np.full((n, n), np.nan)
    if len({(a, b) for a, b in zip(px.tolist(), py.tolist(), strict=True)}) >= 3:
        span_x = max(float(np.ptp(px)), 1e-12)
        span_y = max(float(np.ptp(py)), 1e-12)
        dx = (gx[:, None, None] - px[None, None, :]) / span_x
        dy = (gy[None, :, None] - py[None, None, :]) / span_y
        dist = np.sqrt(dx**2 + dy**2)
        exact = dist < 1e-9
        with np.errstate(divide="ignore"):
            w = np.where(exact, 0.0, 1.0 / dist**power)
        surface = (w * pv).sum(axis=2) / w.sum(axis=2)
        hit = exact.any(axis=2)  # a grid point on a trial takes its value (the first one)
        if hit.any():
            surface[hit] = pv[exact.argmax(axis=2)[hit]]
    return Contour(ax, ay, values, numbers, gx, gy, surface)
