"""One RecBole training, run by RecBole's own virtual environment for ``bench_recbole.py``.

This script never imports the project: only the standard library, RecBole and torch, so
it runs under the interpreter of a separate venv (RecBole 1.2.1 pins ``numpy<2``, which
the project's own venv does not have). The job is one JSON object, as the first argument
or on standard input:

    {"data_path": "/tmp/x",        # the folder that holds the dataset's folder
     "dataset": "wdbench-ml-100k", # the dataset's folder and file stem (<name>.inter, ...)
     "model": "WideDeep",          # any RecBole model name: "WideDeep", "EASE", "Pop", ...
     "config": {...},              # RecBole configuration keys (the protocol, the model)
     "seed": 0,
     "workdir": "/tmp/y",          # RecBole writes its log, tensorboard and checkpoints here
     "train_only": false}          # true: fit without validation or test (speed runs)

It wires RecBole the way ``recbole.quick_start.run_recbole`` does (``Config``,
``create_dataset``, ``data_preparation``, ``get_model``, ``get_trainer``, ``fit``,
``evaluate``), times each training epoch and validation pass by wrapping the trainer's
``_train_epoch`` / ``_valid_epoch``, and prints exactly one JSON line on standard output;
RecBole's logging and prints go to standard error.

A dataset named ``ml-100k`` would make RecBole read its bundled copy (and its own
context-aware ml-100k settings) instead of the files given, so the caller picks another
name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any


def _numbers(result: Any) -> dict[str, float]:
    """RecBole's result dict (an OrderedDict of metric -> value) as plain floats."""
    if not result:
        return {}
    return {str(k): float(v) for k, v in dict(result).items()}


def _column(feat: Any, name: str) -> Any:
    """A column of a pandas frame or a RecBole ``Interaction`` as a numpy array."""
    col = feat[name]
    return col.numpy() if hasattr(col, "numpy") and not hasattr(col, "to_numpy") else col.to_numpy()


def _pairs_sha1(dataset: Any) -> str:
    """SHA-1 of the sorted "user<TAB>item" token lines of the filtered interactions: two
    projects that keep the same (user, movie) pairs print the same digest."""
    users = dataset.id2token(dataset.uid_field, _column(dataset.inter_feat, dataset.uid_field))
    items = dataset.id2token(dataset.iid_field, _column(dataset.inter_feat, dataset.iid_field))
    lines = sorted(f"{u}\t{i}" for u, i in zip(users.tolist(), items.tolist(), strict=True))
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()


def _counts(dataset: Any) -> dict[str, Any]:
    """What survives RecBole's filtering. ``user_num``/``item_num`` count every remapped id,
    the [PAD] id 0 included, and every user or item of the .user/.item files even without
    an interaction left; ``users``/``items`` are those with at least one interaction."""
    inter = dataset.inter_feat
    out: dict[str, Any] = {
        "rows": len(dataset),
        "users": len(set(_column(inter, dataset.uid_field).tolist())),
        "items": len(set(_column(inter, dataset.iid_field).tolist())),
        "user_num": int(dataset.user_num),
        "item_num": int(dataset.item_num),
        "user_num_minus_pad": int(dataset.user_num) - 1,
        "item_num_minus_pad": int(dataset.item_num) - 1,
    }
    label = dataset.label_field
    if label and label in inter:
        out["positives"] = int(_column(inter, label).sum())
    out["pairs_sha1"] = _pairs_sha1(dataset)
    return out


def _split_sizes(train: Any, valid: Any, test: Any) -> dict[str, int]:
    """Rows of each part, and for full-ranking parts the users ranked."""
    out = {
        "train": len(train.dataset),
        "valid": len(valid.dataset),
        "test": len(test.dataset),
    }
    for name, loader in (("valid", valid), ("test", test)):
        uids = getattr(loader, "uid_list", None)
        if uids is not None:
            out[f"{name}_users"] = len(uids)
    return out


def _timed(trainer: Any, epochs: list[dict[str, Any]]) -> None:
    """Wrap the trainer's epoch methods so each epoch's seconds, loss and scores are kept."""
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def timed_train(train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        loss = train_epoch(train_data, epoch_idx, *args, **kwargs)
        seconds = time.perf_counter() - t
        total = float(sum(loss)) if isinstance(loss, tuple) else float(loss)
        epochs.append({"epoch": int(epoch_idx) + 1, "train_seconds": seconds, "loss": total})
        return loss

    def timed_valid(valid_data: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        score, result = valid_epoch(valid_data, *args, **kwargs)
        if epochs:
            epochs[-1]["valid_seconds"] = time.perf_counter() - t
            epochs[-1]["valid_score"] = float(score)
            epochs[-1]["valid"] = _numbers(result)
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; returns the figures printed as the JSON line."""
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    started = time.perf_counter()
    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    workdir = job.get("workdir") or os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)  # RecBole writes ./log, ./log_tensorboard relative to the cwd
    seed = int(job.get("seed", 0))
    settings = {
        "data_path": job["data_path"],
        "checkpoint_dir": os.path.join(workdir, "saved"),
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "gpu_id": "",
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        **job.get("config", {}),
    }
    config = Config(model=job["model"], dataset=job["dataset"], config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)

    t = time.perf_counter()
    dataset = create_dataset(config)
    counts = _counts(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    data_seconds = time.perf_counter() - t

    init_seed(config["seed"], config["reproducibility"])
    t = time.perf_counter()
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    model_seconds = time.perf_counter() - t  # EASE solves its whole model here
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    epochs: list[dict[str, Any]] = []
    _timed(trainer, epochs)

    t = time.perf_counter()
    train_only = bool(job.get("train_only"))
    if train_only:
        trainer.fit(train_data, None, saved=False)
        best_score, best_valid, test = None, None, {}
    else:
        best_score, best_valid = trainer.fit(train_data, valid_data, saved=True)
    fit_seconds = time.perf_counter() - t
    if not train_only:
        test = _numbers(trainer.evaluate(test_data, load_best_model=True))
    scored = [e for e in epochs if "valid_score" in e]
    best_epoch = None
    if scored:  # RecBole's early_stopping: a tie (value >= best) moves the best epoch on
        sign = 1.0 if config["valid_metric_bigger"] else -1.0
        top = max(sign * e["valid_score"] for e in scored)
        best_epoch = [e for e in scored if sign * e["valid_score"] == top][-1]["epoch"]
    return {
        "model": job["model"],
        "dataset": job["dataset"],
        "seed": seed,
        "recbole": recbole.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "counts": counts,
        "split": _split_sizes(train_data, valid_data, test_data),
        "epochs": epochs,
        "best_epoch": best_epoch,
        "best_valid_score": None if best_score is None else float(best_score),
        "best_valid": _numbers(best_valid),
        "test": test,
        "valid_metric": str(config["valid_metric"]),
        "data_seconds": data_seconds,
        "model_seconds": model_seconds,
        "fit_seconds": fit_seconds,
        "total_seconds": time.perf_counter() - started,
    }


def main() -> int:
    """Read the job, run it with stdout pointed at stderr, print the one JSON line."""
    text = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else sys.stdin.read()
    job = json.loads(text)
    out = sys.stdout
    sys.stdout = sys.stderr  # RecBole's prints and logs never mix with the result line
    try:
        result = run(job)
    finally:
        sys.stdout = out
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
