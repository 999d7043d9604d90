"""Train page: Start / Pause / Stop, live loss and validation plots, progress and a log.

The validation metrics get one small plot each, stacked and sharing the epoch axis: the
monitored metric (``config.monitor``, which picks the best epoch) on top with the best
epoch starred, then the AUC and the log loss. On one shared "value" axis the log loss
(around 0.5-1) squeezed the AUC and a ranking metric such as NDCG@10 (around 0.1) into
a few pixels each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.config import Config
from widedeep_core.errors import WideDeepError
from widedeep_core.monitors import Monitor, config_monitor, monitor_of

from ..plotting import HoverReadout, color, debiased_ema, plot_steps
from ..widgets import Steps, error_box, format_cell
from ..workers import JobRunner, TrainWorker, training_threads

if TYPE_CHECKING:  # pragma: no cover - the trainer (and torch) load in the worker thread
    from widedeep_core.data import MovieLensData
    from widedeep_core.training import BatchEvent, EpochEvent, FinishedEvent, Trainer

# Plots and labels update at most 10 times a second: live to the eye, and one update
# (about 20-30 ms of painting on a 2-core machine) leaves most of a core to training.
UPDATE_INTERVAL_S = 0.1

# The validation plots' metrics apart from a ranking monitor; their labels are the
# monitors' own, so the page and the CLI say the same words.
AUC, LOGLOSS = monitor_of("val_auc"), monitor_of("val_logloss")
# Each validation metric its own colour, line and marker (told apart without colour too)
STYLES = {"auc": (2, Qt.PenStyle.SolidLine, "o"), "logloss": (3, Qt.PenStyle.DashLine, "s")}
RANKING_STYLE = (0, Qt.PenStyle.SolidLine, "t")


def format_eta(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` style duration; ``--`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def overall_fraction(epoch: int, epochs: int, batch: int, n_batches: int) -> float:
    """Share of the whole training done after ``batch`` of ``epoch`` (1-based)."""
    if epochs <= 0 or n_batches <= 0:
        return 0.0
    return min(1.0, ((epoch - 1) + batch / n_batches) / epochs)


def eta_seconds(
    epoch: int, epochs: int, batch: int, n_batches: int, batch_size: int, samples_per_s: float
) -> float:
    """Seconds left at the current speed (validation time not counted)."""
    if samples_per_s <= 0:
        return math.inf
    left = (epochs - epoch) * n_batches + (n_batches - batch)
    return left * batch_size / samples_per_s


def _build_trainer(
    config: Config, data: MovieLensData, runs_dir: Path | None, callback: Callable
) -> Trainer:
    """Runs in the worker thread: the only place the GUI creates a Trainer."""
    from widedeep_core.api import make_trainer

    return make_trainer(config, data, runs_dir=runs_dir, callback=callback)


def _resume_trainer(run_dir: Path, data: MovieLensData, callback: Callable) -> Trainer:
    """Runs in the worker thread: the stored run ``run_dir`` goes on after its last epoch."""
    from widedeep_core.api import resume_trainer

    return resume_trainer(run_dir, data, callback=callback)


class TrainPage(QWidget):
    """Drives one training at a time through a :class:`TrainWorker` in a QThread."""

    startRequested = Signal()  # the main window answers with start(config, data)
    runFinished = Signal(object)  # FinishedEvent
    runFailed = Signal(str)
    stateChanged = Signal(str)  # short text for the status bar ("" when idle)

    def __init__(self, parent: QWidget | None = None, stepwise: bool = False):
        super().__init__(parent)
        self.jobs = JobRunner(self)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.finished.connect(self._on_task_done)
        self._config: Config | None = None
        self.error_dialog: QMessageBox | None = None
        self.last_finished: FinishedEvent | None = None
        # with ``stepwise`` the caller runs the pieces (one plot each) over several turns
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    # ---------------------------------------------------------------- layout
    def _build(self) -> Iterator[None]:
        self.startButton = QPushButton("Start")
        self.startButton.setObjectName("startButton")
        self.startButton.setToolTip("Start training with the Configure page's settings (F5)")
        self.pauseButton = QPushButton("Pause")
        self.pauseButton.setObjectName("pauseButton")
        self.pauseButton.setCheckable(True)
        self.stopButton = QPushButton("Stop")
        self.stopButton.setObjectName("stopButton")
        self.stopButton.setToolTip("Stop and keep the best weights as a cancelled run (Shift+F5)")
        self.startButton.clicked.connect(self.startRequested)
        self.pauseButton.toggled.connect(self.set_paused)
        self.stopButton.clicked.connect(self.stop)

        self.trainProgress = QProgressBar()
        self.trainProgress.setObjectName("trainProgress")
        self.trainProgress.setRange(0, 1000)
        self.trainProgress.setValue(0)
        self.trainProgress.setTextVisible(True)
        self.trainProgress.setFormat("idle")
        self.progressLabel = QLabel("")
        self.progressLabel.setObjectName("progressLabel")
        self.hintLabel = QLabel("")
        self.hintLabel.setObjectName("trainHint")
        self.hintLabel.setStyleSheet("color: #a0522d;")

        top = QHBoxLayout()
        for b in (self.startButton, self.pauseButton, self.stopButton):
            top.addWidget(b)
        top.addWidget(self.trainProgress, 1)
        top.addWidget(self.progressLabel)
        yield

        self.lossPlot = yield from plot_steps(
            "lossPlot", "Training loss", "batch", "loss", integer_x=True
        )
        loss_item = self.lossPlot.getPlotItem()
        # long curves: draw only what is visible, downsample automatically
        loss_item.setClipToView(True)
        loss_item.setDownsampling(auto=True, mode="peak")
        self.rawLossCurve = self.lossPlot.plot([], [], pen=pg.mkPen(color(0), width=1), name="loss")
        self.smoothLossCurve = self.lossPlot.plot(
            [], [], pen=pg.mkPen(color(1), width=2), name="smoothed"
        )
        self.smoothCheck = QCheckBox("Smooth")
        self.smoothCheck.setObjectName("smoothCheck")
        self.smoothCheck.setChecked(True)
        self.smoothSpin = QDoubleSpinBox()
        self.smoothSpin.setObjectName("smoothSpin")
        self.smoothSpin.setRange(0.0, 0.99)
        self.smoothSpin.setSingleStep(0.05)
        self.smoothSpin.setValue(0.8)
        self.smoothSpin.setToolTip(
            "EMA weight: 0 = raw, 0.99 = very smooth (debiased at the start, as TensorBoard)"
        )
        self.smoothCheck.toggled.connect(self._redraw_smoothed)
        self.smoothSpin.valueChanged.connect(self._redraw_smoothed)
        yield

        # one plot per validation metric (see the module's docstring)
        self.rankingPlot, self.rankingCurve = yield from self._validation_plot(
            "rankingPlot", RANKING_STYLE
        )
        self.aucPlot, self.aucCurve = yield from self._validation_plot("aucPlot", STYLES["auc"])
        self.loglossPlot, self.loglossCurve = yield from self._validation_plot(
            "loglossPlot", STYLES["logloss"]
        )
        for plot in (self.rankingPlot, self.loglossPlot):  # one epoch axis for all three
            plot.getPlotItem().setXLink(self.aucPlot.getPlotItem())
        # the best epoch: a star on the monitored curve, a dashed line in every plot and
        # the value in a label above them (a label inside a plot covered its curves)
        self.bestMarker = pg.ScatterPlotItem(
            symbol="star", size=16, pen=pg.mkPen("#333"), brush=pg.mkBrush("#F0E442")
        )
        self.bestLines: dict[Any, pg.InfiniteLine] = {}
        for plot in self._validation_plots():
            line = pg.InfiniteLine(
                angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine)
            )
            line.setVisible(False)
            plot.addItem(line)
            self.bestLines[plot] = line
        self.bestLabel = QLabel("")
        self.bestLabel.setObjectName("bestEpochLabel")
        self.bestLabel.setToolTip(
            "The monitored metric (the configuration's monitor) picks the best epoch;\n"
            "with restore_best its weights are the ones the run serves."
        )
        yield
        smooth_row = QHBoxLayout()
        smooth_row.addWidget(self.smoothCheck)
        smooth_row.addWidget(self.smoothSpin)
        smooth_row.addStretch(1)
        loss_box = QWidget()
        lb = QVBoxLayout(loss_box)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.addWidget(self.lossPlot, 1)
        lb.addLayout(smooth_row)

        self.validationBox = QWidget()
        self.validationBox.setObjectName("validationBox")
        self._validationLayout = QVBoxLayout(self.validationBox)
        self._validationLayout.setContentsMargins(0, 0, 0, 0)
        self._validationLayout.setSpacing(2)
        self._validationLayout.addWidget(self.bestLabel)
        self._monitor = AUC
        self._best: tuple[int, float] = (0, math.nan)  # best epoch, its monitored value
        self._marker_plot: Any = None  # the plot holding the star
        self._set_monitor(AUC)

        self.plotSplitter = QSplitter(Qt.Orientation.Horizontal)
        self.plotSplitter.setObjectName("trainPlotSplitter")
        self.plotSplitter.addWidget(loss_box)
        self.plotSplitter.addWidget(self.validationBox)
        # the mouse over a plot: a crosshair and every curve's value there, in one line
        self.hoverLabel = QLabel("")
        self.hoverLabel.setObjectName("trainHoverLabel")
        self.hoverLabel.setWordWrap(True)
        self.hoverLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lb.addWidget(self.hoverLabel)
        self.hovers = {self.lossPlot: HoverReadout(self.lossPlot, self.hoverLabel, "batch")}
        for plot in self._validation_plots():
            self.hovers[plot] = HoverReadout(plot, self.hoverLabel, "epoch")

        self.logView = QPlainTextEdit()
        self.logView.setObjectName("trainLog")
        self.logView.setReadOnly(True)
        self.logView.setMaximumBlockCount(5000)

        # Before the first run: a hint in place of two empty plots with 0-1 axes
        self.emptyHint = QLabel(
            "Start a run (F5) to see the live training loss\nand the validation metrics here."
        )
        self.emptyHint.setObjectName("trainEmptyHint")
        self.emptyHint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.emptyHint.setStyleSheet("color: #666; font-size: 15px;")
        self.plotStack = QStackedWidget()
        self.plotStack.setObjectName("trainPlotStack")
        self.plotStack.addWidget(self.emptyHint)
        self.plotStack.addWidget(self.plotSplitter)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("trainSplitter")
        self.splitter.addWidget(self.plotStack)
        self.splitter.addWidget(self.logView)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hintLabel)
        layout.addWidget(self.splitter, 1)
        # Events only store data; one short single-shot timer then redraws every curve
        # at once, so an epoch end (loss + validation curves + best line) is one
        # repaint, and the event loop gets a turn between the worker's signals.
        self._plotTimer = QTimer(self)
        self._plotTimer.setObjectName("plotRefreshTimer")
        self._plotTimer.setSingleShot(True)
        self._plotTimer.setInterval(15)
        self._plotTimer.timeout.connect(self._draw_curves)
        # The validation plot changes at epoch ends only; it is drawn a turn after the
        # loss plot, so that the two repaints (10-30 ms each while the worker competes
        # for the GIL) fall into separate event-loop turns.
        self._validationTimer = QTimer(self)
        self._validationTimer.setObjectName("validationRefreshTimer")
        self._validationTimer.setSingleShot(True)
        self._validationTimer.setInterval(30)
        self._validationTimer.timeout.connect(self._draw_validation)
        self._validation_drawn = 0  # epochs shown in the validation plots
        # pyqtgraph's auto-range repaints a plot two or three times per update (range,
        # then axes); the ranges are set here once per draw instead, until the user pans
        # or zooms a plot by hand. The validation plots share their x axis: a pan of one
        # moves them all, so it stops all of them following.
        self._follow: dict[Any, bool] = {}
        self._ranges: dict[Any, tuple[float, ...]] = {}
        loss_vb = self.lossPlot.getPlotItem().getViewBox()
        validation_vbs = [p.getPlotItem().getViewBox() for p in self._validation_plots()]
        for vb in (loss_vb, *validation_vbs):
            vb.disableAutoRange()
            self._follow[vb] = True
        loss_vb.sigRangeChangedManually.connect(partial(self._stop_following, [loss_vb]))
        for vb in validation_vbs:
            vb.sigRangeChangedManually.connect(partial(self._stop_following, validation_vbs))
        # pause and progress: what the bar and the label show, drawn by _show_progress
        self._paused = False
        self._resumed = False  # the first batch report after a resume spans the pause
        self._rate = 0.0  # samples per second of the last report measured without a pause
        self._bar_text = "idle"
        self._label_text = ""
        self._eta: float | None = None
        self._reset_series()
        self.set_can_start(False, "Load data first (Data page).")

    def _validation_plot(
        self, name: str, style: tuple[int, Qt.PenStyle, str]
    ) -> Generator[None, None, tuple[Any, Any]]:
        """One small validation plot (no title, no legend: its y axis names the metric)."""
        plot = yield from plot_steps(name, None, "epoch", "", legend=False, integer_x=True)
        item = plot.getPlotItem()
        # the same width for every left axis, so that the stacked plots' epochs line up
        item.getAxis("left").setWidth(60)
        col, pen_style, symbol = style
        curve = plot.plot(
            [], [], pen=pg.mkPen(color(col), width=2, style=pen_style),
            symbol=symbol, symbolSize=7, symbolBrush=color(col), symbolPen=color(col),
        )  # fmt: skip
        return plot, curve

    def _validation_plots(self) -> list[Any]:
        return [self.rankingPlot, self.aucPlot, self.loglossPlot]

    def _plot_metric(self, plot: Any) -> Monitor | None:
        """The metric a validation plot shows for the current monitor (None: hidden)."""
        if plot is self.aucPlot:
            return AUC
        if plot is self.loglossPlot:
            return LOGLOSS
        return self._monitor if self._monitor.metric not in ("auc", "logloss") else None

    def shown_validation_plots(self) -> list[Any]:
        """The validation plots of this run, top to bottom: the monitored metric first."""
        shown = [p for p in self._validation_plots() if self._plot_metric(p) is not None]
        return sorted(shown, key=lambda p: self._plot_metric(p) != self._monitor)

    def monitor(self) -> Monitor:
        """The metric that picks this run's best epoch (the one plotted on top)."""
        return self._monitor

    def _set_monitor(self, monitor: Monitor) -> None:
        """Stack the validation plots for ``monitor``: its plot on top, with the star."""
        self._monitor = monitor
        layout = self._validationLayout
        for plot in self._validation_plots():
            layout.removeWidget(plot)
            plot.setVisible(False)
        shown = self.shown_validation_plots()
        lines = (self.rankingCurve, self.aucCurve, self.loglossCurve)
        curves = dict(zip(self._validation_plots(), lines, strict=True))
        for i, plot in enumerate(shown):
            metric = self._plot_metric(plot)
            item = plot.getPlotItem()
            item.setLabel("left", metric.label)
            curves[plot].opts["name"] = metric.label  # what the hover readout calls it
            item.showLabel("bottom", i == len(shown) - 1)  # "epoch" once, at the bottom
            layout.addWidget(plot, 1)
            plot.setVisible(True)
        if self._marker_plot is not shown[0]:
            if self._marker_plot is not None:
                self._marker_plot.removeItem(self.bestMarker)
            shown[0].addItem(self.bestMarker)
            self._marker_plot = shown[0]
        self.bestMarker.setData([], [])
        self._show_best()

    # ---------------------------------------------------------------- state
    def _reset_series(self) -> None:
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self._ema_state: tuple[float, int] = (0.0, 0)
        self.epochs: list[float] = []
        self.val: dict[str, list[float]] = {}  # validation metric key -> one value an epoch
        curves = (self.rawLossCurve, self.smoothLossCurve, self.rankingCurve, self.aucCurve,
                  self.loglossCurve)  # fmt: skip
        for curve in curves:
            if curve.xData is not None and len(curve.xData):  # empty ones stay as they are
                curve.setData([], [])
        for line in self.bestLines.values():
            line.setVisible(False)
        self.bestMarker.setData([], [])
        self._best = (0, math.nan)
        self._validation_drawn = 0
        for vb in self._follow:
            self._follow[vb] = True
        self._ranges.clear()
        self._plotTimer.stop()
        self._validationTimer.stop()
        self._rate, self._resumed = 0.0, False
        self._show_best()

    def _stop_following(self, vbs: list[Any], *_: Any) -> None:
        for vb in vbs:
            self._follow[vb] = False

    def _fit(self, plot: Any, x_lo: float, x_hi: float, *series: list[float], room: float = 0.0):
        """Set the view to bounds of the data that change rarely: each change redraws axes.

        x follows the data (:func:`following_bounds`: ``room`` of its span ahead, never
        the configured run's length); y grows with headroom (:func:`grown_bounds`) and
        never shrinks in a run. Nothing changes without new data, so the view stays
        where it is when the run ends.
        """
        vb = plot.getPlotItem().getViewBox()
        ys = [y for ser in series for y in ser if math.isfinite(y)]
        if not self._follow.get(vb, True) or not ys:
            return
        previous = self._ranges.get(vb)
        x_range = following_bounds(previous[:2] if previous else None, x_lo, x_hi, room)
        y_range = grown_bounds(previous[2:] if previous else None, min(ys), max(ys))
        target = (*x_range, *y_range)
        if previous != target:
            self._ranges[vb] = target
            vb.setRange(xRange=target[:2], yRange=target[2:], padding=0.02)

    def _schedule_draw(self) -> None:
        if not self.jobs.is_busy():  # late events after the run ended: draw at once
            self._draw_curves()
        elif not self._plotTimer.isActive():
            self._plotTimer.start()

    @Slot()
    def _draw_curves(self) -> None:
        """Push the stored loss series into the loss plot; the validation plot follows.

        While a run trains, the validation plot is drawn on a later turn (its own
        repaint); otherwise at once, so that both plots show every value on return.
        """
        self._plotTimer.stop()
        self.rawLossCurve.setData(self.steps, self.losses)
        if self.smoothCheck.isChecked():
            self.smoothLossCurve.setData(self.steps, self.smoothed)
        smooth = self.smoothed if self.smoothCheck.isChecked() else []
        if self.steps:
            self._fit(self.lossPlot, self.steps[0], self.steps[-1], self.losses, smooth, room=0.25)
        if self._validation_drawn == len(self.epochs):
            return
        if self.jobs.is_busy():
            if not self._validationTimer.isActive():
                self._validationTimer.start()
        else:
            self._draw_validation()

    @Slot()
    def _draw_validation(self) -> None:
        """Push the per-epoch validation series and the best epoch into their plots."""
        self._validationTimer.stop()
        self._validation_drawn = len(self.epochs)
        last = max(self.epochs, default=1.0)
        curves = {self.rankingPlot: self.rankingCurve, self.aucPlot: self.aucCurve,
                  self.loglossPlot: self.loglossCurve}  # fmt: skip
        for plot in self.shown_validation_plots():
            ys = self.val.get(self._plot_metric(plot).metric, [])
            curves[plot].setData(self.epochs, ys)
            self._fit(plot, 0.5, last + 0.5, ys)
        epoch, value = self._best
        if epoch:
            for plot in self.shown_validation_plots():
                self.bestLines[plot].setPos(epoch)
                self.bestLines[plot].setVisible(True)
            self.bestMarker.setData([epoch], [value] if math.isfinite(value) else [])
        self._show_best()

    def _show_best(self) -> None:
        """The label above the validation plots: which metric picks the best epoch, and it."""
        epoch, value = self._best
        m = self._monitor
        if epoch:
            self.bestLabel.setText(f"★ best epoch {epoch} · {m.label} {m.format(value)}")
        else:
            self.bestLabel.setText(f"The best epoch is the one with the best {m.label}.")

    def show_plots(self) -> None:
        """Replace the first-launch hint by the plots (Start does it)."""
        self.plotStack.setCurrentWidget(self.plotSplitter)

    def is_empty_state_shown(self) -> bool:
        """True until the first run starts (a hint stands where the plots will be)."""
        return self.plotStack.currentWidget() is self.emptyHint

    def is_training(self) -> bool:
        """True from Start until the worker thread has ended and been cleaned up."""
        return self.jobs.is_busy()

    def set_can_start(self, ok: bool, reason: str = "") -> None:
        """Enable Start when the main window says data and configuration are ready."""
        self._can_start = ok
        self.hintLabel.setText("" if ok else reason)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.jobs.is_busy()
        self.startButton.setEnabled(getattr(self, "_can_start", False) and not busy)
        self.pauseButton.setEnabled(busy)
        self.stopButton.setEnabled(busy)

    def log(self, text: str) -> None:
        """Append one line to the log area."""
        self.logView.appendPlainText(text)

    # ---------------------------------------------------------------- control
    def start(
        self,
        config: Config,
        data: MovieLensData,
        runs_dir: Path | None = None,
        resume: Path | None = None,
    ) -> None:
        """Train ``config`` on ``data`` in a worker thread (ignored while one runs); with
        ``resume`` (a stored run of ``config``), go on after that run's last epoch."""
        if self.jobs.is_busy():
            return
        self._config = config
        self.last_finished = None
        self._reset_series()
        self._set_monitor(config_monitor(config))
        self.show_plots()
        self._set_busy("Preparing the run")
        if resume is None:
            self.log(f"Training on {data.name}: {_config_line(config)}")
            build = partial(_build_trainer, config, data, runs_dir)
        else:
            self.log(f"Resuming {Path(resume).name} on {data.name}: {_config_line(config)}")
            self._prefill(Path(resume))
            build = partial(_resume_trainer, Path(resume), data)
        worker = TrainWorker(
            build,
            interval=UPDATE_INTERVAL_S,
            threads=training_threads(),
        )
        # bound slots of this page: they run in the GUI thread
        worker.batches.connect(self._on_batches)
        worker.epoch.connect(self._on_epoch)
        worker.finished_run.connect(self._on_finished)
        worker.phase.connect(self._set_busy)
        self.pauseButton.setChecked(False)
        self.jobs.start(worker)
        self._update_buttons()
        self.stateChanged.emit("Training: preparing")

    @Slot(str)
    def _set_busy(self, what: str) -> None:
        """An indeterminate bar with a label, for phases without a fraction."""
        self.trainProgress.setRange(0, 0)
        self._bar_text, self._label_text, self._eta = what, what, None
        self._show_progress()

    def _set_fraction(self, fraction: float, text: str) -> None:
        if self.trainProgress.maximum() == 0:
            self.trainProgress.setRange(0, 1000)
        self.trainProgress.setValue(round(fraction * 1000))
        self._bar_text = text
        self._show_progress()

    def _show_progress(self) -> None:
        """The bar's text and the label beside it; a paused run says so in both."""
        paused = self._paused and self.jobs.is_busy()  # F6 toggles the button when idle too
        self.trainProgress.setFormat(f"paused · {self._bar_text}" if paused else self._bar_text)
        text = self._label_text
        if self._eta is not None:  # while paused the ETA would only look frozen
            text += " · ETA " + ("paused" if paused else format_eta(self._eta))
        elif paused and text:
            text += " (paused)"
        self.progressLabel.setText(text)

    def _train_worker(self) -> TrainWorker | None:
        worker = self.jobs.worker
        return worker if isinstance(worker, TrainWorker) else None

    @Slot()
    def stop(self) -> None:
        """Ask the trainer to stop between batches; it keeps the best weights."""
        if self.jobs.is_busy():
            self.jobs.cancel()
            self.log("Stop requested: finishing the current batch.")
            self.stateChanged.emit("Training: stopping")

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        """Pause or resume the trainer between batches."""
        self.pauseButton.setText("Resume" if paused else "Pause")
        if self._paused and not paused:
            self._resumed = True
        self._paused = paused
        worker = self._train_worker()
        if worker is not None:
            worker.request_pause(paused)
            self.log("Paused." if paused else "Resumed.")
            self.stateChanged.emit("Training: paused" if paused else "Training")
        self._show_progress()

    def shutdown(self) -> None:
        """Cancel any training and wait for its thread (window closing)."""
        self.jobs.shutdown()  # the core's cancel also ends a pause; _on_task_done runs

    # ---------------------------------------------------------------- events (GUI thread)
    @Slot(list)
    def _on_batches(self, events: list[BatchEvent]) -> None:
        last = events[-1]
        self.steps.extend(float(e.step) for e in events)
        new = [float(e.loss) for e in events]
        self.losses.extend(new)
        smoothed, self._ema_state = debiased_ema(new, self.smoothSpin.value(), self._ema_state)
        self.smoothed.extend(smoothed)
        self._schedule_draw()
        # The trainer measures each report's speed over the batches since the previous
        # report, so the first one after a resume counts the pause (with the worker's
        # buffering, it ends the first list after the resume): the speed before it stands.
        measured = events[:-1] if self._resumed else events
        self._resumed = False
        if measured:
            self._rate = measured[-1].samples_per_s
        cfg = self._config
        epochs = cfg.epochs if cfg is not None else last.epoch
        frac = overall_fraction(last.epoch, epochs, last.batch, last.n_batches)
        self._eta = eta_seconds(
            last.epoch, epochs, last.batch, last.n_batches,
            cfg.batch_size if cfg is not None else 1, self._rate,
        )  # fmt: skip
        self._label_text = f"batch {last.batch}/{last.n_batches} · {self._rate:,.0f} samples/s"
        self._set_fraction(frac, f"epoch {last.epoch}/{epochs} · {frac:.0%}")
        paused = self._paused and self.jobs.is_busy()
        self.stateChanged.emit(
            "Training: paused" if paused else f"Training: epoch {last.epoch}/{epochs}"
        )

    @Slot()
    def _redraw_smoothed(self) -> None:
        self.smoothed, self._ema_state = debiased_ema(self.losses, self.smoothSpin.value())
        self.smoothSpin.setEnabled(self.smoothCheck.isChecked())
        if self.smoothCheck.isChecked():
            self.smoothLossCurve.setData(self.steps, self.smoothed)
        else:
            self.smoothLossCurve.setData([], [])

    @Slot(object)
    def _prefill(self, run_dir: Path) -> None:
        """A resumed run's epochs so far, on the validation plots (one row an epoch)."""
        from widedeep_core.runs import Run

        try:
            rows = Run(run_dir).read_epoch_metrics()
        except WideDeepError:
            return
        monitor = self._monitor
        for row in rows:
            self.epochs.append(float(row["epoch"]))
            for key in dict.fromkeys((monitor.metric, AUC.metric, LOGLOSS.metric)):
                self.val.setdefault(key, []).append(float(row.get(f"val_{key}", math.nan)))
            self._best = (int(row.get("best_epoch") or 0), float(row.get("best_value", math.nan)))
        self._schedule_draw()

    def _on_epoch(self, ev: EpochEvent) -> None:
        monitor = event_monitor(ev.monitor, ev.val, self._config)
        if monitor != self._monitor:  # events without start() (a run of another monitor)
            self._set_monitor(monitor)
        while self.epochs and self.epochs[-1] >= ev.epoch:  # a resumed run redoes it
            self.epochs.pop()
            for values in self.val.values():
                values.pop()
        self.epochs.append(float(ev.epoch))
        for key in dict.fromkeys((monitor.metric, AUC.metric, LOGLOSS.metric)):
            self.val.setdefault(key, []).append(float(ev.val.get(key, math.nan)))
        best = int(ev.best_epoch or 0)
        value = float(ev.best_value)
        if not math.isfinite(value) and best in self.epochs:  # events of an older trainer
            value = self.val[monitor.metric][self.epochs.index(best)]
        self._best = (best, value)
        self._schedule_draw()
        vals = _metrics_text(ev.val)
        self.log(
            f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} · val {vals}"
            f" · best {best} ({monitor.label} {monitor.format(value)}) · {ev.seconds:.1f}s"
            f" · lr {ev.lr:g}"
        )
        frac = ev.epoch / max(ev.epochs, 1)
        if self.trainProgress.maximum() != 0:  # not while the worker says it is evaluating
            self._set_fraction(frac, f"epoch {ev.epoch}/{ev.epochs} · {frac:.0%}")

    @Slot(object)
    def _on_finished(self, ev: FinishedEvent) -> None:
        self.last_finished = ev
        test = _metrics_text(ev.test)
        monitor = event_monitor(ev.monitor, ev.test, self._config)
        self.log(
            f"{ev.status}: {ev.epochs_run} epochs in {format_eta(ev.train_seconds)},"
            f" best epoch {ev.best_epoch} ({monitor.label} {monitor.format(ev.best_value)})"
            f" · test {test}"
        )
        if ev.run_dir is not None:
            self.log(f"Saved run: {ev.run_dir}")
        self._label_text, self._eta, self._paused = "", None, False  # a Stop ends a pause
        self._set_fraction(1.0 if ev.status == "finished" else 0.0, ev.status)
        self.runFinished.emit(ev)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.log(f"FAILED: {message}")
        self._label_text, self._eta, self._paused = "", None, False
        self._set_fraction(0.0, "failed")
        self.error_dialog = error_box(self, "Training failed", message)
        self.runFailed.emit(message)

    @Slot()
    def _on_task_done(self) -> None:
        if self.trainProgress.maximum() == 0:  # ended without a last event (a crash)
            self._set_fraction(0.0, "stopped")
        self._draw_curves()  # whatever is still pending, drawn before we report done
        if self._validationTimer.isActive():
            self._draw_validation()
        self.pauseButton.setChecked(False)
        self._update_buttons()
        self.stateChanged.emit("")


def event_monitor(name: str, metrics: dict[str, Any], config: Config | None) -> Monitor:
    """The ``Monitor`` an event names, with the run's K (the config's, else the metrics')."""
    k = getattr(config, "ranking_k", None)
    if k is None:
        k = next((int(key.split("@", 1)[1]) for key in metrics if key.startswith("ndcg@")), 10)
    return monitor_of(name or "val_auc", k)


def following_bounds(
    current: tuple[float, float] | None, lo: float, hi: float, room: float = 0.25
) -> tuple[float, float]:
    """x bounds that follow the data: ``current`` while it holds ``lo..hi``, else the data
    with ``room`` of its span ahead (so a growing series moves the axis now and then).

    Never the configured run's length: with 156k batches planned, the first thousands
    were a sliver at x = 0, during the run and after a Stop.
    """
    if current is not None and current[0] <= lo and hi <= current[1]:
        return current
    return nice_bounds(lo, hi + max(hi - lo, 1.0) * room)


def nice_bounds(lo: float, hi: float) -> tuple[float, float]:
    """``lo``/``hi`` rounded out to a tenth of a 1-2-5 span, so small growth keeps them."""
    span = max(hi - lo, abs(hi) * 1e-3, 1e-6)
    magnitude = 10 ** math.floor(math.log10(span))
    nice = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= span)
    step = nice / 10
    low, high = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return (low - step, high + step) if low == high else (low, high)


def grown_bounds(current: tuple[float, float] | None, lo: float, hi: float) -> tuple[float, float]:
    """``current`` if it covers ``lo``..``hi``; else :func:`nice_bounds` with headroom.

    A side that has to grow gets headroom beyond it (half the span, at least a tenth of
    the values' size), so a steadily falling loss moves the bounds a few times a run
    rather than at every tenth of the span.
    """
    if current is None:
        return nice_bounds(lo, hi)
    low, high = current
    if low <= lo and hi <= high:
        return current
    lo, hi = min(lo, low), max(hi, high)
    room = max((hi - lo) / 2, max(abs(lo), abs(hi)) / 10)
    return nice_bounds(lo - room if lo < low else lo, hi + room if hi > high else hi)


def _metrics_text(metrics: dict[str, Any]) -> str:
    from widedeep_core.runs.compare import ranking_k, scalar_metrics

    text = " ".join(f"{k}={format_cell(v)}" for k, v in scalar_metrics(metrics).items())
    base, k = metrics.get("baselines") or {}, ranking_k(metrics)
    if base and k:  # the baselines' headline numbers; the Runs page has the full table
        key = f"ndcg@{k}"
        text += " · baselines " + " ".join(
            f"{name} {key}={format_cell((row or {}).get(key))}" for name, row in base.items()
        )
    return text


def _config_line(config: Config) -> str:
    keys = ("epochs", "batch_size", "lr", "embed_dim", "hidden", "device")
    return ", ".join(f"{k}={getattr(config, k)}" for k in keys)
