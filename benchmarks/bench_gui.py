"""GUI responsiveness: event-loop stalls of the real window while it trains ML-1M-size data.

The whole app runs as a user drives it: the window is shown (offscreen unless
``--show``), a folder is opened through the Data page, the preset and the settings are
entered in the Configure page's form, and Start is clicked on the Train page. A
``--interval`` ms timer in the GUI thread measures every gap between its ticks minus the
interval: an idle window (the machine's own noise), loading the data, training (from
Start until the run is finished and its thread has ended) and the refresh after it.

Stalls above the goal are explained from the same run: the GUI-thread CPU time during
the gap (busy GUI thread, or one waiting for the GIL or a core), the timed slots and
window repaints inside it, and where the worker thread was when the GUI got back.

    python benchmarks/bench_gui.py                     # ML-1M-size synthetic, 2 epochs
    python benchmarks/bench_gui.py --epochs 1 --data ../shared/data/ml-100k
    python benchmarks/bench_gui.py --fresh             # a new app on the demo data

``--fresh`` measures what a first-time user meets, in new processes that import
nothing beforehand: the time from the process start to the window's first paint, then
the whole session probed without a break: first paint, the warm-up, "Build demo data"
clicked at once, the warm-up (with a lazy window: until its pages are built), Start,
until the run is in the Runs table. ``--warm-up`` compares the
app's warm-up with a plain thread that imports torch (the previous app) and with none.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FRESH_CHILD = "--fresh-child" in sys.argv
if not FRESH_CHILD:  # the fresh session must not find torch already imported
    from _common import (
        add_device_argument,
        check_device,
        fmt_seconds,
        format_table,
        machine_line,
        peak_rss_mib,
        rerun_line,
        run_main,
    )

ML1M = {"n_users": 6040, "n_items": 3706, "n_ratings": 1_000_209, "seed": 0}
GOAL_MS = 50.0
# Slots that worker signals (or the window's own wiring) call in the GUI thread: each call
# is timed, so a stall can be pinned on the slot that ran during it.
TIMED_SLOTS = {
    "wdgui.pages.train:TrainPage": (
        "_on_batches", "_on_epoch", "_on_finished", "_on_failed", "_on_task_done", "start",
    ),
    "wdgui.pages.data:DataPage": ("_on_progress", "_on_loaded", "_on_task_done", "show_summary"),
    "wdgui.pages.configure:ConfigurePage": ("set_data", "_revalidate"),
    "wdgui.pages.runs:RunsPage": ("refresh", "select_runs"),
    "wdgui.pages.recommend:RecommendPage": (
        "set_data", "refresh_runs", "select_run", "load_run", "_on_recommender", "_on_task_done",
    ),
    "wdgui.main_window:MainWindow": (
        "_on_data_loaded", "_on_job_state", "_on_run_finished", "_update_can_start",
        "_update_device", "start_training",
    ),
    "wdgui.workers:Task": ("_on_thread_finished",),
}  # fmt: skip


# ---------------------------------------------------------------- what the GUI thread did
@dataclass
class Work:
    """One timed piece of GUI-thread work: a slot call or a window event."""

    name: str
    start: float
    end: float
    depth: int  # 0 = called by the event loop itself, > 0 = nested in another timed call


@dataclass
class Journal:
    """Every timed GUI-thread call, in order (filled by the wrappers)."""

    work: list[Work] = field(default_factory=list)
    depth: int = 0
    foreign: int = 0  # timed calls that ran outside the GUI thread (should stay 0)

    def timed(self, name: str, call: Callable[[], Any]) -> Any:
        """Run ``call`` and record how long it took under ``name``."""
        if threading.current_thread() is not threading.main_thread():
            self.foreign += 1
            return call()
        start = time.perf_counter()
        self.depth += 1
        try:
            return call()
        finally:
            self.depth -= 1
            self.work.append(Work(name, start, time.perf_counter(), self.depth))


JOURNAL = Journal()


def _timed_method(qualname: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A wrapper for a method that records each call in the journal."""

    # a wrapper taking *args is handed every signal argument, where the original slot
    # (say ``@Slot()`` on ``valueChanged(int)``) got only as many as it declares
    limit = _positional_limit(method)

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return JOURNAL.timed(qualname, lambda: method(*args[:limit], **kwargs))

    return wrapper


def _positional_limit(method: Callable[..., Any]) -> int | None:
    """How many positional arguments ``method`` takes (``self`` included); None if any."""
    params = inspect.signature(method).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def instrument_slots() -> None:
    """Time the app's slots by wrapping them on their classes (before any connect)."""
    import importlib

    for target, names in TIMED_SLOTS.items():
        module, cls_name = target.split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        for name in names:
            original = cls.__dict__.get(name)
            if original is not None:
                setattr(cls, name, _timed_method(f"{cls_name}.{name}", original))


def instrument_plots() -> None:
    """Time each pyqtgraph view's paint (nested in a window repaint), named by its widget."""
    import pyqtgraph as pg

    original = pg.GraphicsView.__dict__["paintEvent"]

    @functools.wraps(original)
    def paint(self: Any, ev: Any) -> Any:
        return JOURNAL.timed(f"paint {self.objectName() or 'plot'}", lambda: original(self, ev))

    pg.GraphicsView.paintEvent = paint


def timed_window_class() -> type:
    """MainWindow whose layout and repaint events (where all painting happens) are timed."""
    from PySide6.QtCore import QEvent

    from wdgui.main_window import MainWindow

    watched = {
        QEvent.Type.UpdateRequest: "window repaint (UpdateRequest)",
        QEvent.Type.LayoutRequest: "window layout (LayoutRequest)",
    }

    class TimedMainWindow(MainWindow):
        def event(self, e: Any) -> bool:
            name = watched.get(e.type())
            if name is None:
                return super().event(e)
            return JOURNAL.timed(name, lambda: super(TimedMainWindow, self).event(e))

    return TimedMainWindow


def quiet_offscreen_warnings() -> None:
    """Drop the offscreen plugin's "does not support propagateSizeHints()" lines."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode: Any, context: Any, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


# ---------------------------------------------------------------- the probe
@dataclass
class Tick:
    """One probe tick: when it fired, its lateness, and the GUI thread's CPU time in the gap."""

    at: float
    stall_ms: float
    cpu_ms: float
    worker: str = ""  # where other Python threads were when the GUI thread ran again
    queued_ms: float = float("nan")  # GUI thread runnable but waiting for a core (Linux)


class StallProbe:
    """A GUI-thread timer; each tick records how late it came (gap minus interval)."""

    def __init__(self, interval_ms: int, sample_above_ms: float):
        from PySide6.QtCore import Qt, QTimer

        self.interval_ms = interval_ms
        self.sample_above_ms = sample_above_ms
        self.ticks: list[Tick] = []
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Start ticking."""
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        stall = max(0.0, (now - self._last) * 1000 - self.interval_ms)
        tick = Tick(now, stall, (cpu - self._last_cpu) * 1000)
        if stall > self.sample_above_ms:
            tick.worker = other_threads_location()
        self.ticks.append(tick)
        self._last, self._last_cpu = now, cpu


class RunQueueLog:
    """A thread that notes the GUI thread's run-queue time every 5 ms (Linux).

    The run-queue time (second field of the thread's ``schedstat``) grows while the
    thread is runnable but waits for a core. Over a stall: large = a loaded machine
    kept the GUI thread off the CPU; small, with little GUI CPU time = it waited for the
    GIL or a lock. Read here, not in the probe: a file read in the GUI thread gives the
    GIL away and made each tick itself late under contention. NaN elsewhere.
    """

    def __init__(self) -> None:
        tid = threading.main_thread().native_id
        self.path = f"/proc/self/task/{tid}/schedstat"
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start noting."""
        self._thread.start()

    def stop(self, ticks: Sequence[Tick], interval_ms: float, above_ms: float) -> None:
        """Stop, and give each tick late by more than ``above_ms`` its run-queue time."""
        self._stop.set()
        self._thread.join()
        for t in ticks:
            if t.stall_ms > above_ms:
                t.queued_ms = self.between(t.at - (t.stall_ms + interval_ms) / 1000, t.at)

    def between(self, start: float, end: float) -> float:
        """Run-queue milliseconds from ``start`` to ``end`` (5 ms resolution)."""
        import bisect

        times = [s[0] for s in self.samples]
        i, j = bisect.bisect_right(times, start) - 1, bisect.bisect_right(times, end) - 1
        if i < 0 or j < 0:
            return float("nan")
        return self.samples[j][1] - self.samples[i][1]

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            try:
                with open(self.path) as f:
                    queued = int(f.read().split()[1]) / 1e6
            except (OSError, IndexError, ValueError):
                return
            self.samples.append((time.perf_counter(), queued))


def other_threads_location() -> str:
    """The innermost project frame (else the innermost frame) of every non-GUI thread."""
    main = threading.main_thread().ident
    places = []
    for ident, frame in sys._current_frames().items():
        if ident == main:
            continue
        innermost, ours = frame, None
        f: Any = frame
        while f is not None:
            path = f.f_code.co_filename
            if ours is None and ("widedeep_core" in path or "wdgui" in path):
                ours = f
            f = f.f_back
        pick = ours or innermost
        places.append(f"{_short(pick.f_code.co_filename)}:{pick.f_lineno} {pick.f_code.co_name}")
    return "; ".join(places) or "no other Python thread"


def _short(path: str) -> str:
    """A path from the package folder down (``widedeep_core/training.py``)."""
    parts = Path(path).parts
    for anchor in ("widedeep_core", "wdgui", "site-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + (anchor == "site-packages") :])
    return Path(path).name


# ---------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Phase:
    """A named time window of the run."""

    name: str
    start: float
    end: float


def ticks_in(ticks: Sequence[Tick], phase: Phase) -> list[Tick]:
    """The ticks that fired inside the phase."""
    return [t for t in ticks if phase.start < t.at <= phase.end]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def phase_row(phase: Phase, ticks: Sequence[Tick], goal_ms: float) -> list[str]:
    """One table row: ticks, max, p99, mean stall and the count above the goal."""
    stalls = [t.stall_ms for t in ticks_in(ticks, phase)]
    mean = sum(stalls) / len(stalls) if stalls else float("nan")
    return [
        phase.name,
        fmt_seconds(phase.end - phase.start),
        str(len(stalls)),
        f"{max(stalls, default=float('nan')):.1f}",
        f"{percentile(stalls, 99):.1f}",
        f"{mean:.1f}",
        str(sum(s > goal_ms for s in stalls)),
    ]


def work_during(tick: Tick, interval_ms: float, min_ms: float = 1.0) -> list[Work]:
    """Timed GUI work (any depth) of at least ``min_ms`` that overlapped the tick's gap."""
    gap_start = tick.at - (tick.stall_ms + interval_ms) / 1000
    return [
        w
        for w in JOURNAL.work
        if w.end > gap_start and w.start < tick.at and (w.end - w.start) * 1000 >= min_ms
    ]


def _grouped(work: Sequence[Work]) -> list[str]:
    """'name Nx total ms' per name, largest total first."""
    totals: dict[str, list[float]] = {}
    for w in work:
        totals.setdefault(w.name, []).append((w.end - w.start) * 1000)
    ranked = sorted(totals.items(), key=lambda kv: -sum(kv[1]))
    return [f"{name} {len(d)}x {sum(d):.0f} ms" for name, d in ranked]


def explain(tick: Tick, interval_ms: float) -> str:
    """What the GUI thread was doing during one stall, in words."""
    work = work_during(tick, interval_ms)
    top = [w for w in work if w.depth == 0]
    nested = [w for w in work if w.depth > 0 and w.name.startswith("paint ")]
    parts = _grouped(top)[:3]
    if nested:
        parts.append("in it: " + ", ".join(_grouped(nested)[:2]))
    rest = tick.stall_ms + interval_ms - sum((w.end - w.start) * 1000 for w in top)
    if rest > interval_ms:
        parts.append(f"{rest:.0f} ms outside timed work")
    return "; ".join(parts) or "no timed work"


def stall_rows(
    ticks: Sequence[Tick],
    phases: Sequence[Phase],
    t0: float,
    goal_ms: float,
    interval: int,
    explained: bool = True,
) -> list[list[str]]:
    """The stalls above the goal (at most 15, longest first), each explained."""
    big = sorted((t for t in ticks if t.stall_ms > goal_ms), key=lambda t: -t.stall_ms)[:15]
    rows = []
    for t in big:
        phase = next((p.name for p in phases if p.start < t.at <= p.end), "-")
        rows.append(
            [
                f"{t.at - t0:.2f}",
                phase,
                f"{t.stall_ms:.0f}",
                f"{t.cpu_ms:.0f}",
                f"{t.queued_ms:.0f}",
                explain(t, interval) if explained else "not timed (--plain)",
                t.worker,
            ]
        )
    return rows


def slot_rows(phase: Phase, top: int = 14) -> list[list[str]]:
    """Timed GUI work inside a phase, by name: calls, total, mean and max ms."""
    by_name: dict[str, list[float]] = {}
    for w in JOURNAL.work:
        if phase.start <= w.start <= phase.end:
            by_name.setdefault(w.name, []).append((w.end - w.start) * 1000)
    ranked = sorted(by_name.items(), key=lambda kv: -max(kv[1]))[:top]
    return [
        [name, str(len(d)), f"{sum(d):.0f}", f"{sum(d) / len(d):.1f}", f"{max(d):.1f}"]
        for name, d in ranked
    ]


# ---------------------------------------------------------------- driving the window
def run_until(done: Callable[[], bool], timeout_s: float, what: str, step_ms: int = 20) -> None:
    """Run the event loop until ``done()`` is true; a timeout is a clear error."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + timeout_s
    loop = QEventLoop()
    while not done():
        if time.perf_counter() > deadline:
            raise SystemExit(f"error: {what} did not finish within {timeout_s:.0f} s")
        QTimer.singleShot(step_ms, loop.quit)
        loop.exec()


def settle(seconds: float) -> None:
    """Run the event loop for ``seconds`` with nothing else to do."""
    end = time.perf_counter() + seconds
    run_until(lambda: time.perf_counter() >= end, seconds + 60, "waiting")


def configure(
    window: Any, preset_name: str, epochs: int, batch: int | None, devices: Sequence[str]
) -> Any:
    """Pick the preset and type the settings into the form; returns the page's Config."""
    page = window.configure_page
    i = page.presetCombo.findData(preset_name)
    if i < 0:
        raise SystemExit(f"error: unknown preset {preset_name!r}")
    page.presetCombo.setCurrentIndex(i)
    page.presetCombo.activated.emit(i)  # what a click in the list sends
    page.set_field("epochs", epochs)
    if batch is not None:
        page.set_field("batch_size", batch)
    for device in devices:
        page.set_field("device", device)
        if "device" not in page.errors():
            break
    else:
        raise SystemExit(f"error: the Configure page offers no device {devices[0]!r}")
    cfg = page.config()
    if cfg is None:
        raise SystemExit(f"error: the form rejects these settings: {page.errors()}")
    return cfg


@dataclass
class TrainingOutcome:
    """What the Train page reported."""

    batches: list[Any] = field(default_factory=list)
    finished: Any = None
    failed: str = ""
    first_batch_at: float | None = None
    finished_at: float | None = None


def watch_training(window: Any) -> TrainingOutcome:
    """Collect the trainer's events as the Train page receives them (GUI thread)."""
    out = TrainingOutcome()
    page = window.train_page
    cls = type(page)
    original = cls._on_batches

    # patched on the class before Start connects the worker to it: a bound method of the
    # page, so it still runs in the GUI thread
    @functools.wraps(original)
    def on_batches(self: Any, events: list) -> None:
        if out.first_batch_at is None:
            out.first_batch_at = time.perf_counter()
        out.batches.extend(events)
        original(self, events)

    cls._on_batches = on_batches

    def on_finished(ev: Any) -> None:
        out.finished, out.finished_at = ev, time.perf_counter()

    def on_failed(message: str) -> None:
        out.failed, out.finished_at = message, time.perf_counter()

    page.runFinished.connect(on_finished)  # emitted in the GUI thread: runs there
    page.runFailed.connect(on_failed)
    return out


# ---------------------------------------------------------------- a fresh app, whole session
def fresh_child(warm: str, epochs: int, spawned: float) -> int:
    """In a new process: first paint, then the whole session probed; prints one JSON line."""
    import json
    import threading

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    tmp = Path(tempfile.mkdtemp(prefix="wdgui-fresh-"))
    os.environ["WIDEDEEP_CACHE_DIR"] = str(tmp / "cache")  # the demo data is built anew
    from PySide6.QtCore import QSettings

    from wdgui.app import make_app
    from wdgui.main_window import MainWindow

    make_app()
    window = MainWindow(
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        runs_dir=tmp / "runs",
        warm_up=warm == "ours",
    )
    window.confirm_close = False
    painted: list[float] = []
    window.firstPainted.connect(lambda: painted.append(time.time()))
    probe = StallProbe(10, sample_above_ms=GOAL_MS)
    sampler = GuiSampler(probe)
    queue_log = RunQueueLog()
    probe.start()
    sampler.start()
    window.show()
    run_until(lambda: bool(painted), 120, "the first paint")
    t0 = time.perf_counter()
    plain = None
    if warm == "plain":  # what the app did before: import torch in a plain thread
        plain = threading.Thread(target=_plain_warm_up, daemon=True)
        plain.start()
    phases: list[Phase] = []
    start = time.perf_counter()
    window.data_page.findChild(object, "welcomeDemoButton").click()
    run_until(lambda: window.data_page.data is not None and not window.data_page.is_busy(),
              300, "the demo data")  # fmt: skip
    phases.append(Phase("demo data (build + load)", start, time.perf_counter()))
    start = time.perf_counter()
    run_until(lambda: not window.warm_up_jobs.is_busy() and not (plain and plain.is_alive())
              and _pages_built(window), 300, "the warm-up")  # fmt: skip
    phases.append(Phase("rest of the warm-up", start, time.perf_counter()))
    # only now: polling from one more thread while the warm-up thread imported pyqtgraph
    # (PySide6 types created there while the GUI thread ran) made 2 of 15 sessions crash
    queue_log.start()
    page = window.configure_page
    page.set_fields(epochs=epochs, device="cpu")
    done: list[float] = []
    window.train_page.runFinished.connect(lambda ev: done.append(time.perf_counter()))
    start = time.perf_counter()
    window.train_page.startButton.click()
    run_until(lambda: bool(done), 600, "training")
    phases.append(Phase("Start -> run finished", start, done[0]))
    start = time.perf_counter()
    run_until(lambda: window.runs_page.model.rowCount() > 0 and not _busy(window), 300, "Runs")
    settle(1.0)  # the Recommend page opens the new run meanwhile
    phases.append(Phase("-> Runs table, Recommend (+1 s)", start, time.perf_counter()))
    probe.stop()
    sampler.stop()
    queue_log.stop(probe.ticks, 10, GOAL_MS)
    session = Phase("whole session", t0, time.perf_counter())
    rows = []
    for phase in [*phases, session]:
        stalls = [t.stall_ms for t in ticks_in(probe.ticks, phase)]
        rows.append([phase.name, phase.end - phase.start, len(stalls), max(stalls, default=0.0),
                     sum(x > GOAL_MS for x in stalls)])  # fmt: skip
    big = sorted((t for t in probe.ticks if t.stall_ms > GOAL_MS), key=lambda t: -t.stall_ms)
    worst = [[round(t.at - t0, 2), round(t.stall_ms), round(t.cpu_ms), t.worker,
              None if math.isnan(t.queued_ms) else round(t.queued_ms)]
             for t in big[:8]]  # fmt: skip
    stuck = sampler.places.most_common(8)
    print(json.dumps({"first_paint_s": painted[0] - spawned, "rows": rows, "worst": worst,
                      "stuck": stuck}))  # fmt: skip
    window.close()
    return 0


def _pages_built(window: Any) -> bool:
    """True once the pages a lazy window builds after its warm-up all exist."""
    built = getattr(window, "is_built", None)
    return built is None or all(built(k) for k in ("train", "runs", "recommend", "sweep"))


class GuiSampler:
    """A thread that notes where the GUI thread is while the probe is late (5 ms samples)."""

    def __init__(self, probe: StallProbe, late_ms: float = 30.0):
        import collections

        self.probe, self.late = probe, late_ms / 1000
        self.places: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        main = threading.main_thread().ident
        while not self._stop.wait(0.005):
            if time.perf_counter() - self.probe._last < self.late:
                continue
            frame = sys._current_frames().get(main)
            names = []
            while frame is not None and len(names) < 3:
                path = frame.f_code.co_filename
                if "wdgui" in path or "widedeep_core" in path or not names:
                    names.append(f"{_short(path)}:{frame.f_lineno} {frame.f_code.co_name}")
                frame = frame.f_back
            self.places[" < ".join(names)] += 1


def _plain_warm_up() -> None:
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def fresh_sessions(args: argparse.Namespace) -> int:
    """Run ``--repeat`` fresh processes per warm-up kind; print first paint and stalls."""
    import json
    import subprocess

    results: dict[str, list[dict]] = {}
    cli_help: list[float] = []
    for _ in range(args.repeat):
        start = time.perf_counter()  # whole process, as a shell runs ``widedeep --help``
        subprocess.run([sys.executable, "-m", "widedeep_core.cli", "--help"], check=True,
                       capture_output=True, timeout=args.timeout)  # fmt: skip
        cli_help.append(time.perf_counter() - start)
        for warm in args.warm_up.split(","):
            spawned = time.time()
            cmd = [sys.executable, __file__, "--fresh-child", warm, str(args.epochs), repr(spawned)]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            line = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
            if not line:
                raise SystemExit(f"error: the fresh session failed:\n{done.stderr[-3000:]}")
            results.setdefault(warm, []).append(json.loads(line[0]))
    print(machine_line("cpu"))
    print(f"fresh app, demo data, {args.epochs} epochs; probe every 10 ms; {args.repeat} run(s)"
          " per kind, each in a new process\n")  # fmt: skip
    rows = []
    for warm, runs in results.items():
        for i, r in enumerate(runs):
            rows.append([warm, str(i + 1), "time to first paint (s)", f"{r['first_paint_s']:.2f}",
                         "", ""])  # fmt: skip
            for name, seconds, _ticks, worst, over in r["rows"]:
                rows.append([warm, str(i + 1), name, fmt_seconds(seconds), f"{worst:.0f}",
                             str(over)])  # fmt: skip
    print(format_table(["warm-up", "run", "phase", "seconds", "max stall ms",
                        f"> {GOAL_MS:g} ms"], rows))  # fmt: skip
    print()
    medians = [["`widedeep --help` (s)", f"{percentile(cli_help, 50):.2f}"]]
    for warm, runs in results.items():
        medians.append([f"{warm}: first paint (s)",
                        f"{percentile([r['first_paint_s'] for r in runs], 50):.2f}"])  # fmt: skip
        for i, (name, *_rest) in enumerate(runs[0]["rows"]):
            worst = [r["rows"][i][3] for r in runs]
            medians.append([f"{warm}: {name}, max stall (ms)", f"{percentile(worst, 50):.0f}"])
    print(format_table([f"median of {args.repeat} run(s)", "value"], medians))
    for warm, runs in results.items():
        for i, r in enumerate(runs):
            for at, stall, cpu, where, queued in r["worst"][:3]:
                print(f"{warm} run {i + 1}: {stall} ms at {at} s (gui cpu {cpu} ms, waiting"
                      f" for a core {queued} ms): {where}")  # fmt: skip
            for place, n in r["stuck"][:4]:
                print(f"  GUI thread while late ({n * 5} ms): {place}")
    print(rerun_line(__file__, sys.argv[1:]))
    return 0


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "--data",
        metavar="PATH",
        help="a MovieLens folder or zip (default: ML-1M-size synthetic data, written to a "
        "temporary folder)",
    )
    p.add_argument("--preset", default="reference", help="preset chosen in the form")
    p.add_argument("--epochs", type=int, default=2, help="epochs typed in the form (default 2)")
    p.add_argument("--batch-size", type=int, help="batch size typed in the form (default: preset)")
    p.add_argument("--interval", type=int, default=10, help="probe timer interval in ms")
    p.add_argument("--idle-seconds", type=float, default=3.0, help="idle baseline length")
    p.add_argument("--goal", type=float, default=GOAL_MS, help="stall goal in ms (default 50)")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many s")
    p.add_argument("--show", action="store_true", help="show the window on screen")
    p.add_argument(
        "--plain",
        action="store_true",
        help="probe only: no timing of slots and repaints (to see what the timing costs)",
    )
    p.add_argument("--fresh", action="store_true", help="a new app on demo data (see above)")
    p.add_argument(
        "--warm-up",
        default="ours,plain,none",
        help="with --fresh: comma list of ours (the app's), plain (a thread importing"
        " torch: the previous app), none (torch loads at Start)",
    )
    p.add_argument("--repeat", type=int, default=1, help="with --fresh: processes per kind")
    add_device_argument(p)
    return p.parse_args(argv)


def print_report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    """All the tables and lines of one run."""
    probe: StallProbe = r["probe"]
    phases: list[Phase] = r["phases"]
    out: TrainingOutcome = r["outcome"]
    train = next(p for p in phases if p.name == "training")
    print(machine_line(r["device"]))
    print(f"platform: Qt {r['qt']} ({r['qpa']}), probe every {args.interval} ms (PreciseTimer)")
    print(f"data: {r['data_name']}, {r['n_ratings']:,} ratings ({r['data_note']})")
    print(f"config: {r['config_line']}\n")
    print("Event-loop stalls (gap between probe ticks minus the interval, ms)")
    headers = ["phase", "seconds", "ticks", "max", "p99", "mean", f"> {args.goal:g} ms"]
    print(format_table(headers, [phase_row(p, probe.ticks, args.goal) for p in phases]))

    fin = out.finished
    rates = sorted(e.samples_per_s for e in out.batches)
    print()
    rows = [
        ["wall time (Start clicked -> run finished)", fmt_seconds(train.end - train.start)],
        ["  preparing (Start -> first batch)", fmt_seconds(_since(train, out.first_batch_at))],
        ["  trainer loop (epochs + validation)", fmt_seconds(fin.train_seconds if fin else None)],
        ["epochs run", str(fin.epochs_run) if fin else "n/a"],
        ["samples/s (median of the trainer's windows)", f"{percentile(rates, 50):,.0f}"],
        ["test AUC", f"{fin.test.get('auc', float('nan')):.4f}" if fin else "n/a"],
        ["peak RSS (MiB)", f"{peak_rss_mib():,.0f}"],
    ]
    print(format_table(["training", "value"], rows))
    worst = max((t.stall_ms for t in ticks_in(probe.ticks, train)), default=float("nan"))
    verdict = "meets" if worst <= args.goal else "MISSES"
    print(f"\nverdict: training max stall {worst:.0f} ms {verdict} the goal (<= {args.goal:g} ms)")

    rows = stall_rows(probe.ticks, phases, r["t0"], args.goal, args.interval, not args.plain)
    if rows:
        print(f"\nStalls above {args.goal:g} ms (gui cpu = GUI-thread CPU time in the gap: near")
        print("the stall = the GUI thread was busy; near 0 = it waited: for a core when")
        print("core wait = time the runnable GUI thread waited for a core is near the rest,")
        print("else for the GIL or a lock)")
        what = ["GUI-thread work in the gap", "other threads when the GUI ran again"]
        print(format_table(["t (s)", "phase", "stall ms", "gui cpu ms", "core wait ms", *what],
                           rows))  # fmt: skip
    if not args.plain:
        print("\nTimed GUI-thread work during training (slots, window events, plot paints)")
        print(format_table(["what", "calls", "total ms", "mean ms", "max ms"], slot_rows(train)))
    if JOURNAL.foreign:
        print(f"warning: {JOURNAL.foreign} timed slot calls ran outside the GUI thread")
    print(f"\nshutdown: window closed in {r['close_s']:.2f} s; threads left: {r['left']}")
    print(rerun_line(__file__, r["argv"]))


def _since(phase: Phase, at: float | None) -> float | None:
    return None if at is None else at - phase.start


def main(argv: list[str] | None = None) -> int:
    """Drive the window through load, configure and training while probing the loop."""
    args = parse_args(argv)
    if args.fresh:
        return fresh_sessions(args)
    device = check_device(args.device)
    if not args.show:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    with tempfile.TemporaryDirectory(prefix="wdgui-bench-") as tmp:
        # the parsed-data cache goes to the temporary folder: every run parses cold
        os.environ["WIDEDEEP_CACHE_DIR"] = str(Path(tmp) / "cache")
        path, note = _data_path(args.data, Path(tmp))
        report = drive(args, device, path, note, Path(tmp))
    report["argv"] = sys.argv[1:] if argv is None else argv
    print_report(args, report)
    return 0


def _data_path(data: str | None, tmp: Path) -> tuple[Path, str]:
    """The folder to open: ``--data``, or ML-1M-size synthetic data written now."""
    if data:
        return Path(data), "opened from --data"
    from widedeep_core.data import write_synthetic

    folder = tmp / "ml-1m-synthetic"
    t = time.perf_counter()
    write_synthetic(folder, "ml-1m", **ML1M)  # type: ignore[arg-type]
    return folder, f"synthetic ML-1M size, written in {time.perf_counter() - t:.1f} s"


def drive(args: argparse.Namespace, device: str, path: Path, note: str, tmp: Path) -> dict:
    """Open the window, load, idle, configure, train, close; returns what was measured."""
    import PySide6
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QGuiApplication

    from wdgui.app import make_app
    from wdgui.main_window import MainWindow
    from wdgui.warmup import warm_up
    from wdgui.workers import live_threads

    quiet_offscreen_warnings()
    app = make_app()
    warm = threading.Thread(target=warm_up, name="wdgui-warm-up")  # as ``wdgui`` starts
    warm.start()
    if not args.plain:
        instrument_slots()
        instrument_plots()
    window_class = MainWindow if args.plain else timed_window_class()
    window = window_class(
        settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
        runs_dir=tmp / "runs",
    )
    window.confirm_close = False
    window.show()
    outcome = watch_training(window)
    probe = StallProbe(args.interval, sample_above_ms=args.goal)
    queue_log = RunQueueLog()  # started once the warm-up thread has ended (see fresh_child)
    t0 = time.perf_counter()
    probe.start()
    phases: list[Phase] = []

    start = time.perf_counter()
    window.data_page.open_path(str(path))
    run_until(lambda: not window.data_page.is_busy(), args.timeout, "loading the data")
    phases.append(Phase("loading data", start, time.perf_counter()))
    data = window.data_page.data
    if data is None:
        raise SystemExit(
            f"error: the Data page could not load {path}: {window.data_page.last_error}"
        )
    # the loop keeps running (a join would stall it) until the warm-up thread has ended
    start = time.perf_counter()
    run_until(lambda: not warm.is_alive(), args.timeout, "the torch warm-up")
    phases.append(Phase("rest of the warm-up", start, time.perf_counter()))
    queue_log.start()

    start = time.perf_counter()
    settle(args.idle_seconds)
    phases.append(Phase(f"idle ({args.idle_seconds:g} s)", start, time.perf_counter()))

    cfg = configure(window, args.preset, args.epochs, args.batch_size, (args.device, device))
    start = time.perf_counter()
    window.train_page.startButton.click()  # -> startRequested -> MainWindow.start_training
    if not window.train_page.is_training():
        raise SystemExit(f"error: Start did not start: {window.train_page.hintLabel.text()}")
    run_until(lambda: outcome.finished_at is not None, args.timeout, "training")
    phases.append(Phase("training", start, outcome.finished_at or time.perf_counter()))
    if outcome.failed:
        raise SystemExit(f"error: training failed: {outcome.failed}")

    # after the run: its thread ends, the Runs page rereads the store, Recommend loads it
    start = time.perf_counter()
    run_until(lambda: not _busy(window), args.timeout, "the refresh after training")
    settle(1.0)
    phases.append(Phase("after training", start, time.perf_counter()))
    probe.stop()
    queue_log.stop(probe.ticks, args.interval, args.goal)

    start = time.perf_counter()
    window.close()  # the real close path: shutdown() waits for every worker thread
    app.processEvents()
    close_s = time.perf_counter() - start
    # Python threads that are not daemons (the warm-up one) would keep the process alive
    lingering = [t for t in threading.enumerate() if t is not threading.main_thread()]
    left = len(live_threads()) + sum(not t.daemon for t in lingering)
    return {
        "probe": probe,
        "phases": phases,
        "outcome": outcome,
        "t0": t0,
        "device": device,
        "qt": PySide6.__version__,
        "qpa": QGuiApplication.platformName(),
        "data_name": data.name,
        "n_ratings": data.n_ratings,
        "data_note": note,
        "config_line": _config_text(cfg),
        "close_s": close_s,
        "left": left,
    }


def _busy(window: Any) -> bool:
    """True while any page still has a worker running."""
    return (
        window.train_page.is_training()
        or window.recommend_page.is_busy()
        or window.configure_page.is_busy()
        or window.data_page.is_busy()
    )


def _config_text(cfg: Any) -> str:
    keys = ("preset", "epochs", "batch_size", "lr", "embed_dim", "hidden", "device")
    return ", ".join(f"{k}={getattr(cfg, k)}" for k in keys)


if __name__ == "__main__":
    if FRESH_CHILD:
        _, _, kind, n_epochs, at = sys.argv
        raise SystemExit(fresh_child(kind, int(n_epochs), float(at)))
    run_main(main)
