"""Main window: pages, names other checks rely on, status bar, settings, About, shortcuts."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

from wdgui.app import main, parse_args

CONTRACT_NAMES = (
    "dataPathEdit", "openDataButton", "demoDataButton", "dataSummary", "presetCombo",
    "deviceCombo", "epochsSpin", "batchSizeSpin", "learningRateSpin", "startButton",
    "pauseButton", "stopButton", "trainProgress", "lossPlot", "aucPlot", "runsTable",
    "userSelector", "topNSpin", "recommendationsTable",
)  # fmt: skip


def test_window_has_every_page_and_contract_name(window):
    titles = [window.pages.tabText(i) for i in range(window.pages.count())]
    assert titles == ["Data", "Configure", "Train", "Runs", "Recommend", "Sweep", "Diagnose"]
    for name in CONTRACT_NAMES:
        found = window.findChildren(QWidget, name)
        assert len(found) == 1, name
    assert not window.windowIcon().isNull()
    assert window.dataStatus.text() == "No data"
    assert window.deviceStatus.text().startswith("Device: ")
    # nothing to train on yet: Start is off and says why
    assert not window.train_page.startButton.isEnabled()
    assert "Load data" in window.train_page.hintLabel.text()


def test_shortcuts_for_open_start_stop(window):
    assert QKeySequence(QKeySequence.StandardKey.Open) in window.openAction.shortcuts()
    assert QKeySequence("F5") in window.startAction.shortcuts()
    assert QKeySequence("Shift+F5") in window.stopAction.shortcuts()
    assert all(a in window.actions() for a in (window.openAction, window.startAction))


def test_about_lists_versions_and_devices(window, qtbot):
    import pyqtgraph
    import torch
    from PySide6.QtCore import qVersion

    window.show_about()  # open(), not exec(): returns at once
    dialog = window.about_dialog
    qtbot.waitUntil(dialog.isVisible)
    text = dialog.label.text()
    for needle in (torch.__version__, qVersion(), pyqtgraph.__version__, "cpu"):
        assert needle in text
    dialog.close()


def test_state_persists_across_restarts(make_window, tiny_folder, qtbot):
    first = make_window()
    first.resize(701, 501)  # inside the 800x600 offscreen screen
    first.pages.setCurrentIndex(3)
    first.configure_page.findChild(QWidget, "epochsSpin").setValue(7)
    first.configure_page.set_field("hidden", "48,24")
    first.train_page.smoothSpin.setValue(0.5)
    first.data_page.set_recent([str(tiny_folder)])
    first.train_page.splitter.setSizes([300, 200])
    sizes = first.train_page.splitter.sizes()
    first.confirm_close = False
    first.close()

    second = make_window()
    assert second.pages.currentIndex() == 3
    assert (second.size().width(), second.size().height()) == (701, 501)
    cfg = second.configure_page.config()
    assert cfg.epochs == 7 and cfg.hidden == (48, 24)
    assert second.train_page.smoothSpin.value() == 0.5
    assert second.data_page.recent == [str(tiny_folder)]
    assert second.train_page.splitter.sizes() == sizes


def test_parse_args():
    args = parse_args(["--data", "/x/ml-1m", "--runs-dir", "/r"])
    assert args.data == "/x/ml-1m" and args.runs_dir == "/r"
    assert parse_args([]).data is None


def test_main_opens_the_data_folder(monkeypatch, qtbot, tiny_folder, settings):
    from PySide6.QtWidgets import QApplication

    import wdgui.main_window as mw

    shown = []
    monkeypatch.setattr(mw.MainWindow, "show", lambda self: shown.append(self))
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    assert main(["--data", str(tiny_folder)]) == 0
    (window,) = shown
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.data_page.data is not None, timeout=20000)
        assert window.data_page.dataPathEdit.text() == str(tiny_folder)
        assert "ml-1m" in window.dataStatus.text()
    finally:
        window.confirm_close = False
        window.close()


def test_default_settings_follow_the_config_dir(qtbot, monkeypatch, tmp_path):
    from wdgui import MainWindow
    from wdgui.settings import settings_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    window = MainWindow()  # the plain constructor others use: no dialog, no network
    qtbot.addWidget(window)
    window.confirm_close = False
    window.close()
    assert settings_path() == tmp_path / "cfg" / "widedeep" / "wdgui.ini"
    assert settings_path().exists()


def test_first_launch_shows_the_three_ways_in(window, qtbot):
    page = window.data_page
    assert page.is_welcome_shown()
    for name in ("welcomeOpenButton", "welcomeDownloadButton", "welcomeDemoButton"):
        assert page.findChild(QWidget, name) is not None, name
    with qtbot.waitSignal(page.dataLoaded, timeout=20000):
        page.findChild(QWidget, "welcomeDemoButton").click()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20000)
    assert not page.is_welcome_shown()  # the summary and the histograms replace it


def test_warm_up_after_the_first_paint(make_window, qtbot):
    window = make_window(warm_up=True)
    with qtbot.waitSignal(window.warmedUp, timeout=60000):
        window.show()
    # PySide's classes were created in the GUI thread, a few per turn, before pyqtgraph
    assert window._qt_types is not None and window._qt_types.done
    combo = window.configure_page.findChild(QWidget, "deviceCombo")
    assert combo.findData("cpu") >= 0
    assert window.deviceStatus.text().startswith("Device: ")


def test_lazy_pages_are_built_on_first_show_or_use(make_window, qtbot):
    window = make_window(lazy_pages=True)
    assert window.findChild(QWidget, "lossPlot") is None  # no plot before the first paint
    assert window.findChild(QWidget, "ratingHistogram") is None
    assert not window.is_built("train") and not window.is_built("sweep")
    window.pages.setCurrentIndex(3)  # showing a page builds it in its tab
    assert window.is_built("runs") and window.pages.currentWidget() is window.runs_page
    assert window.train_page.startButton is not None  # using one builds it too
    assert window.pages.widget(2) is window.train_page and window.pages.currentIndex() == 3
    assert "Load data" in window.train_page.hintLabel.text()
    window.build_pages()
    titles = [window.pages.tabText(i) for i in range(window.pages.count())]
    assert titles == ["Data", "Configure", "Train", "Runs", "Recommend", "Sweep", "Diagnose"]
    window.data_page.build_plots()
    for name in CONTRACT_NAMES:
        assert len(window.findChildren(QWidget, name)) == 1, name


def test_train_page_shows_a_hint_until_the_first_run(window):
    page = window.train_page
    assert page.is_empty_state_shown()
    assert "F5" in page.emptyHint.text()


def test_idle_build_makes_every_page_once_in_pieces(make_window, qtbot):
    from wdgui.main_window import LAZY_PAGES

    window = make_window(lazy_pages=True)
    window._build_the_rest()  # what the window does after its warm-up
    build = window._idle_build
    for _ in range(6):  # a few pieces: the histograms, then the first pages, unfinished
        assert not build.step()
    assert not window.is_built("sweep")
    sweep = window.sweep_page  # a first use finishes that page's build at once
    assert window.is_built("sweep") and sweep.construction.done
    qtbot.waitUntil(lambda: build.done, timeout=20000)  # the idle turns do the rest
    assert all(window.is_built(key) for key in LAZY_PAGES)
    assert window.sweep_page is sweep and window.data_page.has_plots()
    for name in (*CONTRACT_NAMES, "sweepBestPlot", "ratingHistogram"):
        assert len(window.findChildren(QWidget, name)) == 1, name
    titles = [window.pages.tabText(i) for i in range(window.pages.count())]
    assert titles == ["Data", "Configure", "Train", "Runs", "Recommend", "Sweep", "Diagnose"]
    assert "Load data" in window.train_page.hintLabel.text()  # wired, state given


def test_recommend_page_reopens_its_run_after_a_restart(make_window, runs_dir, qtbot):
    first = make_window(runs_dir=runs_dir)
    first.pages.setCurrentWidget(first.recommend_page)
    first.show()
    page = first.recommend_page
    qtbot.waitUntil(lambda: page.recommender is not None, timeout=20000)  # opened when shown
    page.runCombo.setCurrentIndex(1)
    with qtbot.waitSignal(page.jobs.finished, timeout=20000):
        page.runCombo.activated.emit(1)
    chosen = page.runCombo.currentData()
    page.userSelector.setEditText("9")
    page.topNSpin.setValue(6)
    first.confirm_close = False
    first.close()

    second = make_window(runs_dir=runs_dir)  # the same settings: a restart
    page = second.recommend_page
    assert page.runCombo.currentData() == chosen  # the combo shows the saved run ...
    second.show()
    table = page.recommendationsTable  # ... and the page shows its list, unasked
    qtbot.waitUntil(lambda: table.model().rowCount() == 6, timeout=20000)
    assert str(page.recommender.trained.run.path) == chosen
    assert "User 9" in page.profileLabel.text()


def test_load_data_first_is_a_timed_hint_beside_the_labels(window, qtbot, monkeypatch):
    import wdgui.main_window as mw

    monkeypatch.setattr(mw, "STATUS_MESSAGE_MS", 200)
    window.show()
    qtbot.waitExposed(window)
    window.start_training()  # nothing loaded: a hint, not a training
    bar = window.statusBar()
    assert bar.currentMessage() == "Load data first."
    assert window.dataStatus.isVisible() and window.jobStatus.isVisible()
    assert window.dataStatus.text() == "No data"
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=5000)  # it goes by itself
    assert window.dataStatus.isVisible()


def test_the_first_launch_preset_is_fast_and_a_restart_keeps_its_description(make_window, qtbot):
    from widedeep_core.config import PRESET_HELP, PRESETS

    first = make_window()
    page = first.configure_page
    assert page.preset_name() == "fast" and page.config() == PRESETS["fast"]
    i = page.presetCombo.findData("paper")
    page.presetCombo.setCurrentIndex(i)
    page.presetCombo.activated.emit(i)
    first.confirm_close = False
    first.close()
    second = make_window()
    page = second.configure_page
    assert page.preset_name() == "paper" and page.config() == PRESETS["paper"]
    assert page.presetHelp.text() == PRESET_HELP["paper"]
