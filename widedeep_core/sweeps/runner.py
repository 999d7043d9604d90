"""Run a sweep: W local worker processes on one study, each with its share of the cores.

Two torch processes with default threads on 2 cores turned an 11 s epoch into 168 s
(docs/benchmarks.md): every worker caps its threads at ``cores // W`` (``threads.capped``),
and W itself is capped at the cores and at the trials left (a note says so). The
workers take trials from a shared budget (exact for the local workers); across
processes and machines the study's own trials decide: a trial is started only while
fewer trials than the budget are done or running before it, checked again once the
trial exists, so two commands on one study cannot overshoot ``--trials`` (the extra
trial ends failed, "not run", before it trains). Each finished trial is reported to the
parent through a queue only once the storage holds it; the workers stop cleanly when
the parent's stop event is set: the trial in progress is cancelled between batches and
recorded as failed.

Trials are run by our own ask/train/tell loop, not ``study.optimize``: Optuna's loop
turns a storage failure during its bookkeeping into an ``UnboundLocalError`` and logs
each failed trial with a traceback. Here a failing storage ends the sweep with one
line naming the storage and the cause (``StorageFailure``), and a worker process that
is killed is reported (a note; the CLI exits non-zero when the study is left short).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from widedeep_core.errors import SweepError, WideDeepError
from widedeep_core.faultpoints import checkpoint

from .objective import Objective, SweepStopped
from .storage import StorageFailure, is_storage_error, storage_errors, storage_failure
from .study import SweepSpec, fail_dead_trials, open_study

DONE_STATES = ("COMPLETE", "PRUNED")
# What a budget counts: trials that are done or may still be (a running one).
COUNTED_STATES = (*DONE_STATES, "RUNNING")
POLL_S = 0.25
SURPLUS = (
    "not run: the study already held its {n} trials when this one was created "
    "(another process started the last one)"
)


@dataclass
class SweepOutcome:
    """What ``run_sweep`` returns: the study (for the summary) and how the run ended."""

    study: Any
    started: int  # trials this call asked for
    stopped: bool  # stopped by the user (or Ctrl-C)
    errors: list[str]
    recovered: list[int]  # trials of dead workers marked failed at start
    finished: int = 0  # trials that ended during this call
    workers: int = 1  # worker processes used (after the cap)
    notes: list[str] = field(default_factory=list)  # capped workers, killed workers
    lost_workers: list[str] = field(default_factory=list)  # "process 123 (killed by SIGKILL)"
    lost_trials: list[int] = field(default_factory=list)  # their trials, marked failed


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Each worker's share of the cores (at least one thread)."""
    from widedeep_core.threads import usable_cores

    return max(1, (cores or usable_cores()) // max(workers, 1))


def cap_workers(workers: int, left: int | None, cores: int | None = None) -> tuple[int, str | None]:
    """``workers`` capped at the cores and at the trials left, and the note saying so.

    More processes than cores only share them (each trial gets slower, none is added);
    more than trials left would start idle processes that load the data for nothing.
    """
    from widedeep_core.threads import usable_cores

    cores = cores or usable_cores()
    limit = min(cores, left) if left is not None else cores
    if workers <= max(limit, 1):
        return workers, None
    why = [f"{cores} core(s)"] if limit == cores else []
    if left is not None and limit == left:
        why.insert(0, f"{left} trial(s) left")
    return max(limit, 1), f"--workers {workers} capped to {max(limit, 1)} ({', '.join(why)})"


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


def _counted_before(study: Any, number: int) -> int:
    """Trials numbered below ``number`` that count against the budget."""
    from optuna.trial import TrialState

    states = tuple(TrialState[n] for n in COUNTED_STATES)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if t.number < number)


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
    """The worker loop: one trial at a time until the budget, the deadline or a stop.

    A failing storage raises ``StorageFailure`` (one line); a trial's own failure
    (a ``WideDeepError``) marks it failed and the loop goes on.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with storage_errors(spec.storage):
        study = open_study(spec)
        objective = Objective(spec, data, stop)
        while not stop.is_set():
            if deadline is not None and time.time() >= deadline:
                break
            # other machines on this study count too: stop once it holds enough trials
            if n_trials is not None and _count(study, COUNTED_STATES) >= n_trials:
                break
            if not budget.take():
                break
            if not run_trial(study, objective, n_trials, report):
                break


def run_trial(
    study: Any, objective: Objective, n_trials: int | None, report: Callable[[dict], None]
) -> bool:
    """Ask for a trial, train it, tell how it ended, then report it; False ends the loop
    (the study already held its trials, or the user stopped)."""
    import optuna
    from optuna.trial import TrialState

    _fail_stale(study)
    checkpoint("sweep.trial.ask")
    with warnings.catch_warnings():
        # "Heartbeat of storage is supposed to be used with Study.optimize": _Heartbeat
        # below beats as optimize would
        warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
        trial = study.ask()
    checkpoint("sweep.trial.asked")
    if n_trials is not None and _counted_before(study, trial.number) >= n_trials:
        # another process created the last trial between our count and our ask
        study._storage.set_trial_user_attr(trial._trial_id, "error", SURPLUS.format(n=n_trials))
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        return False
    value: float | None = None
    state = TrialState.COMPLETE
    stopped = False
    with _Heartbeat(study._storage, trial._trial_id):
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except SweepStopped:
            state, stopped = TrialState.FAIL, True
        except StorageFailure:
            _fail_quietly(study, trial)
            raise
        except WideDeepError as exc:
            if is_storage_error(exc):  # raised through the trainer
                _fail_quietly(study, trial)
                raise storage_failure(exc, objective.spec.storage) from None
            state = TrialState.FAIL  # the trial's own failure: its "error" says why
        except BaseException:  # a bug, or a second Ctrl-C: not left "running"
            _fail_quietly(study, trial, "interrupted")
            raise
    # skip_if_finished: another machine's heartbeat check may have failed it meanwhile
    frozen = study.tell(trial, value, state=state, skip_if_finished=True)
    checkpoint("sweep.trial.told")
    report(_trial_message(frozen, stopped=stopped))
    return not stopped


def _fail_stale(study: Any) -> None:
    """Fail the trials whose worker stopped beating (what ``study.optimize`` did)."""
    import optuna

    storage = study._storage
    if storage.get_heartbeat_interval() is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _fail_quietly(study: Any, trial: Any, error: str | None = None) -> None:
    """Mark the trial failed if the storage still answers; else a resume does it (its
    worker is dead by then)."""
    from optuna.trial import TrialState

    with contextlib.suppress(Exception):
        if error is not None:
            study._storage.set_trial_user_attr(trial._trial_id, "error", error)
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


class _Heartbeat:
    """Beats for one trial in a thread, as ``study.optimize`` did; a failing storage
    ends the beating silently (the trial's next storage call reports it)."""

    def __init__(self, storage: Any, trial_id: int):
        self.storage = storage
        self.trial_id = trial_id
        self.interval = storage.get_heartbeat_interval()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self.interval:
            self.thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=self.interval)  # stuck in a dead server's call: leave it

    def _beat(self) -> None:
        while not self.done.is_set():
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:
                return
            self.done.wait(self.interval)


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

    capped(threads).__enter__()  # for the whole process: it ends with the loop below
    apply_thread_share()
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
        if is_storage_error(exc):
            message = str(storage_failure(exc, spec.storage))
        else:
            message = f"{type(exc).__name__}: {exc}"
        messages.put({"kind": "error", "message": " ".join(message.split())})
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
    on_note: Callable[[str], None] | None = None,
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
    workers that were marked failed; ``on_note`` gets each note (workers capped, a
    worker killed) as it happens, and ``outcome.notes`` keeps them.

    A failing storage raises ``StorageFailure`` (also when a worker process met it); a
    worker process killed from outside does not: its trial is marked failed and
    ``outcome.lost_workers`` / ``lost_trials`` say so (the CLI exits non-zero when the
    study is left short of ``n_trials``).
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
    with storage_errors(spec.storage):
        return _run_sweep(
            spec, data, n_trials, timeout, workers, in_process, threads, stop, on_trial,
            on_tick, on_start, on_note,
        )  # fmt: skip


def _run_sweep(
    spec: SweepSpec,
    data: Any,
    n_trials: int | None,
    timeout: float | None,
    workers: int,
    in_process: bool | None,
    threads: int | None,
    stop: threading.Event,
    on_trial: Callable[[dict[str, Any]], None] | None,
    on_tick: Callable[[Any], None] | None,
    on_start: Callable[[int | None, list[int]], None] | None,
    on_note: Callable[[str], None] | None,
) -> SweepOutcome:
    study = open_study(spec)  # refusals (space, storage) happen here, before any process
    recovered = fail_dead_trials(study)
    left = remaining_trials(study, n_trials)
    outcome = SweepOutcome(study, left if left is not None else -1, False, [], recovered)

    def note(text: str) -> None:
        outcome.notes.append(text)
        if on_note is not None:
            on_note(text)

    if on_start is not None:
        on_start(left, recovered)
    if left == 0:
        return outcome
    workers, capped = cap_workers(workers, left)
    outcome.workers = workers
    if capped:
        note(capped)
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
        spec, data, workers, threads, left, n_trials, deadline, stop, on_trial, on_tick, outcome,
        note,
    )  # fmt: skip
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
    note: Callable[[str], None],
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
    exited: set[int] = set()
    last_tick = time.monotonic()
    try:
        while len(exited) < workers:
            if stop.is_set() and not mp_stop.is_set():
                mp_stop.set()
            try:
                message = messages.get(timeout=POLL_S)
            except queue.Empty:
                message = None
                if all(not p.is_alive() for p in procs):
                    # a worker killed from outside sends no "exit": drain and leave
                    with contextlib.suppress(queue.Empty):
                        while True:
                            _handle(messages.get(timeout=POLL_S), report, outcome, exited)
                    break
            if message is not None:
                _handle(message, report, outcome, exited)
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
    if outcome.errors:  # a storage failure, changed data: the sweep did not do its job
        raise SweepError(outcome.errors[0])
    _report_lost_workers(procs, exited, outcome, note)


def _report_lost_workers(
    procs: list[Any], exited: set[int], outcome: SweepOutcome, note: Callable[[str], None]
) -> None:
    """Name the workers that ended without saying so (killed), and fail their trials."""
    lost = [p for p in procs if p.pid not in exited]
    if not lost:
        return
    for proc in lost:
        code = proc.exitcode
        how = f"exit status {code}"
        if code is not None and code < 0:
            how = f"killed by signal {-code}"
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
        outcome.lost_workers.append(f"process {proc.pid} ({how})")
    # their processes are gone (joined): fail_dead_trials knows their trials at once
    outcome.lost_trials = fail_dead_trials(outcome.study)
    trials = ", ".join(str(n) for n in outcome.lost_trials)
    note(
        f"worker {'; '.join(outcome.lost_workers)} ended without finishing"
        + (f"; its trial {trials} is marked failed" if trials else "")
    )


def _handle(
    message: dict[str, Any],
    report: Callable[[dict[str, Any]], None],
    outcome: SweepOutcome,
    exited: set[int],
) -> None:
    if message["kind"] == "trial":
        outcome.finished += 1
        report(message)
    elif message["kind"] == "exit":
        exited.add(message["pid"])
    elif message["kind"] == "error" and message["message"] not in outcome.errors:
        outcome.errors.append(message["message"])
