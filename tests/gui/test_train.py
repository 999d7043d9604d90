"""Train page in the window: end to end, cancel, pause, failures and closing mid-training."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox, QWidget

from widedeep_core.runs import Run, RunStore


def load_demo(qtbot, window):
    with qtbot.waitSignal(window.data_page.dataLoaded, timeout=20000):
        window.data_page.demoDataButton.click()
    qtbot.waitUntil(lambda: not window.data_page.is_busy(), timeout=20000)


def set_form(window, **values):
    """Enter values in the Configure page through its public API."""
    page = window.configure_page
    page.set_fields(**values)
    assert page.is_valid(), page.errors()


def start(window):
    assert window.train_page.startButton.isEnabled(), window.train_page.hintLabel.text()
    window.train_page.startButton.click()
    assert window.train_page.is_training()


# A slot run in the worker thread would make Qt warn (e.g. "Cannot create children for
# a parent that is in a different thread"): any Qt warning fails these tests.
@pytest.mark.qt_log_level_fail("WARNING")
def test_end_to_end_demo_train_list_recommend(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=2, batch_size=128, log_every=2, seed=1)
    page = window.train_page
    assert page.is_empty_state_shown()  # a hint, not two empty plots
    with qtbot.waitSignal(page.runFinished, timeout=60000) as blocker:
        start(window)
        assert not page.is_empty_state_shown()
        # no fraction is known while the run is prepared: a busy bar that says so
        assert page.trainProgress.maximum() == 0
        assert "Preparing" in page.progressLabel.text()
    event = blocker.args[0]
    assert event.status == "finished" and event.epochs_run == 2
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)

    # both plots have points, the best epoch is marked, the bar is full
    x, y = page.rawLossCurve.getData()
    assert len(x) >= 2 and np.all(np.isfinite(y))
    x, y = page.aucCurve.getData()
    assert list(x) == [1.0, 2.0] and np.all((y > 0) & (y < 1))
    line = page.bestLines[page.aucPlot]
    assert line.isVisible() and line.value() == event.best_epoch
    assert page.trainProgress.value() == page.trainProgress.maximum()
    assert "finished" in page.logView.toPlainText()

    # the run is listed (and selected, so its curve is overlaid)
    runs = window.runs_page
    # listed, then selected, on the turns after the run's end
    qtbot.waitUntil(lambda: len(runs.selected_runs()) == 1, timeout=10000)
    assert runs.runsTable.model().rowCount() == 1
    (info,) = runs.selected_runs()
    assert info.status == "finished" and info.path == event.run_dir
    assert len(runs.curve_data()[info.id][0]) == 2

    # the Recommend page shows N unseen movies for the chosen user
    rec = window.recommend_page
    qtbot.waitUntil(lambda: rec.recommender is not None, timeout=20000)
    rec.topNSpin.setValue(7)
    user = rec.current_user()
    assert user is not None
    table = rec.recommendationsTable.model()
    assert table.rowCount() == 7
    shown = set(rec.recommendations["item"])
    ratings = window.data_page.data.ratings
    rated = set(ratings.loc[ratings["user"] == user, "item"])
    assert rated and not (shown & rated)
    assert rec.topRatedTable.model().rowCount() > 0
    assert "ratings" in rec.profileLabel.text()


@pytest.mark.qt_log_level_fail("WARNING")
def test_stop_mid_epoch_keeps_a_cancelled_run(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=500, batch_size=16, log_every=1)
    page = window.train_page
    start(window)
    # stop inside the second epoch: the first one has been evaluated and saved
    qtbot.waitUntil(lambda: bool(page.epochs), timeout=30000)
    with qtbot.waitSignal(page.runFinished, timeout=30000) as blocker:
        page.stopButton.click()
    event = blocker.args[0]
    assert event.status == "cancelled"
    assert 1 <= event.epochs_run < 500
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)
    assert page.startButton.isEnabled() and not page.stopButton.isEnabled()
    (info,) = RunStore(window.store.root).list()
    assert info.status == "cancelled"
    assert (info.path / "weights_best.pt").exists()


def test_stop_while_paused_does_not_hang(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=500, batch_size=16, log_every=1)
    page = window.train_page
    start(window)
    qtbot.waitUntil(lambda: bool(page.steps), timeout=30000)
    page.pauseButton.click()
    assert page.pauseButton.isChecked() and page.pauseButton.text() == "Resume"
    with qtbot.waitSignal(page.runFinished, timeout=30000) as blocker:
        page.stopButton.click()
    assert blocker.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)
    assert page.pauseButton.text() == "Pause"


def test_an_error_in_the_worker_shows_a_dialog_and_fails_the_run(window, qtbot, monkeypatch):
    import widedeep_core.training.trainer as training

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation exploded")

    monkeypatch.setattr(training, "predict_parts", broken)  # the validation step
    load_demo(qtbot, window)
    set_form(window, epochs=2, batch_size=256)
    page = window.train_page
    with qtbot.waitSignal(page.runFailed, timeout=30000) as blocker:
        start(window)
    assert "evaluation exploded" in blocker.args[0]
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)
    dialog = page.error_dialog
    assert dialog is not None and dialog.isVisible()
    assert "evaluation exploded" in dialog.text()
    dialog.close()
    (info,) = RunStore(window.store.root).list()
    assert info.status == "failed"
    assert window.runs_page.model.rowCount() == 1


@pytest.mark.parametrize(
    "answer", [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes], ids=["no", "yes"]
)
def test_closing_during_training_asks_then_stops_and_waits(window, qtbot, monkeypatch, answer):
    load_demo(qtbot, window)
    set_form(window, epochs=500, batch_size=16, log_every=1)
    page = window.train_page
    start(window)
    qtbot.waitUntil(lambda: bool(page.steps), timeout=30000)
    asked = []

    def question(*args, **kwargs):
        asked.append(args)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    window.show()
    closed = window.close()
    assert len(asked) == 1
    if answer == QMessageBox.StandardButton.No:
        assert not closed and page.is_training()
        window.confirm_close = False  # the fixture closes it for good
        return
    assert closed and not page.is_training()
    (info,) = RunStore(window.store.root).list()
    assert info.status == "cancelled"


def test_start_is_blocked_by_an_invalid_form(window, qtbot):
    load_demo(qtbot, window)
    assert window.train_page.startButton.isEnabled()
    window.configure_page.findChild(QWidget, "learningRateSpin").setValue(0.0)
    assert not window.train_page.startButton.isEnabled()
    assert not window.startAction.isEnabled()
    assert "Configure" in window.train_page.hintLabel.text()
    window.start_training()  # the shortcut path is refused too
    assert not window.train_page.is_training()
    assert window.pages.currentWidget() is window.configure_page


def test_first_start_builds_the_train_page_in_turns_then_trains(make_window, qtbot):
    window = make_window(lazy_pages=True)
    load_demo(qtbot, window)
    set_form(window, epochs=1, batch_size=256, log_every=50, seed=1)
    window.start_training()  # F5 before the idle build reached the Train page
    assert not window.is_built("train")  # built a piece per turn, not in this call
    assert window.pages.currentIndex() == 2 and "Preparing" in window.jobStatus.text()
    window.start_training()  # a second F5 meanwhile starts nothing more
    qtbot.waitUntil(lambda: window.is_built("train"), timeout=20000)
    page = window.train_page
    qtbot.waitUntil(
        lambda: not page.is_training() and page.trainProgress.value() > 0, timeout=60000
    )
    assert window.pages.currentWidget() is page
    assert [r.status for r in RunStore(window.store.root).list()] == ["finished"]


def test_start_during_the_warm_up_waits_for_it(make_window, qtbot, monkeypatch):
    window = make_window(lazy_pages=True)
    load_demo(qtbot, window)
    set_form(window, epochs=1, batch_size=256, log_every=50, seed=1)
    monkeypatch.setattr(window.warm_up_jobs, "is_busy", lambda: True)  # a warm-up running
    monkeypatch.setattr("wdgui.main_window.WARMED", type("E", (), {"is_set": lambda s: False})())
    window.start_training()
    qtbot.wait(50)
    assert not window.is_built("train") and window._start_after_warm_up
    monkeypatch.undo()
    window._on_warmed_up()  # what the warm-up's end signals: the Start goes on
    qtbot.waitUntil(lambda: window.is_built("train"), timeout=20000)
    qtbot.waitUntil(lambda: RunStore(window.store.root).list() != [], timeout=20000)
    qtbot.waitUntil(lambda: not window.train_page.is_training(), timeout=60000)


def test_seeds_field_repeats_the_run_once_per_seed(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=1, batch_size=256, log_every=50)
    form = window.configure_page
    form.seedsEdit.setText("0,x")  # a bad list is marked and Start refuses
    assert not form.is_valid() and "Repeat over seeds" in form.seedsError.text()
    form.seedsEdit.setText("3-5")
    assert form.is_valid() and form.seeds() == [3, 4, 5] and not form.seedsError.isVisible()
    start(window)
    store = RunStore(window.store.root)
    qtbot.waitUntil(
        lambda: (
            [r.status for r in store.list()] == ["finished"] * 3
            and not window.train_page.is_training()
        ),
        timeout=120000,
    )
    runs = sorted(store.list(), key=lambda r: r.config["seed"])
    assert [r.config["seed"] for r in runs] == [3, 4, 5]
    assert [r.name for r in runs] == ["fast seed 3", "fast seed 4", "fast seed 5"]
    assert window._seed_queue == []


def test_stop_ends_a_seed_set(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=30, batch_size=64, log_every=1)
    window.configure_page.seedsEdit.setText("0,1")
    page = window.train_page
    with qtbot.waitSignal(page.runFinished, timeout=60000):
        start(window)
        qtbot.waitUntil(lambda: page.trainProgress.maximum() > 0, timeout=30000)
        page.stopButton.click()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=30000)
    qtbot.wait(100)
    assert not page.is_training() and window._seed_queue == []
    assert [r.status for r in RunStore(window.store.root).list()] == ["cancelled"]


def test_repeat_with_seeds_from_a_runs_context_menu(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=1, batch_size=256, log_every=50, seed=7)
    with qtbot.waitSignal(window.train_page.runFinished, timeout=60000):
        start(window)
    qtbot.waitUntil(lambda: not window.train_page.is_training(), timeout=30000)
    runs = window.runs_page
    runs.refresh()
    runs.select_runs([r.id for r in runs.model.runs()])
    menu = runs.context_menu()
    texts = [a.text() for a in menu.actions()]
    assert "Repeat with seeds..." in texts
    enabled = {a.text(): a.isEnabled() for a in menu.actions()}
    assert enabled["Repeat with seeds..."] and not enabled["Resume"]  # it finished
    assert not runs.repeat_with_seeds("1,y")  # a bad list: a message, nothing started
    assert "Seeds" in runs.errorLabel.text() and not window.train_page.is_training()
    assert runs.repeat_with_seeds("0-1")
    store = RunStore(window.store.root)
    qtbot.waitUntil(
        lambda: len(store.list()) == 3 and not window.train_page.is_training(), timeout=120000
    )
    names = sorted(r.name for r in store.list())
    assert names[1:] == ["fast seed 0", "fast seed 1"], names
    assert window.configure_page.seedsEdit.text() == "0-1"


def test_resume_a_stopped_run_from_the_runs_page(window, qtbot):
    load_demo(qtbot, window)
    set_form(window, epochs=3, batch_size=256, log_every=50, seed=2, patience=0)
    page = window.train_page
    store = RunStore(window.store.root)

    with qtbot.waitSignal(page.runFinished, timeout=60000) as finished:
        start(window)
        qtbot.waitUntil(lambda: len(page.epochs) >= 1, timeout=60000)
        page.stopButton.click()
    assert finished.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: not page.is_training(), timeout=30000)
    (info,) = store.list()
    done = len(Run(info.path).read_epoch_metrics())
    assert 1 <= done < 3
    runs = window.runs_page
    runs.refresh()
    runs.select_runs([info.id])
    assert runs.can_resume()
    actions = {a.text(): a for a in runs.context_menu().actions()}
    assert actions["Resume"].isEnabled()
    with qtbot.waitSignal(page.runFinished, timeout=60000) as finished:
        actions["Resume"].trigger()
        assert page.is_training() and page.epochs == [float(e) for e in range(1, done + 1)]
    assert finished.args[0].status == "finished" and finished.args[0].epochs_run == 3
    qtbot.waitUntil(lambda: not page.is_training(), timeout=30000)
    assert page.epochs == [1.0, 2.0, 3.0]  # the earlier epochs, then the new ones
    (again,) = store.list()  # the same run folder, finished
    assert again.path == info.path and again.status == "finished"
    assert [r["epoch"] for r in Run(info.path).read_epoch_metrics()] == [1, 2, 3]
    runs.refresh()
    runs.select_runs([info.id])
    assert not runs.can_resume()
