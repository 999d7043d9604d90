"""Diagnose page (issue 21): pick runs, diagnose in a worker, plots with hover, export."""

from __future__ import annotations

import gc
import shutil

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QComboBox, QProgressBar, QPushButton

from widedeep_core.runs import RunStore


@pytest.fixture
def page(qtbot, runs_dir):
    from wdgui.pages.diagnose import DiagnosePage

    p = DiagnosePage(RunStore(runs_dir))
    yield p
    p.shutdown()
    # destroyed here, with its plots, rather than by a later garbage collection: a page
    # collected while a later test's teardown walked the top-level widgets crashed it
    p.close()
    p.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def wait_idle(qtbot, page, timeout=120_000):
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=timeout)


def test_diagnose_two_runs_shows_plots_and_exports(qtbot, page, tmp_path):
    run = page.findChild(QComboBox, "diagnoseRunCombo")
    other = page.findChild(QComboBox, "diagnoseCompareCombo")
    progress = page.findChild(QProgressBar, "diagnoseProgress")
    button = page.findChild(QPushButton, "diagnoseRunButton")
    assert run.count() == 2 and other.count() == 3  # "(none)" first
    other.setCurrentIndex(2)
    page.permutationCheck.setChecked(False)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert page.is_busy() and not button.isEnabled()
    wait_idle(qtbot, page)
    assert not page.errorLabel.isVisible() and page.errorLabel.text() == ""
    assert progress.value() == 1000 and button.isEnabled()
    assert {"calibration", "by_activity", "lists", "embedding_map", "compare"} <= set(page.tables)
    assert "ECE" in page.summaryLabel.text()
    for title in ("Calibration", "Activity", "Lists", "Embeddings", "Dynamics", "Compare"):
        items = page.plots[title].getPlotItem().items
        spots = [i for i in items if isinstance(i, pg.ScatterPlotItem)]
        assert spots and all(s.opts["hoverable"] for s in spots), title
        assert page.models[title].rowCount() > 0, title
    # hover text of an embedding point names the movie
    spot = next(
        i for i in page.plots["Embeddings"].getPlotItem().items if isinstance(i, pg.ScatterPlotItem)
    )
    assert str(spot.data["data"][0]) == page.tables["embedding_map"].iloc[0]["title"] + (
        "\n" + page.tables["embedding_map"].iloc[0]["genres"] + "\n"
        f"{page.tables['embedding_map'].iloc[0]['train_ratings']} training ratings"
    )
    page.tabs.setCurrentIndex(list(page.plots).index("Lists"))
    page.export_png(str(tmp_path / "lists.png"))
    page.export_csv(str(tmp_path / "lists.csv"))
    assert (tmp_path / "lists.png").stat().st_size > 1000
    assert (tmp_path / "lists.csv").read_text().startswith("ranker,")
    page.colourCombo.setCurrentIndex(1)  # by popularity: redrawn, not recomputed
    assert not page.is_busy()
    # neighbours of a movie typed by title: the core's cosine neighbours, in a worker
    from widedeep_core.diagnostics import neighbours
    from widedeep_core.serving.loading import load_trained

    first = page.tables["embedding_map"].iloc[0]
    page.neighbourEdit.setText(str(first["title"]).upper())  # case ignored
    with qtbot.waitSignal(page.neighbour_jobs.finished, timeout=30000):
        assert page.show_neighbours()
    expected = neighbours(load_trained(page.diagnosis.run), int(first["item"]), n=10)
    assert page.neighbours["item"].tolist() == expected["item"].tolist()
    assert page.neighbourModel.rowCount() == 10
    page.neighbourEdit.setText("no such movie at all")
    assert not page.show_neighbours() and "no single movie" in page.errorLabel.text()


def test_cancel_stops_the_worker(qtbot, page):
    assert page.start()
    page.cancel()
    wait_idle(qtbot, page)
    assert page.progress.format() in ("Cancelled", "Done")
    assert page.errorLabel.text() == ""


def test_a_damaged_run_is_a_message_in_the_page(qtbot, page, runs_dir):
    target = runs_dir / page.runCombo.currentData().split("/")[-1]
    (target / "encoder.json").write_text("{")
    assert page.start()
    wait_idle(qtbot, page)
    assert not page.errorLabel.isHidden()
    assert "encoder.json" in page.errorLabel.text()
    assert page.progress.format() == "Failed"


def test_runs_without_test_metrics_are_not_listed(qtbot, page, runs_dir):
    first = sorted(p for p in runs_dir.iterdir() if p.is_dir())[0]
    shutil.copytree(first, runs_dir / "bare")
    (runs_dir / "bare" / "test_metrics.json").unlink()
    page.refresh_runs()
    assert page.runCombo.count() == 2


def test_the_window_has_a_diagnose_page(window):
    page = window.diagnose_page
    assert page.objectName() == "diagnosePage"
    assert window.pages.tabText(window.pages.indexOf(page)) == "Diagnose"
