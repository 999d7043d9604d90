"""RecBole 1.2.1 beside this project: the same MovieLens folder, the same protocol, one run.

For each protocol the MovieLens folder is read with our loader and written as RecBole atomic
files (``<name>.inter``, ``.user``, ``.item``) in a temporary folder; RecBole trains there,
in its own virtual environment (``_recbole_runner.py``, one process per training, never
two at once), with RecBole's published MovieLens-1M benchmark configuration; then our
preset for the same protocol trains on the same folder. Printed per protocol: the rows,
users and movies each project keeps after the protocol's filters and whether they are
equal (also a digest of the kept (user, movie) pairs), the split sizes, both projects'
test metrics and epoch times, mean ± sample std over ``--seeds``, and RecBole's epoch time
over ours. On the general protocol RecBole's EASE also runs on our own split (written as
its pre-split ``benchmark_filename`` files) with our baseline's lambda, so the two EASE rows
show whether both projects evaluate full ranking alike. ``--speed`` adds one-epoch timings
of RecBole's tuned WideDeep shape and the seed's shape against ours with the same shape,
and the matrix-product floor of that shape.

Protocols (``benchmark/md/ml-1m_context.md`` and ``ml-1m_general.md`` in RUCAIBox/RecBole,
tuned settings from ``benchmark/hyper/``):

- context: ratings of 3 dropped, label rating >= 4, fields user_id, item_id, age, gender,
  occupation, genre, release_year, global random 80/10/10, WideDeep with embedding 16,
  MLP 256-256-256, dropout 0.2, lr 5e-3, batch 4096, early stopping on valid AUC
  (RecBole's ``stopping_step`` 10), test AUC and log loss;
- general: ratings >= 3, 10-core users and items, per-user random 80/10/10, full ranking
  with the history masked, K = 10, EASE with RecBole's best ML-1M ``reg_weight`` 1000.0
  (``benchmark/hyper/general/EASE-ml-1m_general.md``; it reports test NDCG@10 0.2865) and
  Pop; ours: the ``recbole-general`` preset and our EASE^R and popularity baselines.

RecBole's own virtual environment (outside the repository; RecBole 1.2.1 needs numpy < 2,
pandas < 2.3, scipy < 1.14 and setuptools < 70 for ray's ``pkg_resources``):

    python3 -m venv /work/recbole-venv
    /work/recbole-venv/bin/pip install torch==2.13.0
    /work/recbole-venv/bin/pip install recbole==1.2.1 "numpy<2" "pandas<2.3" \\
        "scipy<1.14" "setuptools<70"
    # recbole's install may swap torch for another build: put 2.13.0 (CPU) back, and keep
    # setuptools < 70 (pip then warns that torch asks for >= 77; torch runs without it)
    /work/recbole-venv/bin/pip install torch==2.13.0 && \\
        /work/recbole-venv/bin/pip install "setuptools<70"
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /work/recbole-venv/bin/python -c "import recbole.quick_start"

(recbole 1.2.1's dependencies bring ray, thop, tabulate, colorlog, colorama, texttable,
psutil, plotly and tensorboard.) Every RecBole process runs with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: its reload of the best checkpoint predates torch's
weights-only default.

    python benchmarks/bench_recbole.py                       # ../shared/data/ml-100k, both
    python benchmarks/bench_recbole.py --quick               # 1 seed, 5 epochs: a look
    python benchmarks/bench_recbole.py PATH --protocol context --seeds 0,1,2 --json out.json
    python benchmarks/bench_recbole.py --protocol context --speed
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    fmt_seconds,
    format_table,
    machine_line,
    mean_std,
    parse_list,
    rerun_line,
    run_main,
)

from widedeep_core import api
from widedeep_core.config import Config, preset
from widedeep_core.data import MovieLensData, load_movielens
from widedeep_core.errors import WideDeepError

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_recbole_runner.py"
DEFAULT_DATA = HERE.parent / ".." / "shared" / "data" / "ml-100k"
DEFAULT_RECBOLE_PYTHON = "/work/recbole-venv/bin/python"
PROTOCOLS = ("context", "general")
# RecBole's best reg_weight for EASE on ML-1M (benchmark/hyper/general/EASE-ml-1m_general.md)
EASE_REG_WEIGHT = 1000.0
# speed runs: epochs per side; the fastest after the first is the one reported
SPEED_EPOCHS = 3

# --------------------------------------------------------------------- atomic files

INTER_HEADER = ("user_id:token", "item_id:token", "rating:float", "timestamp:float")
USER_HEADER = ("user_id:token", "age:token", "gender:token", "occupation:token")
ITEM_HEADER = ("item_id:token", "genre:token_seq", "release_year:token")


def atomic_name(data: MovieLensData) -> str:
    """The atomic files' stem: ``wdbench-<data name>``. Never plain ``ml-100k``: RecBole
    reads its bundled copy of a dataset of that name (and its own ml-100k settings)."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in data.name) or "data"
    return f"wdbench-{stem}"


def _token(value: object) -> str:
    """A token cell: no tab, newline or space (spaces separate a token_seq's items)."""
    text = "" if value is None else str(value)
    return "_".join(text.split())


def _year(value: object) -> str:
    """A release year as an integer token, empty when unknown."""
    try:
        year = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(year) else str(int(year))


def _inter_lines(r: Any) -> list[str]:
    """An ``.inter`` file's lines (header first) of a ratings frame."""
    return ["\t".join(INTER_HEADER)] + [
        f"{u}\t{i}\t{rating:g}\t{ts}"
        for u, i, rating, ts in zip(
            r["user"].tolist(),
            r["item"].tolist(),
            r["rating"].astype(float).tolist(),
            r["timestamp"].tolist(),
            strict=True,
        )
    ]


def atomic_lines(data: MovieLensData) -> dict[str, list[str]]:
    """The atomic files' lines, header first: {"inter": [...], "user": [...], "item": [...]}
    ("user" only when the folder has demographics). Pure: nothing is written."""
    out = {"inter": _inter_lines(data.ratings)}
    if data.users is not None:
        u = data.users
        out["user"] = ["\t".join(USER_HEADER)] + [
            f"{uid}\t{_token(age)}\t{_token(gender)}\t{_token(occ)}"
            for uid, age, gender, occ in zip(
                u["user"].tolist(),
                u["age"].tolist(),
                u["gender"].tolist(),
                u["occupation"].tolist(),
                strict=True,
            )
        ]
    m = data.movies
    out["item"] = ["\t".join(ITEM_HEADER)] + [
        f"{iid}\t{' '.join(_token(g) for g in genres)}\t{_year(year)}"
        for iid, genres, year in zip(
            m["item"].tolist(), m["genres"].tolist(), m["year"].tolist(), strict=True
        )
    ]
    return out


def write_atomic(data: MovieLensData, folder: Path, name: str | None = None) -> dict[str, Path]:
    """Write ``folder/<name>/<name>.inter|.user|.item`` (RecBole's ``data_path`` is
    ``folder``); returns the paths by suffix."""
    name = name or atomic_name(data)
    target = Path(folder) / name
    target.mkdir(parents=True, exist_ok=True)
    paths = {}
    for suffix, lines in atomic_lines(data).items():
        path = target / f"{name}.{suffix}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[suffix] = path
    return paths


def write_split_atomic(prep: Any, folder: Path, name: str) -> None:
    """Our split of a prepared run as RecBole's pre-split files
    ``<name>.train.inter|.valid.inter|.test.inter`` (its ``benchmark_filename``): RecBole then
    skips its filters and its own split, and evaluates on exactly our rows."""
    r = prep.data.ratings
    target = Path(folder) / name
    target.mkdir(parents=True, exist_ok=True)
    for part, rows in (
        ("train", prep.split.train),
        ("valid", prep.split.val),
        ("test", prep.split.test),
    ):
        lines = _inter_lines(r.iloc[rows])
        (target / f"{name}.{part}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------- RecBole's configs

_BASE = {
    "field_separator": "\t",
    "seq_separator": " ",
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "RATING_FIELD": "rating",
    "TIME_FIELD": "timestamp",
    "NEG_PREFIX": "neg_",
    "LABEL_FIELD": "label",
    "epochs": 500,
    "stopping_step": 10,
    "eval_batch_size": 40960000,
    "metric_decimal_place": 6,  # RecBole rounds to 4 by default; more digits to compare
}


def model_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """A ``--*-models`` item: a RecBole model name, ``EASE@500`` for EASE with another
    ``reg_weight``; (name, extra configuration)."""
    name, _, value = spec.partition("@")
    if not value:
        return name, {}
    if name != "EASE":
        raise ValueError(f"{spec!r}: only EASE takes @reg_weight")
    return name, {"reg_weight": float(value)}


def recbole_config(protocol: str, model: str, *, has_users: bool = True) -> dict[str, Any]:
    """RecBole's published ML-1M benchmark configuration for ``protocol`` and ``model``
    (a ``model_spec``)."""
    model, extra = model_spec(model)
    if protocol == "context":
        load = {"inter": ["user_id", "item_id", "rating"]}
        if has_users:
            load["user"] = ["user_id", "age", "gender", "occupation"]
        load["item"] = ["item_id", "genre", "release_year"]
        cfg = {
            **_BASE,
            "threshold": {"rating": 4},
            "val_interval": {"rating": "[0,3);(3,inf)"},
            "load_col": load,
            "train_batch_size": 4096,
            "eval_args": {
                "split": {"RS": [0.8, 0.1, 0.1]},
                "group_by": None,
                "mode": "labeled",
                "order": "RO",
            },
            "valid_metric": "AUC",
            "metrics": ["AUC", "LogLoss"],
            "embedding_size": 16,
        }
        if model == "WideDeep":  # RecBole's tuned best of 24 (WideDeep-ml-1m.md)
            cfg.update(learning_rate=0.005, dropout_prob=0.2, mlp_hidden_size=[256, 256, 256])
        return cfg
    if protocol == "general":
        cfg = {
            **_BASE,
            "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
            "val_interval": {"rating": "[3,inf)"},
            "unused_col": {"inter": ["rating"]},
            "user_inter_num_interval": "[10,inf)",
            "item_inter_num_interval": "[10,inf)",
            "train_batch_size": 4096,
            "eval_args": {
                "split": {"RS": [0.8, 0.1, 0.1]},
                "group_by": "user",
                "mode": "full",
                "order": "RO",
            },
            "topk": [10],
            "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"],
            "valid_metric": "NDCG@10",
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "dynamic": False},
            "embedding_size": 64,
        }
        if model == "EASE":
            cfg["reg_weight"] = EASE_REG_WEIGHT
        return {**cfg, **extra}
    raise ValueError(f"unknown protocol {protocol!r}")


# --------------------------------------------------------------------- RecBole's side


class RecBoleMissing(WideDeepError):
    """RecBole's interpreter is absent or cannot import RecBole."""


def recbole_python(spec: str | None) -> str:
    """The RecBole venv's interpreter: ``--recbole-python``, $RECBOLE_PYTHON or the default;
    one clear line when it is missing."""
    path = spec or os.environ.get("RECBOLE_PYTHON") or DEFAULT_RECBOLE_PYTHON
    if not Path(path).is_file():
        raise RecBoleMissing(
            f"no RecBole interpreter at {path}: build the venv with `python3 -m venv "
            "/work/recbole-venv && /work/recbole-venv/bin/pip install torch==2.13.0 && "
            '/work/recbole-venv/bin/pip install recbole==1.2.1 "numpy<2" "pandas<2.3" '
            '"scipy<1.14" "setuptools<70"` (see this script\'s docstring), or pass '
            "--recbole-python / set RECBOLE_PYTHON"
        )
    return path


def run_recbole(python: str, job: dict[str, Any], *, verbose: bool = False) -> dict[str, Any]:
    """One RecBole training in its venv; the runner's JSON line as a dict."""
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)  # the project's paths stay out of RecBole's interpreter
    proc = subprocess.run(
        [python, str(RUNNER), "-"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if verbose and proc.stderr:
        sys.stderr.write(proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise WideDeepError(
            f"RecBole {job['model']} failed (exit {proc.returncode}); its last lines:\n{tail}"
        )
    return json.loads(lines[-1])


# --------------------------------------------------------------------- our side


def pairs_sha1(users: Sequence[int], items: Sequence[int]) -> str:
    """SHA-1 of the sorted "user<TAB>item" lines, as the runner computes it for RecBole."""
    lines = sorted(f"{u}\t{i}" for u, i in zip(users, items, strict=True))
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()


def our_counts(config: Config, data: MovieLensData) -> dict[str, Any]:
    """Rows, users and movies our protocol keeps (labelled rows of ``Prepared.data``), the
    split sizes and the kept pairs' digest."""
    from widedeep_core.features.prepare import prepare

    prep = prepare(config, data)
    keep = ~np.isnan(prep.labels)
    r = prep.data.ratings
    users, items = r["user"].to_numpy()[keep], r["item"].to_numpy()[keep]
    split = prep.split
    out: dict[str, Any] = {
        "rows": int(keep.sum()),
        "users": len(np.unique(users)),
        "items": len(np.unique(items)),
        "positives": int(np.nansum(prep.labels)),
        "pairs_sha1": pairs_sha1(users.tolist(), items.tolist()),
        "split": {"train": len(split.train), "valid": len(split.val), "test": len(split.test)},
    }
    return out


class EpochClock:
    """Listens to the trainer's events: each epoch's training seconds, validation excluded.

    Epoch e's training ends at its last ``BatchEvent``; it starts at the previous
    ``EpochEvent`` (epoch 1: at ``StartedEvent``, so it also holds the encoding of the rows
    and the model's construction)."""

    def __init__(self) -> None:
        self.mark = time.perf_counter()
        self.train_seconds: list[float] = []

    def __call__(self, event: object) -> None:
        kind = type(event).__name__
        now = time.perf_counter()
        if kind == "StartedEvent":
            self.mark = now
        elif kind == "BatchEvent" and event.batch == event.n_batches:  # type: ignore[attr-defined]
            self.train_seconds.append(now - self.mark)
        elif kind == "EpochEvent":
            self.mark = now


def steady_epoch(seconds: Sequence[float]) -> float:
    """The median epoch after the first (which pays for warm-up), else the first."""
    vals = list(seconds[1:]) or list(seconds)
    return statistics.median(vals) if vals else float("nan")


def quiet_epoch(seconds: Sequence[float]) -> float:
    """The fastest epoch after the first: another process on the cores only adds time, so
    on a shared machine the minimum is the closer estimate of a quiet epoch."""
    vals = list(seconds[1:]) or list(seconds)
    return min(vals) if vals else float("nan")


def run_ours(config: Config, data: MovieLensData) -> dict[str, Any]:
    """Train one configuration (no run folder) and collect its figures."""
    clock = EpochClock()
    t = time.perf_counter()
    result = api.train(config, data, save_run=False, callback=clock)
    total = time.perf_counter() - t
    best = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
    test = dict(result.test)
    baselines = test.pop("baselines", {}) or {}
    return {
        "config": config.preset,
        "seed": config.seed,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "best_valid": {k: v for k, v in best.items() if k.startswith("val_")},
        "test": {k: v for k, v in test.items() if isinstance(v, int | float)},
        "baselines": {
            name: {k: v for k, v in row.items() if isinstance(v, int | float)}
            for name, row in baselines.items()
        },
        "train_seconds": clock.train_seconds,
        "epoch_seconds": steady_epoch(clock.train_seconds),
        "fit_seconds": result.train_seconds,
        "total_seconds": total,
    }


def our_config(protocol: str, seed: int, epochs: int | None) -> Config:
    """Our preset for the protocol, seeded, on the CPU, epochs capped by ``--epochs``."""
    cfg = preset(f"recbole-{protocol}")
    changes: dict[str, Any] = {"seed": seed, "device": "cpu"}
    if epochs is not None:
        changes["epochs"] = min(cfg.epochs, epochs)
    return cfg.replace(**changes)


# --------------------------------------------------------------------- one protocol


CONTEXT_METRICS = (("auc", "auc", "AUC"), ("logloss", "logloss", "log loss"))
GENERAL_METRICS = tuple(
    (f"{ours}@10", f"{theirs}@10", f"{title}@10")
    for ours, theirs, title in (
        ("ndcg", "ndcg", "NDCG"),
        ("recall", "recall", "Recall"),
        ("hr", "hit", "Hit"),
        ("mrr", "mrr", "MRR"),
        ("precision", "precision", "Precision"),
    )
)


def run_protocol(
    protocol: str,
    data: MovieLensData,
    folder: Path,
    python: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Both projects on one protocol over the seeds; every figure in one dict."""
    name = atomic_name(data)
    models = args.context_models if protocol == "context" else args.general_models
    recbole: dict[str, list[dict[str, Any]]] = {m: [] for m in models}
    ours: list[dict[str, Any]] = []
    same: list[dict[str, Any]] = []
    counts = None
    for seed in args.seeds:
        for model in models:
            cfg = recbole_config(protocol, model, has_users=data.users is not None)
            if args.epochs is not None:
                cfg["epochs"] = args.epochs
            load = os.getloadavg()[0]
            print(f"  RecBole {model}, {protocol}, seed {seed} (load {load:.2f}) ...", flush=True)
            job = {
                "data_path": str(folder),
                "dataset": name,
                "model": model_spec(model)[0],
                "config": cfg,
                "seed": seed,
                "workdir": str(folder / f"work-{protocol}-{model.replace('@', '-')}-{seed}"),
            }
            recbole[model].append(run_recbole(python, job, verbose=args.verbose))
            recbole[model][-1]["load_before"] = load
        cfg = our_config(protocol, seed, args.epochs)
        if counts is None:
            counts = our_counts(cfg, data)
        load = os.getloadavg()[0]
        print(f"  ours {cfg.preset}, seed {seed} (load {load:.2f}) ...", flush=True)
        ours.append({**run_ours(cfg, data), "load_before": load})
        if protocol == "general" and args.same_split:
            same.append(same_split_ease(cfg, data, folder, python, ours[-1], args))
    out = {"protocol": protocol, "ours_counts": counts, "recbole": recbole, "ours": ours}
    if same:
        out["same_split"] = same
    return out


def same_split_ease(
    cfg: Config,
    data: MovieLensData,
    folder: Path,
    python: str,
    ours: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """RecBole's EASE on our very split (pre-split files), with our baseline's lambda:
    with the same rows, the same lambda and the same history masked, the two EASE rows
    differ only where the two projects evaluate differently (ties, masking, metrics)."""
    from widedeep_core.features.prepare import prepare

    lam = float(cfg.ease_lambda)
    name = f"{atomic_name(data)}-split-{cfg.seed}"
    write_split_atomic(prepare(cfg, data), folder, name)
    rb_cfg = recbole_config("general", f"EASE@{lam:g}")
    rb_cfg["benchmark_filename"] = ["train", "valid", "test"]
    print(f"  RecBole EASE on our split, seed {cfg.seed}, reg_weight {lam:g} ...", flush=True)
    job = {
        "data_path": str(folder),
        "dataset": name,
        "model": "EASE",
        "config": rb_cfg,
        "seed": cfg.seed,
        "workdir": str(folder / f"work-same-split-{cfg.seed}"),
    }
    theirs = run_recbole(python, job, verbose=args.verbose)
    return {
        "seed": cfg.seed,
        "lambda": lam,
        "recbole": theirs["test"],
        "recbole_split": theirs["split"],
        "ours": ours["baselines"].get("ease", {}),
    }


def same_split_table(rows_in: list[dict[str, Any]]) -> str:
    """RecBole's EASE on our split beside our EASE^R, mean over seeds, and the largest
    per-seed difference."""
    rows = []
    for ours_key, theirs_key, title in GENERAL_METRICS:
        a = [r["recbole"].get(theirs_key, float("nan")) for r in rows_in]
        b = [r["ours"].get(ours_key, float("nan")) for r in rows_in]
        diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
        rows.append([title, _ms(a), _ms(b), f"{diff:.6f}"])
    lam = rows_in[0]["lambda"]
    headers = [
        "metric",
        f"RecBole EASE (reg {lam:g}) on our split",
        f"ours EASE^R (lambda {lam:g})",
        "max |diff|",
    ]
    return format_table(headers, rows)


def _ms(values: Sequence[float], digits: int = 4) -> str:
    vals = [v for v in values if v is not None and v == v]
    if not vals:
        return "n/a"
    mean, std = mean_std(vals)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(vals) > 1 else f"{mean:.{digits}f}"


def counts_table(figures: dict[str, Any]) -> str:
    """Rows, users, movies and split sizes of both projects (first seed for RecBole's split;
    sizes do not depend on the seed)."""
    ours = figures["ours_counts"]
    first = next(iter(figures["recbole"].values()))[0]
    theirs, split = first["counts"], first["split"]
    rows = []

    def add(label: str, a: object, b: object, note: str = "") -> None:
        rows.append([label, str(a), str(b), "EQUAL" if a == b else "differ", note])

    add("rows after filtering", ours["rows"], theirs["rows"])
    add("users with a row", ours["users"], theirs["users"])
    add("movies with a row", ours["items"], theirs["items"])
    rows.append(
        [
            "RecBole ids (user_num-1 / item_num-1)",
            "-",
            f"{theirs['user_num_minus_pad']} / {theirs['item_num_minus_pad']}",
            "",
            f"raw {theirs['user_num']} / {theirs['item_num']} with [PAD]",
        ]
    )
    if "positives" in theirs:
        add("positives (label 1)", ours["positives"], theirs["positives"])
    add(
        "kept (user, movie) pairs, SHA-1",
        ours["pairs_sha1"][:12],
        theirs["pairs_sha1"][:12],
    )
    for part in ("train", "valid", "test"):
        add(f"{part} rows", ours["split"][part], split[part])
    for part in ("valid", "test"):
        if f"{part}_users" in split:
            rows.append([f"{part} users ranked", "-", str(split[f"{part}_users"]), "", ""])
    return format_table(["", "ours", "RecBole", "", "note"], rows)


def _their_epoch(run: dict[str, Any]) -> float:
    """A RecBole run's steady training epoch (seconds)."""
    return steady_epoch([e["train_seconds"] for e in run["epochs"]])


def _their_fit(run: dict[str, Any]) -> float:
    """A RecBole run's model construction (EASE's whole solve) plus its epochs and
    validations: what our ``train_seconds`` (epochs and validations) stands beside."""
    return float(run["model_seconds"]) + float(run["fit_seconds"])


def metrics_table(figures: dict[str, Any]) -> tuple[str, list[str]]:
    """Test metrics and epoch times of each model, mean ± std over the seeds; and the
    ratio lines."""
    protocol = figures["protocol"]
    metrics = CONTEXT_METRICS if protocol == "context" else GENERAL_METRICS
    headers = ["model", "seeds", *[m[2] for m in metrics], "epochs", "epoch s", "fit s"]
    rows = []
    for model, runs in figures["recbole"].items():
        label = f"RecBole {model_spec(model)[0]}"
        if label == "RecBole EASE":
            reg = model_spec(model)[1].get("reg_weight", EASE_REG_WEIGHT)
            label += f" (reg_weight {reg:g})"
        cells = [label, str(len(runs))]
        cells += [_ms([r["test"].get(theirs) for r in runs]) for _o, theirs, _t in metrics]
        cells.append(_ms([len(r["epochs"]) for r in runs], 1))
        cells.append(_ms([_their_epoch(r) for r in runs], 3))
        cells.append(_ms([_their_fit(r) for r in runs], 2))
        rows.append(cells)
    ours = figures["ours"]
    cells = [f"ours {ours[0]['config']}", str(len(ours))]
    cells += [_ms([r["test"].get(o) for r in ours]) for o, _t, _ti in metrics]
    cells.append(_ms([r["epochs"] for r in ours], 1))
    cells.append(_ms([r["epoch_seconds"] for r in ours], 3))
    cells.append(_ms([r["fit_seconds"] for r in ours], 2))
    rows.append(cells)
    if protocol == "general":
        for base in ("ease", "popularity"):
            runs = [r["baselines"].get(base, {}) for r in ours]
            if not any(runs):
                continue
            label = "ours EASE^R" if base == "ease" else "ours popularity"
            lam = runs[0].get("lambda")
            if base == "ease" and lam is not None:
                label += f" (lambda {lam:g})"
            cells = [label, str(len(runs))]
            cells += [_ms([r.get(o) for r in runs]) for o, _t, _ti in metrics]
            rows.append([*cells, "-", "-", "-"])
    lines = []
    ours_epoch, _ = mean_std([r["epoch_seconds"] for r in ours])
    ours_fit, _ = mean_std([r["fit_seconds"] for r in ours])
    ours_quiet, _ = mean_std([quiet_epoch(r["train_seconds"]) for r in ours])
    for model, runs in figures["recbole"].items():
        if protocol == "context":
            a, _ = mean_std([_their_epoch(r) for r in runs])
            q, _ = mean_std([quiet_epoch([e["train_seconds"] for e in r["epochs"]]) for r in runs])
            lines.append(
                f"epoch time RecBole {model} / ours {ours[0]['config']}: "
                f"{a / ours_epoch:.2f}x ({fmt_seconds(a)} s / {fmt_seconds(ours_epoch)} s, "
                f"median epochs); fastest epochs {q / ours_quiet:.2f}x "
                f"({fmt_seconds(q)} s / {fmt_seconds(ours_quiet)} s)"
            )
        a, _ = mean_std([_their_fit(r) for r in runs])
        lines.append(
            f"fit time RecBole {model} / ours {ours[0]['config']}: "
            f"{a / ours_fit:.2f}x ({fmt_seconds(a)} s / {fmt_seconds(ours_fit)} s)"
        )
    return format_table(headers, rows), lines


# --------------------------------------------------------------------- speed


def gemm_floor(rows: int, batch: int, dims: Sequence[int], repeats: int = 3) -> dict[str, float]:
    """Seconds the MLP's matrix products of one epoch take in torch alone: per batch the
    forward ``[b, d_i] @ [d_i, d_i+1]`` and the backward's two products per layer (input
    and weight gradients); best of ``repeats``. Also the epoch's FLOPs."""
    gen = torch.Generator().manual_seed(0)
    sizes = [batch] * (rows // batch) + ([rows % batch] if rows % batch else [])
    ws = [torch.randn(a, b, generator=gen) * 0.05 for a, b in itertools.pairwise(dims)]
    xs = {b: torch.randn(b, dims[0], generator=gen) for b in set(sizes)}
    flops = sum(6.0 * b * a * c for b in sizes for a, c in itertools.pairwise(dims))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for b in sizes:
            acts = [xs[b]]
            for w in ws:
                acts.append(acts[-1] @ w)
            grad = torch.ones_like(acts[-1])
            for w, a in zip(reversed(ws), reversed(acts[:-1]), strict=True):
                _ = a.t() @ grad  # weight gradient
                grad = grad @ w.t()  # input gradient
        best = min(best, time.perf_counter() - t)
    return {"seconds": best, "tflop": flops / 1e12, "gflops_per_s": flops / best / 1e9}


def _deep_input(config: Config, data: MovieLensData) -> int:
    """The width of our deep part's input (fields x embedding) for ``config``."""
    from widedeep_core.features.prepare import prepare
    from widedeep_core.model import WideDeep

    prep = prepare(config, data)
    model = WideDeep.from_config(config, prep.encoder.specs)
    first = next(m for m in model.mlp.modules() if isinstance(m, torch.nn.Linear))  # type: ignore[union-attr]
    return int(first.in_features)


def run_speed(
    data: MovieLensData, folder: Path, python: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One epoch (the fastest of epochs 2..SPEED_EPOCHS: the first pays for warm-up) of
    RecBole's WideDeep and of ours with the same shape, for RecBole's tuned shape and the
    seed's; the GEMM floor."""
    shapes = {
        "RecBole tuned (emb 16, MLP 256-256-256, batch 4096)": ((256, 256, 256), 4096),
        "seed (emb 16, MLP 16-16, batch 512)": ((16, 16), 512),
    }
    name = atomic_name(data)
    out: dict[str, Any] = {}
    for label, (hidden, batch) in shapes.items():
        cfg = recbole_config("context", "WideDeep", has_users=data.users is not None)
        cfg.update(mlp_hidden_size=list(hidden), train_batch_size=batch, epochs=SPEED_EPOCHS)
        print(f"  speed: RecBole WideDeep, {label} ...", flush=True)
        job = {
            "data_path": str(folder),
            "dataset": name,
            "model": "WideDeep",
            "config": cfg,
            "seed": args.seeds[0],
            "workdir": str(folder / f"work-speed-{batch}"),
            "train_only": True,
        }
        theirs = run_recbole(python, job, verbose=args.verbose)
        # the same model as RecBole's: its seven fields, first-order wide part (no crosses)
        ours_cfg = preset("recbole-context").replace(
            hidden=hidden,
            embed_dim=16,
            batch_size=batch,
            dropout=0.2,
            lr=5e-3,
            crosses=(),
            epochs=SPEED_EPOCHS,
            patience=None,
            seed=args.seeds[0],
            device="cpu",
        )
        print(f"  speed: ours, {label} ...", flush=True)
        clock = EpochClock()
        api.train(ours_cfg, data, save_run=False, callback=clock)
        rows = theirs["split"]["train"]
        dims = [_deep_input(ours_cfg, data), *hidden, 1]
        floor = gemm_floor(rows, batch, dims)
        out[label] = {
            "recbole_epochs": [e["train_seconds"] for e in theirs["epochs"]],
            "ours_epochs": clock.train_seconds,
            "train_rows": rows,
            "dims": dims,
            "floor": floor,
        }
    return out


def speed_table(speed: dict[str, Any]) -> str:
    rows = []
    for label, s in speed.items():
        theirs, ours = quiet_epoch(s["recbole_epochs"]), quiet_epoch(s["ours_epochs"])
        floor = s["floor"]
        rows.append(
            [
                label,
                f"{s['train_rows']:,}",
                fmt_seconds(theirs),
                fmt_seconds(ours),
                f"{theirs / ours:.2f}x",
                f"{floor['seconds']:.3f}",
                f"{floor['tflop']:.4f}",
                f"{ours / floor['seconds']:.2f}x",
            ]
        )
    headers = [
        "shape",
        "train rows",
        "RecBole s",
        "ours s",
        "RecBole/ours",
        "GEMM floor s",
        "TFLOP",
        "ours/floor",
    ]
    return format_table(headers, rows)


# --------------------------------------------------------------------- main


def _checked_spec(spec: str) -> str:
    model_spec(spec)  # a bad @value is an argparse error
    return spec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=DEFAULT_DATA,
        help="a MovieLens folder or official zip (default: ../shared/data/ml-100k)",
    )
    p.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    p.add_argument(
        "--recbole-python",
        default=None,
        help=f"RecBole venv's python (default: $RECBOLE_PYTHON or {DEFAULT_RECBOLE_PYTHON})",
    )
    p.add_argument("--epochs", type=int, default=None, help="cap both projects' epochs")
    p.add_argument(
        "--seeds",
        type=lambda s: parse_list(s, int),
        default=[0, 1, 2],
        help="comma-separated seeds (default: 0,1,2)",
    )
    p.add_argument("--quick", action="store_true", help="seed 0 only, at most 5 epochs")
    p.add_argument("--speed", action="store_true", help="also the one-epoch speed section")
    p.add_argument("--speed-only", action="store_true", help="only the speed section")
    p.add_argument(
        "--context-models",
        type=lambda s: parse_list(s, _checked_spec),
        default=["WideDeep"],
        help="RecBole models on the context protocol (default: WideDeep)",
    )
    p.add_argument(
        "--general-models",
        type=lambda s: parse_list(s, _checked_spec),
        default=["EASE", f"EASE@{preset('recbole-general').ease_lambda:g}", "Pop"],
        help="RecBole models on the general protocol (default: EASE, EASE@<our preset's\n"
        "lambda>, Pop: RecBole's published reg_weight 1000, then our EASE^R's lambda)",
    )
    p.add_argument(
        "--no-same-split",
        dest="same_split",
        action="store_false",
        help="skip RecBole's EASE on our own general-protocol split",
    )
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write every figure")
    p.add_argument("--verbose", action="store_true", help="show RecBole's log on stderr")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1] if argv and "--seeds" in argv else [0]
        args.epochs = min(args.epochs or 5, 5)
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Both projects on each protocol; tables, ratios and (``--json``) every figure."""
    args = parse_args(argv)
    python = recbole_python(args.recbole_python)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    for protocol in protocols:
        preset(f"recbole-{protocol}")  # an old checkout without the preset fails first
    print(machine_line("cpu"))
    print(
        "load average (1 min) is printed before each training: timings of a busy machine "
        "(load near or above the core count) are not comparable; rerun on a quiet one"
    )
    t = time.perf_counter()
    data = load_movielens(args.path)
    print(
        f"data: {data.name} ({data.n_ratings:,} ratings, layout {data.layout}), "
        f"opened in {fmt_seconds(time.perf_counter() - t)} s; RecBole: {python}",
        flush=True,
    )
    figures: dict[str, Any] = {"data": data.name, "seeds": args.seeds, "epochs_cap": args.epochs}
    with tempfile.TemporaryDirectory(prefix="wdbench-recbole-") as tmp:
        folder = Path(tmp)
        write_atomic(data, folder)
        if not args.speed_only:
            for protocol in protocols:
                print(f"\n== {protocol} protocol ==", flush=True)
                figs = run_protocol(protocol, data, folder, python, args)
                figures[protocol] = figs
                _print_protocol(figs)
        if args.speed or args.speed_only:
            print(
                f"\n== speed: one epoch (fastest of epochs 2-{SPEED_EPOCHS}), context protocol ==",
                flush=True,
            )
            speed = run_speed(data, folder, python, args)
            figures["speed"] = speed
            print(speed_table(speed))
            print(
                "epoch = training only (validation excluded), the fastest epoch after the "
                "first on both sides; ours with RecBole's fields and no crosses. GEMM floor: "
                "the MLP's forward and backward matrix products of one epoch in torch alone "
                "(best of 3)."
            )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
        print(f"figures written to {args.json}")
    print(rerun_line(__file__, argv))
    return 0


def _print_protocol(figs: dict[str, Any]) -> None:
    first = next(iter(figs["recbole"].values()))[0]
    print(f"RecBole {first['recbole']} (torch {first['torch']}, {first['threads']} threads)")
    print(counts_table(figs))
    print()
    table, lines = metrics_table(figs)
    print(table)
    for line in lines:
        print(line)
    if figs.get("same_split"):
        print()
        print("RecBole's EASE on our split (its pre-split files; no filter, no split of its own):")
        print(same_split_table(figs["same_split"]))
    print(
        "test metrics of the weights each project keeps (best validation epoch); epoch s: "
        "training only, median epoch after the first; fit s: epochs and validations (RecBole "
        "also its model's construction, EASE's solve); mean ± sample std over seeds"
    )


if __name__ == "__main__":
    run_main(main)
