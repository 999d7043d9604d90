"""Run folders: ``Run`` reads and writes the files of one, ``RunStore`` lists them.

The folder's layout and statuses are in ``runs.schema``; who owns a live run is in
``runs.liveness``; the trainer's events are written by ``runs.recorder``.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import secrets
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from widedeep_core.config import Config
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.fileio import (
    append_jsonl,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    read_jsonl,
)
from widedeep_core.runs.liveness import effective_status, owner_fields
from widedeep_core.runs.schema import (
    BATCHES_JSONL,
    CONFIG_JSON,
    DAMAGED,
    DATA_JSON,
    ENCODER_JSON,
    ENVIRONMENT_JSON,
    EPOCHS_JSONL,
    FORMAT_VERSION,
    KEY_HYPERPARAMETERS,
    LIVE_STATUSES,
    RETRIEVAL_NPZ,
    RUN_JSON,
    SETTABLE_STATUSES,
    SPLIT_JSON,
    TEST_METRICS_JSON,
    WEIGHTS,
    can_serve,
)

RUNS_ENV = "WIDEDEEP_RUNS_DIR"
APP_NAME = "widedeep-workbench"

# run.json is read-modified-written by the trainer thread and the GUI thread alike.
_META_LOCK = threading.RLock()


def default_runs_root() -> Path:
    """``$WIDEDEEP_RUNS_DIR`` if set, else the platform's user data folder + ``runs``."""
    env = os.environ.get(RUNS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "runs"


def _now() -> datetime:
    return datetime.now().astimezone()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.astimezone()


def slugify(text: str, max_len: int = 40) -> str:
    """Folder-safe lowercase slug of a display name ('My run #2' -> 'my-run-2')."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "run"


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass(frozen=True)
class RunInfo:
    """What the run list shows about one run (read-only snapshot)."""

    id: str
    path: Path
    name: str
    created: datetime | None
    status: str
    message: str | None = None
    preset: str | None = None
    data_name: str | None = None
    data_layout: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    best_val_auc: float | None = None
    test_auc: float | None = None
    duration_s: float | None = None
    epochs_run: int = 0
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def can_serve(self) -> bool:
        """True when the run has weights worth serving (see ``runs.schema.can_serve``)."""
        return can_serve(self.status, self.epochs_run)


class Run:
    """One run folder; every method reads or writes the files inside it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and self.path.resolve() == other.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def id(self) -> str:
        """The folder name, unique within a store."""
        return self.path.name

    def file(self, name: str) -> Path:
        """Path of one file of the run."""
        return self.path / name

    # --- run.json
    def read_meta(self) -> dict[str, Any]:
        """The raw content of run.json; a missing or damaged file raises ``RunError``."""
        meta = read_json(self.file(RUN_JSON))
        if not isinstance(meta, dict) or not isinstance(meta.get("status"), str):
            raise RunError(f"{self.file(RUN_JSON)}: not a run description (no status)")
        version = meta.get("format", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise RunError(
                f"{self.file(RUN_JSON)}: run format {version!r} was written by a newer "
                f"version of widedeep (this one reads format {FORMAT_VERSION}); "
                "upgrade to open it"
            )
        return meta

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into run.json atomically; returns the new content."""
        with _META_LOCK:
            meta = self.read_meta()
            meta.update(changes)
            atomic_write_json(self.file(RUN_JSON), meta)
            return meta

    @property
    def name(self) -> str:
        """Display name (kept in run.json; the folder name never changes)."""
        return str(self.read_meta().get("name") or self.id)

    @property
    def status(self) -> str:
        """Status as recorded, or ``interrupted`` when its owner process is gone."""
        return effective_status(self.read_meta())

    def set_status(self, status: str, message: str | None = None) -> None:
        """Record running|finished|cancelled|failed, with timings and the owner process."""
        if status not in SETTABLE_STATUSES:
            raise RunError(f"unknown run status {status!r}; use one of {SETTABLE_STATUSES}")
        now = _now()
        with _META_LOCK:
            meta = self.read_meta()
            changes: dict[str, Any] = {"status": status, "message": message}
            if status == "running":
                # Whoever trains owns the run (it may be another process than the creator).
                changes.update(**owner_fields(), ended=None)
                if not meta.get("started"):
                    changes["started"] = _iso(now)
            else:
                started = _parse_time(meta.get("started"))
                changes["ended"] = _iso(now)
                changes["duration_s"] = (now - started).total_seconds() if started else None
            self.update_meta(**changes)

    # --- JSON documents
    def write_config(self, config: Config) -> None:
        """Store the configuration (config.json)."""
        atomic_write_json(self.file(CONFIG_JSON), config.to_dict())

    def read_config(self) -> Config:
        """The stored configuration; damaged or invalid content raises ``RunError``."""
        path = self.file(CONFIG_JSON)
        try:
            return Config.from_dict(read_json(path))
        except ConfigError as exc:
            raise RunError(f"{path}: {exc}") from None

    def write_data_info(self, info: Mapping[str, Any]) -> None:
        """Store the data identity (name, layout, path, fingerprint, counts) in data.json."""
        atomic_write_json(self.file(DATA_JSON), dict(info))

    def read_data_info(self) -> dict[str, Any]:
        """The content of data.json."""
        return self._read_object(DATA_JSON)

    def trained_on(self, data: Any) -> bool:
        """True when ``data`` (a MovieLensData) has the content this run was trained on."""
        want = self.read_data_info().get("fingerprint")
        return not want or getattr(data, "fingerprint", None) == want

    def write_split(self, record: Mapping[str, Any]) -> None:
        """Store the split record (kind, fractions, seed, hash) in split.json."""
        atomic_write_json(self.file(SPLIT_JSON), dict(record))

    def read_split(self) -> dict[str, Any]:
        """The content of split.json."""
        return self._read_object(SPLIT_JSON)

    def write_encoder(self, encoder_json: Mapping[str, Any]) -> None:
        """Store the fitted feature encoder (its ``to_json()``) in encoder.json."""
        atomic_write_json(self.file(ENCODER_JSON), dict(encoder_json))

    def read_encoder(self) -> dict[str, Any]:
        """The content of encoder.json."""
        return self._read_object(ENCODER_JSON)

    def write_test_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Store test-set metrics in test_metrics.json."""
        atomic_write_json(self.file(TEST_METRICS_JSON), dict(metrics))

    def read_test_metrics(self) -> dict[str, Any] | None:
        """The test metrics, or None before the test set was scored."""
        if not self.file(TEST_METRICS_JSON).exists():
            return None
        return self._read_object(TEST_METRICS_JSON)

    def write_environment(self, device: Any = None) -> dict[str, Any]:
        """Record library versions, platform and device in environment.json; returns them."""
        import numpy
        import pandas
        import torch

        import widedeep_core

        env: dict[str, Any] = {
            "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "pandas": pandas.__version__,
            "widedeep_core": widedeep_core.__version__,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda_build": torch.version.cuda,
            "executable": sys.executable,
            "device": None,
        }
        if device is not None:
            from widedeep_core.devices import describe_device

            env["device"] = describe_device(device)
        atomic_write_json(self.file(ENVIRONMENT_JSON), env)
        return env

    def read_environment(self) -> dict[str, Any] | None:
        """The recorded environment, or None when not written."""
        if not self.file(ENVIRONMENT_JSON).exists():
            return None
        return self._read_object(ENVIRONMENT_JSON)

    def _read_object(self, name: str) -> dict[str, Any]:
        path = self.file(name)
        value = read_json(path)
        if not isinstance(value, dict):
            raise RunError(f"{path}: expected a JSON object, got {type(value).__name__}")
        return value

    # --- metrics streams
    def append_batch_metrics(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append batch rows to batches.jsonl and flush (no fsync: they are frequent)."""
        append_jsonl(self.file(BATCHES_JSONL), rows)

    def append_epoch_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one epoch row to epochs.jsonl, flushed and fsynced."""
        append_jsonl(self.file(EPOCHS_JSONL), [row], fsync=True)

    def read_batch_metrics(self) -> list[dict[str, Any]]:
        """Batch rows so far (a line cut short by a crash is skipped)."""
        return read_jsonl(self.file(BATCHES_JSONL))

    def read_epoch_metrics(self) -> list[dict[str, Any]]:
        """Epoch rows so far (a line cut short by a crash is skipped)."""
        return read_jsonl(self.file(EPOCHS_JSONL))

    # --- weights
    def weights_path(self, which: str = "best") -> Path:
        """Path of weights_best.pt or weights_last.pt."""
        if which not in WEIGHTS:
            raise RunError(f"unknown weights {which!r}; use 'best' or 'last'")
        return self.file(WEIGHTS[which])

    def has_weights(self, which: str = "best") -> bool:
        """True when those weights were saved."""
        return self.weights_path(which).exists()

    def save_weights(self, state_dict: Mapping[str, Any], which: str = "best") -> None:
        """Save a model state_dict atomically."""
        atomic_torch_save(self.weights_path(which), dict(state_dict))

    def save_retrieval(self, arrays: Mapping[str, Any]) -> None:
        """Store a two-stage run's retrieval model (named numpy arrays) atomically."""
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write_bytes(self.file(RETRIEVAL_NPZ), buffer.getvalue())

    def load_retrieval(self) -> dict[str, Any] | None:
        """The stored retrieval arrays, or None when the run has none (one-stage runs)."""
        import numpy as np

        path = self.file(RETRIEVAL_NPZ)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise RunError(f"{path}: the stored retrieval model cannot be read: {exc}") from exc

    def load_weights(self, which: str = "best", map_location: Any = "cpu") -> dict[str, Any]:
        """Load a state_dict with ``weights_only=True`` (no code from the file is ever run)."""
        import torch

        path = self.weights_path(which)
        if not path.exists():
            raise RunError(f"{path}: no {which} weights saved in this run")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # corrupt zip, refused pickle, truncated file: all unusable
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(f"{path}: cannot load weights ({first})") from None
        if not isinstance(state, dict):
            raise RunError(f"{path}: expected a state_dict, got {type(state).__name__}")
        return state

    # --- summary
    def info(self) -> RunInfo:
        """A ``RunInfo`` snapshot; a damaged file raises ``RunError`` naming it."""
        meta = self.read_meta()
        config = self._read_object(CONFIG_JSON) if self.file(CONFIG_JSON).exists() else {}
        data = self._read_object(DATA_JSON) if self.file(DATA_JSON).exists() else {}
        epochs = self.read_epoch_metrics()
        tests = self.read_test_metrics() or {}
        status = effective_status(meta)
        aucs = [v for v in (_finite(row.get("val_auc")) for row in epochs) if v is not None]
        # The trainer records the AUC of the epoch it kept (it may monitor logloss instead);
        # before the test set is scored, the best AUC seen so far stands in.
        best_auc = _finite(tests.get("best_val_auc"))
        if best_auc is None and aucs:
            best_auc = max(aucs)
        duration = _finite(meta.get("duration_s"))
        started = _parse_time(meta.get("started"))
        if duration is None and status == "running" and started is not None:
            duration = (_now() - started).total_seconds()
        data_name = data.get("name")
        if not data_name and data.get("path"):
            data_name = Path(str(data["path"])).name
        return RunInfo(
            id=self.id,
            path=self.path,
            name=str(meta.get("name") or self.id),
            created=_parse_time(meta.get("created")),
            status=status,
            message=meta.get("message"),
            preset=meta.get("preset") or config.get("preset"),
            data_name=data_name,
            data_layout=data.get("layout"),
            hyperparameters={k: config[k] for k in KEY_HYPERPARAMETERS if k in config},
            best_val_auc=best_auc,
            test_auc=_finite(tests.get("auc", tests.get("test_auc"))),
            duration_s=duration,
            epochs_run=len(epochs),
            tags=dict(meta.get("tags") or {}),
        )


class RunStore:
    """All runs under one root folder (default: ``default_runs_root()``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_runs_root()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def create(
        self,
        config: Config,
        data_info: Mapping[str, Any],
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Make a new run folder (unique name), write run.json, config.json and data.json.

        ``tags`` (JSON values, e.g. a sweep's study and trial number) are kept in run.json.
        """
        display = (name or config.name or config.preset).strip() or config.preset
        self.root.mkdir(parents=True, exist_ok=True)
        now = _now()
        for _ in range(100):
            folder = self.root / f"{now:%Y-%m-%d_%H%M%S}_{slugify(display)}_{secrets.token_hex(2)}"
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            break
        else:
            raise RunError(f"{self.root}: could not create a unique run folder")
        run = Run(folder)
        run.write_config(config)
        run.write_data_info(data_info)
        # run.json last: a folder that has it is a complete run.
        atomic_write_json(
            run.file(RUN_JSON),
            {
                "format": FORMAT_VERSION,
                "name": display,
                "created": _iso(now),
                "status": "created",
                "message": None,
                **owner_fields(),
                "started": None,
                "ended": None,
                "duration_s": None,
                "preset": config.preset,
                "tags": dict(tags or {}),
            },
        )
        return run

    def _resolve(self, ref: str | Path | Run) -> Path:
        if isinstance(ref, Run):
            return ref.path
        path = Path(ref).expanduser()
        if not path.is_absolute() and len(path.parts) == 1 and (self.root / path).exists():
            return self.root / path
        return path

    def get(self, ref: str | Path | Run) -> Run:
        """The run with this id (folder name under the root) or path; else ``RunError``."""
        path = self._resolve(ref)
        if not path.is_dir():
            raise RunError(f"no run {str(ref)!r} (looked in {self.root})")
        if not (path / RUN_JSON).exists():
            raise RunError(f"{path / RUN_JSON}: file is missing; {path} is not a run folder")
        run = Run(path)
        run.read_meta()  # fail now, naming run.json, rather than on first use
        return run

    load = get

    def list(self) -> list[RunInfo]:
        """Every run, newest first; a damaged run is listed with status ``damaged``."""
        if not self.root.is_dir():
            return []
        infos = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not (folder / RUN_JSON).exists():
                continue
            try:
                infos.append(Run(folder).info())
            except RunError as exc:
                infos.append(
                    RunInfo(
                        id=folder.name,
                        path=folder,
                        name=folder.name,
                        created=None,
                        status=DAMAGED,
                        message=str(exc),
                    )
                )
        infos.sort(key=_sort_key, reverse=True)
        return infos

    def rename(self, run: str | Path | Run, new_name: str) -> Run:
        """Change the display name (run.json); the folder keeps its name."""
        target = self.get(run)
        clean = new_name.strip()
        if not clean or len(clean) > 200 or any(ord(ch) < 32 for ch in clean):
            raise RunError(f"invalid run name {new_name!r}: use 1 to 200 printable characters")
        target.update_meta(name=clean)
        return target

    def delete(self, run: str | Path | Run, force: bool = False) -> None:
        """Remove a run folder; a run still training here is refused unless ``force``.

        A damaged run (unreadable run.json or other files) can always be deleted: only
        the presence of run.json is required, so no other folder is ever removed.
        """
        path = self._resolve(run)
        if not path.is_dir() or not (path / RUN_JSON).exists():
            raise RunError(f"no run {str(run)!r} (looked in {self.root})")
        try:
            status = Run(path).status
        except RunError:
            status = DAMAGED
        if not force and status in LIVE_STATUSES:
            raise RunError(f"{path}: the run is still in progress; cancel it first")
        shutil.rmtree(path)


def _sort_key(info: RunInfo) -> tuple[float, str]:
    if info.created is not None:
        stamp = info.created.timestamp()
    else:
        with contextlib.suppress(OSError):
            return (info.path.stat().st_mtime, info.id)
        stamp = 0.0
    return (stamp, info.id)
