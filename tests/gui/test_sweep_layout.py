"""Sweep page (issue 17): Start waits for data, the objective follows the configuration's
monitor, readable plots at the default window size, snapshots not held back."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

SPACE = ["lr=0.0001..0.01:log", "hidden=64,32|128,64|256,128"]


def open_tiny(qtbot, window, folder):
    with qtbot.waitSignal(window.data_page.dataLoaded, timeout=30000):
        window.data_page.open_path(str(folder))
    qtbot.waitUntil(lambda: not window.data_page.is_busy(), timeout=30000)


def summary(n=12, epochs=6):
    """A study summary as ``study_summary`` makes it (what the worker sends)."""
    trials = []
    for i in range(n):
        lr = 10 ** (-4 + 2 * i / (n - 1))
        pruned = i % 3 == 1
        k = 2 if pruned else epochs
        curve = [[e, 0.70 + 0.01 * (i % 5) - 0.04 / e] for e in range(1, k + 1)]
        trials.append({
            "number": i, "state": "pruned" if pruned else "complete", "value": curve[-1][1],
            "params": {"lr": lr, "hidden": ["64,32", "128,64", "256,128"][i % 3]},
            "run_dir": None, "duration_s": 3.0, "pruned_at_epoch": k if pruned else None,
            "error": None, "intermediate": curve,
        })  # fmt: skip
    best = max(trials, key=lambda t: t["value"])
    return {
        "study": "s", "storage": None, "metric": "val_auc", "direction": "maximize",
        "space": SPACE, "data_path": None, "trials": trials,
        "counts": {"complete": sum(t["state"] == "complete" for t in trials),
                   "pruned": sum(t["state"] == "pruned" for t in trials)},
        "best": {"number": best["number"], "value": best["value"], "params": best["params"],
                 "run_dir": None, "preset": "fast", "set": []},
    }  # fmt: skip


def in_view(plot, xs, ys):
    (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
    return x0 <= min(xs) and max(xs) <= x1 and y0 <= min(ys) and max(ys) <= y1


def whole_ticks(plot):
    axis = plot.getPlotItem().getAxis("bottom")
    (x0, x1), _ = plot.getPlotItem().getViewBox().viewRange()
    values = [v for _, level in axis.tickValues(x0, x1, axis.width()) for v in level]
    return values and all(float(v).is_integer() for v in values)


def test_start_sweep_waits_for_data_and_a_valid_form(window, qtbot, tiny_folder):
    page = window.sweep_page
    assert not page.startButton.isEnabled()
    assert "Load data" in page.startButton.toolTip() and "Load data" in page.statusLabel.text()
    open_tiny(qtbot, window, tiny_folder)
    assert page.startButton.isEnabled() and page.statusLabel.text() == ""
    window.configure_page.findChild(QWidget, "learningRateSpin").setValue(0.0)
    assert not page.startButton.isEnabled() and "Configure" in page.startButton.toolTip()


def test_a_sweep_page_built_after_the_data_can_start(make_window, qtbot, tiny_folder):
    window = make_window(lazy_pages=True)
    open_tiny(qtbot, window, tiny_folder)
    assert not window.is_built("sweep")
    assert window.sweep_page.startButton.isEnabled()


def test_objective_defaults_to_the_configurations_monitor(window, qtbot, tiny_folder):
    open_tiny(qtbot, window, tiny_folder)
    page, form = window.sweep_page, window.configure_page
    form.apply_preset("topn")  # monitors validation NDCG@10
    assert page.metricCombo.currentText() == "val_ndcg@10"
    spec = page.make_spec(form.config(), window.data_page.data, None)
    assert spec.metric == "val_ndcg@10" and spec.direction == "maximize"
    form.apply_preset("fast")  # val_auc: a ranking objective is no longer offered
    assert page.metricCombo.currentText() == "val_auc"
    assert page.metricCombo.findText("val_ndcg@10") < 0
    # a choice of the user's stays when the preset changes
    page.metricCombo.setFocus()
    qtbot.keyClick(page.metricCombo, Qt.Key.Key_Down)
    chosen = page.metricCombo.currentText()
    assert chosen != "val_auc"
    form.apply_preset("topn")
    assert page.metricCombo.currentText() == chosen


def test_plots_are_readable_at_the_default_window_size(window, qtbot):
    window.resize(1280, 820)
    window.show()
    page = window.sweep_page
    window.pages.setCurrentWidget(page)
    s = summary()
    page._on_snapshot(s)  # the worker's snapshot signal's slot
    page._draw_importances({"lr": 0.7, "hidden": 0.3})  # its importances signal's slot
    values = [t["value"] for t in s["trials"]]
    for tab, plots in ((0, (page.bestPlot, page.intermediatePlot)),
                       (1, (page.parallelPlot, page.importancePlot))):  # fmt: skip
        page.plotTabs.setCurrentIndex(tab)
        qtbot.waitUntil(lambda plots=plots: all(p.isVisible() for p in plots))
        for plot in plots:
            assert plot.width() >= 450 and plot.height() >= 250, plot.objectName()
            title = plot.getPlotItem().titleLabel.item
            assert title.boundingRect().width() <= plot.width(), plot.objectName()
    # every point and curve inside its plot, whole-number trial and epoch ticks
    page.plotTabs.setCurrentIndex(0)
    epochs = [e for t in s["trials"] for e, _ in t["intermediate"]]
    inter = [v for t in s["trials"] for _, v in t["intermediate"]]
    # (pyqtgraph fits a view to its data when it paints)
    qtbot.waitUntil(lambda: in_view(page.bestPlot, range(len(values)), values))
    qtbot.waitUntil(lambda: in_view(page.intermediatePlot, epochs, inter))
    assert whole_ticks(page.bestPlot) and whole_ticks(page.intermediatePlot)
    assert page.bestPlot.getPlotItem().getAxis("left").labelText == "val_auc"
    # parallel coordinates: every axis inside, labelled with its values, a colour scale
    assert in_view(page.parallelPlot, [0, 1, 2], [0, 1])
    import pyqtgraph as pg

    texts = {i.toPlainText() for i in page.parallelPlot.getPlotItem().items
             if isinstance(i, pg.TextItem)}  # fmt: skip
    assert {"0.0001", "0.01", "64,32", "128,64", "256,128"} <= texts
    # the space samples lr on a log scale: its axis is one, its middle at 0.001 (linear
    # it would be 0.00505: the values span only two decades)
    assert "0.001" in texts and "0.00505" not in texts
    assert f"{max(values):.4g}" in texts and f"{min(values):.4g}" in texts
    assert page.colorBar.isVisible()
    assert page.colorBar.levels() == pytest.approx((min(values), max(values)))


def test_the_snapshot_goes_out_before_the_importances_are_computed(monkeypatch):
    import widedeep_core.sweeps as sweeps
    from wdgui.pages.sweep import SweepWorker

    calls = []

    def fake_summary(study, storage):
        return {**summary(4), "counts": {"complete": 4}}

    def importances(study):
        calls.append("importances computed")  # the first call imports scikit-learn
        return {"lr": 1.0}

    monkeypatch.setattr(sweeps, "study_summary", fake_summary)
    monkeypatch.setattr(sweeps, "param_importances", importances)
    from types import SimpleNamespace

    worker = SweepWorker(SimpleNamespace(storage=None), n_trials=4, timeout=None, workers=1)
    worker.snapshot.connect(lambda s: calls.append("snapshot"))
    worker.importances.connect(lambda i: calls.append(("importances", i)))
    worker._tick(study=None, force=True)
    assert calls == ["snapshot", "importances computed", ("importances", {"lr": 1.0})]


def test_a_bad_storage_url_checked_in_the_worker_still_shows_its_message(
    window, qtbot, tiny_folder
):
    open_tiny(qtbot, window, tiny_folder)
    page = window.sweep_page
    page.storageEdit.setText("postgresql://user@name@host:5432/db")  # two '@'
    page.trialsSpin.setValue(1)
    page.startButton.click()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30000)
    assert "more than one '@'" in page.errorLabel.text() and page.errorLabel.isVisibleTo(page)
    assert page.startButton.isEnabled()


def test_slice_and_contour_show_every_finished_trial(window, qtbot):
    window.resize(1280, 820)
    window.show()
    page = window.sweep_page
    window.pages.setCurrentWidget(page)
    s = summary()
    page._on_snapshot(s)
    page.plotTabs.setCurrentIndex(2)
    assert page.plotTabs.tabText(2) == "Slice and contour"
    qtbot.waitUntil(lambda: page.slicePlot.isVisible() and page.contourPlot.isVisible())
    assert page.slicePlot.width() >= 400 and page.contourPlot.width() >= 400
    names = [page.sliceCombo.itemText(i) for i in range(page.sliceCombo.count())]
    assert names == ["lr", "hidden"] and page.contourYCombo.currentText() == "hidden"
    # the slice: one point per trial at log10(lr) (the space samples lr on a log scale)
    xs, ys = page.sliceScatter.getData()
    assert sorted(ys) == pytest.approx(sorted(t["value"] for t in s["trials"]))
    assert min(xs) == pytest.approx(-4) and max(xs) == pytest.approx(-2)
    bottom = page.slicePlot.getPlotItem().getAxis("bottom")
    assert bottom.labelText == "lr (log)"
    # categories by name: choosing "hidden" puts its three values on the ticks
    page.sliceCombo.setCurrentIndex(1)
    xs, _ = page.sliceScatter.getData()
    assert set(xs) == {0.0, 1.0, 2.0} and bottom.labelText == "hidden"
    # the contour: the surface spans the trials, its colour bar the objective's range
    assert page.contourImage.image is not None and page.contourImage.image.shape == (40, 40)
    values = [t["value"] for t in s["trials"]]
    assert page.contourBar.levels() == pytest.approx((min(values), max(values)))
    cx, cy = page.contourScatter.getData()
    assert len(cx) == len(cy) == len(values)


def test_hovering_the_progress_plots_names_each_trial(window):
    page = window.sweep_page
    window.pages.setCurrentWidget(page)
    s = summary()
    page._on_snapshot(s)
    text = page.hovers[page.intermediatePlot].hover_at(2.1)
    shown = [t for t in s["trials"] if t["intermediate"]]
    assert text.startswith("epoch 2:  ")
    for t in shown:
        value = dict(t["intermediate"])[2]
        assert f"trial {t['number']}: {value:.4f} at 2" in text
    best = page.hovers[page.bestPlot].hover_at(5)
    assert best.startswith("trial 5:  best so far: ")
    assert page.hoverLabel.text() == best


def test_smoothing_the_validation_curves_is_tensorboards_debiased_ema(window):
    from wdgui.plotting import debiased_ema

    page = window.sweep_page
    s = summary()
    page._on_snapshot(s)
    trial = next(t for t in s["trials"] if len(t["intermediate"]) > 2)
    raw = [v for _, v in trial["intermediate"]]
    curve = page.hovers[page.intermediatePlot]
    page.smoothSpin.setValue(0.6)
    shown = dict((n, list(ys)) for n, _xs, ys in curve.curves())[f"trial {trial['number']}"]
    assert shown == pytest.approx(debiased_ema(raw, 0.6)[0])
    page.smoothSpin.setValue(0.0)
    shown = dict((n, list(ys)) for n, _xs, ys in curve.curves())[f"trial {trial['number']}"]
    assert shown == pytest.approx(raw)
