"""What a study shows: one record per trial, the best trial, a table and ``--set`` lines.

``study_summary`` is the one JSON object ``sweep --json`` and ``sweep show --json`` print
and the app's Sweep page draws from, so the three never disagree.
"""

from __future__ import annotations

import contextlib
import math
import shlex
from typing import Any

from widedeep_core.config import Config, format_value, preset

from .storage import display_url, storage_errors
from .study import base_from_attrs, is_widedeep, load_study, space_from_attrs, study_names

NOT_WIDEDEEP = (
    "not a widedeep study (made by plain Optuna or another tool: no recorded search "
    "space); its trials only"
)


def trial_record(trial: Any) -> dict[str, Any]:
    """Number, state, parameters, value, run folder, duration, pruned epoch, error, curve."""
    # a foreign study may have several objectives: no single value to show then
    value = trial.values[0] if trial.values and len(trial.values) == 1 else None
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    steps = sorted(trial.intermediate_values.items())
    pruned_at = trial.user_attrs.get("pruned_at")
    if trial.state.name == "PRUNED" and pruned_at is None and steps:
        pruned_at = steps[-1][0]
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "params": dict(trial.params),
        "value": value if value is None or math.isfinite(value) else None,
        "run_dir": trial.user_attrs.get("run_dir"),
        "duration_s": duration,
        "pruned_at_epoch": pruned_at,
        "error": trial.user_attrs.get("error"),
        "intermediate": [[int(step), float(v)] for step, v in steps],
    }


def best_config(study: Any) -> Config | None:
    """The configuration of the best finished trial (None before one finishes, or for a
    study this project did not create)."""
    attrs = study.user_attrs
    if not is_widedeep(attrs):
        return None
    try:
        best = study.best_trial
    except ValueError:
        return None
    return space_from_attrs(attrs).apply(base_from_attrs(attrs), best.params)


def set_lines(cfg: Config) -> list[str]:
    """``KEY=VALUE`` items that turn ``cfg``'s preset into ``cfg`` (for ``--set``)."""
    try:
        start = preset(cfg.preset)
    except Exception:
        start = Config()
    out = []
    for key in cfg.to_dict():
        if key in ("name", "preset") or getattr(start, key) == getattr(cfg, key):
            continue
        out.append(f"{key}={format_value(key, getattr(cfg, key))}")
    return out


def study_summary(study: Any, storage_url: str | None = None) -> dict[str, Any]:
    """The JSON object of a study: its set-up, every trial and the best one.

    A study this project did not create (``"widedeep": false``) shows its trials and
    its best trial's parameters, without a configuration to reproduce.
    """
    guard = storage_errors(storage_url) if storage_url else contextlib.nullcontext()
    with guard:
        return _summary(study, storage_url)


def _summary(study: Any, storage_url: str | None) -> dict[str, Any]:
    attrs = study.user_attrs
    widedeep = is_widedeep(attrs)
    trials = [trial_record(t) for t in study.get_trials(deepcopy=False)]
    directions = [d.name.lower() for d in study.directions]
    best = None
    cfg = best_config(study)
    if cfg is not None:
        record = trials[study.best_trial.number]
        best = {
            **{k: record[k] for k in ("number", "value", "params", "run_dir")},
            "preset": cfg.preset,
            "set": set_lines(cfg),
        }
    elif not widedeep and len(directions) == 1:
        with contextlib.suppress(ValueError):
            record = trials[study.best_trial.number]
            best = {k: record[k] for k in ("number", "value", "params", "run_dir")}
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["state"]] = counts.get(t["state"], 0) + 1
    return {
        "study": study.study_name,
        "storage": display_url(storage_url) if storage_url else None,
        "widedeep": widedeep,
        "metric": attrs.get("metric"),
        "direction": "/".join(directions),
        "space": list(attrs.get("space") or []) if widedeep else [],
        "data_path": attrs.get("data_path"),
        "counts": counts,
        "trials": trials,
        "best": best,
    }


def param_importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA); empty until two trials have finished."""
    import warnings

    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "too few trials": the bars say it themselves
            return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError):  # e.g. every trial had the same values
        return {}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def format_summary(summary: dict[str, Any], data_hint: str = "PATH") -> str:
    """The trials table, the counts and the best configuration as ``--set`` lines."""
    names = [text.split("=", 1)[0] for text in summary["space"]]
    if not names:  # a foreign study: the parameters its trials have
        names = sorted({n for t in summary["trials"] for n in t["params"]})
    header = ["#", "state", summary.get("metric") or "value", "seconds", "stopped at", *names]
    rows = [header]
    for t in summary["trials"]:
        stopped = f"epoch {t['pruned_at_epoch']}" if t["pruned_at_epoch"] else ""
        seconds = f"{t['duration_s']:.1f}" if t["duration_s"] is not None else "-"
        rows.append(
            [
                str(t["number"]),
                t["state"],
                _cell(t["value"]),
                seconds,
                stopped or "-",
                *(_cell(t["params"].get(n)) for n in names),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"study {summary['study']}"
        + (f" in {summary['storage']}" if summary.get("storage") else ""),
        (
            f"  {summary.get('metric')} ({summary['direction']}), space: "
            + "; ".join(summary["space"])
            if summary.get("widedeep", True)
            else f"  {NOT_WIDEDEEP} ({summary['direction']})"
        ),
        "  " + (", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items())) or "no trials"),
        "",
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    failures = [t for t in summary["trials"] if t["state"] == "fail" and t["error"]]
    for t in failures:
        lines.append(f"  trial {t['number']} failed: {t['error']}")
    best = summary.get("best")
    if best is None:
        lines.append("no finished trial yet")
        return "\n".join(lines)
    lines += [
        "",
        f"best: trial {best['number']}, {summary.get('metric') or 'value'} "
        f"{_cell(best['value'])}" + (f", run {best['run_dir']}" if best.get("run_dir") else ""),
    ]
    if "set" not in best:  # nothing of ours to reproduce it with
        return "\n".join(lines)
    lines += [
        "reproduce it with:",
        f"  widedeep train --data {data_hint} --preset {best['preset']} \\",
    ]
    items = [f"    --set {shlex.quote(line)}" for line in best["set"]]
    lines += [item + " \\" for item in items[:-1]] + items[-1:]
    return "\n".join(lines)


def study_list(url: str) -> list[dict[str, Any]]:
    """One row per study in the storage ``url``: its name, whether this project made it,
    metric and direction, trials in all and by state, the best value and the data."""
    rows = []
    for name in study_names(url):
        summary = study_summary(load_study(name, url), url)
        states: dict[str, int] = {}
        for trial in summary.get("trials") or []:
            states[trial["state"]] = states.get(trial["state"], 0) + 1
        best = summary.get("best") or {}
        rows.append(
            {
                "study": name,
                "widedeep": summary.get("widedeep", False),
                "metric": summary.get("metric"),
                "direction": summary.get("direction"),
                "trials": sum(states.values()),
                "states": states,
                "best": best.get("value"),
                "data": summary.get("data_path"),
            }
        )
    return rows
