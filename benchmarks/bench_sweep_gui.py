"""Event-loop stalls of the real window while its Sweep page runs a study.

The probe of ``bench_gui.py`` (a GUI-thread timer recording how late each tick comes)
runs through an idle baseline, then from Start on the Sweep page until the sweep's
thread has ended: the trials train in worker processes, the page's QThread reads the
study and the GUI thread only draws the snapshots.

    python benchmarks/bench_sweep_gui.py --data ../shared/data/ml-100k
    python benchmarks/bench_sweep_gui.py --data PATH --trials 4 --workers 2 --epochs 3
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import format_table, machine_line, rerun_line, run_main
from bench_gui import GOAL_MS, StallProbe, configure, percentile, run_until, settle


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/ml-100k")
    p.add_argument("--preset", default="full")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--interval", type=int, default=10, help="probe interval in ms")
    args = p.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from wdgui import MainWindow
    from wdgui.pages.sweep import SweepPage

    # time the page's slots (GUI thread) so a stall can be pinned on drawing or not
    slot_ms: dict[str, list[tuple[float, float]]] = {}
    for name in ("_on_snapshot", "start"):
        original = getattr(SweepPage, name)

        # wrapped with functools.wraps: PySide6 then still queues the worker's signal
        # to the page's thread (a bare function would run in the worker thread)
        @functools.wraps(original)
        def timed(self, *a, _f=original, _n=name, **k):
            t0 = time.perf_counter()
            try:
                return _f(self, *a, **k)
            finally:
                slot_ms.setdefault(_n, []).append((t0, (time.perf_counter() - t0) * 1000))

        setattr(SweepPage, name, timed)

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp(prefix="bench-sweep-gui-")
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, runs_dir=os.path.join(tmp, "runs"))
    window.confirm_close = False
    window.show()
    window.data_page.open_path(args.data)
    run_until(lambda: window.data_page.data is not None, 300, "loading the data")
    run_until(lambda: not window.data_page.is_busy(), 300, "loading the data")
    configure(window, args.preset, args.epochs, None, ["cpu"])
    page = window.sweep_page
    page.set_space(["lr=1e-4..1e-2:log", "hidden=64,32|256,128"])
    page.trialsSpin.setValue(args.trials)
    page.workersSpin.setValue(args.workers)
    window.pages.setCurrentWidget(page)

    probe = StallProbe(args.interval, sample_above_ms=1e9)
    probe.start()
    idle_start = time.perf_counter()
    settle(3.0)
    sweep_start = time.perf_counter()
    page.startButton.click()
    if not page.is_running():
        raise SystemExit(f"error: the sweep did not start: {page.errorLabel.text()}")
    run_until(lambda: not page.is_running(), 3600, "the sweep")
    sweep_end = time.perf_counter()
    probe.stop()

    rows = []
    for name, lo, hi in (("idle", idle_start, sweep_start), ("sweep", sweep_start, sweep_end)):
        stalls = [t.stall_ms for t in probe.ticks if lo <= t.at < hi]
        rows.append(
            [
                name,
                f"{hi - lo:.0f}",
                str(len(stalls)),
                f"{max(stalls, default=0):.1f}",
                f"{percentile(stalls, 99):.1f}",
                str(sum(s > GOAL_MS for s in stalls)),
            ]
        )
    print(machine_line("cpu"))
    counts = (page.summary or {}).get("counts", {})
    print(f"{args.trials} trials, {args.workers} workers, {args.epochs} epochs: {counts}")
    print(format_table(["phase", "s", "ticks", "max ms", "p99 ms", f"> {GOAL_MS:.0f} ms"], rows))
    for name, calls in slot_ms.items():
        worst = max(ms for _, ms in calls)
        print(f"slot {name}: {len(calls)} calls, max {worst:.1f} ms")
    big = sorted((t for t in probe.ticks if t.stall_ms > GOAL_MS), key=lambda t: t.at)
    for t in big:
        print(
            f"  stall {t.stall_ms:.0f} ms at +{t.at - sweep_start:.1f} s "
            f"(GUI thread cpu {t.cpu_ms:.0f} ms)"
        )
    print(rerun_line("benchmarks/bench_sweep_gui.py", sys.argv[1:]))
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    run_main(main)
