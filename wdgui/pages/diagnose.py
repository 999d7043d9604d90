"""Diagnose page: why a stored run is good or bad (issue 21), one click away.

Pick a run (and, to compare, a second one on the same split), press Diagnose: the core's
``diagnostics.diagnose`` runs in a worker thread (progress bar, Cancel) and each tab
shows one question as a plot (hover a point for its values) above its table. Export
writes the shown tab's plot as PNG or its table as CSV. The numbers are the core's; the
page only draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.errors import WideDeepError
from widedeep_core.runs import Run, RunStore

from ..models import DataFrameModel
from ..plotting import color, export_png, plot_steps
from ..widgets import Steps, message_label, show_message
from ..workers import JobRunner, Report

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from widedeep_core.data import MovieLensData
    from widedeep_core.diagnostics import Diagnosis

NO_COMPARE = "(none)"
# tab title -> (plot object name, x label, y label, the table shown below it)
TABS: dict[str, tuple[str, str, str, str]] = {
    "Calibration": ("calibrationPlot", "mean predicted P(like)", "observed rate", "calibration"),
    "Users": ("usersPlot", "per-user value", "share of users", "user_quantiles"),
    "Activity": ("activityPlot", "training ratings of the user", "NDCG@10", "by_activity"),
    "Popularity": ("popularityPlot", "movie popularity", "share of held-out hits", "by_popularity"),
    "Lists": ("listsPlot", "popularity decile (1 = most rated)", "share of list slots", "lists"),
    "Fields": ("fieldsPlot", "field", "AUC drop when shuffled", "permutation"),
    "Embeddings": ("embeddingPlot", "PC 1", "PC 2", "embedding_map"),
    "Dynamics": ("dynamicsPlot", "epoch", "wide part's share", "dynamics"),
    "Compare": ("comparePlot", "activity bucket", "NDCG@10 of B - A", "compare"),
}  # fmt: skip


def _diagnose_job(
    run_dir: str,
    other_dir: str | None,
    data: MovieLensData | None,
    part: str,
    permutation: bool,
    report: Report,
) -> tuple[Diagnosis, Diagnosis | None, pd.DataFrame | None]:
    """Worker thread: diagnose one run (and the other), then compare them."""
    from widedeep_core.diagnostics import compare, diagnose

    def share(lo: float, hi: float):
        return lambda f, message: report(lo + (hi - lo) * max(f, 0.0), message)

    end = 0.5 if other_dir else 1.0
    a = diagnose(run_dir, _matching(run_dir, data), part=part, permutation=permutation,
                 progress=share(0.0, end))  # fmt: skip
    if not other_dir:
        return a, None, None
    b = diagnose(other_dir, _matching(other_dir, data), part=part, permutation=permutation,
                 progress=share(0.5, 1.0))  # fmt: skip
    return a, b, compare(a, b)


def _neighbours_job(
    run_dir: str, data: MovieLensData | None, item: int, cache: dict[str, Any], report: Report
) -> pd.DataFrame:
    """Worker thread: the movies nearest to ``item`` in the run's embeddings (the loaded
    run is kept in ``cache`` for the next question about the same run)."""
    from widedeep_core.diagnostics import neighbours
    from widedeep_core.serving.loading import load_trained

    report(-1.0, "Loading the run's embeddings")
    trained = cache.get(run_dir)
    if trained is None:
        trained = cache[run_dir] = load_trained(run_dir, _matching(run_dir, data))
    return neighbours(trained, item, n=10)


def _matching(run_dir: str, data: MovieLensData | None) -> MovieLensData | None:
    """The loaded data when the run was trained on it, else None (the run's own folder)."""
    if data is None:
        return None
    try:
        return data if Run(run_dir).trained_on(data) else None
    except (WideDeepError, OSError):
        return None


class DiagnosePage(QWidget):
    """Every diagnostic of a run, computed off the GUI thread."""

    stateChanged = Signal(str)

    def __init__(self, store: RunStore, parent: QWidget | None = None, stepwise: bool = False):
        super().__init__(parent)
        self.store = store
        self.data: MovieLensData | None = None
        # the window's loaded data, read at each start (a run trained on it is not reloaded)
        self.data_source: Callable[[], MovieLensData | None] | None = None
        self.diagnosis: Diagnosis | None = None
        self.other: Diagnosis | None = None
        self.tables: dict[str, pd.DataFrame] = {}
        self.plots: dict[str, pg.PlotWidget] = {}
        self.models: dict[str, DataFrameModel] = {}
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.succeeded.connect(self._on_done)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.cancelled.connect(self._on_cancelled)
        self.jobs.busyChanged.connect(self._on_busy)
        self.neighbour_jobs = JobRunner(self)  # nearest movies of one, on demand
        self.neighbour_jobs.succeeded.connect(self._on_neighbours)
        self.neighbour_jobs.failed.connect(lambda m: show_message(self.errorLabel, m))
        self._trained_cache: dict[str, Any] = {}  # run folder -> loaded run (worker-made)
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    # ---------------------------------------------------------------- layout
    def _build(self) -> Iterator[None]:
        self.runCombo = QComboBox()
        self.runCombo.setObjectName("diagnoseRunCombo")
        self.runCombo.setMinimumContentsLength(28)
        self.compareCombo = QComboBox()
        self.compareCombo.setObjectName("diagnoseCompareCombo")
        self.compareCombo.setMinimumContentsLength(20)
        self.compareCombo.setToolTip("A second run on the same split: per-user differences")
        self.partCombo = QComboBox()
        self.partCombo.setObjectName("diagnosePartCombo")
        self.partCombo.addItem("test", "test")
        self.partCombo.addItem("validation", "val")
        self.permutationCheck = QCheckBox("Permutation importance")
        self.permutationCheck.setObjectName("diagnosePermutation")
        self.permutationCheck.setChecked(True)
        self.permutationCheck.setToolTip("Shuffle each field three times (seeded): the slow part")
        self.refreshButton = QPushButton("Refresh")
        self.refreshButton.clicked.connect(self.refresh_runs)
        self.runButton = QPushButton("Diagnose")
        self.runButton.setObjectName("diagnoseRunButton")
        self.runButton.clicked.connect(self.start)
        self.cancelButton = QPushButton("Cancel")
        self.cancelButton.setObjectName("diagnoseCancelButton")
        self.cancelButton.setEnabled(False)
        self.cancelButton.clicked.connect(self.jobs.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("diagnoseProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.pngButton = QPushButton("Export PNG...")
        self.pngButton.setObjectName("diagnosePngButton")
        self.pngButton.clicked.connect(self._choose_png)
        self.csvButton = QPushButton("Export CSV...")
        self.csvButton.setObjectName("diagnoseCsvButton")
        self.csvButton.clicked.connect(self._choose_csv)
        self.colourCombo = QComboBox()
        self.colourCombo.setObjectName("diagnoseColourCombo")
        self.colourCombo.addItem("colour by genre", "genre")
        self.colourCombo.addItem("colour by popularity", "popularity")
        self.colourCombo.currentIndexChanged.connect(self._draw_embeddings)

        row = QHBoxLayout()
        row.addWidget(QLabel("Run:"))
        row.addWidget(self.runCombo, 2)
        row.addWidget(QLabel("Compare with:"))
        row.addWidget(self.compareCombo, 1)
        row.addWidget(QLabel("Split:"))
        row.addWidget(self.partCombo)
        row.addWidget(self.permutationCheck)
        row.addWidget(self.refreshButton)
        row.addWidget(self.runButton)
        row.addWidget(self.cancelButton)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.colourCombo)
        bar.addWidget(self.pngButton)
        bar.addWidget(self.csvButton)
        self.errorLabel = message_label("diagnoseError")
        self.summaryLabel = QLabel("Choose a run and press Diagnose.")
        self.summaryLabel.setObjectName("diagnoseSummary")
        self.summaryLabel.setWordWrap(True)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("diagnoseTabs")
        yield
        for title, (name, x_label, y_label, _) in TABS.items():
            plot = yield from plot_steps(name, None, x_label, y_label)
            self.plots[title] = plot
            model = DataFrameModel()
            self.models[title] = model
            view = QTableView()
            view.setObjectName(f"{name}Table")
            view.setModel(model)
            view.setSortingEnabled(False)
            split = QSplitter(Qt.Orientation.Vertical)
            split.addWidget(plot)
            split.addWidget(view)
            split.setStretchFactor(0, 3)
            split.setStretchFactor(1, 2)
            self.tabs.addTab(split, title)
            yield

        # the Embeddings tab also answers "what is near this movie?"
        self.neighbourEdit = QLineEdit()
        self.neighbourEdit.setObjectName("diagnoseNeighbourEdit")
        self.neighbourEdit.setPlaceholderText("a movie id or title, e.g. Toy Story (1995)")
        self.neighbourEdit.returnPressed.connect(self.show_neighbours)
        self.neighbourButton = QPushButton("Nearest movies")
        self.neighbourButton.setObjectName("diagnoseNeighbourButton")
        self.neighbourButton.clicked.connect(self.show_neighbours)
        self.neighbourModel = DataFrameModel()
        self.neighbourView = QTableView()
        self.neighbourView.setObjectName("diagnoseNeighbourTable")
        self.neighbourView.setModel(self.neighbourModel)
        box = QWidget()
        nv = QVBoxLayout(box)
        nv.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(QLabel("Neighbours of:"))
        line.addWidget(self.neighbourEdit, 1)
        line.addWidget(self.neighbourButton)
        nv.addLayout(line)
        nv.addWidget(self.neighbourView, 1)
        embeddings_tab = self.tabs.widget(list(TABS).index("Embeddings"))
        assert isinstance(embeddings_tab, QSplitter)
        embeddings_tab.addWidget(box)

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(bar)
        layout.addWidget(self.errorLabel)
        layout.addWidget(self.summaryLabel)
        layout.addWidget(self.tabs, 1)
        self.refresh_runs()
        self._on_busy(False)

    # ---------------------------------------------------------------- runs
    @Slot()
    def refresh_runs(self) -> None:
        """List the runs that can be served (they have weights and test metrics)."""
        chosen, other = self.runCombo.currentData(), self.compareCombo.currentData()
        try:
            runs = [i for i in self.store.list() if i.can_serve and i.test_metrics]
        except (WideDeepError, OSError):
            runs = []
        for combo in (self.runCombo, self.compareCombo):
            combo.blockSignals(True)
            combo.clear()
        self.compareCombo.addItem(NO_COMPARE, None)
        for info in runs:
            label = f"{info.name} ({info.data_name or '?'}, {info.status})"
            self.runCombo.addItem(label, str(info.path))
            self.compareCombo.addItem(label, str(info.path))
        if not runs:
            self.runCombo.addItem("No finished runs yet: train one on the Train page", None)
        for combo, want in ((self.runCombo, chosen), (self.compareCombo, other)):
            i = combo.findData(want) if want else -1
            combo.setCurrentIndex(max(i, 0))
            combo.blockSignals(False)
        self._on_busy(self.jobs.is_busy())

    def showEvent(self, event: QShowEvent) -> None:
        """List the runs again when shown (a run may have finished meanwhile)."""
        super().showEvent(event)
        if not self.jobs.is_busy() and self.construction.done:
            self.refresh_runs()

    def select_run(self, run_dir: str, other: str | None = None) -> None:
        """Choose the run (and the run to compare with) by folder."""
        self.refresh_runs()
        self.runCombo.setCurrentIndex(max(self.runCombo.findData(str(run_dir)), 0))
        i = self.compareCombo.findData(str(other)) if other else 0
        self.compareCombo.setCurrentIndex(max(i, 0))

    def set_data(self, data: MovieLensData | None) -> None:
        """The Data page's data set: used for a run trained on it (no reload)."""
        self.data = data

    # ---------------------------------------------------------------- the job
    def is_busy(self) -> bool:
        return self.jobs.is_busy()

    @Slot()
    def start(self) -> bool:
        """Diagnose the chosen run(s) in a worker; False when nothing was started."""
        run_dir = self.runCombo.currentData()
        if not run_dir or self.jobs.is_busy():
            if not run_dir:
                show_message(self.errorLabel, "No run to diagnose: train one first.")
            return False
        other = self.compareCombo.currentData()
        part = self.partCombo.currentData()
        perm = self.permutationCheck.isChecked()
        data = self.data_source() if self.data_source is not None else self.data
        show_message(self.errorLabel, "")
        self.progress.setValue(0)
        self.progress.setFormat("Starting")
        return self.jobs.start(
            lambda report: _diagnose_job(run_dir, other, data, part, perm, report)
        )

    def movie_of(self, text: str) -> int | None:
        """The movie ``text`` names among the run's embedded movies: an id, a title
        (case ignored), or the one title it starts; None when none or several match."""
        table = self.tables.get("embedding_map")
        text = text.strip()
        if table is None or not text:
            return None
        if text.isdigit() and int(text) in set(table["item"].tolist()):
            return int(text)
        titles = table["title"].str.lower()
        exact = table[titles == text.lower()]
        if len(exact) == 1:
            return int(exact["item"].iloc[0])
        starts = table[titles.str.startswith(text.lower())]
        return int(starts["item"].iloc[0]) if len(starts) == 1 else None

    @Slot()
    def show_neighbours(self) -> bool:
        """The ten movies nearest (cosine) to the one typed, in a worker."""
        text = self.neighbourEdit.text()
        run_dir = self.diagnosis.run if self.diagnosis is not None else None
        item = self.movie_of(text)
        if run_dir is None or item is None:
            show_message(
                self.errorLabel,
                "Diagnose a run first." if run_dir is None
                else f"{text.strip()!r}: no single movie of this run's map has that id or title",
            )  # fmt: skip
            return False
        if self.neighbour_jobs.is_busy():
            return False
        show_message(self.errorLabel, "")
        data = self.data_source() if self.data_source is not None else self.data
        cache = self._trained_cache
        return self.neighbour_jobs.start(
            lambda report: _neighbours_job(run_dir, data, item, cache, report)
        )

    @Slot(object)
    def _on_neighbours(self, table: pd.DataFrame) -> None:
        self.neighbours = table
        self.neighbourModel.set_frame(table)

    def cancel(self) -> None:
        """Ask the running diagnosis to stop (the page keeps what it showed)."""
        self.jobs.cancel()

    def shutdown(self) -> None:
        """Stop the workers (window closing)."""
        self.neighbour_jobs.shutdown()
        self.jobs.shutdown()

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.runButton.setEnabled(not busy and self.runCombo.currentData() is not None)
        self.cancelButton.setEnabled(busy)
        self.stateChanged.emit("Diagnosing" if busy else "Idle")

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * min(fraction, 1.0)))
        self.progress.setFormat(message)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Failed")
        show_message(self.errorLabel, message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Cancelled")

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        a, b, compared = result
        self.diagnosis, self.other = a, b
        self._trained_cache.clear()  # a run may have changed since (a resume, say)
        self.neighbourModel.clear()
        self.tables = dict(a.tables)
        if compared is not None:
            self.tables["compare"] = compared
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress.setFormat("Done")
        self._show()

    # ---------------------------------------------------------------- drawing
    def _show(self) -> None:
        d = self.diagnosis
        assert d is not None
        v = d.values
        text = (
            f"<b>{d.name}</b> on its {d.part} split ({d.protocol} protocol): AUC "
            f"{v.get('auc', float('nan')):.4f}, ECE {v.get('ece', float('nan')):.4f}, "
            f"Brier {v.get('brier', float('nan')):.4f}, wide part "
            f"{100 * v.get('wide_share', float('nan')):.0f}% of |logit|"
        )
        if "candidates_ece" in v:
            text += f"; on the ranked candidates ECE {v['candidates_ece']:.4f}"
        if d.notes:
            text += "<br>" + "<br>".join(d.notes)
        self.summaryLabel.setText(text)
        for title, (_, _, _, table) in TABS.items():
            frame = self.tables.get(table)
            if frame is None:
                self.models[title].clear()
            else:
                self.models[title].set_frame(frame)
        for draw in (
            self._draw_calibration,
            self._draw_users,
            self._draw_activity,
            self._draw_popularity,
            self._draw_lists,
            self._draw_fields,
            self._draw_embeddings,
            self._draw_dynamics,
            self._draw_compare,
        ):
            draw()

    def _reset(self, title: str) -> pg.PlotItem:
        item = self.plots[title].getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        item.getAxis("bottom").setTicks(None)
        return item

    @staticmethod
    def _points(
        item: pg.PlotItem, x: Any, y: Any, tips: list[str], i: int, name: str | None = None
    ):
        """Markers whose hover shows ``tips`` (the values of the point)."""
        spots = pg.ScatterPlotItem(
            x=list(x), y=list(y), data=tips, size=8, brush=color(i), pen=None, hoverable=True,
            tip=lambda x, y, data: str(data), name=name,
        )  # fmt: skip
        item.addItem(spots)
        return spots

    def _bars(self, title: str, labels: list[str], series: dict[str, list[float]]) -> None:
        item = self._reset(title)
        width = 0.8 / max(len(series), 1)
        for i, (name, values) in enumerate(series.items()):
            x = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
            y = [0.0 if v != v else float(v) for v in values]
            item.addItem(pg.BarGraphItem(x=x, height=y, width=width, brush=color(i), name=name))
            tips = [f"{name}, {lab}: {v:.4f}" for lab, v in zip(labels, values, strict=True)]
            self._points(item, x, y, tips, i, name)
        item.getAxis("bottom").setTicks([list(enumerate(labels))])

    def _draw_calibration(self) -> None:
        item = self._reset("Calibration")
        item.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
        for i, key in enumerate(("calibration", "calibration_candidates")):
            bins = self.tables.get(key)
            if bins is None:
                continue
            b = bins[bins["count"] > 0]
            name = "rated rows" if i == 0 else "ranked candidates"
            item.plot(list(b["mean_predicted"]), list(b["observed_rate"]), pen=color(i), name=name)
            tips = [
                f"{name}: P in [{lo:.1f}, {hi:.1f}): predicted {p:.3f}, observed {o:.3f}, {n} pairs"
                for lo, hi, p, o, n in zip(
                    b["lo"], b["hi"], b["mean_predicted"], b["observed_rate"], b["count"],
                    strict=True,
                )
            ]  # fmt: skip
            self._points(item, b["mean_predicted"], b["observed_rate"], tips, i)

    def _draw_users(self) -> None:
        item = self._reset("Users")
        for i, key in enumerate(("user_auc_histogram", "user_ndcg_histogram")):
            h = self.tables.get(key)
            if h is None:
                continue
            mid = list((h["lo"] + h["hi"]) / 2)
            name = "per-user AUC" if i == 0 else "per-user NDCG@10"
            item.plot(mid, list(h["share"]), pen=color(i), name=name, stepMode=None)
            tips = [
                f"{name} in [{lo:.2f}, {hi:.2f}): {n} users ({s:.1%})"
                for lo, hi, n, s in zip(h["lo"], h["hi"], h["count"], h["share"], strict=True)
            ]
            self._points(item, mid, h["share"], tips, i)

    def _draw_activity(self) -> None:
        t = self.tables.get("by_activity")
        if t is None:
            return
        t = t[t["bucket"] != "all"]
        metric = next(c for c in t.columns if c.startswith("ndcg@"))
        self._bars("Activity", list(t["bucket"]), {metric: list(t[metric]), "AUC": list(t["auc"])})

    def _draw_popularity(self) -> None:
        t = self.tables.get("by_popularity")
        if t is None:
            return
        t = t[t["bucket"] != "all"]
        self._bars(
            "Popularity",
            list(t["bucket"]),
            {
                "recall of held-out positives": list(t["recall"]),
                "list share": list(t["list_share"]),
            },
        )

    def _draw_lists(self) -> None:
        t = self.tables.get("popularity_distribution")
        if t is None:
            return
        item = self._reset("Lists")
        cols = [c for c in t.columns if c.endswith("_share") and c != "train_share"]
        for i, col in enumerate(cols):
            name = col.removesuffix("_share")
            item.plot(list(t["decile"]), list(t[col]), pen=color(i), name=name)
            tips = [
                f"{name}, decile {d}: {v:.1%}" for d, v in zip(t["decile"], t[col], strict=True)
            ]
            self._points(item, t["decile"], t[col], tips, i)

    def _draw_fields(self) -> None:
        t = self.tables.get("permutation")
        if t is None:
            self._reset("Fields")
            return
        self._bars("Fields", list(t["field"]), {"AUC drop": list(t["drop"])})
        item = self.plots["Fields"].getPlotItem()
        x = list(range(len(t)))
        item.addItem(
            pg.ErrorBarItem(x=x, y=list(t["drop"]), height=2 * t["std"].to_numpy(), pen="k")
        )

    @Slot()
    def _draw_embeddings(self) -> None:
        t = self.tables.get("embedding_map")
        item = self._reset("Embeddings")
        if t is None:
            return
        by = self.colourCombo.currentData()
        if by == "popularity":
            import numpy as np

            pop = np.log1p(t["train_ratings"].to_numpy(dtype=float))
            scale = pop / max(float(pop.max()), 1e-9)
            brushes = [pg.mkBrush(int(255 * s), 60, int(255 * (1 - s)), 200) for s in scale]
        else:
            genres = sorted(set(t["genre"]))
            brushes = [pg.mkBrush(color(genres.index(g))) for g in t["genre"]]
        tips = [
            f"{title}\n{genres_}\n{n} training ratings"
            for title, genres_, n in zip(t["title"], t["genres"], t["train_ratings"], strict=True)
        ]
        spots = pg.ScatterPlotItem(
            x=list(t["x"]), y=list(t["y"]), data=tips, size=6, brush=brushes, pen=None,
            hoverable=True, tip=lambda x, y, data: str(data),
        )  # fmt: skip
        item.addItem(spots)

    def _draw_dynamics(self) -> None:
        """Per epoch: the wide part's share of |logit| (validation) and of the gradient
        norm (the epoch's last step)."""
        item = self._reset("Dynamics")
        t = self.tables.get("dynamics")
        if t is None or t.empty:
            return
        for i, (key, name) in enumerate(
            (("wide_share", "share of |logit|"), ("grad_wide_share", "share of gradient norm"))
        ):
            rows = t[t[key].notna()]
            if rows.empty:
                continue
            item.plot(list(rows["epoch"]), list(rows[key]), pen=color(i), name=name)
            tips = [
                f"epoch {e}: wide {name} {v:.3f} (train loss {loss:.4f}, val AUC {a:.4f})"
                for e, v, loss, a in zip(
                    rows["epoch"], rows[key], rows["train_loss"], rows["val_auc"], strict=True
                )
            ]
            self._points(item, rows["epoch"], rows[key], tips, i)

    def _draw_compare(self) -> None:
        t = self.tables.get("compare")
        if t is None:
            self._reset("Compare")
            return
        rows = t[t["metric"].str.startswith("ndcg@")]
        self._bars("Compare", list(rows["group"]), {"B - A": list(rows["diff"])})
        item = self.plots["Compare"].getPlotItem()
        mid = (rows["lo"] + rows["hi"]).to_numpy() / 2
        item.addItem(
            pg.ErrorBarItem(
                x=list(range(len(rows))), y=mid, height=(rows["hi"] - rows["lo"]).to_numpy(),
                pen="k",
            )
        )  # fmt: skip

    # ---------------------------------------------------------------- export
    def current_title(self) -> str:
        return self.tabs.tabText(self.tabs.currentIndex())

    def export_png(self, path: str, title: str | None = None) -> None:
        """Write the plot of tab ``title`` (default: the shown one) as PNG."""
        export_png(self.plots[title or self.current_title()], path)

    def export_csv(self, path: str, title: str | None = None) -> None:
        """Write the table of tab ``title`` (default: the shown one) as CSV."""
        from widedeep_core.fileio import write_output_text

        frame = self.tables.get(TABS[title or self.current_title()][3])
        if frame is None:
            raise WideDeepError("nothing to export yet: press Diagnose first")
        write_output_text(path, frame.to_csv(index=False, lineterminator="\n"))

    @Slot()
    def _choose_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "", "PNG image (*.png)")
        if path:
            self._export(lambda: self.export_png(path))

    @Slot()
    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export table", "", "CSV file (*.csv)")
        if path:
            self._export(lambda: self.export_csv(path))

    def _export(self, write: Any) -> None:
        try:
            write()
            show_message(self.errorLabel, "")
        except (WideDeepError, OSError) as exc:
            show_message(self.errorLabel, str(exc))
