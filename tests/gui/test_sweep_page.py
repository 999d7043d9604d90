"""Sweep page: start a study in worker processes, see a trial row, stop, load into form."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from PySide6.QtWidgets import QComboBox, QWidget


def open_tiny(qtbot, window, folder):
    with qtbot.waitSignal(window.data_page.dataLoaded, timeout=30000):
        window.data_page.open_path(str(folder))
    qtbot.waitUntil(lambda: not window.data_page.is_busy(), timeout=30000)


def test_page_has_its_named_parts(window):
    page = window.sweep_page
    assert page.objectName() == "sweepPage"
    for name in ("sweepStartButton", "sweepStopButton", "sweepTrialsTable", "sweepBestPlot",
                 "sweepParallelPlot", "sweepImportancePlot"):  # fmt: skip
        assert page.findChild(QWidget, name) is not None, name
    assert page.space_texts() == ["lr=0.0001..0.01:log", "hidden=64,32|128,64|256,128"]


def test_bad_space_is_one_line_and_starts_nothing(window, qtbot, tiny_folder):
    open_tiny(qtbot, window, tiny_folder)
    page = window.sweep_page
    page.add_field("lr", "0.1..0.01")
    page.startButton.click()
    assert not page.is_running()
    assert "LOW < HIGH" in page.errorLabel.text() and page.errorLabel.isVisibleTo(page)


@pytest.mark.qt_log_level_fail("WARNING")
def test_start_trial_row_stop_and_load_into_form(window, qtbot, tiny_folder, tmp_path):
    open_tiny(qtbot, window, tiny_folder)
    form = window.configure_page
    form.apply_preset("reference")  # no early stopping: the trial runs until stopped
    form.editors["epochs"].spin.setValue(200)  # long enough to be stopped mid-trial
    form.editors["batch_size"].spin.setValue(64)
    form.editors["device"].set_value("cpu")
    form._revalidate()
    assert form.is_valid(), form.errors()
    page = window.sweep_page
    page.set_space(["lr=1e-3..1e-1:log", "embed_dim=4..8"])
    page.trialsSpin.setValue(3)
    page.storageEdit.setText(str(tmp_path / "studies.db"))
    page.studyEdit.setText("gui")
    page.startButton.click()
    assert page.is_running() and page.stopButton.isEnabled()

    # the first trial appears while it runs (the worker process reports its epochs)
    qtbot.waitUntil(lambda: page.trialsModel.rowCount() >= 1, timeout=90000)
    with qtbot.waitSignal(page._task.finished, timeout=60000):
        page.stopButton.click()
    assert not page.is_running() and page.startButton.isEnabled()
    trial = page.summary["trials"][0]
    assert trial["state"] == "fail" and trial["error"] == "stopped by the user"
    assert trial["run_dir"]

    page.select_trial(0)
    assert page.loadButton.isEnabled() and page.openRunButton.isEnabled()
    page.loadButton.click()
    assert window.pages.currentWidget() is form
    cfg = form.config()
    assert cfg is not None and cfg.lr == pytest.approx(trial["params"]["lr"])
    assert cfg.embed_dim == trial["params"]["embed_dim"] and cfg.epochs == 200

    page.openRunButton.click()
    assert window.pages.currentWidget() is window.runs_page
    (info,) = window.runs_page.selected_runs()
    assert str(info.path) == trial["run_dir"] and info.tags == {"study": "gui", "trial": 0}


def test_studies_button_lists_the_storage_and_opens_a_study(window, qtbot, tmp_path):
    import optuna

    from widedeep_core.sweeps import normalize_url

    db = tmp_path / "studies.db"
    study = optuna.create_study(storage=normalize_url(str(db), None), study_name="plain",
                                direction="maximize")  # fmt: skip
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    for lr, value in ((1e-3, 0.71), (1e-2, 0.74), (3e-2, 0.72)):
        study.add_trial(optuna.trial.create_trial(params={"lr": lr}, distributions=dist,
                                                  value=value))  # fmt: skip
    page = window.sweep_page
    page.storageEdit.setText(str(db))
    with qtbot.waitSignal(page.study_jobs.finished, timeout=30000):
        assert page.list_studies()
    assert [r["study"] for r in page.studies] == ["plain"] and page.studies[0]["trials"] == 3
    studies = page.findChild(QComboBox, "sweepStudyList")
    assert page.study_rows() == ["plain · - · 3 trials · best 0.7400"]
    with qtbot.waitSignal(page.study_jobs.finished, timeout=30000):
        studies.setCurrentIndex(1)
        studies.activated.emit(1)
    assert page.studyEdit.text() == "plain" and page.trialsModel.rowCount() == 3
    assert "(stored)" in page.statusLabel.text() and not page.is_running()
    # a storage that is no database: one message, nothing shown
    (tmp_path / "junk.db").write_text("not sqlite")
    page.storageEdit.setText(str(tmp_path / "junk.db"))
    with qtbot.waitSignal(page.study_jobs.finished, timeout=30000):
        page.list_studies()
    assert page.errorLabel.text() and "Traceback" not in page.errorLabel.text()
