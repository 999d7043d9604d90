"""Run folders: ``Run`` reads and writes the files of one, ``RunStore`` lists them.

The folder's layout and statuses are in ``runs.schema``; who owns a live run is in
``runs.liveness``; the trainer's events are written by ``runs.recorder``.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import pickle
import platform
import re
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from widedeep_core.config import Config
from widedeep_core.constants import MONITORS
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.faultpoints import checkpoint
from widedeep_core.fileio import (
    append_jsonl,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    display_path,
    read_json,
    read_jsonl,
    write_failure,
)
from widedeep_core.monitors import monitor_of
from widedeep_core.owners import owner_fields, pid_alive
from widedeep_core.runs.liveness import effective_status
from widedeep_core.runs.schema import (
    BATCHES_JSONL,
    CONFIG_JSON,
    DAMAGED,
    DATA_JSON,
    ENCODER_JSON,
    ENVIRONMENT_JSON,
    EPOCHS_JSONL,
    FORMAT_VERSION,
    INCOMPLETE,
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

# A run folder's name: <date>_<time>_<slug>_<4 hex>. A folder named so but without
# run.json is listed as incomplete (left by a version that created folders in place).
RUN_FOLDER_RE = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{6}_[a-z0-9-]+_[0-9a-f]{4}$")
# A run is built in ``.new-<host>-<pid>-<token>`` and renamed into place once run.json
# is in it, so a crash never leaves a folder without run.json under a run's name.
_NEW_PREFIX = ".new-"
# Temp files (".name.xxx.tmp") of a run that is not live are removed once this old; the
# delay leaves a rename of a finished run in another process the time to complete.
STALE_TEMP_S = 10.0
# A creation temp folder of another host, or of a pid we cannot check, after this long.
STALE_NEW_S = 24 * 3600.0


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


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


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
    # the metric that picked the best epoch (``monitors``) and its value there
    monitor: str = "val_auc"
    best_value: float | None = None
    # test_metrics.json as stored: the model's metrics and ``baselines``
    test_metrics: dict[str, Any] = field(default_factory=dict)

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
            self._write_json(RUN_JSON, meta)
            return meta

    def _write(self, name: str, write: Callable[[Path, str], Any]) -> None:
        """Run ``write(path, point)``; an OS error becomes one RunError naming file and cause.

        Fault checkpoints: ``run.<name>`` before the write, ``run.<name>.replace`` when
        the temp file is whole but not yet in place.
        """
        path = self.file(name)
        try:
            checkpoint(f"run.{name}")
            write(path, f"run.{name}.replace")
        except OSError as exc:
            raise RunError(write_failure(exc, path)) from None

    def _write_json(self, name: str, obj: Any) -> None:
        self._write(name, lambda path, point: atomic_write_json(path, obj, point=point))

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
        self._write_json(CONFIG_JSON, config.to_dict())

    def read_config(self) -> Config:
        """The stored configuration; damaged or invalid content raises ``RunError``."""
        path = self.file(CONFIG_JSON)
        try:
            return Config.from_dict(read_json(path))
        except ConfigError as exc:
            raise RunError(f"{path}: {exc}") from None

    def write_data_info(self, info: Mapping[str, Any]) -> None:
        """Store the data identity (name, layout, path, fingerprint, counts) in data.json."""
        self._write_json(DATA_JSON, dict(info))

    def read_data_info(self) -> dict[str, Any]:
        """The content of data.json."""
        return self._read_object(DATA_JSON)

    def data_path(self) -> Path | None:
        """The data folder or zip the run was trained on, with its exact bytes."""
        info = self.read_data_info()
        raw = info.get("path_bytes")
        if isinstance(raw, str):
            try:
                return Path(os.fsdecode(base64.b64decode(raw, validate=True)))
            except ValueError:
                raise RunError(f"{self.file(DATA_JSON)}: path_bytes is not base64") from None
        path = info.get("path")
        return Path(path) if isinstance(path, str) and path else None

    def trained_on(self, data: Any) -> bool:
        """True when ``data`` (a MovieLensData) has the content this run was trained on."""
        want = self.read_data_info().get("fingerprint")
        return not want or getattr(data, "fingerprint", None) == want

    def write_split(self, record: Mapping[str, Any]) -> None:
        """Store the split record (kind, fractions, seed, hash) in split.json."""
        self._write_json(SPLIT_JSON, dict(record))

    def read_split(self) -> dict[str, Any]:
        """The content of split.json."""
        return self._read_object(SPLIT_JSON)

    def write_encoder(self, encoder_json: Mapping[str, Any]) -> None:
        """Store the fitted feature encoder (its ``to_json()``) in encoder.json."""
        self._write_json(ENCODER_JSON, dict(encoder_json))

    def read_encoder(self) -> dict[str, Any]:
        """The content of encoder.json."""
        return self._read_object(ENCODER_JSON)

    def write_test_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Store test-set metrics in test_metrics.json."""
        self._write_json(TEST_METRICS_JSON, dict(metrics))

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
        self._write_json(ENVIRONMENT_JSON, env)
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
        self._write(BATCHES_JSONL, lambda path, _: append_jsonl(path, rows))

    def append_epoch_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one epoch row to epochs.jsonl, flushed and fsynced."""
        self._write(EPOCHS_JSONL, lambda path, _: append_jsonl(path, [row], fsync=True))

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
        """Save a model state_dict atomically (temp files of a killed earlier save go first)."""
        name = self.weights_path(which).name
        # only the run's owner saves weights, so any temp of this file is a dead write's
        self.remove_temp_files(f".{name}.*.tmp", older_than=0.0)
        state = dict(state_dict)
        self._write(name, lambda path, point: atomic_torch_save(path, state, point=point))

    def remove_temp_files(self, pattern: str = ".*.tmp", older_than: float | None = None) -> int:
        """Remove temp files left by killed writes (default: older than ``STALE_TEMP_S``)."""
        limit = STALE_TEMP_S if older_than is None else older_than
        removed, now = 0, time.time()
        for temp in self.path.glob(pattern):
            with contextlib.suppress(OSError):
                if now - temp.stat().st_mtime >= limit:
                    temp.unlink()
                    removed += 1
        return removed

    def save_retrieval(self, arrays: Mapping[str, Any]) -> None:
        """Store a two-stage run's retrieval model (named numpy arrays) atomically."""
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
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
        except pickle.UnpicklingError as exc:
            # torch's own text advises weights_only=False, i.e. running the file's code:
            # never repeat it
            if "Unsupported global" in str(exc):
                why = "holds objects other than tensors"
            else:
                why = "is damaged or not a tensors-only weights file"
            raise RunError(f"{path}: the file {why} and was not loaded") from None
        except Exception as exc:  # corrupt zip, truncated file: all unusable
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
        monitor: str = config["monitor"] if config.get("monitor") in MONITORS else "val_auc"
        column = monitor_of(monitor, _int_or(config.get("ranking_k"), 10)).column
        best_value = _finite(tests.get("best_value"))
        best_epoch = tests.get("best_epoch")
        if best_value is None and epochs:  # before the test set is scored: the best epoch
            rows = [r for r in epochs if _finite(r.get(column)) is not None]
            if rows and isinstance(best_epoch, int):
                rows = [r for r in rows if r.get("epoch") == best_epoch] or rows
            if rows:
                pick = max if monitor != "val_logloss" else min
                best_value = pick(cast(float, _finite(r.get(column))) for r in rows)
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
            monitor=monitor,
            best_value=best_value,
            test_metrics=dict(tests),
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
        now = _now()
        # without a name, the preset and the start time: two runs of one preset differ
        given = (name or config.name or "").strip()
        display = given or f"{config.preset} {now:%m-%d %H:%M:%S}"
        meta = {
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
        }
        # Built under a hidden temp name, renamed into place with run.json inside: a kill
        # at any step leaves either no run or a complete one (plus a temp folder that
        # the next list or create removes).
        self.remove_stale_temp_folders()
        host = slugify(socket.gethostname(), 30)
        temp = self.root / f"{_NEW_PREFIX}{host}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            temp.mkdir(parents=True)
        except OSError as exc:
            raise RunError(f"{self.root}: cannot create a run folder ({exc.strerror})") from None
        try:
            run = Run(temp)
            run.write_config(config)
            run.write_data_info(data_info)
            run._write_json(RUN_JSON, meta)
            checkpoint("run.create.rename")
            return Run(
                self._move_into_place(
                    temp, f"{now:%Y-%m-%d_%H%M%S}_{slugify(given or config.preset)}"
                )
            )
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    def _move_into_place(self, temp: Path, stem: str) -> Path:
        for _ in range(100):
            folder = self.root / f"{stem}_{secrets.token_hex(2)}"
            if folder.exists():
                continue
            try:
                os.rename(temp, folder)  # fails when another process took the name meanwhile
            except OSError as exc:
                if folder.exists():
                    continue
                raise RunError(f"{folder}: cannot create the run folder ({exc.strerror})") from None
            return folder
        raise RunError(f"{self.root}: could not create a unique run folder")

    def remove_stale_temp_folders(self) -> int:
        """Remove run folders left half-built by a killed ``create``; returns the count."""
        if not self.root.is_dir():
            return 0
        here, removed, now = slugify(socket.gethostname(), 30) + "-", 0, time.time()
        for temp in self.root.glob(f"{_NEW_PREFIX}*"):
            rest = temp.name[len(_NEW_PREFIX) :]
            pid_text = rest[len(here) :].split("-", 1)[0] if rest.startswith(here) else ""
            try:
                age = now - temp.stat().st_mtime
            except OSError:
                continue
            dead = pid_text.isdigit() and not pid_alive(int(pid_text))
            if dead or age > STALE_NEW_S:
                shutil.rmtree(temp, ignore_errors=True)
                removed += 1
        return removed

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
        """Every run, newest first; a damaged run is listed with status ``damaged``.

        A folder named like a run but without run.json is listed as ``incomplete`` so it
        can be deleted. Temp files and folders left by killed writes are removed.
        """
        if not self.root.is_dir():
            return []
        self.remove_stale_temp_folders()
        infos = []
        for folder in self.root.iterdir():
            # hidden: a run being built (renamed into place when whole), never a run
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            if not (folder / RUN_JSON).exists():
                if RUN_FOLDER_RE.match(folder.name):
                    infos.append(_bare_info(folder, INCOMPLETE, _INCOMPLETE_MESSAGE))
                continue
            run = Run(folder)
            try:
                info = run.info()
            except RunError as exc:
                if folder.is_dir():  # else deleted meanwhile by another process
                    infos.append(_bare_info(folder, DAMAGED, str(exc)))
                continue
            infos.append(info)
            if info.status not in LIVE_STATUSES:
                run.remove_temp_files()
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

        A damaged run (unreadable run.json or other files) can always be deleted, and so
        can an incomplete one (no run.json, named like a run folder); no other folder is
        ever removed.
        """
        path = self._resolve(run)
        has_meta = (path / RUN_JSON).exists()
        if not path.is_dir() or not (has_meta or RUN_FOLDER_RE.match(path.name)):
            raise RunError(f"no run {str(run)!r} (looked in {self.root})")
        try:
            status = Run(path).status if has_meta else INCOMPLETE
        except RunError:
            status = DAMAGED
        if not force and status in LIVE_STATUSES:
            raise RunError(f"{path}: the run is still in progress; cancel it first")
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise RunError(f"{display_path(path)}: cannot delete it ({exc.strerror})") from None


_INCOMPLETE_MESSAGE = (
    "run.json is missing: the run was cut short while its folder was being created"
)


def _bare_info(folder: Path, status: str, message: str) -> RunInfo:
    return RunInfo(
        id=folder.name, path=folder, name=folder.name, created=None, status=status, message=message
    )


def _sort_key(info: RunInfo) -> tuple[float, str]:
    if info.created is not None:
        stamp = info.created.timestamp()
    else:
        with contextlib.suppress(OSError):
            return (info.path.stat().st_mtime, info.id)
        stamp = 0.0
    return (stamp, info.id)
