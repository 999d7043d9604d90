"""Sweep page: search hyperparameters with Optuna and watch the trials come in.

The sweep runs in worker *processes* (``run_sweep(in_process=False)``): training never
shares this process's GIL with the event loop. A QThread worker drives ``run_sweep``,
reads the study from its storage every tick and sends plain snapshots (dicts) to the
page, which only draws them. Stop sets an event the worker processes poll between
batches; the trial in progress is recorded as stopped and its run kept.

The four plots sit in two tabs of two side by side ("Progress": the objective by trial
and each trial's validation per epoch; "Parameters": parallel coordinates and the
importances): four plots in one row at 1280x820 were ~300x350 px each, which cut the
titles and pushed the curves and the objective axis off the edges.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.errors import WideDeepError
from widedeep_core.monitors import config_monitor

from ..models import DataFrameModel
from ..plotting import HoverReadout, color, debiased_ema, plot_steps
from ..widgets import Steps, message_label, show_message
from ..workers import JobRunner, Task, Throttle, Worker, error_text, training_threads

# Snapshots reach the page at most twice a second: each redraws the table and four plots.
SNAPSHOT_INTERVAL_S = 0.5
STATE_COLORS = {"complete": "#009E73", "pruned": "#D55E00", "fail": "#888888"}
NO_DATA = "Load data first (Data page): the sweep trains on it."
BAD_FORM = "Fix the marked settings (Configure page): the sweep starts from them."


class SweepWorker(Worker):
    """Run ``run_sweep`` in a worker thread; emit study snapshots, errors and ``done``."""

    snapshot = Signal(object)  # dict: study_summary(...) plus the last "importances"
    importances = Signal(object)  # dict: parameter -> importance, when they change

    def __init__(
        self,
        spec: Any,
        n_trials: int | None,
        timeout: float | None,
        workers: int,
        storage: tuple[str, str | Path | None] | None = None,
    ):
        """``storage`` (the entry's text and the runs folder) is turned into the spec's
        URL here, in the worker thread: that imports SQLAlchemy (~180 ms)."""
        super().__init__()
        self.spec = spec
        self._storage = storage
        self.n_trials = n_trials
        self.timeout = timeout
        self.workers = workers
        self.stop_event = threading.Event()
        self._throttle = Throttle(SNAPSHOT_INTERVAL_S)
        self._last_key: Any = None
        self._importance_key: Any = None
        self._importances: dict[str, float] = {}

    def request_stop(self) -> None:
        """Stop the workers after their current batch (thread-safe)."""
        self.stop_event.set()

    def cancel(self) -> None:
        """Quitting the app (``Task.stop``) stops the sweep like the Stop button."""
        super().cancel()
        self.stop_event.set()

    @Slot()
    def run(self) -> None:
        """Create or resume the study and run it in worker processes."""
        from widedeep_core.sweeps import run_sweep

        try:
            if self._storage is not None:
                from dataclasses import replace

                from widedeep_core.sweeps import normalize_url

                text, runs_dir = self._storage
                self.spec = replace(self.spec, storage=normalize_url(text or None, runs_dir))
            outcome = run_sweep(
                self.spec,
                None,
                n_trials=self.n_trials,
                timeout=self.timeout,
                workers=self.workers,
                in_process=False,
                threads=max(1, training_threads() // self.workers),
                stop=self.stop_event,
                on_tick=self._tick,
            )
            self._tick(outcome.study, force=True)
        except Exception as exc:
            self.failed.emit(error_text(exc))
        finally:
            self.done.emit()

    def _tick(self, study: Any, force: bool = False) -> None:
        """Worker thread: read the study; emit when something changed."""
        if not force and not self._throttle.ready():
            return
        from widedeep_core.sweeps import param_importances, study_summary

        summary = study_summary(study, self.spec.storage)
        key = [(t["state"], len(t["intermediate"])) for t in summary["trials"]]
        if key == self._last_key and not force:
            return
        self._last_key = key
        summary["importances"] = self._importances
        self.snapshot.emit(summary)
        # After the snapshot, not before: the first call imports Optuna's importance
        # module, and with it scikit-learn and scipy.stats (1.3-1.7 s measured on 2
        # cores), which held back the snapshot that shows the first finished trials.
        finished = summary["counts"].get("complete", 0)
        if finished != self._importance_key:
            self._importance_key = finished
            self._importances = param_importances(study)
            self.importances.emit(self._importances)


# the study list's first entry, before a study is chosen
STUDY_LIST_HINT = "Choose a stored study to show it"


class SweepPage(QWidget):
    """Search set-up, Start/Stop, the trial table and the study's plots."""

    startRequested = Signal()  # the main window answers with start(config, data, runs_dir)
    loadConfigRequested = Signal(object)  # Config of the chosen trial
    openRunRequested = Signal(str)  # run folder of the chosen trial
    stateChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None, stepwise: bool = False):
        super().__init__(parent)
        self._task: Task | None = None
        self._worker: SweepWorker | None = None
        self.summary: dict[str, Any] | None = None
        self._spec: Any = None
        self._can_start = (False, NO_DATA)
        self._window: Any = None  # the main window whose data and form this page follows
        self._metric_chosen = False  # the user picked an objective: defaults leave it
        self._intermediate: dict[int, tuple[Any, Any]] = {}  # trial -> curve, what it shows
        self._raw: dict[int, list[float]] = {}  # trial -> its validation values, unsmoothed
        self._parallel_key: str | None = None  # the finished trials the plot shows
        self.runs_dir: str | Path | None = None  # where the default storage lives (window)
        self.studies: list[dict[str, Any]] = []  # the storage's studies, last listed
        self.study_jobs = JobRunner(self)  # listing and opening studies (SQLAlchemy: a worker)
        self.study_jobs.succeeded.connect(self._on_study_job)
        self.study_jobs.failed.connect(lambda message: show_message(self.errorLabel, message))
        # with ``stepwise`` the caller runs the pieces (one plot each) over several turns
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    # ---------------------------------------------------------------- layout
    def _build(self) -> Iterator[None]:
        from widedeep_core.config import preset
        from widedeep_core.sweeps import METRICS, PRUNERS, searchable_fields

        self.fieldCombo = QComboBox()
        self.fieldCombo.setObjectName("sweepFieldCombo")
        for info in searchable_fields():
            self.fieldCombo.addItem(f"{info.label} ({info.name})", info.name)
        self.addFieldButton = QPushButton("Add field")
        self.addFieldButton.setObjectName("sweepAddFieldButton")
        self.addFieldButton.clicked.connect(self._add_selected_field)
        self.removeFieldButton = QPushButton("Remove")
        self.removeFieldButton.setObjectName("sweepRemoveFieldButton")
        self.removeFieldButton.clicked.connect(self._remove_field)
        self.spaceTable = QTableWidget(0, 2)
        self.spaceTable.setObjectName("sweepSpaceTable")
        self.spaceTable.setHorizontalHeaderLabels(["field", "range LOW..HIGH[:log] or choices A|B"])
        self.spaceTable.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.spaceTable.verticalHeader().setVisible(False)
        self.spaceTable.setMaximumHeight(120)
        self._base_for_suggestions = preset("reference")

        self.trialsSpin = QSpinBox()
        self.trialsSpin.setObjectName("sweepTrialsSpin")
        self.trialsSpin.setRange(0, 100_000)
        self.trialsSpin.setValue(20)
        self.trialsSpin.setSpecialValueText("no limit")
        self.timeoutSpin = QDoubleSpinBox()
        self.timeoutSpin.setObjectName("sweepTimeoutSpin")
        self.timeoutSpin.setRange(0, 10_000)
        self.timeoutSpin.setSuffix(" min")
        self.timeoutSpin.setSpecialValueText("no limit")
        self.workersSpin = QSpinBox()
        self.workersSpin.setObjectName("sweepWorkersSpin")
        self.workersSpin.setRange(1, 64)
        self.metricCombo = QComboBox()
        self.metricCombo.setObjectName("sweepMetricCombo")
        self.metricCombo.addItems(list(METRICS))
        self.metricCombo.setToolTip(
            "What the trials are ranked by; by default the metric the configuration\n"
            "monitors (its preset's: val_ndcg@10 for topn, val_auc for the others)"
        )
        self.metricCombo.activated.connect(self._on_metric_chosen)
        self.prunerCombo = QComboBox()
        self.prunerCombo.setObjectName("sweepPrunerCombo")
        self.prunerCombo.addItems(list(PRUNERS))
        self.storageEdit = QLineEdit()
        self.storageEdit.setObjectName("sweepStorageEdit")
        self.storageEdit.setPlaceholderText("default: sweeps.db in the runs folder, or a URL")
        self.studyEdit = QLineEdit()
        self.studyEdit.setObjectName("sweepStudyEdit")
        self.studyEdit.setPlaceholderText("automatic (the same set-up resumes its study)")

        # two columns of settings: one column of seven rows took a third of the height
        budget, study = QFormLayout(), QFormLayout()
        budget.addRow("Trials", self.trialsSpin)
        budget.addRow("Time limit", self.timeoutSpin)
        budget.addRow("Workers", self.workersSpin)
        budget.addRow("Objective", self.metricCombo)
        study.addRow("Pruner", self.prunerCombo)
        study.addRow("Storage", self.storageEdit)
        self.studyList = QComboBox()
        self.studyList.setObjectName("sweepStudyList")
        self.studyList.setToolTip("The studies in this storage: choose one to show it")
        self.studyList.setMinimumContentsLength(18)
        self.studyList.addItem(STUDY_LIST_HINT, None)
        self.studyList.activated.connect(self._on_study_chosen)
        self.studiesButton = QPushButton("List")
        self.studiesButton.setObjectName("sweepStudiesButton")
        self.studiesButton.setToolTip("List the studies of the storage above")
        self.studiesButton.clicked.connect(self.list_studies)
        study_row = QHBoxLayout()
        study_row.addWidget(self.studyEdit, 1)
        study.addRow("Study", study_row)
        stored_row = QHBoxLayout()
        stored_row.addWidget(self.studyList, 1)
        stored_row.addWidget(self.studiesButton)
        study.addRow("Stored", stored_row)
        form = QHBoxLayout()
        form.addLayout(budget, 2)
        form.addLayout(study, 3)

        field_row = QHBoxLayout()
        field_row.addWidget(self.fieldCombo, 1)
        field_row.addWidget(self.addFieldButton)
        field_row.addWidget(self.removeFieldButton)
        space_box = QVBoxLayout()
        space_box.addLayout(field_row)
        space_box.addWidget(self.spaceTable)
        setup = QHBoxLayout()
        setup.addLayout(space_box, 1)
        setup.addLayout(form, 1)

        self.startButton = QPushButton("Start sweep")
        self.startButton.setObjectName("sweepStartButton")
        self.startButton.clicked.connect(self.startRequested)
        self.stopButton = QPushButton("Stop")
        self.stopButton.setObjectName("sweepStopButton")
        self.stopButton.setToolTip("Cancel the workers; the trial in progress is kept as a run")
        self.stopButton.clicked.connect(self.stop)
        self.loadButton = QPushButton("Load into form")
        self.loadButton.setObjectName("sweepLoadButton")
        self.loadButton.clicked.connect(self.load_selected)
        self.openRunButton = QPushButton("Open run")
        self.openRunButton.setObjectName("sweepOpenRunButton")
        self.openRunButton.clicked.connect(self.open_selected)
        self.statusLabel = QLabel("")
        self.statusLabel.setObjectName("sweepStatus")
        self.errorLabel = message_label("sweepError")
        buttons = QHBoxLayout()
        for b in (self.startButton, self.stopButton, self.loadButton, self.openRunButton):
            buttons.addWidget(b)
        buttons.addWidget(self.statusLabel, 1)

        self.trialsModel = DataFrameModel()
        self.trialsTable = QTableView()
        self.trialsTable.setObjectName("sweepTrialsTable")
        self.trialsTable.setModel(self.trialsModel)
        self.trialsTable.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.trialsTable.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.trialsTable.verticalHeader().setVisible(False)
        self.trialsTable.selectionModel().selectionChanged.connect(self._update_buttons)
        yield

        # the key in the title: a legend inside the plot covered dots
        key = " ".join(
            f'<span style="color:{STATE_COLORS[s]}">●</span> {s}' for s in ("complete", "pruned")
        )
        self.bestPlot = yield from plot_steps(
            "sweepBestPlot",
            f'Objective by trial · {key} · <span style="color:{color(0)}">—</span> best so far',
            "trial", "objective", legend=False, integer_x=True,
        )  # fmt: skip
        self.bestScatter = pg.ScatterPlotItem(size=8)
        self.bestPlot.addItem(self.bestScatter)
        self.bestCurve = self.bestPlot.plot(
            [], [], pen=pg.mkPen(color(0), width=2), name="best so far"
        )
        yield
        self.parallelPlot = yield from plot_steps(
            "sweepParallelPlot", "Parameters vs objective", "", "", legend=False
        )
        parallel = self.parallelPlot.getPlotItem()
        parallel.getViewBox().setMouseEnabled(False, False)
        parallel.hideAxis("left")  # each axis carries its own values (text items)
        parallel.showGrid(x=False, y=False)
        # one colour scale for the lines: the objective's values, read off a bar
        self.colorBar = pg.ColorBarItem(
            values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
            width=14, colorMapMenu=False, pen="#666",
        )  # fmt: skip
        self.colorBar.axis.enableAutoSIPrefix(False)
        parallel.layout.addItem(self.colorBar, 2, 5)
        self.colorBar.setVisible(False)
        yield
        self.importancePlot = yield from plot_steps(
            "sweepImportancePlot", "Parameter importance", "importance", "", legend=False
        )
        yield
        self.intermediatePlot = yield from plot_steps(
            "sweepIntermediatePlot", "Validation per epoch (dashed: pruned)", "epoch",
            "objective", legend=False, integer_x=True,
        )  # fmt: skip
        yield
        self.slicePlot = yield from plot_steps(
            "sweepSlicePlot", "Objective by parameter (slice)", "", "objective", legend=False
        )
        self.sliceScatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen("#333"))
        self.slicePlot.addItem(self.sliceScatter)
        yield
        self.contourPlot = yield from plot_steps(
            "sweepContourPlot", "Objective over two parameters (contour)", "", "", legend=False
        )
        self.contourImage = pg.ImageItem()
        self.contourPlot.addItem(self.contourImage)
        self.contourScatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen("w"), brush="#222")
        self.contourPlot.addItem(self.contourScatter)
        self.contourBar = pg.ColorBarItem(
            values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
            width=14, colorMapMenu=False, pen="#666",
        )  # fmt: skip
        self.contourBar.axis.enableAutoSIPrefix(False)
        self.contourPlot.getPlotItem().layout.addItem(self.contourBar, 2, 5)
        self.sliceCombo = QComboBox()
        self.sliceCombo.setObjectName("sweepSliceCombo")
        self.contourXCombo = QComboBox()
        self.contourXCombo.setObjectName("sweepContourXCombo")
        self.contourYCombo = QComboBox()
        self.contourYCombo.setObjectName("sweepContourYCombo")
        for combo in (self.sliceCombo, self.contourXCombo, self.contourYCombo):
            combo.currentIndexChanged.connect(self._draw_views)
        yield
        self.plotTabs = QTabWidget()
        self.plotTabs.setObjectName("sweepPlotTabs")
        for title, pair in (
            ("Progress", (self.bestPlot, self.intermediatePlot)),
            ("Parameters", (self.parallelPlot, self.importancePlot)),
            ("Slice and contour", (self.slicePlot, self.contourPlot)),
        ):
            tab = QSplitter(Qt.Orientation.Horizontal)
            tab.setObjectName(f"sweep{title.split()[0]}Splitter")
            for plot in pair:
                tab.addWidget(plot)
            tab.setSizes([1, 1])
            if plot is self.contourPlot:  # each plot under its parameter choices
                tab = self._with_choices(
                    tab,
                    [("Slice:", self.sliceCombo)],
                    [("Contour x:", self.contourXCombo), ("y:", self.contourYCombo)],
                )
            self.plotTabs.addTab(tab, title)
        # the mouse over a progress plot: a crosshair and every curve's value there
        self.hoverLabel = QLabel("")
        self.hoverLabel.setObjectName("sweepHoverLabel")
        self.hoverLabel.setWordWrap(True)
        self.hoverLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hovers = {
            self.bestPlot: HoverReadout(self.bestPlot, self.hoverLabel, "trial"),
            self.intermediatePlot: HoverReadout(self.intermediatePlot, self.hoverLabel, "epoch"),
        }
        self.smoothSpin = QDoubleSpinBox()
        self.smoothSpin.setObjectName("sweepSmoothSpin")
        self.smoothSpin.setRange(0.0, 0.99)
        self.smoothSpin.setSingleStep(0.05)
        self.smoothSpin.setToolTip(
            "Smoothing of the validation-per-epoch curves: an EMA weight, debiased at the "
            "start as TensorBoard's (0 = raw)"
        )
        self.smoothSpin.valueChanged.connect(self._on_smooth)
        hover_row = QHBoxLayout()
        hover_row.addWidget(QLabel("Smooth:"))
        hover_row.addWidget(self.smoothSpin)
        hover_row.addWidget(self.hoverLabel, 1)
        plots_box = QWidget()
        pb = QVBoxLayout(plots_box)
        pb.setContentsMargins(0, 0, 0, 0)
        pb.addWidget(self.plotTabs, 1)
        pb.addLayout(hover_row)
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.setObjectName("sweepSplitter")
        lower.addWidget(self.trialsTable)
        lower.addWidget(plots_box)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 3)
        lower.setSizes([150, 450])

        layout = QVBoxLayout(self)
        layout.addLayout(setup)
        layout.addLayout(buttons)
        layout.addWidget(self.errorLabel)
        layout.addWidget(lower, 1)
        for name in ("lr", "hidden"):
            self.add_field(name)
        self.set_base(self._base_for_suggestions)
        self._update_buttons()

    # ---------------------------------------------------------------- search set-up
    def set_base(self, cfg: Any) -> None:
        """The configuration the sweep starts from (the Configure form's): the pre-filled
        ranges, and the objective's default, its monitor (``val_ndcg@10`` for topn)."""
        if cfg is None:
            return
        from widedeep_core.sweeps import METRICS

        self._base_for_suggestions = cfg
        default = config_monitor(cfg).column
        choices = [*METRICS, *([default] if default not in METRICS else [])]
        current = self.metricCombo.currentText()
        if [self.metricCombo.itemText(i) for i in range(self.metricCombo.count())] != choices:
            self.metricCombo.clear()  # a ranking objective exists for a ranking monitor only
            self.metricCombo.addItems(choices)
        keep = self._metric_chosen and current in choices
        self.metricCombo.setCurrentText(current if keep else default)

    @Slot()
    def _on_metric_chosen(self) -> None:
        self._metric_chosen = True

    def set_can_start(self, ok: bool, reason: str = "") -> None:
        """Enable Start sweep when data and a valid configuration exist; else say why."""
        self._can_start = (ok, reason)
        self._update_buttons()

    # The main window does not tell this page about its data or its form yet: the page
    # follows them itself once it sits in the window (its tab is installed).
    def event(self, e: QEvent) -> bool:
        """Follow the window's data and form once the page is placed in it."""
        if e.type() in (QEvent.Type.ParentChange, QEvent.Type.Show):
            self._follow_window()
        return super().event(e)

    def _follow_window(self) -> None:
        window = self.window()
        data_page = getattr(window, "data_page", None)
        form = getattr(window, "configure_page", None)
        if window is self._window or data_page is None or form is None:
            return
        self._window = window
        data_page.dataLoaded.connect(self._on_window_changed)
        form.configChanged.connect(self._on_window_changed)
        self._on_window_changed()

    @Slot()
    def _on_window_changed(self, *_: Any) -> None:
        window = self._window
        if window is None:
            return
        cfg = window.configure_page.config()
        if window.data_page.data is None:
            self.set_can_start(False, NO_DATA)
        elif cfg is None:
            self.set_can_start(False, BAD_FORM)
        else:
            self.set_can_start(True)
        self.set_base(cfg)

    def add_field(self, name: str, text: str | None = None) -> None:
        """Add (or replace) one searched field; ``text`` is the part after ``=``."""
        from widedeep_core.sweeps import suggested_text

        if text is None:
            text = suggested_text(name, self._base_for_suggestions).split("=", 1)[1]
        row = self._row_of(name)
        if row is None:
            row = self.spaceTable.rowCount()
            self.spaceTable.insertRow(row)
            item = QTableWidgetItem(name)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.spaceTable.setItem(row, 0, item)
        self.spaceTable.setItem(row, 1, QTableWidgetItem(text))

    def _row_of(self, name: str) -> int | None:
        for row in range(self.spaceTable.rowCount()):
            if self.spaceTable.item(row, 0).text() == name:
                return row
        return None

    @Slot()
    def _add_selected_field(self) -> None:
        self.add_field(str(self.fieldCombo.currentData()))

    @Slot()
    def _remove_field(self) -> None:
        row = self.spaceTable.currentRow()
        if row >= 0:
            self.spaceTable.removeRow(row)

    def space_texts(self) -> list[str]:
        """The searched fields as ``FIELD=...`` texts (what ``--space`` takes)."""
        return [
            f"{self.spaceTable.item(r, 0).text()}={self.spaceTable.item(r, 1).text().strip()}"
            for r in range(self.spaceTable.rowCount())
        ]

    def set_space(self, texts: list[str]) -> None:
        """Show a stored space (a resumed study's)."""
        self.spaceTable.setRowCount(0)
        for text in texts:
            name, _, rest = text.partition("=")
            self.add_field(name, rest)

    # ---------------------------------------------------------------- control
    def is_running(self) -> bool:
        """True from Start until the sweep's thread has ended."""
        return self._task is not None

    def make_spec(
        self, cfg: Any, data: Any, runs_dir: str | Path | None, resolve_storage: bool = True
    ) -> Any:
        """Build and check the sweep from the page's entries; raises WideDeepError.

        Without ``resolve_storage`` the spec's storage is the entry's text as typed
        (the worker resolves it: the URL needs SQLAlchemy, a GUI-thread import of
        ~180 ms on the Start click when the warm-up has not loaded it yet).
        """
        from widedeep_core.config import adapt_to_data, fields_available
        from widedeep_core.errors import DataError
        from widedeep_core.sweeps import (
            SweepSpec,
            default_study_name,
            normalize_url,
            parse_space,
            validate_space,
        )

        source = Path(str(getattr(data, "source", "")))
        if not source.exists():
            raise DataError("the sweep's worker processes reload the data: open it from a folder")
        space = parse_space(self.space_texts())
        base, _ = adapt_to_data(cfg, fields_available(data))
        validate_space(space, base, fields_available(data))
        metric = self.metricCombo.currentText()
        storage = self.storageEdit.text().strip()
        return SweepSpec(
            study=self.studyEdit.text().strip()
            or default_study_name(space, base, metric, data.name),
            storage=normalize_url(storage or None, runs_dir) if resolve_storage else storage,
            space=space,
            base=base,
            data_path=str(source),
            data_fingerprint=data.fingerprint,
            runs_dir=str(runs_dir) if runs_dir is not None else None,
            metric=metric,
            pruner=self.prunerCombo.currentText(),
        )

    # ---------------------------------------------------------------- existing studies
    def _storage_url(self) -> Any:
        """A function (for the worker thread) giving the storage's URL, read from the
        entry now: widgets are read in the GUI thread only."""
        text, runs_dir = self.storageEdit.text().strip() or None, self.runs_dir

        def url() -> str:
            from widedeep_core.sweeps import normalize_url

            return normalize_url(text, runs_dir)

        return url

    @Slot()
    def list_studies(self) -> bool:
        """List the storage's studies in a worker; a menu offers them when it is done."""
        if self.study_jobs.is_busy():
            return False
        show_message(self.errorLabel, "")
        url = self._storage_url()

        def job(report: Any) -> tuple[str, Any]:
            from widedeep_core.sweeps import study_list

            return "list", study_list(url())

        return self.study_jobs.start(job)

    @Slot(str)
    def open_study(self, name: str) -> bool:
        """Show study ``name`` of the storage: its trials and plots (nothing runs)."""
        if self._task is not None or self.study_jobs.is_busy():
            return False
        show_message(self.errorLabel, "")
        storage = self._storage_url()

        def job(report: Any) -> tuple[str, Any]:
            from widedeep_core.sweeps import load_study, param_importances, study_summary

            url = storage()
            study = load_study(name, url)
            summary = study_summary(study, url)
            summary["importances"] = param_importances(study)
            return "open", summary

        return self.study_jobs.start(job)

    def study_rows(self) -> list[str]:
        """The study list's entries as shown (for tests and the README)."""
        return [self.studyList.itemText(i) for i in range(1, self.studyList.count())]

    def _fill_study_list(self, rows: list[dict[str, Any]]) -> None:
        self.studies = rows
        combo = self.studyList
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(STUDY_LIST_HINT if rows else "No studies in this storage", None)
        for row in rows:
            best = f"{row['best']:.4f}" if isinstance(row["best"], int | float) else "-"
            text = f"{row['study']} · {row['metric'] or '-'} · {row['trials']} trials · best {best}"
            combo.addItem(text, row["study"])
        combo.blockSignals(False)

    @Slot(int)
    def _on_study_chosen(self, index: int) -> None:
        name = self.studyList.itemData(index)
        if name:
            self.open_study(str(name))

    @Slot(object)
    def _on_study_job(self, result: tuple[str, Any]) -> None:
        kind, value = result
        if kind == "list":
            self._fill_study_list(value)
            return
        self.studyEdit.setText(value["study"])
        self._clear_plots()
        self._on_snapshot(value)
        self._draw_importances(value.get("importances") or {})
        counts = ", ".join(f"{n} {s}" for s, n in sorted(value["counts"].items()))
        self.statusLabel.setText(f"Study {value['study']} (stored): {counts or 'no trials'}")

    def start(self, cfg: Any, data: Any, runs_dir: str | Path | None = None) -> bool:
        """Start (or resume) the sweep in worker processes; False with a message on bad input."""
        if self._task is not None:
            return False
        show_message(self.errorLabel, "")
        self.set_base(cfg)  # the objective's default follows the configuration's monitor
        try:
            spec = self.make_spec(cfg, data, runs_dir, resolve_storage=False)
        except WideDeepError as exc:
            show_message(self.errorLabel, str(exc))
            return False
        self._spec = spec
        self.studyEdit.setPlaceholderText(spec.study)
        trials = self.trialsSpin.value() or None
        timeout = self.timeoutSpin.value() * 60 or None
        if trials is None and timeout is None:
            show_message(self.errorLabel, "Give a budget: trials, a time limit or both.")
            return False
        worker = SweepWorker(
            spec, trials, timeout, self.workersSpin.value(), storage=(spec.storage, runs_dir)
        )
        worker.snapshot.connect(self._on_snapshot)
        worker.importances.connect(self._draw_importances)
        worker.failed.connect(self._on_failed)
        self._clear_plots()
        self._worker = worker
        self._task = Task(worker, self)
        self._task.finished.connect(self._on_task_done)
        self._task.start()
        self.statusLabel.setText(f"Sweeping: study {spec.study}")
        self.stateChanged.emit(f"Sweep: {spec.study}")
        self._update_buttons()
        return True

    @Slot()
    def stop(self) -> None:
        """Ask the worker processes to stop after their current batch."""
        if self._worker is not None:
            self._worker.request_stop()
            self.statusLabel.setText("Stopping: the workers finish their current batch")
            self.stateChanged.emit("Sweep: stopping")

    def shutdown(self) -> None:
        """Stop the sweep and wait for its thread (window closing); the study stays."""
        self.study_jobs.shutdown()
        if self._task is None:
            return
        self._worker.request_stop()  # type: ignore[union-attr]
        self._task.wait()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        show_message(self.errorLabel, message)

    @Slot()
    def _on_task_done(self) -> None:
        self._task = None
        self._worker = None
        counts = (self.summary or {}).get("counts", {})
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        self.statusLabel.setText(f"Sweep ended: {text}")
        self.stateChanged.emit("")
        self._update_buttons()

    def _update_buttons(self, *_: Any) -> None:
        busy = self._task is not None
        ok, reason = self._can_start
        self.startButton.setEnabled(ok and not busy)
        self.startButton.setToolTip(
            reason if not ok else "Run the trials in worker processes (a study resumes by name)"
        )
        if not busy and self.summary is None:  # idle before a first sweep: say what is missing
            self.statusLabel.setText(reason if not ok else "")
        self.stopButton.setEnabled(busy)
        trial = self.selected_trial()
        self.loadButton.setEnabled(trial is not None and bool(trial.get("params")))
        self.openRunButton.setEnabled(trial is not None and bool(trial.get("run_dir")))

    # ---------------------------------------------------------------- trials
    def selected_trial(self) -> dict[str, Any] | None:
        """The trial record of the selected table row."""
        rows = self.trialsTable.selectionModel().selectedRows()
        if not rows or self.summary is None:
            return None
        number = self.trialsModel.frame.iloc[rows[0].row()]["#"]
        return self.summary["trials"][int(number)]

    def select_trial(self, number: int) -> None:
        """Select the table row of trial ``number``."""
        rows = self.trialsModel.frame.index[self.trialsModel.frame["#"] == number]
        if len(rows):
            self.trialsTable.selectRow(int(rows[0]))

    def trial_config(self, trial: dict[str, Any]) -> Any:
        """The full configuration of a trial (the study's fixed one plus its values)."""
        from widedeep_core.config import Config
        from widedeep_core.sweeps import parse_space

        base = self._spec.base if self._spec is not None else Config()
        space = parse_space(self.summary["space"])
        return space.apply(base, trial["params"]).replace(name=None)

    @Slot()
    def load_selected(self) -> None:
        """Send the selected trial's configuration to the Configure page."""
        trial = self.selected_trial()
        if trial is not None and trial.get("params"):
            self.loadConfigRequested.emit(self.trial_config(trial))

    @Slot()
    def open_selected(self) -> None:
        """Show the selected trial's run on the Runs page."""
        trial = self.selected_trial()
        if trial is not None and trial.get("run_dir"):
            self.openRunRequested.emit(str(trial["run_dir"]))

    # ---------------------------------------------------------------- drawing (GUI thread)
    @Slot(object)
    def _on_snapshot(self, summary: dict[str, Any]) -> None:
        selected = self.selected_trial()
        self.summary = summary
        names = [t.split("=", 1)[0] for t in summary["space"]]
        rows = []
        for t in summary["trials"]:
            rows.append(
                {
                    "#": t["number"],
                    "state": t["state"],
                    "value": t["value"],
                    "epochs": len(t["intermediate"]),
                    "pruned at": t["pruned_at_epoch"],
                    "seconds": t["duration_s"],
                    **{n: _short(t["params"].get(n)) for n in names},
                }
            )
        import pandas as pd  # not at import: the page module loads before the first paint

        self.trialsModel.set_frame(pd.DataFrame(rows))
        if selected is not None:
            self.select_trial(selected["number"])
        counts = summary["counts"]
        best = summary.get("best")
        best_text = (  # a best trial whose value is not finite is recorded without one
            f" · best {best['value']:.4f} (trial {best['number']})"
            if best and best.get("value") is not None
            else ""
        )
        self.statusLabel.setText(
            f"Study {summary['study']}: "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + best_text
        )
        self._draw_best(summary)
        self._draw_intermediate(summary)
        self._draw_parallel(summary, names)
        self._set_view_choices(names)
        self._draw_views()
        self._update_buttons()

    def _draw_best(self, summary: dict[str, Any]) -> None:
        maximize = summary["direction"] == "maximize"
        metric = summary.get("metric") or "objective"
        for plot in (self.bestPlot, self.intermediatePlot):
            if plot.getPlotItem().getAxis("left").labelText != metric:
                plot.getPlotItem().setLabel("left", metric)
        spots, xs, ys, best = [], [], [], None
        for t in summary["trials"]:
            if t["value"] is None:
                continue
            v = t["value"]
            spots.append({"pos": (t["number"], v), "brush": STATE_COLORS.get(t["state"], "#000")})
            best = v if best is None else (max(best, v) if maximize else min(best, v))
            xs.append(t["number"])
            ys.append(best)
        self.bestScatter.setData(spots)
        self.bestCurve.setData(xs, ys)

    def _clear_plots(self) -> None:
        """Forget the last study's curves (a new sweep starts)."""
        plot = self.intermediatePlot.getPlotItem()
        for curve, _ in self._intermediate.values():
            plot.removeItem(curve)
        self._intermediate.clear()
        self._raw.clear()
        self._parallel_key = None

    def _draw_intermediate(self, summary: dict[str, Any]) -> None:
        """One curve per trial, made once, updated when its trial reported an epoch."""
        plot = self.intermediatePlot.getPlotItem()
        for t in summary["trials"]:
            if not t["intermediate"]:
                continue
            pruned = t["state"] == "pruned"
            shown = (len(t["intermediate"]), pruned)
            curve, before = self._intermediate.get(t["number"], (None, None))
            if shown == before:
                continue
            if curve is None:
                curve = plot.plot([], [], name=f"trial {t['number']}")
            if before is None or before[1] != pruned:
                curve.setPen(
                    pg.mkPen(
                        STATE_COLORS["pruned"] if pruned else color(t["number"]),
                        width=1.5,
                        style=Qt.PenStyle.DashLine if pruned else Qt.PenStyle.SolidLine,
                    )
                )
            xs, ys = zip(*t["intermediate"], strict=True)
            curve.setData(list(xs), self._smoothed(list(ys)))
            self._intermediate[t["number"]] = (curve, shown)
            self._raw[t["number"]] = list(ys)

    def _smoothed(self, ys: list[float]) -> list[float]:
        weight = self.smoothSpin.value()
        return debiased_ema(ys, weight)[0] if weight > 0 and ys else ys

    def _on_smooth(self) -> None:
        """Redraw every trial's validation curve with the new smoothing weight."""
        for number, (curve, _) in self._intermediate.items():
            xs = curve.xData
            if xs is not None:
                curve.setData(list(xs), self._smoothed(self._raw.get(number, [])))

    def _draw_parallel(self, summary: dict[str, Any], names: list[str]) -> None:
        """One polyline per finished trial across the parameters' axes and the objective.

        Each axis is scaled to its own values (log when they span decades) and labelled
        with them; the lines take their colour from the objective, read off the bar.
        Redrawn only when a trial has finished: 50 trials took ~90 ms to redraw, twice
        a second (offscreen, measured), while most snapshots only add an epoch.
        """
        done = [t for t in summary["trials"] if t["value"] is not None]
        metric = summary.get("metric") or "objective"
        key = repr((summary["direction"], metric, names, [(t["number"], t["value"]) for t in done]))
        if key == self._parallel_key:
            return
        self._parallel_key = key
        plot = self.parallelPlot.getPlotItem()
        plot.clear()
        axes = [*names, metric]
        self.colorBar.setVisible(bool(done))
        if not done:
            return
        columns = [[_axis_value(t, n) for t in done] for n in [*names, "objective"]]
        from widedeep_core.sweeps.views import log_params

        logs = log_params(summary)  # ":log" in the space, as the slice and contour read it
        scales = [
            _axis_scale(c, log=(n in logs) or None)
            for c, n in zip(columns, [*names, "objective"], strict=True)
        ]
        values = columns[-1]
        lo, hi = min(values), max(values)
        cmap = pg.colormap.get("viridis")
        if summary["direction"] != "maximize":
            cmap.reverse()  # the better end is the bright one either way
        self.colorBar.setColorMap(cmap)
        self.colorBar.setLevels((lo, hi) if hi > lo else (lo - 1e-6, hi + 1e-6))
        self.colorBar.axis.setLabel(metric)
        for i, (_, ticks) in enumerate(scales):  # the axes: a line each, with their values
            plot.addItem(pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen("#999")))
            for y, text in ticks:
                label = pg.TextItem(text, color="#333", anchor=(1.05, 0.5))
                label.setPos(i, y)
                plot.addItem(label)
        order = sorted(range(len(done)), key=lambda j: values[j])  # the best drawn last
        if summary["direction"] != "maximize":
            order.reverse()
        xs = list(range(len(axes)))
        for j in order:
            share = (values[j] - lo) / (hi - lo) if hi > lo else 1.0
            pen = pg.mkPen(cmap.mapToQColor(share), width=1.5)
            plot.plot(xs, [scale[0][j] for scale in scales], pen=pen)
        plot.getAxis("bottom").setTicks([list(enumerate(axes))])
        # room left of the first axis for its values; none lost right of the last one
        plot.getViewBox().setRange(
            xRange=(-0.45, len(axes) - 1 + 0.3), yRange=(-0.08, 1.08), padding=0
        )

    @staticmethod
    def _with_choices(plots: QWidget, *rows: list[tuple[str, QComboBox]]) -> QWidget:
        """``plots`` under one row of labelled combo boxes per plot."""
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        for row in rows:
            for text, combo in row:
                line.addWidget(QLabel(text))
                line.addWidget(combo)
            line.addStretch(1)
        v.addLayout(line)
        v.addWidget(plots, 1)
        return box

    def _set_view_choices(self, names: list[str]) -> None:
        """The parameters to choose from (kept when they stay the same)."""
        if [self.sliceCombo.itemText(i) for i in range(self.sliceCombo.count())] == names:
            return
        for combo, default in (
            (self.sliceCombo, 0),
            (self.contourXCombo, 0),
            (self.contourYCombo, min(1, len(names) - 1)),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(max(default, 0) if names else -1)
            combo.blockSignals(False)

    @Slot()
    def _draw_views(self, *_: Any) -> None:
        """The slice (objective against one parameter) and the contour (over two)."""
        from widedeep_core.sweeps.views import contour_view, slice_view

        summary = self.summary
        name = self.sliceCombo.currentText()
        x, y = self.contourXCombo.currentText(), self.contourYCombo.currentText()
        if summary is None or not name:
            self.sliceScatter.setData([])
            self.contourScatter.setData([])
            self.contourImage.clear()
            return
        metric = summary.get("metric") or "objective"
        cmap = pg.colormap.get("viridis")
        if summary.get("direction") != "maximize":
            cmap.reverse()  # the better end is the bright one either way
        view = slice_view(summary, name)
        keep = ~np.isnan(view.axis.positions)
        self.sliceScatter.setData(
            view.axis.positions[keep], view.values[keep], brush=color(0), data=view.numbers[keep]
        )
        plot = self.slicePlot.getPlotItem()
        plot.setLabel("left", metric)
        _label_axis(plot.getAxis("bottom"), view.axis)
        contour = contour_view(summary, x, y)
        plot = self.contourPlot.getPlotItem()
        _label_axis(plot.getAxis("bottom"), contour.x)
        _label_axis(plot.getAxis("left"), contour.y)
        if contour.values.size:
            lo, hi = float(contour.values.min()), float(contour.values.max())
            levels = (lo, hi) if hi > lo else (lo - 1e-6, hi + 1e-6)
            self.contourBar.setColorMap(cmap)
            self.contourBar.setLevels(levels)
            self.contourBar.axis.setLabel(metric)
        if np.isnan(contour.surface).all():
            self.contourImage.clear()
        else:
            gx, gy = contour.grid_x, contour.grid_y
            self.contourImage.setImage(np.nan_to_num(contour.surface, nan=levels[0]), levels=levels)
            self.contourImage.setColorMap(cmap)
            w = max(float(gx[-1] - gx[0]), 1e-9)
            h = max(float(gy[-1] - gy[0]), 1e-9)
            self.contourImage.setRect(QRectF(float(gx[0]), float(gy[0]), w, h))
        ok = ~(np.isnan(contour.x.positions) | np.isnan(contour.y.positions))
        self.contourScatter.setData(contour.x.positions[ok], contour.y.positions[ok])

    @Slot(object)
    def _draw_importances(self, importances: dict[str, float]) -> None:
        """Bars of the parameters' importances (Optuna's), once two trials have finished."""
        plot = self.importancePlot.getPlotItem()
        plot.clear()
        if not importances:
            return
        names = list(importances)
        bars = pg.BarGraphItem(
            x0=0, y=list(range(len(names))), height=0.6,
            width=[importances[n] for n in names], brush=color(0),
        )  # fmt: skip
        plot.addItem(bars)
        plot.getAxis("left").setTicks([list(enumerate(names))])


def _label_axis(axis: Any, view_axis: Any) -> None:
    """Name an axis after its parameter; log axes read in decades, categories by name."""
    axis.setLabel(f"{view_axis.name} (log)" if view_axis.log else view_axis.name)
    if view_axis.ticks is not None:
        axis.setTicks([view_axis.ticks])
    elif view_axis.log:
        finite = view_axis.positions[~np.isnan(view_axis.positions)]
        lo, hi = (math.floor(finite.min()), math.ceil(finite.max())) if finite.size else (0, 0)
        axis.setTicks([[(float(p), _label(10.0**p)) for p in range(lo, hi + 1)]])
    else:
        axis.setTicks(None)


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _axis_value(trial: dict[str, Any], name: str) -> Any:
    if name == "objective":
        return trial["value"]
    return trial["params"].get(name)


def _axis_scale(
    column: list[Any], log: bool | None = None
) -> tuple[list[float], list[tuple[float, str]]]:
    """One parallel-coordinates axis: the values mapped to 0..1 and the labels to show.

    Numbers map linearly, or on a log scale when ``log`` (the space samples the parameter
    on one) or, with ``log`` None, when they span more than two decades; they are
    labelled at their low, middle and high ends. Other values map by their sorted rank
    and each is labelled.
    """
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
        nums = [float(v) for v in column]
        if log is None:
            log = max(nums) / min(nums) > 100 if min(nums) > 0 else False
        log = bool(log) and min(nums) > 0
        keys = [math.log10(v) for v in nums] if log else nums
        lo, hi = min(keys), max(keys)
        if hi <= lo:
            return [0.5] * len(nums), [(0.5, _label(nums[0]))]
        ticks = [(share, _label(10 ** (lo + share * (hi - lo)) if log else lo + share * (hi - lo)))
                 for share in (0.0, 0.5, 1.0)]  # fmt: skip
        return [(k - lo) / (hi - lo) for k in keys], ticks
    order = sorted({str(v) for v in column})
    step = 1 / max(len(order) - 1, 1)
    pos = {v: i * step if len(order) > 1 else 0.5 for i, v in enumerate(order)}
    return [pos[str(v)] for v in column], [(pos[v], v) for v in order]


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4g}"
