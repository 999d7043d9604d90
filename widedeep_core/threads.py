"""Each training process gets its share of the cores, never all of them each.

Two torch processes that each start one thread per core on the same cores spin against
each other (OpenMP busy-waits): on 2 cores an 11 s epoch became 168 s with a test suite
beside it. The rule:

- ``WIDEDEEP_THREADS=N`` in the environment fixes a process's torch threads to N
  (a sweep that starts W workers on C cores gives each ``C // W``);
- otherwise each running training holds a slot, a locked file under
  ``$TMPDIR/widedeep-slots-<uid>/`` (``WIDEDEEP_SLOTS_DIR`` names another folder: the
  test suite keeps its own, so other trainings of the user do not change its counts;
  the lock dies with the process), and takes
  ``max(1, usable cores // trainings holding a slot)`` threads, re-checked every
  epoch, so a second training started later makes the first one step down.

A process may cap every share (``capped``): the app keeps one core for its window, a
sweep worker keeps to its part of the machine; the rebalancing above keeps to the cap.
``set_threads`` is the only caller of ``torch.set_num_threads`` in the project.

Usable cores are the CPUs this process may run on (``os.sched_getaffinity``), so a
``taskset`` or a container's CPU set is respected. (The app keeps its window
responsive differently: its worker threads run at a lower priority, wdgui/workers.py.)

torch is imported only when threads are set, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

ENV = "WIDEDEEP_THREADS"
SLOTS_ENV = "WIDEDEEP_SLOTS_DIR"
_MAX_SLOTS = 64

try:  # POSIX advisory locks; elsewhere every process counts as alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def usable_cores() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def env_threads() -> int | None:
    """``WIDEDEEP_THREADS`` as a positive int, None when unset or not a positive number."""
    raw = os.environ.get(ENV, "").strip()
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


def thread_share(trainings: int = 1) -> int:
    """Threads for one of ``trainings`` concurrent trainings (``WIDEDEEP_THREADS`` wins)."""
    fixed = env_threads()
    if fixed is not None:
        return fixed
    return max(1, usable_cores() // max(1, int(trainings)))


# At most this many threads for every job of the process (None: no cap), whatever its
# share: the app keeps a core for its window, a sweep worker keeps to its share.
_process_cap: int | None = None


def process_cap() -> int | None:
    """The process-wide cap (``capped``), None when there is none."""
    return _process_cap


@contextlib.contextmanager
def capped(n: int | None) -> Iterator[int | None]:
    """Every share set while inside is at most ``n`` threads (None: no new cap); the
    previous cap comes back on exit. The trainer's own rebalancing keeps to it."""
    global _process_cap
    before = _process_cap
    if n is not None:
        _process_cap = max(1, int(n)) if before is None else max(1, min(before, int(n)))
    try:
        yield _process_cap
    finally:
        _process_cap = before


def set_threads(n: int) -> int:
    """Set torch's intra-op threads to ``n``: the one call of ``torch.set_num_threads``."""
    import torch

    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def apply_thread_share(trainings: int = 1, cap: int | None = None) -> int:
    """Set torch's intra-op threads to this process's share, at most ``cap`` and the
    process cap unless ``WIDEDEEP_THREADS`` fixes them; returns the count."""
    n = thread_share(trainings)
    if env_threads() is None:
        for limit in (cap, _process_cap):
            if limit is not None:
                n = max(1, min(n, limit))
    return set_threads(n)


def slot_dir() -> Path:
    """Where running trainings keep their slot files (``WIDEDEEP_SLOTS_DIR`` overrides)."""
    override = os.environ.get(SLOTS_ENV, "").strip()
    if override:
        return Path(override)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"widedeep-slots-{uid}"


class CoreShare:
    """A slot held while one training runs; ``rebalance()`` sets this process's share.

    Use as a context manager around a training. Holding no slot (no ``fcntl``, an
    unwritable temp dir, every slot taken) degrades to counting this process alone.
    """

    def __init__(self, directory: Path | None = None):
        import torch

        self.directory = directory or slot_dir()
        self._file: TextIO | None = None
        self.threads = torch.get_num_threads()
        # at most this many threads (None: the share): a step too small to split
        # across cores only spins the extra threads (training.trainer.step_threads)
        self.cap: int | None = None
        self._before = self.threads

    def __enter__(self) -> CoreShare:
        import torch

        self._before = torch.get_num_threads()
        self._file = self._take_slot()
        self.rebalance()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None
        set_threads(self._before)

    def trainings(self) -> int:
        """Trainings now holding a slot (this one included when it holds one)."""
        if fcntl is None or not self.directory.is_dir():
            return 1
        held = 0
        for path in self.directory.glob("slot-*"):
            if self._file is not None and Path(self._file.name) == path:
                held += 1
                continue
            try:
                with open(path, "a") as f:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        held += 1
                    else:
                        fcntl.flock(f, fcntl.LOCK_UN)
            except OSError:
                continue
        return max(1, held)

    def rebalance(self) -> int:
        """Set torch threads to the current share (at most ``cap``); returns it."""
        self.threads = apply_thread_share(self.trainings(), self.cap)
        return self.threads

    def _take_slot(self) -> TextIO | None:
        if fcntl is None:
            return None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        for i in range(_MAX_SLOTS):
            try:
                f = open(self.directory / f"slot-{i}", "a")  # noqa: SIM115 - held open
            except OSError:
                return None
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            return f
        return None


__all__ = [
    "ENV",
    "SLOTS_ENV",
    "CoreShare",
    "apply_thread_share",
    "capped",
    "process_cap",
    "set_threads",
    "thread_share",
    "usable_cores",
]
