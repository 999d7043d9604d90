"""GUI fixtures: isolated QSettings, a main window that is always closed cleanly, tiny data."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QThread, QTimer
from PySide6.QtWidgets import QApplication, QWidget

TINY = {"n_users": 60, "n_items": 80, "n_ratings": 2500, "seed": 3}


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A fresh INI file per test; the default location is redirected too."""
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qsettings"))
    return QSettings(str(tmp_path / "wdgui.ini"), QSettings.Format.IniFormat)


def _active_timers() -> list[QTimer]:
    app = QApplication.instance()
    timers = []
    for widget in app.topLevelWidgets() if app else []:
        timers += [t for t in widget.findChildren(QTimer) if t.isActive()]
    return timers


@pytest.fixture(autouse=True)
def no_leftovers(qapp):
    """Fail a test that leaves a worker thread or a timer running."""
    yield
    from wdgui.workers import live_threads

    running = live_threads()
    for thread in running:  # do not poison the next test: stop, then report
        thread.quit()
        thread.wait(5000)
    assert not running, f"worker threads left running: {[t.objectName() for t in running]}"
    # every QThread that is still a child of a live widget must have stopped too; the
    # widgets waiting for deletion (and Python's garbage) go first, so the walk below
    # never meets one half destroyed (that crashed the suite at random)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    for widget in qapp.topLevelWidgets():
        assert not [t for t in widget.findChildren(QThread) if t.isRunning()]
    timers = _active_timers()
    assert not timers, f"timers left running: {[t.objectName() or t for t in timers]}"


def close_window(window: QWidget) -> None:
    """Close without the training question and wait for every worker."""
    window.confirm_close = False
    window.close()


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """Build MainWindows on isolated settings and runs; all are closed at teardown."""
    from wdgui import MainWindow

    made = []

    def make(**kwargs):
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("runs_dir", tmp_path / "runs")
        window = MainWindow(**kwargs)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        close_window(window)


@pytest.fixture
def window(make_window):
    """One main window."""
    return make_window()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """A small synthetic ml-1m folder on disk (official layout)."""
    from widedeep_core.data import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("tiny") / "ml-1m", layout="ml-1m", **TINY)


@pytest.fixture(scope="session")
def tiny_config():
    """Two quick epochs on the CPU with many batch events."""
    from widedeep_core.config import preset

    return preset("reference").replace(epochs=2, batch_size=64, log_every=2, device="cpu")


def wait_data(qtbot, window, timeout: int = 20000) -> None:
    """Wait until the Data page is idle again."""
    qtbot.waitUntil(lambda: not window.data_page.is_busy(), timeout=timeout)


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, tiny_folder, tiny_config):
    """Two finished runs on ``tiny_folder``, made once by the core (no GUI)."""
    import torch

    from wdgui.workers import training_threads
    from widedeep_core.api import train
    from widedeep_core.data import load_movielens

    root = tmp_path_factory.mktemp("trained") / "runs"
    data = load_movielens(tiny_folder, cache=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(training_threads())  # as the GUI does: spinning OpenMP is slow here
    try:
        train(tiny_config.replace(name="small net"), data, runs_dir=root)
        train(tiny_config.replace(name="wide net", hidden=(32, 16), lr=0.003), data, runs_dir=root)
    finally:
        torch.set_num_threads(previous)
    return root


@pytest.fixture
def runs_dir(trained_runs, tmp_path) -> Path:
    """A private copy of the trained runs: tests may rename and delete."""
    import shutil

    return Path(shutil.copytree(trained_runs, tmp_path / "runs"))
