"""Train page: Start / Pause / Stop, live loss and validation plots, progress and a log."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
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

from ..plotting import color, ema, plot_steps
from ..widgets import Steps, error_box, format_cell
from ..workers import JobRunner, TrainWorker, training_threads

if TYPE_CHECKING:  # pragma: no cover - the trainer (and torch) load in the worker thread
    from widedeep_core.data import MovieLensData
    from widedeep_core.training import BatchEvent, EpochEvent, FinishedEvent, Trainer

# Plots and labels update at most 10 times a second: live to the eye, and one update
# (about 20-30 ms of painting on a 2-core machine) leaves most of a core to training.
UPDATE_INTERVAL_S = 0.1


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
    from widedeep_core.training import Trainer

    return Trainer(config, data, runs_dir=runs_dir, callback=callback)


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

        self.lossPlot = yield from plot_steps("lossPlot", "Training loss", "batch", "loss")
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
        self.smoothSpin.setToolTip("EMA weight: 0 = raw, 0.99 = very smooth")
        self.smoothCheck.toggled.connect(self._redraw_smoothed)
        self.smoothSpin.valueChanged.connect(self._redraw_smoothed)
        yield

        self.aucPlot = yield from plot_steps("aucPlot", "Validation per epoch", "epoch", "value")
        self.aucCurve = self.aucPlot.plot(
            [],
            [],
            pen=pg.mkPen(color(2), width=2),
            symbol="o",
            symbolSize=6,
            name="val AUC",
        )
        self.loglossCurve = self.aucPlot.plot(
            [],
            [],
            pen=pg.mkPen(color(3), width=2),
            symbol="s",
            symbolSize=6,
            name="val logloss",
        )
        self.bestLine = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine),
            label="best", labelOpts={"position": 0.06, "color": "#555"},
        )  # fmt: skip
        self.bestLine.setVisible(False)
        self.aucPlot.addItem(self.bestLine)
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

        self.plotSplitter = QSplitter(Qt.Orientation.Horizontal)
        self.plotSplitter.setObjectName("trainPlotSplitter")
        self.plotSplitter.addWidget(loss_box)
        self.plotSplitter.addWidget(self.aucPlot)

        self.logView = QPlainTextEdit()
        self.logView.setObjectName("trainLog")
        self.logView.setReadOnly(True)
        self.logView.setMaximumBlockCount(5000)

        # Before the first run: a hint in place of two empty plots with 0-1 axes
        self.emptyHint = QLabel(
            "Start a run (F5) to see the live training loss\nand the validation AUC here."
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
        self._validation_drawn = 0  # epochs shown in the validation plot
        self._best_epoch = 0
        self._planned_x: dict[Any, tuple[float, float]] = {}  # x ranges of the whole run
        # pyqtgraph's auto-range repaints a plot two or three times per update (range,
        # then axes); the ranges are set here once per draw instead, until the user pans
        # or zooms a plot by hand.
        self._follow: dict[Any, bool] = {}
        self._ranges: dict[Any, tuple[float, ...]] = {}
        for plot in (self.lossPlot, self.aucPlot):
            vb = plot.getPlotItem().getViewBox()
            vb.disableAutoRange()
            self._follow[vb] = True
            vb.sigRangeChangedManually.connect(partial(self._stop_following, vb))
        self._reset_series()
        self.set_can_start(False, "Load data first (Data page).")

    # ---------------------------------------------------------------- state
    def _reset_series(self) -> None:
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.epochs: list[float] = []
        self.val_auc: list[float] = []
        self.val_logloss: list[float] = []
        for curve in (self.rawLossCurve, self.smoothLossCurve, self.aucCurve, self.loglossCurve):
            if curve.xData is not None and len(curve.xData):  # empty ones stay as they are
                curve.setData([], [])
        self.bestLine.setVisible(False)
        self._best_epoch = 0
        self._validation_drawn = 0
        for vb in self._follow:
            self._follow[vb] = True
        self._ranges.clear()
        self._planned_x.clear()
        self._plotTimer.stop()
        self._validationTimer.stop()

    def _stop_following(self, vb: Any, *_: Any) -> None:
        self._follow[vb] = False

    def _fit(self, plot: Any, xs: list[float], *series: list[float]) -> None:
        """Set the view to bounds of the data that change rarely: each change redraws axes.

        x spans the whole run once its length is known (the epochs and the batches of
        one); y grows with headroom (:func:`grown_bounds`) and never shrinks in a run.
        """
        vb = plot.getPlotItem().getViewBox()
        ys = [y for ser in series for y in ser if math.isfinite(y)]
        if not self._follow.get(vb, True) or not xs or not ys:
            return
        x_range = self._planned_x.get(vb)
        if x_range is None or not x_range[0] <= min(xs) <= max(xs) <= x_range[1]:
            x_range = nice_bounds(min(xs), max(xs))
        previous = self._ranges.get(vb)
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
        self._fit(self.lossPlot, self.steps, self.losses, smooth)
        if self._validation_drawn == len(self.epochs):
            return
        if self.jobs.is_busy():
            if not self._validationTimer.isActive():
                self._validationTimer.start()
        else:
            self._draw_validation()

    @Slot()
    def _draw_validation(self) -> None:
        """Push the per-epoch validation series and the best-epoch line into their plot."""
        self._validationTimer.stop()
        self._validation_drawn = len(self.epochs)
        self.aucCurve.setData(self.epochs, self.val_auc)
        self.loglossCurve.setData(self.epochs, self.val_logloss)
        self._fit(self.aucPlot, self.epochs, self.val_auc, self.val_logloss)
        if self._best_epoch:
            self.bestLine.setPos(self._best_epoch)
            self.bestLine.label.setFormat(f"best {self._best_epoch}")
            self.bestLine.setVisible(True)

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
    def start(self, config: Config, data: MovieLensData, runs_dir: Path | None = None) -> None:
        """Train ``config`` on ``data`` in a worker thread (ignored while one runs)."""
        if self.jobs.is_busy():
            return
        self._config = config
        self.last_finished = None
        self._reset_series()
        self.show_plots()
        self._set_busy("Preparing the run")
        self.log(f"Training on {data.name}: {_config_line(config)}")
        worker = TrainWorker(
            partial(_build_trainer, config, data, runs_dir),
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
        self.trainProgress.setFormat(what)
        self.progressLabel.setText(what)

    def _set_fraction(self, fraction: float, text: str) -> None:
        if self.trainProgress.maximum() == 0:
            self.trainProgress.setRange(0, 1000)
        self.trainProgress.setValue(round(fraction * 1000))
        self.trainProgress.setFormat(text)

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
        worker = self._train_worker()
        if worker is not None:
            worker.request_pause(paused)
            self.log("Paused." if paused else "Resumed.")
            self.stateChanged.emit("Training: paused" if paused else "Training")

    def shutdown(self) -> None:
        """Cancel any training and wait for its thread (window closing)."""
        self.jobs.shutdown()  # the core's cancel also ends a pause; _on_task_done runs

    # ---------------------------------------------------------------- events (GUI thread)
    @Slot(list)
    def _on_batches(self, events: list[BatchEvent]) -> None:
        last = events[-1]
        if not self._planned_x:  # the run's length is known from its first batch on
            self._plan_x(self._config.epochs if self._config else last.epoch, last.n_batches)
        self.steps.extend(float(e.step) for e in events)
        new = [float(e.loss) for e in events]
        self.losses.extend(new)
        prev = self.smoothed[-1] if self.smoothed else None
        self.smoothed.extend(ema(new, self.smoothSpin.value(), prev))
        self._schedule_draw()
        cfg = self._config
        epochs = cfg.epochs if cfg is not None else last.epoch
        frac = overall_fraction(last.epoch, epochs, last.batch, last.n_batches)
        self._set_fraction(frac, f"epoch {last.epoch}/{epochs} · {frac:.0%}")
        eta = eta_seconds(
            last.epoch, epochs, last.batch, last.n_batches,
            cfg.batch_size if cfg is not None else 1, last.samples_per_s,
        )  # fmt: skip
        self.progressLabel.setText(
            f"batch {last.batch}/{last.n_batches} · {last.samples_per_s:,.0f} samples/s"
            f" · ETA {format_eta(eta)}"
        )
        self.stateChanged.emit(f"Training: epoch {last.epoch}/{epochs}")

    def _plan_x(self, epochs: int, n_batches: int) -> None:
        """x ranges for the whole run: the axes keep them from the first batch to the end."""
        self._planned_x[self.lossPlot.getPlotItem().getViewBox()] = (0.0, float(epochs * n_batches))
        self._planned_x[self.aucPlot.getPlotItem().getViewBox()] = (0.5, epochs + 0.5)

    @Slot()
    def _redraw_smoothed(self) -> None:
        self.smoothed = ema(self.losses, self.smoothSpin.value())
        self.smoothSpin.setEnabled(self.smoothCheck.isChecked())
        if self.smoothCheck.isChecked():
            self.smoothLossCurve.setData(self.steps, self.smoothed)
        else:
            self.smoothLossCurve.setData([], [])

    @Slot(object)
    def _on_epoch(self, ev: EpochEvent) -> None:
        self.epochs.append(float(ev.epoch))
        self.val_auc.append(float(ev.val.get("auc", math.nan)))
        self.val_logloss.append(float(ev.val.get("logloss", math.nan)))
        self._best_epoch = int(ev.best_epoch or 0)
        self._schedule_draw()
        vals = _metrics_text(ev.val)
        self.log(
            f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} · val {vals}"
            f" · best {ev.best_epoch} ({ev.best_val_auc:.4f}) · {ev.seconds:.1f}s · lr {ev.lr:g}"
        )
        frac = ev.epoch / max(ev.epochs, 1)
        if self.trainProgress.maximum() != 0:  # not while the worker says it is evaluating
            self._set_fraction(frac, f"epoch {ev.epoch}/{ev.epochs} · {frac:.0%}")

    @Slot(object)
    def _on_finished(self, ev: FinishedEvent) -> None:
        self.last_finished = ev
        test = _metrics_text(ev.test)
        self.log(
            f"{ev.status}: {ev.epochs_run} epochs in {format_eta(ev.train_seconds)},"
            f" best epoch {ev.best_epoch} (val AUC {ev.best_val_auc:.4f}) · test {test}"
        )
        if ev.run_dir is not None:
            self.log(f"Saved run: {ev.run_dir}")
        self._set_fraction(1.0 if ev.status == "finished" else 0.0, ev.status)
        self.progressLabel.setText("")
        self.runFinished.emit(ev)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.log(f"FAILED: {message}")
        self._set_fraction(0.0, "failed")
        self.progressLabel.setText("")
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
