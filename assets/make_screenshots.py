"""Grab every page of a real window with a MovieLens folder loaded and two short runs trained,
then the Runs page comparing two seed sets (``screenshot-compare.png``).

Run: ``QT_QPA_PLATFORM=offscreen python assets/make_screenshots.py ../shared/data/ml-100k``
Writes ``assets/screenshot-<page>.png`` and prints the longest event-loop stall seen
while training (a 5 ms timer in the GUI thread measures it).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

ASSETS = Path(__file__).resolve().parent
SIZE = (1280, 820)  # the window's default size


def wait_for(signal, timeout_s: float = 600.0) -> None:
    """Run the event loop until ``signal`` fires (or fail after ``timeout_s``)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout_s * 1000))
    loop.exec()
    timed_out = not timer.isActive()
    timer.stop()
    signal.disconnect(loop.quit)
    if timed_out:
        raise SystemExit(f"timed out after {timeout_s} s")


def settle(ms: int = 300) -> None:
    """Let layouts and plots catch up before a grab."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


class StallMeter:
    """Gaps between ticks of a 5 ms GUI-thread timer, minus the interval."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps_ms: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000 - 5)
        self._last = now

    def report(self, what: str) -> str:
        """Worst gap and how many exceeded 50 ms."""
        worst = max(self.gaps_ms, default=0.0)
        over = sum(g > 50 for g in self.gaps_ms)
        return f"{what}: longest event-loop stall {worst:.0f} ms, {over} over 50 ms"

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


def train(window, preset: str, **settings) -> StallMeter:
    """Choose a preset, type settings into the form, train and wait for the end."""
    page = window.configure_page
    page.presetCombo.setCurrentIndex(page.presetCombo.findData(preset))
    page.apply_preset(preset)
    page.set_fields(**settings)
    if not page.is_valid():
        raise SystemExit(f"invalid settings: {page.errors()}")
    meter = StallMeter()
    meter.start()
    window.start_training()
    wait_for(window.train_page.runFinished)
    meter.stop()
    while window.train_page.is_training():
        settle(50)
    return meter


def train_seeds(window, preset: str, seeds: str, **settings) -> None:
    """As :func:`train`, with the form's *Repeat over seeds* field set: one run per seed,
    one after another; returns when the whole set has trained."""
    page = window.configure_page
    before = len(window.runs_page.model.runs())
    page.presetCombo.setCurrentIndex(page.presetCombo.findData(preset))
    page.apply_preset(preset)
    page.set_fields(**settings)
    page.seedsEdit.setText(seeds)
    n = len(page.seeds())
    window.start_training()
    end = time.perf_counter() + 600
    while len(window.runs_page.model.runs()) < before + n or window.train_page.is_training():
        if time.perf_counter() > end:
            raise SystemExit("timed out training a seed set")
        settle(100)
    page.seedsEdit.setText("")


def main(argv: list[str]) -> int:
    """Load ``argv[1]``, train two runs, save one screenshot per page."""
    if len(argv) != 2:
        print(__doc__)
        return 2
    from PySide6.QtCore import QSettings

    from wdgui.app import make_app
    from wdgui.warmup import warm_up

    app = make_app()
    warm_up()  # as ``wdgui`` does after the first paint, in a worker thread
    tmp = Path(tempfile.mkdtemp(prefix="wdgui-shots-"))
    from wdgui import MainWindow

    window = MainWindow(
        settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
        runs_dir=tmp / "runs",
    )
    window.resize(*SIZE)
    window.show()

    def grab(page, name: str) -> None:
        window.pages.setCurrentWidget(page)
        settle()
        out = ASSETS / f"screenshot-{name}.png"
        window.grab().save(str(out))
        print(f"wrote {out}")

    window.data_page.open_path(argv[1])
    wait_for(window.data_page.dataLoaded)
    grab(window.data_page, "data")

    idle = StallMeter()  # the same timer with nothing running: the machine's own noise
    idle.start()
    settle(3000)
    idle.stop()
    print(idle.report("idle window, 3 s"))
    meter = train(window, "full", epochs=8, patience=3, name="full, 8 epochs")
    print(meter.report("training 'full' (first run)"))
    meter = train(window, "reference", epochs=8, name="reference, 8 epochs")
    print(meter.report("training 'reference'"))
    grab(window.train_page, "train")

    window.configure_page.set_config(window.configure_page.config().replace(
        crosses=("gender x genres", "age x genres"), wide_fields=("user", "item", "gender", "age")
    ))  # fmt: skip
    window.configure_page.compute_support()
    while window.configure_page.is_busy():
        settle(50)
    grab(window.configure_page, "configure")

    runs = window.runs_page
    runs.select_runs([info.id for info in runs.model.runs()])
    grab(runs, "runs")

    rec = window.recommend_page
    while rec.is_busy():
        settle(50)
    rec.userSelector.setEditText("42")
    rec.update_recommendations()
    grab(rec, "recommend")

    diag = window.diagnose_page  # the 'full' run, compared with 'reference'
    full, ref = (i.path for i in sorted(runs.model.runs(), key=lambda i: i.name))
    diag.select_run(str(full), str(ref))
    diag.start()
    wait_for(diag.jobs.finished)
    diag.tabs.setCurrentIndex(0)  # calibration
    grab(diag, "diagnose")

    # two settings, three seeds each: the sets fold into rows with mean and spread, their
    # curves a mean with a min/max band, the diff tab lists what differs
    train_seeds(window, "fast", "0,1,2", epochs=10, patience=None, lr=0.005,
                name="fast lr 0.005")  # fmt: skip
    train_seeds(window, "fast", "0,1,2", epochs=10, patience=None, lr=0.001,
                name="fast lr 0.001")  # fmt: skip
    runs.seedsCheck.setChecked(True)
    sets = []
    for r in range(runs.proxy.rowCount()):
        if runs.model.node(runs.proxy.mapToSource(runs.proxy.index(r, 0))).kind == "set":
            sets.append(r)
    runs.select_rows(sets)
    runs.detailsTabs.setCurrentIndex(1)  # the settings that differ
    grab(runs, "compare")
    runs.detailsTabs.setCurrentIndex(0)

    window.confirm_close = False
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
