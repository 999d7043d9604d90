"""Runs page: the run store as a table of chosen columns, filtered, grouped, compared.

The table (a tree: groups > seed sets > runs) shows any configuration field and final
metric as a column (``runsColumnsButton``), filters by value (``val_auc > 0.79``,
``tag:baseline``; parsed by ``runs.filters``) and groups by study, data set, preset,
protocol or tag (``runsGroupCombo``); runs that differ only by seed fold into one row
with mean ± spread. Runs on different protocols are sorted and marked best only within
their protocol. Below, the selected runs' curves (smoothing, x by epoch, step or wall
time, log axes, a hover readout) beside their test metrics side by side with the
baselines, the settings that differ, and the run's tags and note. The page's view
(columns, filter, grouping, plot settings) is kept in QSettings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSettings,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.config import Config, parse_seeds, set_name
from widedeep_core.errors import WideDeepError
from widedeep_core.fileio import write_output_text
from widedeep_core.monitors import monitor_of
from widedeep_core.runs import Run, RunInfo, RunStore, write_metrics_csv
from widedeep_core.runs.compare import cell_text, compare_runs, run_labels, settings_diff
from widedeep_core.runs.curves import X_AXES, read_series
from widedeep_core.runs.grouping import GROUPINGS, mean_band
from widedeep_core.runs.table import COLUMN_BY_KEY, COLUMNS, DEFAULT_COLUMNS, format_value

from ..plotting import HoverReadout, color, debiased_ema, export_png, plot_steps
from ..settings import make_settings, read_json, write_json
from ..widgets import Steps, message_label, show_message
from .runs_model import KEYS, Derived, Node, RunsProxy, RunsTreeModel, derive

__all__ = ["KEYS", "METRICS", "RunsPage", "integer_step"]

# What the overlay plot can show: (label, file, column)
METRICS: list[tuple[str, str, str]] = [
    ("Validation AUC", "epochs", "val_auc"),
    ("Validation logloss", "epochs", "val_logloss"),
    ("Train loss (epoch)", "epochs", "train_loss"),
    ("Train loss (batches)", "batches", "loss"),
    # recorded by runs that monitor it (or evaluate ranking each epoch), e.g. topn
    ("Validation NDCG@10", "epochs", monitor_of("val_ndcg").column),
]

PLOT_HINT = "Select one or more runs in the table to overlay their curves here."
VIEW_KEY = "runs/view"
# Past this many curves the legend (taller than the plot by then, ~1 ms an entry to build)
# and the point markers (a scatter item per curve) give way: the hover line names them.
LEGEND_MAX = 12
GROUP_TITLES = {"run": "Run", "val": "Validation", "test": "Test", "baseline": "Baselines",
                "config": "Configuration"}  # fmt: skip


def integer_step(span: float, ticks: int = 8) -> int:
    """A whole tick spacing (1, 2, 5, 10, 20, ...) giving at most ~``ticks`` ticks over ``span``."""
    raw = max(span / max(ticks, 1), 1.0)
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if m * magnitude >= raw:
                return m * magnitude
        magnitude *= 10


class Curve:
    """What the plot draws for one selected row: a run, or a seed set's mean and band."""

    def __init__(self, line: pg.PlotDataItem, band: pg.FillBetweenItem | None = None):
        self.line = line
        self.band = band
        self.low: pg.PlotDataItem | None = None
        self.high: pg.PlotDataItem | None = None


class RunsPage(QWidget):
    """Lists the runs of a ``RunStore``; overlays and compares the selected runs."""

    loadConfigRequested = Signal(Config)
    repeatRequested = Signal(Config, str)  # a run's configuration, the seeds to repeat it over
    resumeRequested = Signal(str)  # the folder of a cancelled or interrupted run to go on with
    runsChanged = Signal()

    def __init__(
        self,
        store: RunStore,
        parent: QWidget | None = None,
        stepwise: bool = False,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.store = store
        self.settings = settings if settings is not None else make_settings()
        self.ask_confirmation = True  # tests switch the delete question off
        self._curves: dict[str, Curve] = {}
        self._restoring = False
        self._shown_tags: list[str] = []  # the tags the tag box showed (what an edit changes)
        self._listed_protocols: list[str] = []
        self._nodes_now: list[Node] | None = None  # the selection, during one update
        # the first listing is read over event-loop turns (500 runs' files held the window
        # for half a second; a worker thread, parsing JSON, held the GIL against the
        # window's paints for 50-90 ms); a listing outrun by a newer one is dropped
        self._listing = 0
        self._list_steps: Steps | None = None
        self._fitting: Steps | None = None  # the columns being fitted, over turns
        # with ``stepwise`` the caller runs the pieces (one plot each) over several turns,
        # and the runs are listed over turns too: the table fills when the listing is read
        self._stepwise = stepwise
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    # ---------------------------------------------------------------- build
    def _build(self) -> Iterator[None]:
        self.model = RunsTreeModel()
        self.proxy = RunsProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filterEdit = QLineEdit()
        self.filterEdit.setObjectName("runsFilter")
        self.filterEdit.setPlaceholderText("Filter: val_auc > 0.79, preset = topn, tag:baseline")
        self.filterEdit.setToolTip(
            "Clauses joined by 'and', commas or spaces: KEY OP VALUE (= != > >= < <= ~), "
            "tag:NAME (-tag:NAME without it), or words found in the name, preset, data, "
            "protocol or tags. A column's key is in its header's tooltip."
        )
        self.filterEdit.setClearButtonEnabled(True)
        self.filterEdit.textChanged.connect(self._on_filter)

        self.runsTable = QTreeView()
        self.runsTable.setObjectName("runsTable")
        self.runsTable.setModel(self.proxy)
        self.runsTable.setUniformRowHeights(True)
        self.runsTable.setSortingEnabled(True)
        self.runsTable.sortByColumn(KEYS.index("created"), Qt.SortOrder.DescendingOrder)
        self.runsTable.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runsTable.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.runsTable.setAlternatingRowColors(True)
        self.runsTable.setRootIsDecorated(False)
        header = self.runsTable.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # a column is fitted to the rows in view and the next ones up to this many, not to
        # all 500 runs (Qt's default, 1000 rows: 25 ms a column)
        header.setResizeContentsPrecision(100)
        header.setStretchLastSection(True)
        header.sortIndicatorChanged.connect(self._save_view)
        self.runsTable.selectionModel().selectionChanged.connect(self._on_selection)
        self.runsTable.doubleClicked.connect(self._on_double_click)
        self.runsTable.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.runsTable.customContextMenuRequested.connect(self._on_context_menu)

        buttons = QHBoxLayout()
        self.refreshButton = QPushButton("Refresh")
        self.renameButton = QPushButton("Rename...")
        self.deleteButton = QPushButton("Delete...")
        self.loadButton = QPushButton("Load into form")
        self.csvButton = QPushButton("Export CSV...")
        self.pngButton = QPushButton("Export PNG...")
        self.plotCsvButton = QPushButton("Export plot CSV...")
        for name, b, slot in (
            ("refreshRunsButton", self.refreshButton, self.refresh),
            ("renameRunButton", self.renameButton, self._on_rename),
            ("deleteRunButton", self.deleteButton, self._on_delete),
            ("loadRunButton", self.loadButton, self.load_selected_into_form),
            ("exportCsvButton", self.csvButton, self._on_export_csv),
            ("exportPngButton", self.pngButton, self._on_export_png),
            ("exportPlotCsvButton", self.plotCsvButton, self._on_export_plot_csv),
        ):
            b.setObjectName(name)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.columnsButton = QToolButton()
        self.columnsButton.setObjectName("runsColumnsButton")
        self.columnsButton.setText("Columns")
        self.columnsButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.columnsMenu = QMenu(self.columnsButton)
        self.columnsMenu.setObjectName("runsColumnsMenu")
        self._column_actions: dict[str, QAction] = {}
        last_group = None
        for column in COLUMNS:
            if column.group != last_group:
                self.columnsMenu.addSection(GROUP_TITLES.get(column.group, column.group))
                last_group = column.group
            action = QAction(column.label, self.columnsMenu)
            action.setObjectName(f"runsColumn_{column.key}")
            action.setCheckable(True)
            action.setData(column.key)
            action.setToolTip(column.key)
            action.toggled.connect(self._on_column_toggled)
            self.columnsMenu.addAction(action)
            self._column_actions[column.key] = action
        self.columnsButton.setMenu(self.columnsMenu)

        self.groupCombo = QComboBox()
        self.groupCombo.setObjectName("runsGroupCombo")
        for key, label in GROUPINGS:
            self.groupCombo.addItem(label, key)
        self.groupCombo.currentIndexChanged.connect(self._on_layout)
        self.seedsCheck = QCheckBox("Fold seeds")
        self.seedsCheck.setObjectName("runsFoldSeedsCheck")
        self.seedsCheck.setToolTip(
            "Runs that differ only by their seed as one row: each metric's mean ± standard "
            "deviation (expand the row for the runs); their curves as the mean with a "
            "min/max band."
        )
        self.seedsCheck.setChecked(True)
        self.seedsCheck.toggled.connect(self._on_layout)

        table_bar = QHBoxLayout()
        table_bar.addWidget(self.filterEdit, 3)
        table_bar.addWidget(QLabel("Group by:"))
        table_bar.addWidget(self.groupCombo)
        table_bar.addWidget(self.seedsCheck)
        table_bar.addWidget(self.columnsButton)

        self.metricCombo = QComboBox()
        self.metricCombo.setObjectName("runsMetricCombo")
        for label, source, column in METRICS:
            self.metricCombo.addItem(label, (source, column))
        self.metricCombo.currentIndexChanged.connect(self._on_plot_setting)
        self.xAxisCombo = QComboBox()
        self.xAxisCombo.setObjectName("runsXAxisCombo")
        for key, label in X_AXES:
            self.xAxisCombo.addItem(label, key)
        self.xAxisCombo.currentIndexChanged.connect(self._on_plot_setting)
        self.smoothSpin = QDoubleSpinBox()
        self.smoothSpin.setObjectName("runsSmoothSpin")
        self.smoothSpin.setRange(0.0, 0.99)
        self.smoothSpin.setSingleStep(0.05)
        self.smoothSpin.setValue(0.0)
        self.smoothSpin.setToolTip(
            "Smoothing: EMA weight, 0 = raw, 0.99 = very smooth (debiased at the start, as "
            "TensorBoard's)"
        )
        self.smoothSpin.valueChanged.connect(self._on_plot_setting)
        self.logXCheck = QCheckBox("Log x")
        self.logXCheck.setObjectName("runsLogXCheck")
        self.logXCheck.toggled.connect(self._on_log)
        self.logCheck = QCheckBox("Log y")
        self.logCheck.setObjectName("runsLogCheck")
        self.logCheck.toggled.connect(self._on_log)
        yield
        self.runsPlot = yield from plot_steps("runsPlot", "Selected runs", "epoch", "value")
        self.runsPlot.getPlotItem().setClipToView(True)
        self.runsPlot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self._legend_beside_the_data()
        self.runsPlot.getPlotItem().getViewBox().sigXRangeChanged.connect(self._update_ticks)
        yield

        plot_box = QWidget()
        pv = QVBoxLayout(plot_box)
        pv.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Metric:"))
        row.addWidget(self.metricCombo)
        row.addWidget(QLabel("x:"))
        row.addWidget(self.xAxisCombo)
        row.addWidget(QLabel("Smooth:"))
        row.addWidget(self.smoothSpin)
        row.addWidget(self.logXCheck)
        row.addWidget(self.logCheck)
        row.addStretch(1)
        pv.addLayout(row)
        self.plotHint = QLabel(PLOT_HINT)
        self.plotHint.setObjectName("runsPlotHint")
        self.plotHint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plotHint.setWordWrap(True)
        self.plotHint.setStyleSheet("color: #555;")
        self.plotStack = QStackedWidget()
        self.plotStack.setObjectName("runsPlotStack")
        self.plotStack.addWidget(self.plotHint)
        self.plotStack.addWidget(self.runsPlot)
        pv.addWidget(self.plotStack, 1)
        self.hoverLabel = QLabel("")
        self.hoverLabel.setObjectName("runsHoverLabel")
        self.hoverLabel.setWordWrap(True)
        self.hoverLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        pv.addWidget(self.hoverLabel)
        self.hover = HoverReadout(
            self.runsPlot, self.hoverLabel, lambda: dict(X_AXES)[self._x_axis],
            curves=self._hover_curves, x_text=lambda x: _x_text(self._x_axis, x),
        )  # fmt: skip
        self.crosshair = self.hover.crosshair

        self.errorLabel = message_label("runsError")
        self.filterError = message_label("runsFilterError")
        self.protocolNote = QLabel("")
        self.protocolNote.setObjectName("runsProtocolNote")
        self.protocolNote.setWordWrap(True)
        self.protocolNote.setStyleSheet("color: #b36b00;")
        self.protocolNote.setVisible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("runsSplitter")
        self.splitter.addWidget(self.runsTable)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(plot_box)
        bottom.addWidget(self._build_details())
        bottom.setObjectName("runsDetailsSplitter")  # its sizes are saved with the window's
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        bottom.setSizes([3000, 2000])  # 3:2 from the start (the plot's hint took 80%)
        self.splitter.addWidget(bottom)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(table_bar)
        layout.addWidget(self.filterError)
        layout.addWidget(self.errorLabel)
        layout.addWidget(self.protocolNote)
        layout.addWidget(self.splitter, 1)
        self._restore_view()
        self._update_buttons()
        self._show_details()
        yield
        if self._stepwise:
            self.list_in_turns()
        else:
            self.refresh()

    def _build_details(self) -> QWidget:
        """Tabs: the selected runs' test metrics with the baselines, the settings that
        differ, and the tags and note."""
        self.detailsTabs = QTabWidget()
        self.detailsTabs.setObjectName("runsDetailsTabs")

        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        self.detailsTitle = QLabel("<b>Test metrics vs baselines</b>")
        self.detailsTitle.setObjectName("runBaselinesTitle")
        self.compareTable = _table("runsCompareTable")
        self.compareTable.setToolTip(
            "Every column is judged alike: the same test users, every movie they did not rate "
            "in training ranked, their held-out liked movies as hits. Bold: the best run of "
            "its protocol."
        )
        self.baselinesNote = QLabel("")
        self.baselinesNote.setObjectName("runBaselinesNote")
        self.baselinesNote.setWordWrap(True)
        v.addWidget(self.detailsTitle)
        v.addWidget(self.compareTable, 1)
        v.addWidget(self.baselinesNote)
        self.detailsTabs.addTab(box, "Test metrics")

        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        self.diffTable = _table("runsDiffTable")
        self.diffSameCheck = QCheckBox("Show the settings they share")
        self.diffSameCheck.setObjectName("runsDiffShowSame")
        self.diffSameCheck.toggled.connect(self._show_details)
        v.addWidget(self.diffTable, 1)
        v.addWidget(self.diffSameCheck)
        self.detailsTabs.addTab(box, "Settings diff")

        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        self.tagEdit = QLineEdit()
        self.tagEdit.setObjectName("runsTagEdit")
        self.tagEdit.setPlaceholderText("tags, separated by commas (Enter to save)")
        self.tagEdit.setToolTip(
            "The selected runs' tags (filter with tag:NAME, group by Tag). Tags removed "
            "here are removed from every selected run; tags added are added to each."
        )
        self.tagEdit.returnPressed.connect(self.save_tags)
        self.noteEdit = QPlainTextEdit()
        self.noteEdit.setObjectName("runsNoteEdit")
        self.noteEdit.setPlaceholderText("A note on the selected run")
        self.saveNoteButton = QPushButton("Save note")
        self.saveNoteButton.setObjectName("runsSaveNoteButton")
        self.saveNoteButton.clicked.connect(self.save_note)
        v.addWidget(QLabel("Tags:"))
        v.addWidget(self.tagEdit)
        v.addWidget(QLabel("Note:"))
        v.addWidget(self.noteEdit, 1)
        v.addWidget(self.saveNoteButton)
        self.detailsTabs.addTab(box, "Tags && note")
        return self.detailsTabs

    # ---------------------------------------------------------------- selection
    def selected_nodes(self) -> list[Node]:
        """The selected rows that are runs or seed sets, in table order (groups left out)."""
        if self._nodes_now is not None:  # one selection change's update reads it once
            return self._nodes_now
        return self._selected_nodes()

    def _selected_nodes(self) -> list[Node]:
        # the selection's row ranges, not selectedRows(): that asks the model for every
        # column of every selected row (50 runs x 23 columns: 27 ms of a 50-curve draw)
        found: dict[tuple[int, ...], QModelIndex] = {}
        for span in self.runsTable.selectionModel().selection():
            parent = span.parent()
            for r in range(span.top(), span.bottom() + 1):
                index = self.proxy.index(r, 0, parent)
                found.setdefault(tuple(self._row_path(index)), index)
        rows = [found[path] for path in sorted(found)]
        nodes = [self.model.node(self.proxy.mapToSource(i)) for i in rows]
        out, seen = [], set()
        for node in nodes:
            if node.kind == "group":
                continue
            # a run selected together with its seed set is drawn once, in its set
            parent = node.parent
            if (
                node.kind == "run"
                and parent is not None
                and parent.kind == "set"
                and any(n is parent for n in nodes)
            ):
                continue
            key = tuple(r.id for r in node.runs)
            if key not in seen:
                seen.add(key)
                out.append(node)
        return out

    def _row_path(self, index: QModelIndex) -> list[int]:
        path = []
        while index.isValid():
            path.insert(0, index.row())
            index = index.parent()
        return path

    def selected_runs(self) -> list[RunInfo]:
        """The selected runs (a seed set's every run), in table order, each once."""
        out: dict[str, RunInfo] = {}
        for node in self.selected_nodes():
            for r in node.runs:
                out.setdefault(r.id, r)
        return list(out.values())

    def _proxy_indexes(self, parent: QModelIndex | None = None) -> Iterator[QModelIndex]:
        parent = parent if parent is not None else QModelIndex()
        for r in range(self.proxy.rowCount(parent)):
            index = self.proxy.index(r, 0, parent)
            yield index
            yield from self._proxy_indexes(index)

    def select_runs(self, ids: Sequence[str]) -> None:
        """Select the runs with these ids (replacing the selection; a run inside a
        folded seed set opens its set)."""
        sel = self.runsTable.selectionModel()
        if not ids:  # nothing to look for among 500 rows
            sel.clearSelection()
            return
        # one selection, selected at once: a select() per run redrew every curve each time
        # (50 runs: 8 s)
        selection = QItemSelection()
        wanted = set(ids)
        for index in self._proxy_indexes():
            node = self.model.node(self.proxy.mapToSource(index))
            if node.kind == "run" and node.runs[0].id in wanted:
                wanted.discard(node.runs[0].id)  # once, also when it is in two tag groups
                selection.select(index, index)
                parent = index.parent()
                while parent.isValid():
                    self.runsTable.expand(parent)
                    parent = parent.parent()
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        sel.select(selection, flags)

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select top-level rows by position (a seed set as one row)."""
        sel = self.runsTable.selectionModel()
        sel.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for r in rows:
            sel.select(self.proxy.index(r, 0), flags)

    @Slot()
    def refresh(self) -> None:
        """Reread the store now, keeping the selection (the store re-reads only the runs
        whose files changed since its last listing)."""
        self._listing += 1  # a background listing still running is older: dropped
        try:
            runs = self.store.list()
        except (WideDeepError, OSError) as exc:
            self._show_listing([], error=f"Cannot list runs in {self.store.root}: {exc}")
        else:
            self._show_listing(runs)

    def list_in_turns(self) -> None:
        """List the store a few runs per event-loop turn; the table fills when the listing
        is read (``listing_done()`` says when); a listing under way starts over."""
        if self._list_steps is not None:
            self._list_steps.cancel()
        self._listing += 1
        self._list_steps = Steps(self._list_pieces(self._listing))
        self._list_steps.run_in_turns(self)

    def _list_pieces(self, listing: int) -> Iterator[None]:
        try:
            runs = yield from self.store.list_in_steps()
        except (WideDeepError, OSError) as exc:
            if listing == self._listing:
                self._show_listing([], error=f"Cannot list runs in {self.store.root}: {exc}")
            return
        derived: Derived = {}
        for i in range(0, len(runs), 100):  # the rows' values: ~0.1 ms a run
            yield
            derived.update(derive(runs[i : i + 100]))
        yield
        if listing == self._listing:  # else ``refresh`` showed a newer listing meanwhile
            yield from self._show_listing_steps(runs, derived)

    def listing_done(self) -> bool:
        """True when no listing over event-loop turns is under way."""
        return self._list_steps is None or self._list_steps.done

    def shutdown(self) -> None:
        """Stop a listing under way (window closing)."""
        if self._list_steps is not None:
            self._list_steps.cancel()

    def _show_listing(
        self, runs: list[RunInfo], derived: Derived | None = None, error: str = ""
    ) -> None:
        Steps(self._show_listing_steps(runs, derived, error)).finish()

    def _show_listing_steps(
        self, runs: list[RunInfo], derived: Derived | None = None, error: str = ""
    ) -> Iterator[None]:
        """Fill the table with a listing; over turns, the rows come a turn before their
        best marks, the column widths and the selection (each 15-35 ms with 500 runs)."""
        keep = [r.id for r in self.selected_runs()] if self.model.rowCount() else []
        show_message(self.errorLabel, error)
        self._clear_curves()  # names may have changed: rebuild the legend
        self.model.set_runs(runs, derived)
        yield
        self._after_layout()
        yield
        self.select_runs(keep)
        self._redraw_all()
        self.runsChanged.emit()

    def _after_layout(self, resize: bool = True, marks_now: bool = True) -> None:
        """Decorations, expanded groups and best marks after a new listing or layout;
        ``resize`` fits the columns to their contents (a regroup keeps the widths: fitting
        23 columns of 500 runs took 45 ms of a 100 ms regroup); without ``marks_now`` the
        best marks come on the next turn (500 rows: ~20 ms of an unfold's ~45 ms)."""
        self.runsTable.setRootIsDecorated(self.model.has_folds())
        if self.model.grouping != "none":
            self.runsTable.expandToDepth(0)
        if marks_now:
            self._mark_best()
        else:
            QTimer.singleShot(1, self, self._mark_best)
        if resize:  # from the next turn: the listing's own turn is long enough
            self._fit_columns_in_turns(now=False)

    # columns fitted per event-loop turn (with 500 rows, ~4 ms a column)
    FIT_COLUMNS_PER_TURN = 4

    def _fit_columns_in_turns(self, columns: Sequence[int] | None = None, now: bool = True) -> None:
        """Fit the shown columns (or ``columns``) to their contents, a few per event-loop
        turn, the first few in this turn unless not ``now`` (all 23 in one turn held the
        window for 0.5 s with 500 unfolded rows)."""
        if self._fitting is not None:
            self._fitting.cancel()
        if columns is None:
            columns = [c for c, key in enumerate(KEYS)
                       if not self.runsTable.isColumnHidden(c) and key != "note"]  # fmt: skip

        def pieces() -> Iterator[None]:
            if not now:
                yield
            for i in range(0, len(columns), self.FIT_COLUMNS_PER_TURN):
                for c in columns[i : i + self.FIT_COLUMNS_PER_TURN]:
                    self.runsTable.resizeColumnToContents(c)
                yield

        self._fitting = Steps(pieces())
        self._fitting.run_in_turns(self)

    def _mark_best(self) -> None:
        shown = self.proxy.shown_items()
        self.model.mark_best(shown)
        protocols = {n.protocol for n in shown}
        self._listed_protocols = sorted(p or "?" for p in protocols)
        self._update_protocol_note()

    def _update_protocol_note(self) -> None:
        chosen = sorted({r.protocol or "?" for r in self.selected_runs()})
        if len(chosen) > 1:
            text = (
                f"The selected runs were judged on {len(chosen)} protocols "
                f"({', '.join(chosen)}): their numbers answer different questions; compare "
                "them only within one protocol."
            )
        elif len(self._listed_protocols) > 1:
            text = (
                f"The listed runs use {len(self._listed_protocols)} protocols "
                f"({', '.join(self._listed_protocols)}): sorted and marked best (bold) within "
                "each protocol, never across."
            )
        else:
            text = ""
        self.protocolNote.setText(text)
        self.protocolNote.setVisible(bool(text))

    @Slot()
    def _on_selection(self) -> None:
        self._nodes_now = self._selected_nodes()
        try:
            self._redraw_all()
            self._update_buttons()
            self._show_details()
            self._update_protocol_note()
        finally:
            self._nodes_now = None

    def _update_buttons(self) -> None:
        n = len(self.selected_runs())
        self.renameButton.setEnabled(n == 1)
        self.loadButton.setEnabled(n == 1)
        self.deleteButton.setEnabled(n >= 1)
        self.csvButton.setEnabled(n >= 1)
        self.pngButton.setEnabled(self.has_plot())
        self.plotCsvButton.setEnabled(self.has_plot())
        self.tagEdit.setEnabled(n >= 1)
        self.noteEdit.setEnabled(n == 1)
        self.saveNoteButton.setEnabled(n == 1)

    # ---------------------------------------------------------------- table view
    @Slot(str)
    def _on_filter(self, text: str) -> None:
        parsed = self.proxy.set_filter_text(text)
        show_message(self.filterError, parsed.error or "")
        if self.model.grouping != "none":
            self.runsTable.expandToDepth(0)
        self._mark_best()
        self._save_view()

    @Slot()
    def _on_layout(self) -> None:
        keep = [r.id for r in self.selected_runs()]
        self._clear_curves()
        self.model.set_layout(self.groupCombo.currentData(), self.seedsCheck.isChecked())
        self._after_layout(resize=False, marks_now=False)
        # the names column holds the group labels: fitted a turn later (29 ms with 500
        # rows, half of an unfold's stall)
        self._fit_columns_in_turns([0], now=False)
        if keep:
            self.select_runs(keep)  # its selection change draws the curves
        else:
            self._redraw_all()
        self._save_view()

    @Slot(bool)
    def _on_column_toggled(self, _on: bool) -> None:
        for key, action in self._column_actions.items():
            c = KEYS.index(key)
            hidden = not action.isChecked()
            if self.runsTable.isColumnHidden(c) != hidden:
                self.runsTable.setColumnHidden(c, hidden)
                if not hidden:
                    self.runsTable.resizeColumnToContents(c)
        self._save_view()

    def visible_columns(self) -> list[str]:
        """The keys of the shown columns, in their order."""
        return [k for c, k in enumerate(KEYS) if not self.runsTable.isColumnHidden(c)]

    def set_visible_columns(self, keys: Sequence[str]) -> None:
        """Show exactly these columns (unknown keys are ignored; the name always shows)."""
        wanted = {k for k in keys if k in COLUMN_BY_KEY} | {"name"}
        for key, action in self._column_actions.items():
            action.blockSignals(True)
            action.setChecked(key in wanted)
            action.blockSignals(False)
        self._on_column_toggled(True)

    def column_of(self, key: str) -> int:
        """The model column of a column key (``runs.table``)."""
        return KEYS.index(key)

    def cell(self, row: int, key: str, parent: QModelIndex | None = None) -> str:
        """The text shown in top-level ``row`` (or a child of ``parent``) of column ``key``."""
        return str(self.proxy.index(row, KEYS.index(key), parent or QModelIndex()).data())

    # ---------------------------------------------------------------- saved view
    def view_state(self) -> dict[str, Any]:
        """Columns, filter, grouping, sort and plot settings (kept in QSettings)."""
        header = self.runsTable.header()
        return {
            "columns": self.visible_columns(),
            "filter": self.filterEdit.text(),
            "group": self.groupCombo.currentData(),
            "fold_seeds": self.seedsCheck.isChecked(),
            "sort": [
                KEYS[header.sortIndicatorSection()]
                if 0 <= header.sortIndicatorSection() < len(KEYS)
                else "created",
                header.sortIndicatorOrder().value,
            ],
            "metric": self.metricCombo.currentIndex(),
            "x_axis": self.xAxisCombo.currentData(),
            "smooth": self.smoothSpin.value(),
            "log_x": self.logXCheck.isChecked(),
            "log_y": self.logCheck.isChecked(),
        }

    @Slot()
    def _save_view(self) -> None:
        if not self._restoring and hasattr(self, "runsPlot"):
            write_json(self.settings, VIEW_KEY, self.view_state())

    def _restore_view(self) -> None:
        state = read_json(self.settings, VIEW_KEY, {})
        state = state if isinstance(state, dict) else {}
        self._restoring = True
        try:
            columns = state.get("columns")
            self.set_visible_columns(
                columns if isinstance(columns, list) and columns else DEFAULT_COLUMNS
            )
            group = self.groupCombo.findData(state.get("group", "none"))
            self.groupCombo.setCurrentIndex(max(group, 0))
            self.seedsCheck.setChecked(bool(state.get("fold_seeds", True)))
            self.model.set_layout(self.groupCombo.currentData(), self.seedsCheck.isChecked())
            sort = state.get("sort")
            if isinstance(sort, list) and len(sort) == 2 and sort[0] in KEYS:
                order = Qt.SortOrder(int(sort[1]) if sort[1] in (0, 1) else 1)
                self.runsTable.sortByColumn(KEYS.index(sort[0]), order)
            metric = state.get("metric")
            if isinstance(metric, int) and 0 <= metric < self.metricCombo.count():
                self.metricCombo.setCurrentIndex(metric)
            x_axis = self.xAxisCombo.findData(state.get("x_axis", "epoch"))
            self.xAxisCombo.setCurrentIndex(max(x_axis, 0))
            smooth = state.get("smooth")
            if isinstance(smooth, int | float):
                self.smoothSpin.setValue(float(smooth))
            self.logXCheck.setChecked(bool(state.get("log_x", False)))
            self.logCheck.setChecked(bool(state.get("log_y", False)))
            text = state.get("filter")
            if isinstance(text, str):
                self.filterEdit.setText(text)
        finally:
            self._restoring = False

    # ---------------------------------------------------------------- details
    def _show_details(self) -> None:
        """The selected runs' test metrics side by side (one run: beside its baselines),
        the settings that differ, and the tags and note."""
        from widedeep_core.runs.compare import baseline_note

        nodes = self.selected_nodes()
        runs = [n.runs[0] for n in nodes]  # a seed set compares by its first run's files
        labels = self._labels(nodes)
        note = "Select runs to compare their test metrics with the baselines."
        header: list[str] = []
        rows: list[list[Any]] = []
        if nodes:
            infos = [self._set_info(n) for n in nodes]
            header, rows, notes = compare_runs(infos, labels)
            if len(nodes) == 1:
                note = baseline_note(runs[0].test_metrics) or "No baselines recorded for this run."
                self.detailsTitle.setText(f"<b>Test metrics vs baselines</b>: {labels[0]}")
            else:
                note = " ".join(notes) or baseline_note(runs[0].test_metrics)
                self.detailsTitle.setText(
                    f"<b>Test metrics of {len(nodes)} runs</b> with the baselines"
                )
            if any(n.kind == "set" for n in nodes):
                note += " A seed set shows its mean (± std in the table)."
        else:
            self.detailsTitle.setText("<b>Test metrics vs baselines</b>")
        self._fill_compare(header, rows, nodes)
        self.baselinesNote.setText(note.strip())
        self._fill_diff(nodes, labels)
        self._fill_annotations()

    def _set_info(self, node: Node) -> RunInfo:
        """A run standing for its row: a seed set's first run with its mean metrics."""
        from dataclasses import replace

        info = node.runs[0]
        if node.kind != "set":
            return info
        metrics: dict[str, Any] = {}
        for key in {k for r in node.runs for k in r.test_metrics}:
            values = [r.test_metrics.get(key) for r in node.runs]
            nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            metrics[key] = sum(nums) / len(nums) if nums and len(nums) == len(values) else None
        metrics["baselines"] = info.test_metrics.get("baselines") or {}
        return replace(info, test_metrics=metrics)

    def _fill_compare(self, header: list[str], rows: list[list[Any]], nodes: list[Node]) -> None:
        table = self.compareTable
        table.clear()
        table.setColumnCount(len(header) if rows else 0)
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(header if rows else [])
        protocols = [n.protocol for n in nodes]
        bold = table.font()
        bold.setBold(True)
        for r, row in enumerate(rows):
            runs_part = row[1 : 1 + len(nodes)]
            best = _best_in_row(row[0], runs_part, protocols) if len(nodes) > 1 else set()
            for c, value in enumerate(row):
                item = QTableWidgetItem(value if c == 0 else cell_text(value, row[0]))
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c - 1 in best:
                    item.setFont(bold)
                table.setItem(r, c, item)
        _fit_columns(table)

    def _fill_diff(self, nodes: list[Node], labels: list[str]) -> None:
        from widedeep_core.runs.compare import settings_of

        table = self.diffTable
        table.clear()
        infos = [n.runs[0] for n in nodes]
        if not infos:
            table.setRowCount(0)
            table.setColumnCount(0)
            self.diffSameCheck.setText("Show the settings they share")
            return
        differ, same = settings_diff(infos) if len(infos) > 1 else ([], list(settings_of(infos[0])))
        # a seed set differs from its own runs only by seed: say which seeds
        keys = differ + (same if self.diffSameCheck.isChecked() else [])
        if any(n.kind == "set" for n in nodes) and "seed" not in keys:
            keys = ["seed", *keys]
        table.setColumnCount(1 + len(infos))
        table.setRowCount(len(keys))
        table.setHorizontalHeaderLabels(["setting", *labels])
        bold = table.font()
        bold.setBold(True)
        for r, key in enumerate(keys):
            name = QTableWidgetItem(key)
            if key in differ:
                name.setFont(bold)
            table.setItem(r, 0, name)
            for c, (node, info) in enumerate(zip(nodes, infos, strict=True), start=1):
                if key == "seed" and node.kind == "set":
                    text = ", ".join(str(x) for x in node.values.get("seed") or ())
                else:
                    text = format_value(key, settings_of(info).get(key))
                table.setItem(r, c, QTableWidgetItem(text))
        _fit_columns(table)
        self.diffSameCheck.setText(f"Show the {len(same)} settings they share")

    def diff_rows(self) -> list[list[str]]:
        """The settings diff as shown, header first (for tests)."""
        return _cells(self.diffTable)

    def compare_rows(self) -> list[list[str]]:
        """The compare table as shown, header first (for tests)."""
        return _cells(self.compareTable)

    # ---------------------------------------------------------------- tags and note
    def _fill_annotations(self) -> None:
        runs = self.selected_runs()
        common = set(runs[0].user_tags) if runs else set()
        for r in runs[1:]:
            common &= set(r.user_tags)
        ordered = [t for t in (runs[0].user_tags if runs else ()) if t in common]
        self._shown_tags = ordered
        self.tagEdit.setText(", ".join(ordered))
        self.noteEdit.setPlainText(runs[0].note if len(runs) == 1 else "")

    @Slot()
    def save_tags(self) -> bool:
        """Apply the tag box to the selected runs: tags added there are added to each,
        tags removed there are removed from each."""
        from widedeep_core.runs.tags import add_tags, parse_tags, remove_tags

        runs = self.selected_runs()
        if not runs:
            return False
        try:
            wanted = parse_tags(self.tagEdit.text())
        except WideDeepError as exc:
            show_message(self.errorLabel, str(exc))
            return False
        added = [t for t in wanted if t not in self._shown_tags]
        removed = [t for t in self._shown_tags if t not in wanted]
        errors = []
        for info in runs:
            try:
                run = Run(info.path)
                if removed:
                    remove_tags(run, removed)
                if added:
                    add_tags(run, added)
            except (WideDeepError, OSError) as exc:
                errors.append(str(exc))
        self.refresh()
        show_message(self.errorLabel, "\n".join(errors))
        return not errors

    @Slot()
    def save_note(self) -> bool:
        """Store the note box as the one selected run's note."""
        from widedeep_core.runs.tags import set_note

        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        try:
            set_note(Run(runs[0].path), self.noteEdit.toPlainText())
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, str(exc))
            return False
        self.refresh()
        return True

    # ---------------------------------------------------------------- plot
    def has_plot(self) -> bool:
        """True when the plot draws at least one point (something to export)."""
        return any(len(x) for x, _ in self.curve_data().values())

    def _labels(self, nodes: Sequence[Node]) -> list[str]:
        labels = run_labels([n.runs[0] for n in nodes])
        return [
            f"{set_name(label)} (mean of {len(n.runs)} seeds)" if n.kind == "set" else label
            for label, n in zip(labels, nodes, strict=True)
        ]

    def _clear_curves(self) -> None:
        plot = self.runsPlot.getPlotItem()
        for curve in self._curves.values():
            for item in (curve.line, curve.band, curve.low, curve.high):
                if item is not None:
                    plot.removeItem(item)
        self._curves.clear()

    def _series(self, info: RunInfo, source: str, column: str, x_axis: str):
        try:
            xs, ys = read_series(info, source, column, x_axis)
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, str(exc))
            return [], []
        weight = self.smoothSpin.value()
        if weight > 0 and ys:
            ys, _ = debiased_ema(ys, weight)
        return xs, ys

    @Slot()
    def _on_plot_setting(self) -> None:
        self._redraw_all()
        self._save_view()

    @Slot()
    def _redraw_all(self) -> None:
        """One curve per selected run or seed set (a set: its mean and a min/max band);
        made once per row, then only ``setData``."""
        source, column = self.metricCombo.currentData()
        x_axis = self.xAxisCombo.currentData() or "epoch"
        plot = self.runsPlot.getPlotItem()
        plot.setLabel("bottom", dict(X_AXES)[x_axis])
        plot.setLabel("left", self.metricCombo.currentText())
        nodes = self.selected_nodes()
        labels = self._labels(nodes)
        keys = [_node_key(n) for n in nodes]
        for key in [k for k in self._curves if k not in keys]:
            curve = self._curves.pop(key)
            for item in (curve.line, curve.band, curve.low, curve.high):
                if item is not None:
                    plot.removeItem(item)
        self._x_axis, self._x_source = x_axis, source
        self.plotStack.setCurrentWidget(self.runsPlot if nodes else self.plotHint)
        named = len(nodes) <= LEGEND_MAX
        markers = named and source == "epochs"
        for i, (node, key, label) in enumerate(zip(nodes, keys, labels, strict=True)):
            series = [self._series(r, source, column, x_axis) for r in node.runs]
            curve = self._curves.get(key)
            if curve is None:
                curve = Curve(self.runsPlot.plot(name=label if named else None))
                self._curves[key] = curve
            elif plot.legend is not None:
                plot.legend.removeItem(curve.line)
                if named:
                    plot.legend.addItem(curve.line, label)
            pen = pg.mkPen(color(i), width=2)
            curve.line.opts["antialias"] = source == "epochs"  # batch curves: long, noisy
            curve.line.setPen(pen)
            curve.line.setSymbol("o" if markers else None)
            if markers:
                curve.line.setSymbolBrush(color(i))
                curve.line.setSymbolSize(5)
            if node.kind == "set":
                xs, mean, low, high = mean_band(series, by_position=x_axis == "wall")
                curve.line.setData(xs, mean)
                self._band(curve, xs, low, high, color(i))
            else:
                curve.line.setData(*series[0])
        self._update_ticks()
        note = "" if named else (
            f"{len(nodes)} curves: the legend shows at most {LEGEND_MAX}; point at the plot "
            "to read each curve's name and value."
        )  # fmt: skip
        if self.hoverLabel.text() in ("", self._legend_note):  # never over a hover readout
            self.hoverLabel.setText(note)
        self._legend_note = note
        self.pngButton.setEnabled(self.has_plot())
        self.plotCsvButton.setEnabled(self.has_plot())

    def _band(self, curve: Curve, xs: list[float], low: list[float], high: list[float],
              colour: str) -> None:  # fmt: skip
        plot = self.runsPlot.getPlotItem()
        if curve.low is None:
            curve.low = pg.PlotDataItem(pen=pg.mkPen(None))
            curve.high = pg.PlotDataItem(pen=pg.mkPen(None))
            plot.addItem(curve.low)
            plot.addItem(curve.high)
            brush = pg.mkColor(colour)
            brush.setAlpha(50)
            curve.band = pg.FillBetweenItem(curve.low, curve.high, brush=brush)
            plot.addItem(curve.band)
        assert curve.high is not None
        curve.low.setData(xs, low)
        curve.high.setData(xs, high)

    _x_source = "epochs"
    _x_axis = "epoch"
    _legend_note = ""

    @Slot()
    def _update_ticks(self) -> None:
        """Whole epochs on an epoch x axis (pyqtgraph's own ticks fall on 1.5, 2.5); steps
        and wall time keep pyqtgraph's ticks, as does a log axis."""
        plot = self.runsPlot.getPlotItem()
        axis = plot.getAxis("bottom")
        if self._x_axis != "epoch" or self.logXCheck.isChecked():
            axis.setTickSpacing()
            return
        lo, hi = plot.getViewBox().viewRange()[0]
        axis.setTickSpacing(levels=[(integer_step(hi - lo), 0)])

    def _legend_beside_the_data(self) -> None:
        """Move the legend out of the view box, to the right of the plot: inside, it hid
        the curves' top right corner (where validation metrics end)."""
        plot = self.runsPlot.getPlotItem()
        old = plot.legend
        if old is not None and old.scene() is not None:
            old.scene().removeItem(old)
        legend = pg.LegendItem(offset=None)
        # its own height, at the top: stretched to the plot's, it spread the entries apart
        legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        plot.layout.addItem(legend, 2, 3, Qt.AlignmentFlag.AlignTop)
        plot.legend = legend  # curves made with a name are listed in it, as before

    @Slot(bool)
    def _on_log(self, _on: bool = False) -> None:
        self.runsPlot.getPlotItem().setLogMode(
            x=self.logXCheck.isChecked(), y=self.logCheck.isChecked()
        )
        self._update_ticks()
        self._save_view()

    def curve_data(self) -> dict[str, tuple[Any, Any]]:
        """row key (run id, or ``set:`` and its first run's id) -> (x, y) as drawn."""
        out = {}
        for key, c in self._curves.items():
            xs, ys = c.line.xData, c.line.yData  # the data, not its log or view transform
            out[key] = (list(xs) if xs is not None else [], list(ys) if ys is not None else [])
        return out

    def band_data(self, key: str) -> tuple[list[float], list[float]] | None:
        """(low, high) of a seed set's band, None for a run."""
        curve = self._curves.get(key)
        if curve is None or curve.low is None or curve.high is None:
            return None
        return list(curve.low.yData), list(curve.high.yData)

    def curve_items(self) -> dict[str, pg.PlotDataItem]:
        """row key -> the plot item drawing it (made once per row, then only ``setData``)."""
        return {k: c.line for k, c in self._curves.items()}

    def legend_labels(self) -> list[str]:
        """The legend's entries, in order."""
        legend = self.runsPlot.getPlotItem().legend
        return [label.text for _, label in legend.items] if legend is not None else []

    # ---------------------------------------------------------------- hover readout
    def _hover_curves(self) -> list[tuple[str, Any, Any]]:
        """(label, xs, ys) of every drawn row, named past the legend's cap too."""
        nodes = self.selected_nodes()
        labels = dict(zip([_node_key(n) for n in nodes], self._labels(nodes), strict=True))
        return [(labels.get(key, key), xs, ys) for key, (xs, ys) in self.curve_data().items()]

    def hover_at(self, x: float) -> str:
        """Move the crosshair to ``x`` and show every curve's value there (the nearest
        point of each); returns the text shown."""
        return self.hover.hover_at(x)

    # ---------------------------------------------------------------- actions
    @Slot()
    def _on_double_click(self) -> None:
        self.load_selected_into_form()

    @Slot()
    def load_selected_into_form(self) -> None:
        """Send the selected run's configuration to the Configure page."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        try:
            cfg = Run(runs[0].path).read_config()
        except WideDeepError as exc:
            show_message(self.errorLabel, str(exc))
            return
        self.loadConfigRequested.emit(cfg)

    def context_menu(self) -> QMenu:
        """The runs table's menu for the selection (built anew each time)."""
        menu = QMenu(self)
        menu.setObjectName("runsContextMenu")
        one = len(self.selected_runs()) == 1
        for text, slot, enabled in (
            ("Load into form", self.load_selected_into_form, one),
            ("Repeat with seeds...", self._ask_seeds, one),
            ("Resume", self.resume_selected, self.can_resume()),
            ("Rename...", self._on_rename, one),
            ("Delete...", self._on_delete, bool(self.selected_runs())),
        ):
            action = menu.addAction(text)
            action.triggered.connect(slot)
            action.setEnabled(enabled)
        return menu

    @Slot(object)
    def _on_context_menu(self, pos: Any) -> None:
        menu = self.context_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.runsTable.viewport().mapToGlobal(pos))

    def can_resume(self) -> bool:
        """True for one selected run that stopped early and kept a resume point."""
        runs = self.selected_runs()
        return (
            len(runs) == 1
            and runs[0].status in ("cancelled", "interrupted", "failed")
            and Run(runs[0].path).has_resume()
        )

    @Slot()
    def resume_selected(self) -> bool:
        """Ask the window to continue the selected run after its last finished epoch."""
        if not self.can_resume():
            return False
        self.resumeRequested.emit(str(self.selected_runs()[0].path))
        return True

    @Slot()
    def _ask_seeds(self) -> None:
        dialog = QInputDialog(self)
        dialog.setObjectName("repeatSeedsDialog")
        dialog.setWindowTitle("Repeat with seeds")
        dialog.setLabelText("Seeds (0,1,2 or 0-4):")
        dialog.setTextValue("0-2")
        dialog.textValueSelected.connect(self.repeat_with_seeds)
        dialog.open()  # not exec(): the window keeps running

    @Slot(str)
    def repeat_with_seeds(self, seeds: str) -> bool:
        """Ask the window to train the selected run's configuration once per seed."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        try:
            parse_seeds(seeds, "Seeds")
            cfg = Run(runs[0].path).read_config()
        except WideDeepError as exc:
            show_message(self.errorLabel, str(exc))
            return False
        self.repeatRequested.emit(cfg, seeds)
        return True

    @Slot()
    def _on_rename(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        name, ok = QInputDialog.getText(self, "Rename run", "New name:", text=runs[0].name)
        if ok:
            self.rename_selected(name)

    def rename_selected(self, name: str) -> bool:
        """Rename the one selected run; errors show in the page."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        try:
            self.store.rename(runs[0].path, name)
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, str(exc))
            return False
        self.refresh()
        return True

    @Slot()
    def _on_delete(self) -> None:
        runs = self.selected_runs()
        if not runs:
            return
        if self.ask_confirmation:
            names = "\n".join(f"  {r.name}" for r in runs[:10])
            more = f"\n  ... and {len(runs) - 10} more" if len(runs) > 10 else ""
            answer = QMessageBox.question(
                self,
                "Delete runs",
                f"Delete {len(runs)} run(s) and their files?\n{names}{more}",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.delete_selected()

    def delete_selected(self) -> int:
        """Delete the selected runs without asking; returns how many were deleted."""
        done = 0
        errors = []
        for info in self.selected_runs():
            try:
                self.store.delete(info.path)
                done += 1
            except (WideDeepError, OSError) as exc:
                errors.append(str(exc))
        self.refresh()
        show_message(self.errorLabel, "\n".join(errors))
        return done

    @Slot()
    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "runs.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int:
        """Write the selected runs' epoch metrics to a CSV file; returns the row count."""
        try:
            return write_metrics_csv(path, self.selected_runs())
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, f"Cannot write {path}: {exc}")
            return 0

    @Slot()
    def _on_export_plot_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot data", "plot.csv", "CSV (*.csv)")
        if path:
            self.export_plot_csv(path)

    def export_plot_csv(self, path: str | Path) -> int:
        """Write what the plot shows (smoothed as shown; a seed set's mean, min and max)
        as CSV rows ``curve,x,y[,min,max]``; returns the row count."""
        labels = dict(zip([_node_key(n) for n in self.selected_nodes()],
                          self._labels(self.selected_nodes()), strict=True))  # fmt: skip
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        x_name = self.xAxisCombo.currentData() or "epoch"
        writer.writerow(["curve", x_name, self.metricCombo.currentData()[1], "min", "max"])
        count = 0
        for key, (xs, ys) in self.curve_data().items():
            band = self.band_data(key)
            for j, (x, y) in enumerate(zip(xs, ys, strict=True)):
                low, high = (band[0][j], band[1][j]) if band else ("", "")
                writer.writerow([labels.get(key, key), x, y, low, high])
                count += 1
        try:
            write_output_text(path, buffer.getvalue())
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, f"Cannot write {path}: {exc}")
            return 0
        return count

    @Slot()
    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "runs.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str | Path) -> Path | None:
        """Write the overlay plot to a PNG file (None, and a message, with nothing drawn)."""
        if not self.has_plot():
            show_message(self.errorLabel, "Nothing to export: select runs to plot first.")
            return None
        try:
            return export_png(self.runsPlot, path)
        except Exception as exc:  # exporter errors are not domain errors: show, don't crash
            show_message(self.errorLabel, f"Cannot write {path}: {exc}")
            return None


def _node_key(node: Node) -> str:
    return f"set:{node.runs[0].id}" if node.kind == "set" else node.runs[0].id


def _x_text(axis: str, x: float) -> str:
    if axis == "wall":
        return f"{x:.1f} s"
    return f"{x:g}"


def _best_in_row(label: str, values: Sequence[Any], protocols: Sequence[str | None]) -> set[int]:
    """Indices of the best run values of one compare row, within each protocol."""
    from widedeep_core.runs.table import best_rows

    metric = label.split("@")[0].lower().replace(" ", "")
    key = {"auc": "test_auc", "logloss": "test_logloss", "gauc": "test_gauc", "hr": "test_hr",
           "ndcg": "test_ndcg", "mrr": "test_mrr", "precision": "test_precision",
           "recall": "test_recall", "coverage": "test_coverage"}.get(metric)  # fmt: skip
    if key is None:
        return set()
    return best_rows([{key: v} for v in values], key, list(protocols))


def _table(name: str) -> QTableWidget:
    table = QTableWidget()
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    return table


# widest a compare or diff column gets from its contents (a long run name is elided)
MAX_COLUMN_PX = 200


def _fit_columns(table: QTableWidget) -> None:
    """Columns sized to their contents but never past ``MAX_COLUMN_PX``; a cut header
    keeps its full text as a tooltip."""
    table.resizeColumnsToContents()
    for c in range(table.columnCount()):
        if table.columnWidth(c) > MAX_COLUMN_PX:
            table.setColumnWidth(c, MAX_COLUMN_PX)
            item = table.horizontalHeaderItem(c)
            if item is not None:
                item.setToolTip(item.text())


def _cells(table: QTableWidget) -> list[list[str]]:
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    cells = [
        [table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]
    return [header, *cells] if cells else []
