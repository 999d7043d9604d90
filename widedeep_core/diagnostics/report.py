"""Every diagnostic of a run in one ``Diagnosis``, cached in the run folder.

``diagnose(run)`` answers, for a stored run on its own test split (``part="val"``: the
validation split, where the question is tuning):

- calibration: can the probabilities be trusted (``calibration``);
- who it fails: per-user AUC and NDCG@10, metrics by activity and popularity (``users``);
- lists: what the top-10 is made of, beside popularity and EASE^R (``lists``);
- fields: which inputs and which part carry the model (``fields``);
- embeddings: a map of the movie embeddings (``embeddings``).

``compare(a, b)`` puts two diagnoses of runs on the same split side by side, with a
paired bootstrap interval over users for every per-user metric.

The result is kept in ``diagnostics.json`` in the run folder (atomic write, a format
version and a key of what it depends on: the serving weights, config, encoder, split,
data and test metrics); a missing, damaged, older or stale file is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from widedeep_core.diagnostics import calibration, embeddings, fields, lists, users
from widedeep_core.diagnostics.subject import (
    Progress,
    StopCheck,
    Subject,
    as_run,
    check_part,
    checkpoint,
    open_subject,
    require_test_metrics,
)
from widedeep_core.diagnostics.tables import (
    LIST_METRICS,
    activity_order,
    histogram,
    paired_bootstrap,
    quantile_row,
)
from widedeep_core.errors import RunError, WideDeepError
from widedeep_core.runs import Run
from widedeep_core.runs.schema import CONFIG_JSON, ENCODER_JSON, TEST_METRICS_JSON

# Bump when a diagnostic's numbers or tables change for the same run.
DIAGNOSTICS_FORMAT = 2  # 2: the training dynamics table
DIAGNOSTICS_JSON = "diagnostics.json"
PERMUTATION = "permutation"


@dataclass
class Diagnosis:
    """Every diagnostic of one run on one part: named tables and summary values."""

    run: str  # the run folder
    name: str
    part: str
    k: int
    protocol: str
    data: str  # the data's fingerprint
    split: str  # the split's hash
    two_stage: bool
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # time of each diagnostic

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (``fileio.dumps`` turns NaN into null)."""
        return {
            "run": self.run,
            "name": self.name,
            "part": self.part,
            "k": self.k,
            "protocol": self.protocol,
            "data": self.data,
            "split": self.split,
            "two_stage": self.two_stage,
            "values": self.values,
            "tables": {n: frame_to_json(t) for n, t in self.tables.items()},
            "notes": list(self.notes),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        """The inverse of ``to_dict``; a malformed document raises ValueError."""
        try:
            tables = {str(n): frame_from_json(t) for n, t in dict(d["tables"]).items()}
            return cls(
                run=str(d["run"]),
                name=str(d["name"]),
                part=str(d["part"]),
                k=int(d["k"]),
                protocol=str(d["protocol"]),
                data=str(d["data"]),
                split=str(d["split"]),
                two_stage=bool(d["two_stage"]),
                values=dict(d["values"]),
                tables=tables,
                notes=[str(n) for n in d["notes"]],
                seconds={str(k): float(v) for k, v in dict(d["seconds"]).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a diagnosis: {exc}") from None


def frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as columns, dtypes and rows of plain values."""
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [frame[c].tolist() for c in frame.columns],
    }


def frame_from_json(d: dict[str, Any]) -> pd.DataFrame:
    """The DataFrame of ``frame_to_json`` (null floats back to NaN)."""
    columns, dtypes, data = list(d["columns"]), list(d["dtypes"]), list(d["data"])
    if not (len(columns) == len(dtypes) == len(data)):
        raise ValueError("columns, dtypes and data differ in length")
    out = {}
    for name, dtype, values in zip(columns, dtypes, data, strict=True):
        if dtype.startswith(("float", "int", "bool")):
            values = [np.nan if v is None else v for v in values]
            out[name] = pd.Series(values, dtype=dtype)
        else:
            out[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(out)


# ---------------------------------------------------------------- the cache


def _digest(path: Path) -> str | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return None


def cache_key(run: Run) -> dict[str, Any] | None:
    """What a stored diagnosis depends on; None when the run cannot say (no cache)."""
    try:
        cfg = run.read_config()
        weights = run.weights_path(cfg.serving_weights).stat()
        return {
            "weights": [cfg.serving_weights, weights.st_size, weights.st_mtime_ns],
            "config": _digest(run.file(CONFIG_JSON)),
            "encoder": _digest(run.file(ENCODER_JSON)),
            "test_metrics": _digest(run.file(TEST_METRICS_JSON)),
            "split": run.read_split().get("hash"),
            "data": run.read_data_info().get("fingerprint"),
        }
    except (OSError, WideDeepError):
        return None


def read_cached(run: Run, part: str, key: dict[str, Any] | None) -> Diagnosis | None:
    """The stored diagnosis of ``part`` when it is whole, of this format and still
    current (same key); else None."""
    from widedeep_core.fileio import read_json

    if key is None or not run.file(DIAGNOSTICS_JSON).exists():
        return None
    try:
        doc = read_json(run.file(DIAGNOSTICS_JSON))
    except WideDeepError:
        return None  # damaged: recomputed and rewritten
    if not isinstance(doc, dict) or doc.get("format") != DIAGNOSTICS_FORMAT:
        return None
    if doc.get("key") != key or not isinstance(doc.get("parts"), dict):
        return None
    part_doc = doc["parts"].get(part)
    if not isinstance(part_doc, dict):
        return None
    try:
        return Diagnosis.from_dict(part_doc)
    except ValueError:
        return None


def write_cached(run: Run, diagnosis: Diagnosis, key: dict[str, Any] | None) -> None:
    """Keep ``diagnosis`` beside the run's other parts; a folder that cannot be written
    costs the next call a recomputation, nothing else."""
    from widedeep_core.fileio import atomic_write_json, read_json

    if key is None:
        return
    parts: dict[str, Any] = {}
    try:
        doc = read_json(run.file(DIAGNOSTICS_JSON)) if run.file(DIAGNOSTICS_JSON).exists() else {}
        same = isinstance(doc, dict) and doc.get("format") == DIAGNOSTICS_FORMAT
        if same and doc.get("key") == key and isinstance(doc.get("parts"), dict):
            parts = dict(doc["parts"])
    except WideDeepError:
        parts = {}
    parts[diagnosis.part] = diagnosis.to_dict()
    document = {"format": DIAGNOSTICS_FORMAT, "key": key, "parts": parts}
    with contextlib.suppress(OSError, WideDeepError):
        atomic_write_json(run.file(DIAGNOSTICS_JSON), document, indent=None, create_parent=False)


# ---------------------------------------------------------------- one run


class _Stages:
    """Times each diagnostic, reports progress between them and honours a cancel."""

    def __init__(self, progress: Progress | None, should_stop: StopCheck | None, span: float):
        self.progress, self.should_stop, self.span = progress, should_stop, span
        self.seconds: dict[str, float] = {}
        self.done = 0.0

    def run(self, name: str, weight: float, message: str, job: Any) -> Any:
        checkpoint(self.should_stop)
        if self.progress is not None:
            self.progress(self.done * self.span, message)
        start = time.perf_counter()
        result = job()
        self.seconds[name] = time.perf_counter() - start
        self.done += weight
        return result


def _basic(s: Subject, stages: _Stages) -> tuple[dict, dict, list[str]]:
    """Every diagnostic but the permutation importance: (tables, values, notes)."""
    tables: dict[str, pd.DataFrame] = {}
    values: dict[str, Any] = {}
    notes: list[str] = []

    cal = stages.run("calibration", 0.1, "Calibration", lambda: calibration.row_calibration(s))
    tables["calibration"] = cal.bins
    values.update(ece=cal.ece, brier=cal.brier, mean_predicted=cal.mean_predicted)
    values["observed_rate"] = cal.observed_rate
    if s.prep.retrieval is not None:
        cand = stages.run(
            "calibration_candidates",
            0.15,
            "Calibration on the ranked candidates",
            lambda: calibration.candidate_calibration(s),
        )
        if cand is not None:
            tables["calibration_candidates"] = cand.bins
            values.update(candidates_ece=cand.ece, candidates_brier=cand.brier)
            values["candidates"] = cand.n

    per_user = stages.run("per_user", 0.1, "Per-user metrics", lambda: users.per_user(s))
    tables["per_user"] = per_user
    tables["user_auc_histogram"] = histogram(per_user["auc"].to_numpy())
    judged = per_user[per_user["judged"]]
    tables["user_ndcg_histogram"] = histogram(judged["ndcg"].to_numpy())
    tables["user_quantiles"] = pd.DataFrame(
        [
            {"metric": "auc", **quantile_row(per_user["auc"].to_numpy())},
            {"metric": f"ndcg@{s.k}", **quantile_row(judged["ndcg"].to_numpy())},
        ]
    )
    tables["by_activity"] = stages.run(
        "by_activity", 0.05, "Metrics by user activity", lambda: users.by_activity(s, per_user)
    )
    tables["by_popularity"] = stages.run(
        "by_popularity", 0.05, "Metrics by movie popularity", lambda: users.by_popularity(s)
    )

    baselines = stages.run(
        "baseline_lists",
        0.2,
        "Baseline lists (popularity, EASE^R)",
        lambda: lists.baseline_lists(s),
    )
    all_lists = {"model": s.top, **baselines}
    tables["lists"] = stages.run(
        "lists", 0.1, "What the lists are made of", lambda: lists.list_table(s, all_lists)
    )
    tables["popularity_distribution"] = lists.popularity_distribution(s, all_lists)

    parts, terms = stages.run(
        "logit_parts", 0.05, "Wide and deep parts", lambda: fields.logit_parts(s)
    )
    tables["logit_parts"] = parts
    tables["wide_terms"] = terms
    values["wide_share"] = float(parts.loc[parts["part"] == "wide", "share"].iloc[0])

    counts = s.item_train_counts()
    by_id = dict(zip(s.items.tolist(), counts.astype(int).tolist(), strict=True))
    mapped = stages.run(
        "embedding_map",
        0.05,
        "Movie embeddings",
        lambda: embeddings.embedding_map(s.trained, by_id),
    )
    if mapped is None:
        notes.append(embeddings.no_embeddings_note(s.trained))
    else:
        tables["embedding_map"], values["pca_explained"] = mapped
    return tables, values, notes


DYNAMICS_COLUMNS = ("wide_share", "wide_abs_logit", "deep_abs_logit", "grad_wide", "grad_deep")


def training_dynamics(run: Run) -> pd.DataFrame:
    """One row per epoch of the run: train loss, validation AUC, the parts' shares of
    the validation logit and the gradient norms of the epoch's last step (recorded by
    the trainer once an epoch; NaN for runs made before it recorded them), and the
    wide part's share of the gradient norm."""
    rows = run.read_epoch_metrics()
    out = pd.DataFrame(
        {
            "epoch": [int(r.get("epoch") or 0) for r in rows],
            "train_loss": [float(r.get("train_loss", np.nan)) for r in rows],
            "val_auc": [float(r.get("val_auc", np.nan)) for r in rows],
            **{c: [float(r.get(f"dyn_{c}", np.nan)) for r in rows] for c in DYNAMICS_COLUMNS},
        }
    )
    total = out["grad_wide"] + out["grad_deep"]
    out["grad_wide_share"] = np.where(total > 0, out["grad_wide"] / total.where(total > 0), np.nan)
    return out


def diagnose(
    run: str | Path | Run,
    data: Any = None,
    *,
    part: str = "test",
    permutation: bool = True,
    repeats: int = fields.DEFAULT_REPEATS,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    device: str = "cpu",
    cache: bool = True,
) -> Diagnosis:
    """Every diagnostic of a stored run on ``part`` (``permutation`` False leaves the
    permutation importance out). ``data`` None opens the run's own folder. A stored
    diagnosis is reused while current. RunError for a missing, damaged or unservable
    run, one on other data and one without test metrics."""
    from widedeep_core.serving.loading import check_same_data
    from widedeep_core.threads import CoreShare

    check_part(part)
    r = as_run(run)
    require_test_metrics(r)
    if data is not None:
        check_same_data(r, data)
    key = cache_key(r) if cache else None
    cached = read_cached(r, part, key)
    if cached is not None and (not permutation or PERMUTATION in cached.tables):
        if progress is not None:
            progress(1.0, "Read the stored diagnosis")
        return cached
    span = 0.5 if permutation else 1.0
    stages = _Stages(progress, should_stop, span)
    with CoreShare():
        s = stages.run(
            "load",
            0.0,
            "Loading the run and scoring its split",
            lambda: open_subject(r, data, part=part, device=device),
        )
        if cached is None:
            tables, values, notes = _basic(s, stages)
            tables["dynamics"] = training_dynamics(r)
            if tables["dynamics"]["wide_share"].isna().all() and len(tables["dynamics"]):
                notes.append("Training dynamics: this run predates their recording (no values).")
            seconds = stages.seconds
        else:
            tables, values, notes, seconds = (
                cached.tables,
                cached.values,
                cached.notes,
                cached.seconds,
            )
            seconds.update(stages.seconds)
        if permutation:

            def report(fraction: float, message: str) -> None:
                if progress is not None:
                    progress(span + (1.0 - span) * fraction, f"Permutation importance: {message}")

            start = time.perf_counter()
            tables[PERMUTATION] = fields.permutation_importance(
                s, repeats=repeats, progress=report, should_stop=should_stop
            )
            seconds[PERMUTATION] = time.perf_counter() - start
    cfg = s.trained.config
    values["auc"] = float(calibration_auc(s))
    diagnosis = Diagnosis(
        run=str(r.path),
        name=r.name,
        part=part,
        k=s.k,
        protocol=cfg.protocol,
        data=s.trained.data.fingerprint,
        split=s.prep.split.record.hash,
        two_stage=cfg.two_stage,
        values=values,
        tables=tables,
        notes=notes,
        seconds=seconds,
    )
    if cache:
        write_cached(r, diagnosis, key)
    if progress is not None:
        progress(1.0, "Done")
    return diagnosis


def calibration_auc(s: Subject) -> float:
    """The part's AUC (the base the permutation importance drops from)."""
    from widedeep_core.evaluation.metrics import auc

    return auc(s.y, s.logit)


# ---------------------------------------------------------------- two runs


def check_comparable(a: Diagnosis, b: Diagnosis) -> None:
    """A RunError unless both diagnoses judge the same users on the same split."""
    problems = []
    if a.data != b.data:
        problems.append("they were trained on different data")
    if a.split != b.split:
        problems.append("their splits differ")
    if a.protocol != b.protocol:
        problems.append(f"their protocols differ ({a.protocol} vs {b.protocol})")
    if a.part != b.part:
        problems.append(f"they are diagnosed on different parts ({a.part} vs {b.part})")
    if problems:
        raise RunError(
            f"{a.run} and {b.run} cannot be compared user by user: " + "; ".join(problems)
        )


def compare(
    a: Diagnosis,
    b: Diagnosis,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Every per-user metric of run B minus run A, overall and per activity bucket, with
    a paired bootstrap interval over the users both judged (seeded). ``significant``:
    the interval leaves 0 out."""
    check_comparable(a, b)
    ua, ub = a.tables["per_user"], b.tables["per_user"]
    joined = ua.merge(ub, on="user", suffixes=("_a", "_b"))
    groups = [("all", np.ones(len(joined), bool))]
    for bucket in dict.fromkeys(joined["activity_a"]):
        groups.append((str(bucket), (joined["activity_a"] == bucket).to_numpy()))
    order = ["all", *activity_order(joined["activity_a"])]
    groups.sort(key=lambda g: order.index(g[0]) if g[0] in order else len(order))
    rows = []
    for metric in ("auc", *LIST_METRICS):
        name = metric if metric == "auc" else f"{metric}@{a.k}"
        for label, sel in groups:
            va = joined[f"{metric}_a"].to_numpy(dtype=np.float64)[sel]
            vb = joined[f"{metric}_b"].to_numpy(dtype=np.float64)[sel]
            ok = np.isfinite(va) & np.isfinite(vb)
            diff, lo, hi = paired_bootstrap(va[ok], vb[ok], n_boot=n_boot, seed=seed, level=level)
            rows.append(
                {
                    "metric": name,
                    "group": label,
                    "users": int(ok.sum()),
                    "a": float(va[ok].mean()) if ok.any() else float("nan"),
                    "b": float(vb[ok].mean()) if ok.any() else float("nan"),
                    "diff": diff,
                    "lo": lo,
                    "hi": hi,
                    "significant": bool(lo > 0 or hi < 0),
                }
            )
    return pd.DataFrame(rows)


__all__ = [
    "DIAGNOSTICS_FORMAT",
    "DIAGNOSTICS_JSON",
    "Diagnosis",
    "cache_key",
    "check_comparable",
    "compare",
    "diagnose",
    "frame_from_json",
    "frame_to_json",
    "read_cached",
    "write_cached",
]
