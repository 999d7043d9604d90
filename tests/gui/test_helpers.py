"""Pure helpers of the GUI: smoothing, throttling, formatting, workers, settings."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from wdgui.pages.train import eta_seconds, format_eta, overall_fraction
from wdgui.plotting import ema
from wdgui.settings import push_recent
from wdgui.widgets import format_cell
from wdgui.workers import JobWorker, Task, Throttle, error_text


def test_import_wdgui_is_light():
    code = (
        "import sys, wdgui\n"
        "bad = [m for m in ('PySide6', 'torch', 'pyqtgraph') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ema_continues_where_it_left_off():
    values = [1.0, 3.0, 2.0, 5.0, 4.0]
    whole = ema(values, 0.6)
    first = ema(values[:2], 0.6)
    assert ema(values[2:], 0.6, last=first[-1]) == pytest.approx(whole[2:])
    assert whole[0] == 1.0 and whole[1] == pytest.approx(0.6 * 1 + 0.4 * 3)
    assert ema(values, 0.0) == values


def test_throttle_lets_one_call_per_interval_through():
    now = [0.0]
    t = Throttle(0.05, clock=lambda: now[0])
    assert t.ready()
    assert not t.ready()
    now[0] = 0.049
    assert not t.ready()
    now[0] = 0.051
    assert t.ready()


def test_progress_and_eta():
    assert overall_fraction(1, 4, 5, 10) == pytest.approx(0.125)
    assert overall_fraction(4, 4, 10, 10) == 1.0
    assert eta_seconds(2, 2, 5, 10, 100, 500.0) == pytest.approx(1.0)
    assert math.isinf(eta_seconds(1, 2, 1, 10, 100, 0.0))
    assert format_eta(3725) == "1:02:05"
    assert format_eta(65) == "1:05"
    assert format_eta(math.inf) == "--"


def test_format_cell_and_recent():
    assert format_cell(1995.0) == "1995"
    assert format_cell(0.123456) == "0.1235"
    assert format_cell(float("nan")) == ""
    assert format_cell(("Comedy", "Drama")) == "Comedy, Drama"
    assert push_recent(["a", "b", "c"], "b") == ["b", "a", "c"]
    assert push_recent([str(i) for i in range(10)], "x", limit=3) == ["x", "0", "1"]


def test_error_text_keeps_domain_messages():
    from widedeep_core.errors import DataError

    assert error_text(DataError("bad", path="/x", line=3)) == "/x, line 3: bad"
    assert error_text(ValueError("boom")) == "ValueError: boom"


class _Sink:
    """Collects a worker's outcome in the test thread."""

    def __init__(self):
        self.results, self.errors, self.cancelled = [], [], 0


def _run_job(qtbot, job, cancel_first=False):
    from PySide6.QtCore import QObject, Slot

    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.sink = _Sink()

        @Slot(object)
        def ok(self, value):
            self.sink.results.append(value)

        @Slot(str)
        def fail(self, message):
            self.sink.errors.append(message)

        @Slot()
        def cancel(self):
            self.sink.cancelled += 1

    receiver = Receiver()
    worker = JobWorker(job)
    worker.succeeded.connect(receiver.ok)
    worker.failed.connect(receiver.fail)
    worker.cancelled.connect(receiver.cancel)
    task = Task(worker)
    if cancel_first:
        worker.cancel()
    with qtbot.waitSignal(task.finished, timeout=10000):
        task.start()
    return receiver.sink


def test_job_worker_result_error_and_cancel(qtbot):
    def ok(report):
        report(0.5, "half")
        return 42

    def boom(report):
        raise ValueError("broken input")

    assert _run_job(qtbot, ok).results == [42]
    assert _run_job(qtbot, boom).errors == ["ValueError: broken input"]
    sink = _run_job(qtbot, ok, cancel_first=True)
    assert sink.cancelled == 1 and not sink.results


def test_log_ticks():
    from wdgui.pages.data import log_ticks

    ticks = log_ticks(0.9, 2.5)
    assert [label for _, label in ticks] == ["10", "20", "50", "100", "200"]
    assert ticks[0][0] == pytest.approx(1.0)


class _FakeTrainer:
    """Records control calls; fit() emits one batch event then ends."""

    def __init__(self, callback, calls):
        self.callback, self.calls = callback, calls

    def request_cancel(self):
        self.calls.append("cancel")

    def request_pause(self, paused):
        self.calls.append(f"pause={paused}")

    def fit(self):
        from widedeep_core.training import BatchEvent

        self.callback(BatchEvent(1, 1, 1, 1, 0.5, 100.0))


def test_train_worker_applies_early_pause_then_cancel(qtbot):
    from wdgui.workers import TrainWorker

    calls = []
    worker = TrainWorker(lambda cb: _FakeTrainer(cb, calls))
    worker.request_pause(True)  # clicked before the trainer exists
    worker.request_cancel()
    task = Task(worker)
    with qtbot.waitSignal(worker.batches, timeout=10000) as blocker:
        task.start()
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    assert calls == ["pause=True", "cancel"]  # a cancel after a pause still ends the loop
    assert [e.loss for e in blocker.args[0]] == [0.5]


def test_nice_bounds_cover_the_data_and_change_rarely():
    from wdgui.pages.train import nice_bounds

    for lo, hi in [(20, 1500), (0.543, 0.705), (1, 1), (0.749, 0.786), (-3.2, 7.9)]:
        a, b = nice_bounds(lo, hi)
        assert a <= lo and b >= hi and a < b
    # a little more data keeps the same bounds, so the axes are not redrawn
    assert nice_bounds(0.543, 0.705) == nice_bounds(0.544, 0.709)


def test_job_runner_runs_off_the_gui_thread_and_reports_in_it(qtbot):
    import threading

    from wdgui.workers import JobRunner

    runner = JobRunner()
    seen = {}

    def job(report):
        seen["job"] = threading.current_thread()
        report(0.5, "half")
        return 7

    progress = []
    runner.progress.connect(lambda f, m: progress.append((f, m, threading.current_thread())))
    with qtbot.waitSignal(runner.finished, timeout=10000):
        assert runner.start(job)
        assert not runner.start(job)  # one job at a time
    assert seen["job"] is not threading.main_thread()
    assert progress == [(0.5, "half", threading.main_thread())]
    assert not runner.is_busy()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice: Linux")
def test_jobs_run_below_the_gui_threads_priority(qtbot):
    # the GUI thread gets a core first when a job's threads hold them all
    import os
    import threading

    from wdgui.workers import WORKER_NICE, JobRunner

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    gui = nice()
    runner = JobRunner()
    seen = {}
    with qtbot.waitSignal(runner.finished, timeout=10000):
        assert runner.start(lambda report: seen.setdefault("nice", nice()))
    assert seen["nice"] >= max(gui, WORKER_NICE)
    assert nice() == gui  # the GUI thread keeps its own


def test_stop_all_cancels_and_waits(qtbot):
    import threading

    from wdgui.workers import JobRunner, live_threads, stop_all

    started = threading.Event()

    def job(report):
        started.set()
        while True:  # ends only through the cooperative cancel
            report(0.0, "")
            started.wait(0.001)

    runner = JobRunner()
    cancelled = []
    runner.cancelled.connect(lambda: cancelled.append(True))
    runner.start(job)
    assert started.wait(10)
    stop_all()
    assert not live_threads() and not runner.is_busy()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=5000)


@pytest.mark.parametrize(
    ("environ", "missing", "expect"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, ["libxcb-icccm.so.4"], None),
        ({"DISPLAY": ":0"}, [], None),
        (
            {"DISPLAY": ":0"},
            ["libxcb-icccm.so.4", "libxcb-cursor.so.0"],
            "libxcb-icccm4 libxcb-cursor0",
        ),
        (
            {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"},
            ["libxkbcommon-x11.so.0"],
            "libxkbcommon-x11-0",
        ),
        ({}, [], "no display"),
    ],
)
def test_platform_problem_names_the_packages(environ, missing, expect):
    from wdgui.platform_check import platform_problem

    text = platform_problem(environ, "linux", missing=lambda: missing)
    if expect is None:
        assert text is None
    else:
        assert expect in text and "QT_QPA_PLATFORM=offscreen" in text
    assert platform_problem({"DISPLAY": ":0"}, "darwin", missing=lambda: missing) is None


def test_missing_libraries_from_ldd_output(tmp_path):
    from wdgui.platform_check import missing_xcb_libraries

    listing = (
        "\tlibxcb-cursor.so.0 => /lib/libxcb-cursor.so.0 (0x1)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )
    plugin = tmp_path / "libqxcb.so"
    assert missing_xcb_libraries(plugin, ldd=lambda p: listing) == [
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
    ]
    # no ldd: each library is tried
    found = missing_xcb_libraries(plugin, ldd=lambda p: None, loads=lambda n: "keysyms" not in n)
    assert found == ["libxcb-keysyms.so.1"]


def test_steps_run_a_piece_at_a_time_or_all_at_once():
    from wdgui.widgets import Steps

    done = []

    def pieces():
        for i in range(3):
            done.append(i)
            if i < 2:
                yield

    steps = Steps(pieces())
    assert not steps.step() and done == [0]
    outer = Steps(x for _ in [None] for x in steps)  # a larger build that yields from it
    assert not outer.step() and done == [0, 1]
    steps.finish()  # a first use finishes what is left; the larger build just ends
    assert steps.done and done == [0, 1, 2]
    outer.finish()
    assert outer.done and done == [0, 1, 2]
    cancelled = Steps(pieces())
    cancelled.step()
    cancelled.cancel()  # a window closing: no piece runs on a later turn
    assert cancelled.step() and done == [0, 1, 2, 0]


def test_grown_bounds_cover_the_data_and_grow_with_headroom():
    from wdgui.pages.train import grown_bounds, nice_bounds

    assert grown_bounds(None, 0.62, 0.69) == nice_bounds(0.62, 0.69)
    assert grown_bounds((0.6, 0.7), 0.61, 0.7) == (0.6, 0.7)  # covered: unchanged
    lo, hi = grown_bounds((0.6, 0.7), 0.55, 0.69)  # the loss fell below the bottom
    assert lo <= 0.55 - 0.075 and abs(hi - 0.7) < 1e-9  # half the span beyond; top kept
    # a loss falling steadily from 0.69 to 0.40 moves the bounds a few times only
    bounds, changes = None, 0
    for i in range(300):
        new = grown_bounds(bounds, 0.69 - i * 0.001, 0.69)
        changes += new != bounds
        bounds = new
    assert changes <= 5 and bounds[0] <= 0.391


def test_plot_steps_build_a_plot_in_pieces_with_cheap_axes(qtbot):
    from wdgui.plotting import ClippedAxis, plot_steps

    steps, pieces = plot_steps("somePlot", "Title", "x", "y"), 0
    while True:
        try:
            next(steps)
            pieces += 1
        except StopIteration as done:
            plot = done.value
            break
    qtbot.addWidget(plot)
    assert pieces >= 3 and plot.objectName() == "somePlot"
    for side in ("left", "bottom"):
        axis = plot.getPlotItem().getAxis(side)
        assert isinstance(axis, ClippedAxis) and axis.style["maxTickLevel"] == 1
    assert plot.getPlotItem().getAxis("left").labelText == "y"
    plot.plot([1, 2, 3], [0.5, 0.7, 0.6])
    plot.resize(320, 240)
    assert not plot.grab().isNull()  # painted through the clipped axes


def test_qt_type_steps_touch_every_class_in_short_steps():
    from PySide6 import QtCore, QtGui, QtWidgets

    from wdgui.warmup import qt_type_steps

    steps = sum(1 for _ in qt_type_steps(per_step=50))
    names = sum(len(dir(m)) for m in (QtCore, QtGui, QtWidgets))
    assert steps >= names // 50
