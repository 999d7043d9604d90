"""Train page plots and progress (issue 17): the monitored metric, axes that follow the
data, separate validation scales, a debiased loss EMA, pause in the bar and the ETA."""

from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np
import pytest

from widedeep_core.training import BatchEvent, EpochEvent


def open_tiny(qtbot, window, folder):
    with qtbot.waitSignal(window.data_page.dataLoaded, timeout=30000):
        window.data_page.open_path(str(folder))
    qtbot.waitUntil(lambda: not window.data_page.is_busy(), timeout=30000)


def epoch_event(epoch, auc, ndcg, best_epoch, best_value, monitor="val_ndcg", epochs=4):
    val = {"auc": auc, "logloss": 1.2 - auc, "ndcg@10": ndcg}
    return EpochEvent(
        epoch, epochs, 0.5, val, best_epoch, auc, 0.1, 0.01, monitor=monitor, best_value=best_value
    )


def batches(steps, n_batches, loss=lambda s: 0.7, rate=1000.0, epoch=1):
    return [BatchEvent(epoch, s, n_batches, s, loss(s), rate) for s in steps]


@contextlib.contextmanager
def stopped_after(page, qtbot):
    """Stop a run left going by a failed assertion (closing the window would ask)."""
    try:
        yield
    finally:
        if page.is_training():
            page.pauseButton.setChecked(False)
            page.stop()
            qtbot.waitUntil(lambda: not page.is_training(), timeout=30000)


def view(plot):
    return [list(r) for r in plot.getPlotItem().getViewBox().viewRange()]


def left_label(plot):
    return plot.getPlotItem().getAxis("left").labelText


@pytest.mark.qt_log_level_fail("WARNING")
def test_topn_run_plots_ndcg_on_top_and_stars_its_best_epoch(window, qtbot, tiny_folder):
    from widedeep_core.runs import RunStore

    open_tiny(qtbot, window, tiny_folder)
    form = window.configure_page
    form.apply_preset("topn")  # monitors validation NDCG@10
    form.set_fields(epochs=3, batch_size=128, log_every=2, device="cpu")
    assert form.is_valid(), form.errors()
    page = window.train_page
    with stopped_after(page, qtbot), qtbot.waitSignal(page.runFinished, timeout=90000) as blocker:
        window.train_page.startButton.click()
        # the plots say which metric picks the best epoch before the first epoch ends
        assert "val NDCG@10" in page.bestLabel.text()
    event = blocker.args[0]
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)

    # the monitored metric has its own plot, on top, named by the monitor's label
    shown = page.shown_validation_plots()
    assert shown[0] is page.rankingPlot and left_label(page.rankingPlot) == "val NDCG@10"
    assert page.rankingPlot.isVisible() or not window.isVisible()
    assert {left_label(p) for p in shown[1:]} == {"val AUC", "val log loss"}
    (info,) = RunStore(window.store.root).list()
    from widedeep_core.runs import Run

    rows = Run(info.path).read_epoch_metrics()
    ndcg = [r["val_ndcg@10"] for r in rows]
    x, y = page.rankingCurve.getData()
    assert list(x) == [1.0, 2.0, 3.0] and np.allclose(y, ndcg)
    # the star sits on the NDCG curve at the best epoch, the dashed lines there too
    sx, sy = page.bestMarker.getData()
    assert list(sx) == [event.best_epoch] and sy[0] == pytest.approx(event.best_value)
    assert event.best_value == pytest.approx(max(ndcg))
    assert all(page.bestLines[p].value() == event.best_epoch for p in shown)
    best = f"val NDCG@10 {event.best_value:.4f}"
    assert (
        f"best epoch {event.best_epoch}" in page.bestLabel.text() and best in page.bestLabel.text()
    )
    log = page.logView.toPlainText()
    assert f"best {event.best_epoch} ({best})" in log  # not the AUC in its place
    assert f"best epoch {event.best_epoch} ({best})" in log and "(val AUC" not in log


def test_best_epoch_is_the_monitors_not_the_aucs(window):
    page = window.train_page
    # the AUC peaks at epoch 1, NDCG@10 at epoch 3 (the monitor)
    aucs, ndcgs = [0.80, 0.75, 0.70, 0.65], [0.10, 0.20, 0.30, 0.25]
    for e, (auc, ndcg) in enumerate(zip(aucs, ndcgs, strict=True), start=1):
        best = 1 + int(np.argmax(ndcgs[:e]))
        page._on_epoch(epoch_event(e, auc, ndcg, best, ndcgs[best - 1]))
    assert page.shown_validation_plots()[0] is page.rankingPlot
    assert page.bestMarker.getViewBox() is page.rankingPlot.getPlotItem().getViewBox()
    sx, sy = page.bestMarker.getData()
    assert list(sx) == [3] and list(sy) == [pytest.approx(0.30)]
    assert page.bestLines[page.aucPlot].value() == 3
    assert page.bestLabel.text() == "★ best epoch 3 · val NDCG@10 0.3000"
    assert "best 3 (val NDCG@10 0.3000)" in page.logView.toPlainText()
    # AUC and log loss: separate plots, each scaled to its own values, own marker
    for plot, values in [
        (page.aucPlot, aucs),
        (page.loglossPlot, [1.2 - a for a in aucs]),
        (page.rankingPlot, ndcgs),
    ]:
        (x0, x1), (y0, y1) = view(plot)
        assert y0 <= min(values) and max(values) <= y1
        assert y1 - y0 < 4 * (max(values) - min(values))  # not squeezed by another scale
        assert x0 < 1 and 4 < x1 < 5  # the epochs run, not a planned length
    symbols = {c.opts["symbol"] for c in (page.aucCurve, page.loglossCurve, page.rankingCurve)}
    assert len(symbols) == 3
    assert page.aucCurve.opts["pen"].style() != page.loglossCurve.opts["pen"].style()
    # whole-number epoch ticks only
    axis = page.aucPlot.getPlotItem().getAxis("bottom")
    ticks = [v for _, values in axis.tickValues(0.44, 4.56, 300) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks)


def test_an_auc_run_has_no_ranking_plot(window):
    page = window.train_page
    page._on_epoch(epoch_event(1, 0.7, math.nan, 1, 0.7, monitor="val_auc"))
    assert page.shown_validation_plots() == [page.aucPlot, page.loglossPlot]
    assert page.bestLabel.text() == "★ best epoch 1 · val AUC 0.7000"


def test_loss_x_axis_follows_the_data_not_the_planned_run(window):
    from widedeep_core.config import preset

    page = window.train_page
    page._config = preset("reference")  # 100 epochs: the planned run is enormous
    n = 156_000  # batches of one ML-1M epoch at batch 32
    page._on_batches(batches(range(1, 21), n))
    (x0, x1), _ = view(page.lossPlot)
    assert x0 <= 1 and 20 <= x1 <= 30  # the 20 batches fill the plot
    page._on_batches(batches(range(21, 401), n))
    (x0, x1), _ = view(page.lossPlot)
    assert x0 <= 1 and 400 <= x1 <= 520
    x, _ = page.rawLossCurve.getData()
    assert len(x) == 400


def test_smoothed_loss_is_debiased_like_tensorboard(window):
    page = window.train_page
    page.smoothSpin.setValue(0.8)
    losses = [1.0, 0.5, 0.5, 0.4, 0.45]
    page._on_batches(batches(range(1, 3), 100, loss=lambda s: losses[s - 1]))
    page._on_batches(batches(range(3, 6), 100, loss=lambda s: losses[s - 1]))
    expected, last = [], 0.0
    for t, x in enumerate(losses, start=1):  # TensorBoard: EMA from 0 / (1 - w^t)
        last = 0.8 * last + 0.2 * x
        expected.append(last / (1 - 0.8**t))
    _, y = page.smoothLossCurve.getData()
    assert list(y) == pytest.approx(expected)
    assert y[0] == pytest.approx(1.0)  # the start is the first loss, not pulled toward 0
    page.smoothSpin.setValue(0.5)  # redrawn whole with the new weight, still debiased
    _, y = page.smoothLossCurve.getData()
    assert y[0] == pytest.approx(1.0) and y[1] == pytest.approx((0.25 + 0.25) / 0.75)


def test_eta_after_a_resume_does_not_count_the_pause(window):
    from wdgui.pages.train import eta_seconds, format_eta

    page = window.train_page
    page._on_batches(batches(range(1, 11), 100, rate=1000.0))
    page.set_paused(True)
    page.set_paused(False)
    # the first report after the resume measured its batches over the pause: slow
    page._on_batches(batches([11], 100, rate=10.0))
    eta = eta_seconds(1, 1, 11, 100, 1, 1000.0)
    assert page.progressLabel.text().endswith(f"ETA {format_eta(eta)}")
    assert "1,000 samples/s" in page.progressLabel.text()
    page._on_batches(batches([12], 100, rate=500.0))  # later reports count again
    assert page.progressLabel.text().endswith(
        f"ETA {format_eta(eta_seconds(1, 1, 12, 100, 1, 500.0))}"
    )


@pytest.mark.qt_log_level_fail("WARNING")
def test_pause_shows_in_the_bar_and_the_eta_says_paused(window, qtbot, tiny_folder):
    open_tiny(qtbot, window, tiny_folder)
    window.configure_page.set_fields(epochs=500, batch_size=16, log_every=1, device="cpu")
    page = window.train_page
    with stopped_after(page, qtbot):
        page.startButton.click()
        qtbot.waitUntil(lambda: "ETA" in page.progressLabel.text(), timeout=30000)
        page.pauseButton.click()
        assert page.trainProgress.format().startswith("paused · epoch ")
        assert page.progressLabel.text().endswith("ETA paused")
        page.pauseButton.click()
        assert not page.trainProgress.format().startswith("paused")
        assert "ETA paused" not in page.progressLabel.text()
        with qtbot.waitSignal(page.runFinished, timeout=30000):
            page.stopButton.click()
        qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)
        assert "paused" not in page.trainProgress.format()


@pytest.mark.qt_log_level_fail("WARNING")
def test_views_move_only_with_new_data_and_end_where_the_data_ends(window, qtbot, tiny_folder):
    open_tiny(qtbot, window, tiny_folder)
    window.configure_page.set_fields(epochs=3, batch_size=32, log_every=1, device="cpu")
    page = window.train_page
    changes = []
    vb = page.lossPlot.getPlotItem().getViewBox()
    vb.sigRangeChanged.connect(
        lambda _, r, *a: changes.append((len(page.steps), [list(r[0]), list(r[1])]))
    )
    with stopped_after(page, qtbot), qtbot.waitSignal(page.runFinished, timeout=60000):
        page.startButton.click()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10000)
    assert changes
    counts = [c for c, _ in changes]
    # each move came with new data: none for a redraw of the same data (the end's included)
    assert len(set(counts)) == len(counts)
    for (_, (_, y_a)), (_, (_, y_b)) in itertools.pairwise(changes):
        assert y_b[0] <= y_a[0] + 1e-9 and y_a[1] <= y_b[1] + 1e-9  # y only grows
    (x0, x1), _ = view(page.lossPlot)
    last = page.steps[-1]
    assert x0 <= page.steps[0] and last <= x1 <= 1.35 * last + 1


def test_hovering_a_plot_reads_every_curves_value_at_that_x(window, qtbot):
    """The Train page's plots answer the mouse as the Runs page's do: a crosshair and, in
    one line, each curve's value at the nearest point (log x undone)."""
    from PySide6.QtCore import QPointF

    page = window.train_page
    window.resize(1280, 820)
    window.show()
    window.pages.setCurrentWidget(page)
    aucs = [0.70, 0.75, 0.78, 0.77]
    for e, auc in enumerate(aucs, start=1):
        page._on_epoch(epoch_event(e, auc, math.nan, 3, 0.78, monitor="val_auc"))
    page._on_batches(batches(range(1, 11), 100, loss=lambda s: 1.0 / s))

    def points(curve):
        x = curve.getData()[0]
        return 0 if x is None else len(x)

    qtbot.waitUntil(lambda: points(page.rawLossCurve) == 10)
    qtbot.waitUntil(lambda: points(page.aucCurve) == 4)

    text = page.hovers[page.aucPlot].hover_at(2.2)
    assert text == "epoch 2:  val AUC: 0.7500 at 2" and page.hoverLabel.text() == text
    loss = page.hovers[page.lossPlot].hover_at(4.4)
    assert loss.startswith("batch 4:  loss: 0.2500 at 4;  smoothed: ")

    # the mouse itself, over the AUC plot at epoch 3, with a log x axis
    item = page.aucPlot.getPlotItem()
    item.setLogMode(x=True, y=False)
    qtbot.waitUntil(lambda: item.getViewBox().sceneBoundingRect().width() > 0)
    scene_pos = item.getViewBox().mapViewToScene(QPointF(math.log10(3.0), 0.76))
    page.aucPlot.scene().sigMouseMoved.emit(scene_pos)
    assert page.hoverLabel.text() == "epoch 3:  val AUC: 0.7800 at 3"
    item.setLogMode(x=False, y=False)
