"""The runs under one root folder: ``RunStore`` creates, lists, renames and deletes them.

One folder's files are ``runs.run.Run``; its summary ``runs.info.RunInfo``; who owns a
live run ``runs.liveness``; the trainer's events are written by ``runs.recorder``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from widedeep_core.config import Config
from widedeep_core.errors import RunError
from widedeep_core.faultpoints import checkpoint
from widedeep_core.fileio import display_path, file_stamp
from widedeep_core.owners import owner_fields, pid_alive
from widedeep_core.runs.info import RunInfo
from widedeep_core.runs.run import Run
from widedeep_core.runs.schema import (
    ANNOTATIONS_JSON,
    CONFIG_JSON,
    DAMAGED,
    DATA_JSON,
    EPOCHS_JSONL,
    FORMAT_VERSION,
    INCOMPLETE,
    INTERRUPTED,
    LIVE_STATUSES,
    RUN_JSON,
    TEST_METRICS_JSON,
    iso,
    now,
)

RUNS_ENV = "WIDEDEEP_RUNS_DIR"
APP_NAME = "widedeep-workbench"

# A run folder's name: <date>_<time>_<slug>_<4 hex>. A folder named so but without
# run.json is listed as incomplete (left by a version that created folders in place).
RUN_FOLDER_RE = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{6}_[a-z0-9-]+_[0-9a-f]{4}$")
# A run is built in ``.new-<host>-<pid>-<token>`` and renamed into place once run.json
# is in it, so a crash never leaves a folder without run.json under a run's name.
_NEW_PREFIX = ".new-"
# A creation temp folder of another host, or of a pid we cannot check, after this long.
STALE_NEW_S = 24 * 3600.0
# The files ``Run.info`` reads: a run's summary is kept (``RunStore.list``) while these
# and the folder itself keep their size, mtime and inode.
_INFO_FILES = (RUN_JSON, CONFIG_JSON, DATA_JSON, EPOCHS_JSONL, TEST_METRICS_JSON, ANNOTATIONS_JSON)
# A summary is kept only when every stamped file is older than this when the listing
# began: a write in the same timestamp tick as the read (coarse clocks, FAT's 2 s) could
# otherwise leave the stamp unchanged ("racy" entries, as git calls them).
RACY_S = 2.0


def default_runs_root() -> Path:
    """``$WIDEDEEP_RUNS_DIR`` if set, else the platform's user data folder + ``runs``."""
    env = os.environ.get(RUNS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "runs"


def slugify(text: str, max_len: int = 40) -> str:
    """Folder-safe lowercase slug of a display name ('My run #2' -> 'my-run-2')."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "run"


_Infos = list[RunInfo]  # (inside ``RunStore``, ``list`` names its method)


class RunStore:
    """All runs under one root folder (default: ``default_runs_root()``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_runs_root()
        # folder -> (stamp of its files, summary): re-listing 500 runs read 1,500 files
        # (0.5 s); with unchanged stamps it only stats them. ``list`` may run in a worker
        # thread while the GUI thread lists too, hence the lock.
        self._summaries: dict[str, tuple[tuple[Any, ...], RunInfo]] = {}
        self._summaries_lock = threading.Lock()

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
        moment = now()
        # without a name, the preset and the start time: two runs of one preset differ
        given = (name or config.name or "").strip()
        display = given or f"{config.preset} {moment:%m-%d %H:%M:%S}"
        meta = {
            "format": FORMAT_VERSION,
            "name": display,
            "created": iso(moment),
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
                    temp, f"{moment:%Y-%m-%d_%H%M%S}_{slugify(given or config.preset)}"
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
        here, removed, clock = slugify(socket.gethostname(), 30) + "-", 0, time.time()
        for temp in self.root.glob(f"{_NEW_PREFIX}*"):
            rest = temp.name[len(_NEW_PREFIX) :]
            pid_text = rest[len(here) :].split("-", 1)[0] if rest.startswith(here) else ""
            try:
                age = clock - temp.stat().st_mtime
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
        can be deleted. Temp files and folders left by killed writes are removed. A run
        whose files are unchanged since this store last listed it is not read again.
        """
        steps = self.list_in_steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def list_in_steps(self, reads: int = 20) -> Generator[None, None, _Infos]:
        """``list`` as a generator that yields after every ``reads`` runs read from their
        files (a caller spreads a first listing over event-loop turns) and returns the
        list."""
        if not self.root.is_dir():
            return []
        read = 0
        began = time.time()
        self.remove_stale_temp_folders()
        infos = []
        with self._summaries_lock:
            known = dict(self._summaries)
        kept: dict[str, tuple[tuple[Any, ...], RunInfo]] = {}
        for folder in self.root.iterdir():
            # hidden: a run being built (renamed into place when whole), never a run
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            key = str(folder)
            stamp = _stamp(key)
            if stamp is None:  # no run.json
                if RUN_FOLDER_RE.match(folder.name):
                    infos.append(_bare_info(folder, INCOMPLETE, _INCOMPLETE_MESSAGE))
                continue
            held = known.get(key)
            if held is not None and held[0] == stamp:
                infos.append(held[1])
                kept[key] = held
                continue
            if read and read % reads == 0:
                yield
            read += 1
            run = Run(folder)
            try:
                info = run.info()
            except RunError as exc:
                if folder.is_dir():  # else deleted meanwhile by another process
                    infos.append(_bare_info(folder, DAMAGED, str(exc)))
                continue
            infos.append(info)
            if info.status in LIVE_STATUSES:
                continue  # its files change, and so does its liveness: read it each time
            run.remove_temp_files()
            stamp = _stamp(key)  # after the clean-up (it changes the folder's mtime)
            # an interrupted run may be one whose owner died: liveness, not its files
            if stamp is not None and info.status != INTERRUPTED and _settled(stamp, began):
                kept[key] = (stamp, info)
        with self._summaries_lock:
            self._summaries = kept  # deleted runs drop out
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
        # renamed out of the way first (atomic): a trainer still writing the run finds
        # its folder gone and stops, and nothing it writes meanwhile lands under the name
        doomed = path.with_name(f"{_NEW_PREFIX}deleted-{secrets.token_hex(4)}")
        try:
            path.rename(doomed)
        except OSError as exc:
            raise RunError(f"{display_path(path)}: cannot delete it ({exc.strerror})") from None
        for attempt in range(5):
            try:
                shutil.rmtree(doomed)
                return
            except FileNotFoundError:
                return
            except OSError as exc:  # a file written into it meanwhile: try again
                if attempt == 4:
                    raise RunError(
                        f"{display_path(path)}: deleted from the list, but {doomed.name} "
                        f"could not be removed ({exc.strerror})"
                    ) from None
                time.sleep(0.05)


_INCOMPLETE_MESSAGE = (
    "run.json is missing: the run was cut short while its folder was being created"
)


def _stamp(folder: str) -> tuple[Any, ...] | None:
    """(size, mtime, inode) of a run folder and of each file its summary reads; None
    without run.json. An atomic write (a rename) changes the inode and the folder's mtime,
    an append the size and mtime."""
    parts: list[Any] = []
    for name in ("", *_INFO_FILES):
        stamp = file_stamp(os.path.join(folder, name) if name else folder)
        if stamp is None and name == RUN_JSON:
            return None
        parts.append(stamp)
    return tuple(parts)


def _settled(stamp: tuple[Any, ...], began: float) -> bool:
    """True when every stamped file was last changed ``RACY_S`` before ``began``."""
    limit = (began - RACY_S) * 1e9
    return all(part is None or part[1] < limit for part in stamp)


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


__all__ = ["RUNS_ENV", "RunStore", "default_runs_root", "slugify"]
