"""The one background-job helper of the GUI: a QObject worker moved to a QThread.

Follows superqt's thread worker: ``thread.started -> worker.run``; ``worker.done ->
thread.quit``; ``thread.finished -> cleanup`` in the GUI thread. Workers only call the
core and report through signals, and those signals reach GUI-thread QObjects only (a
:class:`JobRunner`'s own signals, re-emitted in the GUI thread, or bound slots of a
page): a lambda connected to a worker signal would run in the worker thread.
Cancelling is cooperative (a flag and ``QThread.requestInterruption``); progress is
throttled to about 20 signals a second; on app quit every live job is cancelled, its
thread asked to quit and waited for (:func:`stop_all`).

Pages use :class:`JobRunner`: at most one job at a time, connected once::

    self.jobs = JobRunner(self)
    self.jobs.succeeded.connect(self._on_loaded)
    self.jobs.finished.connect(self._on_idle)
    self.jobs.start(lambda report: load(path, progress=report))
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from widedeep_core.errors import WideDeepError
from widedeep_core.threads import capped
from widedeep_core.training.events import (  # light: the event types alone
    BatchEvent,
    EpochEvent,
    EvaluatingEvent,
    FailedEvent,
    FinishedEvent,
)

if TYPE_CHECKING:  # pragma: no cover
    from widedeep_core.training import Trainer

Report = Callable[[float, str], None]

# Tasks started and not yet cleaned up: app quit, window close and the tests use it.
_LIVE: set[Task] = set()


def responsive_gil() -> None:
    """A 1 ms GIL switch interval for this process (the default is 5 ms).

    A worker thread runs Python between torch ops; with 5 ms a plot repaint (many short
    Python calls) waited up to 5 ms per hand-over, which added up to 50-150 ms stalls
    at epoch ends and while the warm-up imported PyTorch.
    """
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))


def live_threads() -> list[QThread]:
    """The worker threads that were started and are still running."""
    return [t._thread for t in list(_LIVE) if t._thread is not None and t._thread.isRunning()]


def stop_all(timeout_ms: int = 30_000) -> None:
    """Cancel every live job, ask its thread to quit and wait for it (app quit)."""
    for task in list(_LIVE):
        task.stop(timeout_ms)


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


class Worker(QObject):
    """Base of everything that runs in a worker thread: ``run()`` once, then ``done``."""

    failed = Signal(str)
    done = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called or the thread was asked to stop."""
        return self._cancel.is_set() or QThread.currentThread().isInterruptionRequested()

    @Slot()
    def start_in_thread(self) -> None:
        """The thread's entry: lower this thread's priority, then :meth:`run`.

        A method of the worker, not a free function: PySide routes a free function
        through a shared receiver object, which a finishing Task's thread could free
        while another thread's ``started`` called it.
        """
        lower_priority()
        self.run()

    @Slot()
    def run(self) -> None:  # pragma: no cover - overridden
        """Do the work in the worker thread; must end with ``done``."""
        raise NotImplementedError


class JobWorker(Worker):
    """Run ``job(report)`` once in a worker thread and report through signals.

    ``report(fraction, message)`` is throttled to about 20 signals a second (a negative
    fraction means "busy, no fraction known"); it raises :class:`Cancelled` after
    :meth:`cancel`, which ends the job quietly.
    """

    progress = Signal(float, str)
    succeeded = Signal(object)
    cancelled = Signal()

    def __init__(self, job: Callable[[Report], Any], interval: float = 0.05):
        super().__init__()
        self._job = job
        self._throttle = Throttle(interval)

    def report(self, fraction: float, message: str = "") -> None:
        """Forward progress (at most ~20 a second, and the end) and honour a cancel."""
        if self.is_cancelled():
            raise Cancelled
        if fraction >= 1.0 or self._throttle.ready():
            self.progress.emit(float(fraction), message)

    @Slot()
    def run(self) -> None:
        """Call the job; emit its result, its error or the cancellation, then ``done``."""
        try:
            result = self._job(self.report)
            if self.is_cancelled():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # everything ends in the page, never in a crash
            if self.is_cancelled():
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


class TrainWorker(Worker):
    """Call ``Trainer.fit`` in a worker thread and forward its events as signals.

    Batch events are buffered and sent as lists at most every ``interval`` seconds,
    so a fast trainer cannot flood the GUI event loop. ``threads`` (if set) is the
    torch thread count while training; the previous count is restored afterwards.
    ``phase`` says what the worker does while the trainer emits nothing (building
    the trainer, the end-of-run evaluation), for a busy indicator.
    """

    batches = Signal(list)  # list[BatchEvent]
    epoch = Signal(object)  # EpochEvent
    finished_run = Signal(object)  # FinishedEvent
    phase = Signal(str)

    def __init__(
        self,
        make_trainer: Callable[[Callable[[object], None]], Trainer],
        interval: float = 0.05,
        threads: int | None = None,
    ):
        super().__init__()
        self._make_trainer = make_trainer
        self._threads = threads
        self._throttle = Throttle(interval)
        self._pending: list[object] = []
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._paused = False
        self._failed_sent = False

    def cancel(self) -> None:
        """Stop training between batches; the core keeps the best weights (thread-safe)."""
        with self._lock:
            super().cancel()
            if self._trainer is not None:
                self._trainer.request_cancel()

    request_cancel = cancel

    def request_pause(self, paused: bool) -> None:
        """Pause or resume between batches (thread-safe)."""
        with self._lock:
            self._paused = paused
            if self._trainer is not None:
                self._trainer.request_pause(paused)

    @Slot()
    def run(self) -> None:
        """Build the trainer here (it may encode data: not in the GUI thread) and fit."""
        self.phase.emit("Preparing: importing PyTorch")
        from .warmup import ensure_warm

        ensure_warm()  # no-op after the window's warm-up; else it runs here, off the GUI

        # every share the trainer sets keeps to the GUI's cap (threads.capped)
        with capped(self._threads):
            self._fit()

    def _fit(self) -> None:
        try:
            self.phase.emit("Preparing: encoding the data and building the model")
            trainer = self._make_trainer(self._on_event)
            with self._lock:
                self._trainer = trainer
                # a Pause or Stop clicked while the trainer was being built still counts
                # (pause first: the core's cancel also ends a pause)
                if self._paused:
                    trainer.request_pause(True)
                if self._cancel.is_set():
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
            self._flush()
            self.done.emit()

    def _on_event(self, event: object) -> None:
        """The core's callback: runs in the worker thread."""
        if isinstance(event, BatchEvent):
            self._pending.append(event)
            if self._throttle.ready():
                self._flush()
            return
        self._flush()
        if isinstance(event, EpochEvent):
            self.epoch.emit(event)
        elif isinstance(event, EvaluatingEvent):  # also after an early stop or a Stop click
            self.phase.emit(f"Evaluating on the {event.split} split")
        elif isinstance(event, FinishedEvent):
            self.finished_run.emit(event)
        elif isinstance(event, FailedEvent) and not self._failed_sent:
            self._failed_sent = True
            self.failed.emit(event.message)

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.batches.emit(batch)


# Background jobs run at this nice value (Linux, per thread; the BLAS/OpenMP threads a
# job starts inherit it): they still get every idle cycle of every core, but the GUI
# thread, at 0, gets a core first when it wakes. Without it the GUI thread waited for a
# core while a training's threads held both (half of each 50-60 ms stall on 2 cores).
WORKER_NICE = 10


def lower_priority() -> None:
    """Give the calling (worker) thread ``WORKER_NICE``; best effort, Linux only."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the call would renice the whole process, window included
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), WORKER_NICE))


class Task(QObject):
    """Own one worker and its QThread; lives in the GUI thread.

    started -> worker.run; worker.done -> thread.quit; thread.finished -> cleanup
    and :attr:`finished`. Keep the Task referenced until ``finished``.
    """

    finished = Signal()

    def __init__(self, worker: Worker, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(f"wdgui-{type(worker).__name__}")
        worker.moveToThread(self._thread)
        # direct: ``started`` is emitted in the new thread and ``run`` must stay there
        # (an automatic connection to an overridden slot was queued to the GUI thread)
        self._thread.started.connect(worker.start_in_thread, Qt.ConnectionType.DirectConnection)
        # direct: quit from the worker thread, so it works while the GUI thread waits
        worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        """Start the thread (and so the worker's job)."""
        assert self._thread is not None, "a Task runs once"
        _LIVE.add(self)
        self._thread.start()

    def is_running(self) -> bool:
        """True until the thread has ended and been cleaned up."""
        return self._thread is not None

    def cancel(self) -> None:
        """Ask the worker to stop at its next check (cooperative)."""
        self.worker.cancel()
        if self._thread is not None:
            self._thread.requestInterruption()

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

    def stop(self, ms: int = -1) -> bool:
        """Cancel, ask the thread to quit and wait for it (app quit)."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
        return self.wait(ms)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.wait()  # ``finished`` comes just before the thread really ends
        _LIVE.discard(self)
        self.finished.emit()


class JobRunner(QObject):
    """A page's background job: at most one at a time, signals in the GUI thread.

    ``start(job)`` takes a function ``job(report)`` (run by a :class:`JobWorker`) or a
    ready :class:`Worker`; it returns False while a job runs. The worker's ``progress``,
    ``succeeded``, ``failed`` and ``cancelled`` are re-emitted here, in the GUI thread, so
    any callable may be connected to them; ``finished`` comes once the thread has ended.
    """

    progress = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)
    finished = Signal()

    def __init__(self, parent: QObject | None = None, interval: float = 0.05):
        super().__init__(parent)
        self._interval = interval
        self._task: Task | None = None

    @property
    def worker(self) -> Worker | None:
        """The running job's worker, None when idle."""
        return self._task.worker if self._task is not None else None

    def is_busy(self) -> bool:
        """True from ``start`` until the worker thread has ended and been cleaned up."""
        return self._task is not None

    def start(self, job: Callable[[Report], Any] | Worker) -> bool:
        """Run ``job`` in a new worker thread; False (nothing started) while busy."""
        if self._task is not None:
            return False
        worker = job if isinstance(job, Worker) else JobWorker(job, self._interval)
        for name in ("progress", "succeeded", "failed", "cancelled"):
            signal = getattr(worker, name, None)
            if signal is not None:  # queued to this GUI-thread object, then re-emitted
                signal.connect(getattr(self, name))
        self._task = Task(worker)  # no parent: dropped (with its thread) once finished
        self._task.finished.connect(self._on_finished)
        self._task.start()
        self.busyChanged.emit(True)
        return True

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        if self._task is not None:
            self._task.cancel()

    def shutdown(self) -> None:
        """Cancel the running job and wait for its thread (window closing)."""
        if self._task is not None:
            self._task.stop()  # emits finished: the owner's cleanup has run

    @Slot()
    def _on_finished(self) -> None:
        if self._task is None:
            return
        self._task = None
        self.busyChanged.emit(False)
        self.finished.emit()
