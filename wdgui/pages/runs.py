"""Runs page: a sortable, filterable table of the run store and overlaid metric curves.

The table shows each run's monitored metric and its ranking figures beside the
baselines' (a run monitored by NDCG is not judged by AUC alone). The plot shows a hint
until runs are selected; its legend sits beside the data area, never over a curve.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.config import Config
from widedeep_core.errors import WideDeepError
from widedeep_core.monitors import monitor_of
from widedeep_core.runs import Run, RunInfo, RunStore, read_curve, write_metrics_csv

from ..models import COLUMNS, RunsTableModel
from ..plotting import color, export_png, plot_steps
from ..widgets import ComparisonTable, Steps, message_label, show_message

__all__ = ["COLUMNS", "METRICS", "RunsPage", "integer_step"]

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


def integer_step(span: float, ticks: int = 8) -> int:
    """A whole tick spacing (1, 2, 5, 10, 20, ...) giving at most ~``ticks`` ticks over ``span``."""
    raw = max(span / max(ticks, 1), 1.0)
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if m * magnitude >= raw:
                return m * magnitude
        magnitude *= 10


class RunsPage(QWidget):
    """Lists the runs of a ``RunStore``; overlays the selected runs' curves."""

    loadConfigRequested = Signal(Config)
    runsChanged = Signal()

    def __init__(self, store: RunStore, parent: QWidget | None = None, stepwise: bool = False):
        super().__init__(parent)
        self.store = store
        self.ask_confirmation = True  # tests switch the delete question off
        self._curves: dict[str, pg.PlotDataItem] = {}
        # with ``stepwise`` the caller runs the pieces (one plot each) over several turns
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    def _build(self) -> Iterator[None]:
        self.model = RunsTableModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.filterEdit = QLineEdit()
        self.filterEdit.setObjectName("runsFilter")
        self.filterEdit.setPlaceholderText("Filter runs (any column)")
        self.filterEdit.setClearButtonEnabled(True)
        self.filterEdit.textChanged.connect(self.proxy.setFilterFixedString)

        self.runsTable = QTableView()
        self.runsTable.setObjectName("runsTable")
        self.runsTable.setModel(self.proxy)
        self.runsTable.setSortingEnabled(True)
        self.runsTable.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.runsTable.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runsTable.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.runsTable.setAlternatingRowColors(True)
        self.runsTable.verticalHeader().setVisible(False)
        self.runsTable.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.runsTable.horizontalHeader().setStretchLastSection(True)
        self.runsTable.selectionModel().selectionChanged.connect(self._on_selection)
        self.runsTable.doubleClicked.connect(self._on_double_click)

        buttons = QHBoxLayout()
        self.refreshButton = QPushButton("Refresh")
        self.renameButton = QPushButton("Rename...")
        self.deleteButton = QPushButton("Delete...")
        self.loadButton = QPushButton("Load into form")
        self.csvButton = QPushButton("Export CSV...")
        self.pngButton = QPushButton("Export PNG...")
        for name, b, slot in (
            ("refreshRunsButton", self.refreshButton, self.refresh),
            ("renameRunButton", self.renameButton, self._on_rename),
            ("deleteRunButton", self.deleteButton, self._on_delete),
            ("loadRunButton", self.loadButton, self.load_selected_into_form),
            ("exportCsvButton", self.csvButton, self._on_export_csv),
            ("exportPngButton", self.pngButton, self._on_export_png),
        ):
            b.setObjectName(name)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.filterEdit, 2)

        self.metricCombo = QComboBox()
        self.metricCombo.setObjectName("runsMetricCombo")
        for label, source, column in METRICS:
            self.metricCombo.addItem(label, (source, column))
        self.metricCombo.currentIndexChanged.connect(self._redraw_all)
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

        self.errorLabel = message_label("runsError")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("runsSplitter")
        self.splitter.addWidget(self.runsTable)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(plot_box)
        bottom.addWidget(self._build_details())
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        self.splitter.addWidget(bottom)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.errorLabel)
        layout.addWidget(self.splitter, 1)
        self._update_buttons()
        self._show_details()
        yield
        self.refresh()

    def _build_details(self) -> QWidget:
        """The selected run's test metrics beside the baselines (popularity, EASE^R)."""
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        self.detailsTitle = QLabel("<b>Test metrics vs baselines</b> (select one run)")
        self.detailsTitle.setObjectName("runBaselinesTitle")
        self.baselinesTable = ComparisonTable("runBaselinesTable")
        self.baselinesNote = QLabel("")
        self.baselinesNote.setObjectName("runBaselinesNote")
        self.baselinesNote.setWordWrap(True)
        v.addWidget(self.detailsTitle)
        v.addWidget(self.baselinesTable, 1)
        v.addWidget(self.baselinesNote)
        return box

    def _show_details(self) -> None:
        """Fill the baselines panel for the one selected run (a small JSON read)."""
        from widedeep_core.runs.compare import baseline_note

        runs = self.selected_runs()
        metrics: dict[str, Any] = {}
        note = "Select one run to compare its test metrics with the baselines."
        if len(runs) == 1:
            try:
                metrics = Run(runs[0].path).read_test_metrics() or {}
            except (WideDeepError, OSError) as exc:
                note = str(exc)
            else:
                note = baseline_note(metrics) or "No baselines recorded for this run."
            self.detailsTitle.setText(f"<b>Test metrics vs baselines</b>: {runs[0].name}")
        else:
            self.detailsTitle.setText("<b>Test metrics vs baselines</b>")
        self.baselinesTable.set_metrics(metrics)
        self.baselinesNote.setText(note)

    # ---------------------------------------------------------------- selection
    def selected_runs(self) -> list[RunInfo]:
        """The selected runs, in table order."""
        rows = sorted(i.row() for i in self.runsTable.selectionModel().selectedRows())
        return [self.proxy.index(r, 0).data(RunsTableModel.RunRole) for r in rows]

    def select_runs(self, ids: Sequence[str]) -> None:
        """Select the runs with these ids (replacing the selection)."""
        sel = self.runsTable.selectionModel()
        sel.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if idx.data(RunsTableModel.RunRole).id in ids:
                sel.select(idx, flags)

    @Slot()
    def refresh(self) -> None:
        """Reread the store, keeping the selection."""
        keep = [r.id for r in self.selected_runs()] if self.model.rowCount() else []
        try:
            runs = self.store.list()
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, f"Cannot list runs in {self.store.root}: {exc}")
            runs = []
        else:
            show_message(self.errorLabel, "")
        plot = self.runsPlot.getPlotItem()
        for curve in self._curves.values():  # names may have changed: rebuild the legend
            plot.removeItem(curve)
        self._curves.clear()
        self.model.set_runs(runs)
        self.runsTable.resizeColumnsToContents()
        self.select_runs(keep)
        self._redraw_all()
        self.runsChanged.emit()

    @Slot()
    def _on_selection(self) -> None:
        self._redraw_all()
        self._update_buttons()
        self._show_details()

    def _update_buttons(self) -> None:
        n = len(self.selected_runs())
        self.renameButton.setEnabled(n == 1)
        self.loadButton.setEnabled(n == 1)
        self.deleteButton.setEnabled(n >= 1)
        self.csvButton.setEnabled(n >= 1)
        self.pngButton.setEnabled(self.has_plot())

    def has_plot(self) -> bool:
        """True when the plot draws at least one point (something to export)."""
        return any(
            c.getData()[0] is not None and len(c.getData()[0]) for c in self._curves.values()
        )

    # ---------------------------------------------------------------- plot
    @Slot()
    def _redraw_all(self) -> None:
        """One curve per selected run: created once, then only ``setData``."""
        source, column = self.metricCombo.currentData()
        plot = self.runsPlot.getPlotItem()
        plot.setLabel("bottom", "epoch" if source == "epochs" else "batch")
        plot.setLabel("left", self.metricCombo.currentText())
        selected = self.selected_runs()
        wanted = {r.id for r in selected}
        for rid in [k for k in self._curves if k not in wanted]:
            plot.removeItem(self._curves.pop(rid))
        self._x_source = source
        self.plotStack.setCurrentWidget(self.runsPlot if selected else self.plotHint)
        for i, info in enumerate(selected):
            try:
                xs, ys = read_curve(info.path, source, column)
            except (WideDeepError, OSError) as exc:
                show_message(self.errorLabel, str(exc))
                xs, ys = [], []
            curve = self._curves.get(info.id)
            if curve is None:
                curve = self.runsPlot.plot(name=info.name)
                self._curves[info.id] = curve
            symbol = "o" if source == "epochs" else None
            curve.opts["antialias"] = source == "epochs"  # batch curves are long and noisy
            curve.setPen(pg.mkPen(color(i), width=2))
            curve.setSymbol(symbol)
            curve.setSymbolBrush(color(i))
            curve.setSymbolSize(5)
            curve.setData(xs, ys)
        self._update_ticks()
        self.pngButton.setEnabled(self.has_plot())

    _x_source = "epochs"

    @Slot()
    def _update_ticks(self) -> None:
        """Whole epochs on the x axis (pyqtgraph's own ticks fall on 1.5, 2.5); batches
        keep pyqtgraph's ticks."""
        plot = self.runsPlot.getPlotItem()
        axis = plot.getAxis("bottom")
        if self._x_source != "epochs":
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
    def _on_log(self, on: bool) -> None:
        self.runsPlot.getPlotItem().setLogMode(x=False, y=on)

    def curve_data(self) -> dict[str, tuple[Any, Any]]:
        """run id -> (x, y) currently drawn (for tests and exports)."""
        return {rid: c.getData() for rid, c in self._curves.items()}

    def curve_items(self) -> dict[str, pg.PlotDataItem]:
        """run id -> the plot item drawing it (made once per run, then only ``setData``)."""
        return dict(self._curves)

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
