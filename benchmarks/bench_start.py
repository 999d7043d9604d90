"""Event-loop stalls from the click on Start to the run listed, timed from the click.

A fresh process builds the window (with its warm-up thread, as ``wdgui`` does, or
without: ``MainWindow()`` as a script or a test makes it), clicks "Demo data", waits
``--wait`` seconds after the data is loaded (0: Start at once, while the warm-up may
still run), clicks Start and waits until the run is listed as finished. A 10 ms QTimer
in the GUI thread records every gap; the output is the longest stall of each phase.

    python benchmarks/bench_start.py                  # both kinds of window, 3 runs each
    python benchmarks/bench_start.py --wait 12 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, tempfile, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
wait, warm = float(sys.argv[1]), sys.argv[2] == "warm"
from PySide6.QtCore import QSettings, QTimer
from wdgui.app import make_app
app = make_app()  # as wdgui makes it (the GIL switch interval included)
tmp = tempfile.mkdtemp()
os.environ["WIDEDEEP_CACHE_DIR"] = tmp + "/cache"
from wdgui.main_window import MainWindow
w = MainWindow(settings=QSettings(tmp + "/s.ini", QSettings.Format.IniFormat),
               runs_dir=tmp + "/runs", warm_up=warm)
w.resize(1280, 820); w.show()
gaps, last, phase = [], [time.perf_counter()], ["idle"]
def tick():
    now = time.perf_counter(); gaps.append((phase[0], (now - last[0]) * 1e3 - 10)); last[0] = now
timer = QTimer(); timer.timeout.connect(tick); timer.start(10)
def spin(done, limit):
    end = time.perf_counter() + limit
    while not done() and time.perf_counter() < end:
        app.processEvents(); time.sleep(0.002)
spin(lambda: False, 1.0)
phase[0] = "data load"
w.data_page.demoDataButton.click()
spin(lambda: w.data_page.data is not None, 120)
phase[0] = "wait"
spin(lambda: False, wait)
phase[0] = "Start -> listed"
w.start_training()
spin(lambda: any(r.status == "finished" for r in w.store.list()), 300)
phase[0] = "after"
spin(lambda: False, 0.5)
worst = {}
for ph, gap in gaps:
    worst[ph] = max(worst.get(ph, 0.0), gap)
print(json.dumps(worst))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wait", type=float, default=0.0, help="seconds between data and Start")
    p.add_argument("--runs", type=int, default=3, help="fresh processes per kind")
    p.add_argument("--goal", type=float, default=50.0, help="stall goal in ms")
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"{'window':<12} {'phase':<16} {'max stall ms (each run)':<34} over goal")
    for kind in ("warm", "cold"):
        rows: dict[str, list[float]] = {}
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.wait), kind],
                capture_output=True, text=True, cwd=root, timeout=600,
                env={**os.environ, "WIDEDEEP_RUNS_DIR": tempfile.mkdtemp()},
            )  # fmt: skip
            line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
            for phase, ms in json.loads(line).items():
                rows.setdefault(phase, []).append(ms)
            time.sleep(0.5)
        label = "warm-up" if kind == "warm" else "no warm-up"
        for phase in ("data load", "Start -> listed"):
            values = rows.get(phase, [])
            shown = ", ".join(f"{v:.0f}" for v in values)
            over = sum(v > args.goal for v in values)
            print(f"{label:<12} {phase:<16} {shown:<34} {over}/{len(values)}")


if __name__ == "__main__":
    main()
