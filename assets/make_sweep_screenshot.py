"""Grab the Sweep page of a real window after a short study on a MovieLens folder.

Run: ``QT_QPA_PLATFORM=offscreen python assets/make_sweep_screenshot.py ../shared/data/ml-100k``
Writes ``assets/screenshot-sweep.png`` (8 trials of the ``full`` preset capped at 4
epochs, two worker processes, median pruning).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from make_screenshots import ASSETS, SIZE, settle, wait_for


def main(argv: list[str]) -> int:
    """Load ``argv[1]``, run a small study from the Sweep page, save its screenshot."""
    if len(argv) != 2:
        print(__doc__)
        return 2
    from PySide6.QtCore import QSettings

    from wdgui import MainWindow
    from wdgui.app import make_app
    from wdgui.warmup import warm_up

    app = make_app()
    warm_up()
    tmp = Path(tempfile.mkdtemp(prefix="wdgui-sweep-"))
    window = MainWindow(
        settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
        runs_dir=tmp / "runs",
    )
    window.resize(*SIZE)
    window.show()
    window.data_page.open_path(argv[1])
    wait_for(window.data_page.dataLoaded)
    form = window.configure_page
    from widedeep_core.config import preset

    form.set_config(preset("full").replace(epochs=4, device="cpu"))
    page = window.sweep_page
    page.set_space(["lr=1e-4..1e-2:log", "embed_dim=8..32", "hidden=64,32|128,64|256,128"])
    page.trialsSpin.setValue(8)
    page.workersSpin.setValue(2)
    window.pages.setCurrentWidget(page)
    page.startButton.click()
    while page.is_running():
        settle(200)
    settle(1000)
    out = ASSETS / "screenshot-sweep.png"
    window.grab().save(str(out))
    print(f"wrote {out}; {len(page.summary['trials'])} trials")
    window.confirm_close = False
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
