"""Run a sweep: W local worker processes on one study, each with its share of the cores.

Two torch processes with default threads on 2 cores turned an 11 s epoch into 168 s
(docs/benchmarks.md): every worker caps its threads at ``cores // W`` (``threads.capped``). The
workers take trials from a shared budget (exact for the local workers; other machines
on the same study stop when the study holds enough trials), report each finished
trial to the parent through a queue, and stop cleanly when the parent's stop event is
set: the trial in progress is cancelled between batches and recorded as failed.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from widedeep_core.errors import SweepError, WideDeepError

from .objective import Objective, SweepStopped
from .study import SweepSpec, fail_dead_trials, open_study

DONE_STATES = ("COMPLETE", "PRUNED")
POLL_S = 0.25


@dataclass
class SweepOutcome:
    """What ``run_sweep`` returns: the study (for the summary) and how the run ended."""

    study: Any
    started: int  # trials this call asked for
    stopped: bool  # stopped by the user (or Ctrl-C)
    errors: list[str]
    recovered: list[int]  # trials of dead workers marked failed at start
    finished: int = 0  # trials that ended during this call


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Each worker's share of the cores (at least one thread)."""
    return max(1, (cores or os.cpu_count() or 1) // max(workers, 1))


def _count(study: Any, names: tuple[str, ...]) -> int:
    from optuna.trial import TrialState

    states = tuple(TrialState[n] for n in names)
    return len(study.get_trials(deepcopy=False, states=states))


def remaining_trials(study: Any, n_trials: int | None) -> int | None:
    """Trials still missing for a study budget of ``n_trials`` (failed ones do not count)."""
    if n_trials is None:
        return None
    return max(0, n_trials - _count(study, DONE_STATES))


class _Budget:
    """The trials left to start: a shared counter, or unlimited (time budget only)."""

    def __init__(self, value: Any):
        self.value = value  # mp.Value or None

    def take(self) -> bool:
        if self.value is None:
            return True
        with self.value.get_lock():
            if self.value.value <= 0:
                return False
            self.value.value -= 1
            return True


def work(
    spec: SweepSpec,
    data: Any,
    *,
    budget: _Budget,
    n_trials: int | None,
    deadline: float | None,
    stop: Any,
    report: Callable[[dict[str, Any]], None],
) -> None:
    """The worker loop: one trial at a time until the budget, the deadline or a stop."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet = _QuietOnceStopped(stop)
    # on the handlers: a logger's own filters do not see its children's records
    handlers = optuna.logging.get_logger("optuna").handlers
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        _work(spec, data, budget, n_trials, deadline, stop, report)
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


class _QuietOnceStopped:
    """Drops Optuna's log records once the user stopped the sweep: the trial in flight
    ends as stopped (our own report says so), not as a failure with a traceback."""

    def __init__(self, stop: Any):
        self.stop = stop

    def filter(self, record: Any) -> bool:
        return not self.stop.is_set()


def _work(
    spec: SweepSpec,
    data: Any,
    budget: _Budget,
    n_trials: int | None,
    deadline: float | None,
    stop: Any,
    report: Callable[[dict[str, Any]], None],
) -> None:
    study = open_study(spec)
    objective = Objective(spec, data, stop)

    def finished(study: Any, trial: Any) -> None:
        report(_trial_message(trial))

    while not stop.is_set():
        if deadline is not None and time.time() >= deadline:
            break
        # other machines on this study count too: stop once it holds enough trials
        if n_trials is not None and _count(study, (*DONE_STATES, "RUNNING")) >= n_trials:
            break
        if not budget.take():
            break
        try:
            study.optimize(objective, n_trials=1, catch=(WideDeepError,), callbacks=[finished])
        except SweepStopped:
            if objective.last_number is not None:
                trial = study.get_trials(deepcopy=False)[objective.last_number]
                report(_trial_message(trial, stopped=True))
            break


def _trial_message(trial: Any, stopped: bool = False) -> dict[str, Any]:
    return {
        "kind": "trial",
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "run_dir": trial.user_attrs.get("run_dir"),
        "stopped": stopped,
    }


def _worker_main(
    spec: SweepSpec,
    data: Any,
    threads: int,
    budget: Any,
    n_trials: int | None,
    deadline: float | None,
    stop: Any,
    messages: Any,
) -> None:
    """Entry point of a worker process (spawned: no torch state inherited)."""
    # Ctrl-C reaches the whole process group; the parent turns it into ``stop``
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from widedeep_core.threads import apply_thread_share, capped

    with capped(threads):
        apply_thread_share()
        _worker_loop(spec, data, budget, n_trials, deadline, stop, messages)


def _worker_loop(
    spec: SweepSpec,
    data: Any,
    budget: Any,
    n_trials: int | None,
    deadline: float | None,
    stop: Any,
    messages: Any,
) -> None:
    try:
        if data is None:
            from widedeep_core.data import load_movielens

            assert spec.data_path is not None  # no data sent: the workers read the path
            data = load_movielens(spec.data_path)
        if data.fingerprint != spec.data_fingerprint:
            raise SweepError(f"{spec.data_path}: the data changed since the sweep started")
        work(
            spec,
            data,
            budget=_Budget(budget),
            n_trials=n_trials,
            deadline=deadline,
            stop=stop,
            report=messages.put,
        )
    except WideDeepError as exc:
        messages.put({"kind": "error", "message": str(exc)})
    except Exception as exc:  # a bug: still reported as one line
        messages.put({"kind": "error", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        messages.put({"kind": "exit", "pid": os.getpid()})


def run_sweep(
    spec: SweepSpec,
    data: Any,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    in_process: bool | None = None,
    threads: int | None = None,
    stop: threading.Event | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    on_tick: Callable[[Any], None] | None = None,
    on_start: Callable[[int | None, list[int]], None] | None = None,
) -> SweepOutcome:
    """Create or resume the study and run its missing trials with ``workers`` processes.

    ``n_trials`` is the study's total (a resumed sweep runs only the missing ones);
    ``timeout`` stops starting trials after that many seconds. One worker runs in this
    process unless ``in_process`` is False (the app always uses processes, so training
    never competes with its event loop). Each process uses ``threads`` torch threads
    (default: its share of the cores). ``stop`` (set from any thread, or by Ctrl-C)
    ends the sweep cleanly; ``on_trial`` gets one message per finished trial and
    ``on_tick(study)`` is called about every ``POLL_S`` while processes run; ``on_start`` gets
    the number of trials to run (None: until the time limit) and the trials of dead
    workers that were marked failed.
    """
    if n_trials is None and timeout is None:
        raise SweepError("a sweep needs a budget: a number of trials, a time limit or both")
    if n_trials is not None and n_trials < 1:
        raise SweepError(f"the number of trials must be at least 1, got {n_trials}")
    if workers < 1:
        raise SweepError(f"the number of workers must be at least 1, got {workers}")
    if timeout is not None and timeout <= 0:
        raise SweepError(f"the time limit must be positive, got {timeout:g} s")
    stop = stop or threading.Event()
    study = open_study(spec)  # refusals (space, storage) happen here, before any process
    recovered = fail_dead_trials(study)
    left = remaining_trials(study, n_trials)
    outcome = SweepOutcome(study, left if left is not None else -1, False, [], recovered)
    if on_start is not None:
        on_start(left, recovered)
    if left == 0:
        return outcome
    deadline = time.time() + timeout if timeout is not None else None
    on_trial = on_trial or (lambda message: None)

    def report(message: dict[str, Any]) -> None:
        outcome.finished += 1
        on_trial(message)

    if in_process is None:
        in_process = workers == 1
    if in_process and workers == 1:
        budget = _Budget(_LocalCounter(left) if left is not None else None)
        try:
            with _ctrl_c_sets(stop):
                work(
                    spec, data, budget=budget, n_trials=n_trials, deadline=deadline,
                    stop=stop, report=report,
                )  # fmt: skip
        except KeyboardInterrupt:
            outcome.stopped = True
        outcome.stopped = outcome.stopped or stop.is_set()
        return outcome
    threads = threads or threads_per_worker(workers)
    _run_processes(
        spec, data, workers, threads, left, n_trials, deadline, stop, on_trial, on_tick, outcome
    )
    return outcome


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event):
    """In the main thread, a first Ctrl-C sets ``stop`` (the trial in flight ends at its
    next batch and is recorded as stopped); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    before = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


class _LocalCounter:
    """An ``mp.Value`` look-alike for the in-process worker."""

    def __init__(self, value: int):
        self.value = value
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock


def _run_processes(
    spec: SweepSpec,
    data: Any,
    workers: int,
    threads: int,
    left: int | None,
    n_trials: int | None,
    deadline: float | None,
    stop: threading.Event,
    report: Callable[[dict[str, Any]], None],
    on_tick: Callable[[Any], None] | None,
    outcome: SweepOutcome,
) -> None:
    ctx = mp.get_context("spawn")  # fork after torch started its threads can deadlock
    budget = ctx.Value("i", left) if left is not None else None
    mp_stop = ctx.Event()
    messages = ctx.Queue()
    # a folder is reloaded by each worker (cached, fast); in-memory data travels pickled
    payload = None if spec.data_path else data
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(spec, payload, threads, budget, n_trials, deadline, mp_stop, messages),
            name=f"widedeep-sweep-{i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    exited = 0
    last_tick = time.monotonic()
    try:
        while exited < workers:
            if stop.is_set() and not mp_stop.is_set():
                mp_stop.set()
            try:
                message = messages.get(timeout=POLL_S)
            except queue.Empty:
                message = None
                if all(not p.is_alive() for p in procs) and exited < workers:
                    # a worker killed from outside sends no "exit": drain and leave
                    with contextlib.suppress(queue.Empty):
                        while True:
                            _handle(messages.get(timeout=POLL_S), report, outcome)
                    break
            if message is not None:
                exited += message["kind"] == "exit"
                _handle(message, report, outcome)
            if on_tick is not None and time.monotonic() - last_tick >= POLL_S:
                last_tick = time.monotonic()
                on_tick(outcome.study)
    except KeyboardInterrupt:
        mp_stop.set()
        outcome.stopped = True
        # the workers finish their current batch and record the trial as stopped
        for proc in procs:
            proc.join(timeout=60)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():  # did not stop in time: do not leave it behind
                proc.terminate()
                proc.join(timeout=5)
        messages.close()
    outcome.stopped = outcome.stopped or stop.is_set()
    if outcome.errors and not outcome.finished:
        raise SweepError(outcome.errors[0])


def _handle(
    message: dict[str, Any], report: Callable[[dict[str, Any]], None], outcome: SweepOutcome
) -> None:
    if message["kind"] == "trial":
        outcome.finished += 1
        report(message)
    elif message["kind"] == "error" and message["message"] not in outcome.errors:
        outcome.errors.append(message["message"])
