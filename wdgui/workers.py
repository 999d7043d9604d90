"""Run core jobs off the GUI thread: a QObject worker moved to a QThread.

The workers only call the core and forward what it reports as Qt signals. Every
signal is connected by the pages to bound slots of GUI-thread QObjects, so the
slots run in the GUI thread (a lambda would run in the worker thread).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from widedeep_core.errors import WideDeepError

# Threads started and not yet finished: closing the window and the tests use it.
_LIVE: set[QThread] = set()

Report = Callable[[float, str], None]


def live_threads() -> list[QThread]:
    """Return the worker threads that were started and have not finished."""
    return [t for t in _LIVE if t.isRunning()]


class Cancelled(Exception):
    """Raised inside a progress callback so that a core job stops early."""


def error_text(exc: BaseException) -> str:
    """A message a user can read: domain errors as they are, others with their type."""
    if isinstance(exc, WideDeepError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Throttle:
    """Say yes at most once per ``interval`` seconds (the first call always passes)."""

    def __init__(self, interval: float = 0.05, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last = -float("inf")

    def ready(self) -> bool:
        """True when the interval has passed since the last True; records the time."""
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


class JobWorker(QObject):
    """Run ``job(report)`` once in a worker thread and report through signals.

    ``report(fraction, message)`` is throttled to about 20 signals a second; it
    raises :class:`Cancelled` after :meth:`cancel`, which ends the job quietly.
    """

    progress = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: Callable[[Report], Any], interval: float = 0.05):
        super().__init__()
        self._job = job
        self._cancel = threading.Event()
        self._throttle = Throttle(interval)

    def cancel(self) -> None:
        """Ask the job to stop at its next progress report (thread-safe)."""
        self._cancel.set()

    def report(self, fraction: float, message: str = "") -> None:
        """Forward progress (throttled) and honour a pending cancel."""
        if self._cancel.is_set():
            raise Cancelled
        if fraction >= 1.0 or self._throttle.ready():
            self.progress.emit(float(fraction), message)

    @Slot()
    def run(self) -> None:
        """Call the job; emit its result, its error or the cancellation, then ``done``."""
        try:
            result = self._job(self.report)
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # everything ends in the page, never in a crash
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(error_text(exc))
        finally:
            self.done.emit()


def training_threads() -> int:
    """Torch threads for training from the GUI: every core but one.

    PyTorch's OpenMP workers spin while they wait; when they take every core, the GUI
    thread fights them for CPU and both crawl (measured on 2 cores with the window
    painting: a 2-epoch demo run took 16 s with 2 threads, 0.4 s with 1).
    """
    return max(1, (os.cpu_count() or 2) - 1)


class TrainWorker(QObject):
    """Call ``Trainer.fit`` in a worker thread and forward its events as signals.

    Batch events are buffered and sent as lists at most every ``interval`` seconds,
    so a fast trainer cannot flood the GUI event loop. ``threads`` (if set) is the
    torch thread count while training; the previous count is restored afterwards.
    """

    batches = Signal(list)  # list[BatchEvent]
    epoch = Signal(object)  # EpochEvent
    finished_run = Signal(object)  # FinishedEvent
    failed = Signal(str)
    done = Signal()

    def __init__(
        self,
        make_trainer: Callable[[Callable[[object], None]], Any],
        interval: float = 0.05,
        threads: int | None = None,
    ):
        super().__init__()
        self._make_trainer = make_trainer
        self._threads = threads
        self._throttle = Throttle(interval)
        self._pending: list[object] = []
        self._lock = threading.Lock()
        self._trainer: Any = None
        self._cancel = False
        self._paused = False
        self._failed_sent = False

    def request_cancel(self) -> None:
        """Stop training between batches; the core keeps the best weights (thread-safe)."""
        with self._lock:
            self._cancel = True
            if self._trainer is not None:
                self._trainer.request_cancel()

    def request_pause(self, paused: bool) -> None:
        """Pause or resume between batches (thread-safe)."""
        with self._lock:
            self._paused = paused
            if self._trainer is not None:
                self._trainer.request_pause(paused)

    @Slot()
    def run(self) -> None:
        """Build the trainer here (it may encode data: not in the GUI thread) and fit."""
        import torch

        previous = torch.get_num_threads()
        if self._threads:
            torch.set_num_threads(self._threads)
        try:
            trainer = self._make_trainer(self._on_event)
            with self._lock:
                self._trainer = trainer
                # a Pause or Stop clicked while the trainer was being built still counts
                # (pause first: the core's cancel also ends a pause)
                if self._paused:
                    trainer.request_pause(True)
                if self._cancel:
                    trainer.request_cancel()
            trainer.fit()
        except Exception as exc:
            self._flush()
            if not self._failed_sent:
                self._failed_sent = True
                self.failed.emit(error_text(exc))
        finally:
            with self._lock:
                self._trainer = None  # drop the model with the thread, not in the GUI
            torch.set_num_threads(previous)
            self._flush()
            self.done.emit()

    def _on_event(self, event: object) -> None:
        """The core's callback: runs in the worker thread."""
        kind = type(event).__name__
        if kind == "BatchEvent":
            self._pending.append(event)
            if self._throttle.ready():
                self._flush()
            return
        self._flush()
        if kind == "EpochEvent":
            self.epoch.emit(event)
        elif kind == "FinishedEvent":
            self.finished_run.emit(event)
        elif kind == "FailedEvent" and not self._failed_sent:
            self._failed_sent = True
            self.failed.emit(str(getattr(event, "message", event)))

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.batches.emit(batch)


class Task(QObject):
    """Own one worker and its QThread; lives in the GUI thread.

    started -> worker.run; worker.done -> thread.quit; thread.finished -> cleanup
    and :attr:`finished`. Keep the Task referenced until ``finished``.
    """

    finished = Signal()

    def __init__(self, worker: QObject, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(f"wdgui-{type(worker).__name__}")
        worker.moveToThread(self._thread)
        self._thread.started.connect(worker.run)
        # direct: quit from the worker thread, so it works while the GUI thread waits
        worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        """Start the thread (and so the worker's job)."""
        assert self._thread is not None, "a Task runs once"
        _LIVE.add(self._thread)
        self._thread.start()

    def is_running(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.isRunning()

    def wait(self, ms: int = -1) -> bool:
        """Block until the thread ends (used when closing); True when it has ended.

        ``finished`` is emitted before this returns, so the owner's cleanup has run.
        """
        if self._thread is None:
            return True
        ok = self._thread.wait() if ms < 0 else self._thread.wait(ms)
        if ok:
            self._on_thread_finished()
        return ok

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        _LIVE.discard(thread)
        self.finished.emit()
