"""One run folder: ``Run`` reads and writes its files (documents, weights, retrieval,
environment, metric logs), each through ``_write`` (a fault checkpoint, one RunError line).

The folder's layout and statuses are in ``runs.schema``; its summary is ``runs.info``;
the runs under one root are ``runs.store.RunStore``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from widedeep_core.config import Config
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.faultpoints import checkpoint
from widedeep_core.fileio import (
    append_jsonl,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    display_path,
    dumps,
    read_json,
    read_jsonl,
    write_failure,
)
from widedeep_core.owners import owner_fields
from widedeep_core.runs.info import RunInfo, summarize
from widedeep_core.runs.liveness import effective_status
from widedeep_core.runs.schema import (
    ANNOTATIONS_JSON,
    BATCHES_JSONL,
    CONFIG_JSON,
    DATA_JSON,
    ENCODER_JSON,
    ENVIRONMENT_JSON,
    EPOCHS_JSONL,
    FORMAT_VERSION,
    RESUME_PT,
    RETRIEVAL_NPZ,
    RUN_JSON,
    SETTABLE_STATUSES,
    SPLIT_JSON,
    TEST_METRICS_JSON,
    WEIGHTS,
    iso,
    now,
    parse_time,
)

# run.json is read-modified-written by the trainer thread and the GUI thread alike.
_META_LOCK = threading.RLock()
# Temp files (".name.xxx.tmp") of a run that is not live are removed once this old; the
# delay leaves a rename of a finished run in another process the time to complete.
STALE_TEMP_S = 10.0


class Run:
    """One run folder; every method reads or writes the files inside it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._inode: int | None = None  # the folder this object first wrote into

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
        # deleted under a live run (``runs delete --force``): never write a new folder in
        # its place (one a write re-created meanwhile has another inode); the trainer that
        # writes it stops with this error
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            inode = None
        if inode is None or (self._inode is not None and inode != self._inode):
            raise RunError(f"{display_path(self.path)}: the run folder was deleted; stopped")
        self._inode = inode
        try:
            checkpoint(f"run.{name}")
            write(path, f"run.{name}.replace")
        except OSError as exc:
            if not self.path.is_dir():  # deleted while the file was being written
                raise RunError(
                    f"{display_path(self.path)}: the run folder was deleted; stopped"
                ) from None
            raise RunError(write_failure(exc, path)) from None

    def _write_json(self, name: str, obj: Any) -> None:
        self._write(
            name, lambda path, point: atomic_write_json(path, obj, point=point, create_parent=False)
        )

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
        moment = now()
        with _META_LOCK:
            meta = self.read_meta()
            changes: dict[str, Any] = {"status": status, "message": message}
            if status == "running":
                # Whoever trains owns the run (it may be another process than the creator).
                changes.update(**owner_fields(), ended=None)
                if not meta.get("started"):
                    changes["started"] = iso(moment)
            else:
                started = parse_time(meta.get("started"))
                changes["ended"] = iso(moment)
                changes["duration_s"] = (moment - started).total_seconds() if started else None
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
        if not isinstance(want, str) or not want:
            # without it, other data of the same size would pass the split's hash
            raise RunError(f"{self.file(DATA_JSON)}: no data fingerprint; the run cannot be served")
        return getattr(data, "fingerprint", None) == want

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

    def write_annotations(self, annotations: Mapping[str, Any]) -> None:
        """Store the user's tags and note (annotations.json, atomically)."""
        self._write_json(ANNOTATIONS_JSON, dict(annotations))

    def read_annotations(self) -> dict[str, Any]:
        """The user's tags and note as stored ({} when none were written)."""
        if not self.file(ANNOTATIONS_JSON).exists():
            return {}
        return self._read_object(ANNOTATIONS_JSON)

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

    def keep_epochs(self, last_epoch: int) -> None:
        """Drop the epoch and batch rows after ``last_epoch`` (a resumed run redoes them):
        each file is rewritten atomically, only when it holds such rows."""
        for name in (EPOCHS_JSONL, BATCHES_JSONL):
            rows = read_jsonl(self.file(name))
            kept = [r for r in rows if int(r.get("epoch") or 0) <= last_epoch]
            if len(kept) == len(rows):
                continue
            text = "".join(dumps(r, indent=None) + "\n" for r in kept)

            def write(path: Path, point: str, text: str = text) -> None:
                atomic_write_text(path, text, point=point, create_parent=False)

            self._write(name, write)

    # --- resume point
    def save_resume(self, point: Mapping[str, Any]) -> None:
        """Keep the last finished epoch's resume point (``training.resume``) atomically."""
        self.remove_temp_files(f".{RESUME_PT}.*.tmp", older_than=0.0)
        state = dict(point)
        self._write(
            RESUME_PT,
            lambda path, point: atomic_torch_save(path, state, point, create_parent=False),
        )

    def has_resume(self) -> bool:
        return self.file(RESUME_PT).exists()

    def load_resume(self, map_location: Any = "cpu") -> dict[str, Any]:
        """The resume point, loaded tensors-only (no code from the file is run)."""
        import torch

        path = self.file(RESUME_PT)
        if not path.exists():
            raise RunError(
                f"{display_path(self.path)}: no resume point (the run ended before its first"
                " epoch, or was made before runs kept one)"
            )
        try:
            point = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # a damaged or foreign file: one line, nothing run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(
                f"{display_path(path)}: cannot load the resume point ({first})"
            ) from None
        return point

    def drop_resume(self) -> None:
        """Remove the resume point (the run finished: nothing is left to resume)."""
        with contextlib.suppress(FileNotFoundError):
            self.file(RESUME_PT).unlink()

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
        self._write(
            name, lambda path, point: atomic_torch_save(path, state, point, create_parent=False)
        )

    def remove_temp_files(self, pattern: str = ".*.tmp", older_than: float | None = None) -> int:
        """Remove temp files left by killed writes (default: older than ``STALE_TEMP_S``)."""
        limit = STALE_TEMP_S if older_than is None else older_than
        removed, clock = 0, time.time()
        for temp in self.path.glob(pattern):
            with contextlib.suppress(OSError):
                if clock - temp.stat().st_mtime >= limit:
                    temp.unlink()
                    removed += 1
        return removed

    def save_retrieval(self, arrays: Mapping[str, Any]) -> None:
        """Store a two-stage run's retrieval model (named numpy arrays) atomically."""
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
        data = buffer.getvalue()
        # through _write, like every file of a run: a fault checkpoint, one RunError line
        self._write(
            RETRIEVAL_NPZ,
            lambda path, point: atomic_write_bytes(path, data, point, create_parent=False),
        )

    def load_retrieval(self, max_cells: int | None = None) -> dict[str, Any] | None:
        """The stored retrieval arrays, or None when the run has none (one-stage runs).

        Each array's declared shape is read from its header first: one of more than
        ``max_cells`` elements (a catalogue's n^2, say) is refused before it is read, so
        a small crafted file cannot expand into gigabytes. What the arrays hold is
        checked by the retrieval family (``retrieval.retrieval_from_arrays``).
        """
        import zipfile

        import numpy as np

        path = self.file(RETRIEVAL_NPZ)
        if not path.exists():
            return None
        where = display_path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                for member in zf.infolist():
                    with zf.open(member) as fh:
                        version = np.lib.format.read_magic(fh)
                        read_header = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _, dtype = read_header(fh)
                    cells = int(np.prod(shape, dtype=np.float64)) if shape else 1
                    if dtype.hasobject:
                        raise RunError(f"{where}: {member.filename} holds Python objects")
                    if max_cells is not None and cells > max_cells:
                        raise RunError(
                            f"{where}: {member.filename} declares {cells:,} values, more than "
                            f"a model of this catalogue holds ({max_cells:,})"
                        )
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except RunError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(
                f"{where}: the stored retrieval model cannot be read ({first})"
            ) from None

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
        return summarize(
            self.id,
            self.path,
            self.read_meta(),
            self._read_object(CONFIG_JSON) if self.file(CONFIG_JSON).exists() else {},
            self._read_object(DATA_JSON) if self.file(DATA_JSON).exists() else {},
            self.read_epoch_metrics(),
            self.read_test_metrics() or {},
            self.read_annotations(),
        )


__all__ = ["STALE_TEMP_S", "Run"]
