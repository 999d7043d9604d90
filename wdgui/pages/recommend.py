"""Recommend page: a finished run, a user, the top-N unseen movies and the user's favourites.

Which movies a list leaves out is the core's rule (``EXCLUDE_RULES``, by default every
movie the user rated); the page says which rule made the shown list. The recommendations
table shows only the columns that hold something and fits its width: the numbers keep
their size, the other text columns elide before the title does.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStringListModel, Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.constants import (
    DEFAULT_EXCLUDE,
    EXCLUDE_RULES,
    ML1M_AGE_LABELS,
    ML1M_OCCUPATIONS,
)
from widedeep_core.errors import WideDeepError
from widedeep_core.runs import Run, RunStore
from widedeep_core.runs.compare import baseline_note

from ..models import DataFrameModel, monitor_text
from ..widgets import ComparisonTable, Steps, message_label, show_message
from ..workers import JobRunner, Report

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from widedeep_core.data import MovieLensData
    from widedeep_core.serving import Recommender

ALL_GENRES = "All genres"
REC_HEADERS = {
    "rank": "#",
    "title": "Title",
    "year": "Year",
    "genres": "Genres",
    "score": "Score",
    "probability": "P(like)",
    "retrieval_rank": "Retrieval #",
    "retrieval_score": "Retrieval score",
    "wide_logit": "Wide",
    "deep_logit": "Deep",
    "because_titles": "Because you liked",
}
REC_TOOLTIPS = {
    "score": "The ranking model's score (wide + deep logit): higher ranks first. It orders "
    "this user's list; it is not a probability and is not comparable across users.",
    "probability": "sigmoid(wide + deep): the model's P(the user likes the movie | rated).",
    "retrieval_rank": "Rank of the movie in the retrieval stage (EASE^R or item-kNN) "
    "among the user's unrated movies, before the Wide & Deep model re-ranked them.",
    "retrieval_score": "The retrieval stage's score: a weighted sum over the user's own "
    "movies of their item-item weights with this movie.",
    "wide_logit": "The wide (linear, memorising) part's contribution to the logit.",
    "deep_logit": "The deep (embeddings + MLP, generalising) part's contribution to the logit.",
    "because_titles": "The user's own movies with the largest retrieval weights to this one.",
}
RATED_HEADERS = {"title": "Title", "year": "Year", "genres": "Genres", "rating": "Rating"}
# Text columns that elide before the title does (the numbers keep their width).
ELASTIC_HEADERS = ("Genres", "Because you liked")
ELASTIC_MIN = 80  # px an elastic column keeps while the title still needs room
TITLE_MIN = 120  # px below which the title stops giving way (the table scrolls instead)
# The exclusion rules as the combo names them (the label below the list says the whole rule).
EXCLUDE_SHORT = {"rated": "all rated", "train": "training split", "history": "test history"}
NO_RUN = "No run to recommend from: train one on the Train page, then choose it under Run."


def _open_recommender(
    run_dir: str, data: MovieLensData | None, report: Report
) -> tuple[Recommender, dict[str, Any]]:
    """Worker thread: load the model (and, without matching data, the run's data set),
    and the run's test metrics with its baselines."""
    from widedeep_core.serving.recommend import Recommender

    report(-1.0, "Loading the run" if data is not None else "Loading the run and its data")
    rec = Recommender.from_run(run_dir, data=data)
    rec.warm()  # the scorer and per-user indexes of every rule: here, not in the GUI
    try:
        metrics = Run(run_dir).read_test_metrics() or {}
    except (WideDeepError, OSError):
        metrics = {}  # the list still works without its scores
    return rec, metrics


def shown_columns(recs: pd.DataFrame, headers: dict[str, str] = REC_HEADERS) -> list[str]:
    """The columns the table shows: a score, when the model gives one, replaces P(like);
    columns without a value (a one-stage run's retrieval columns) and a year that every
    title already carries are left out."""
    cols = [c for c in headers if c in recs.columns and not _is_empty(recs[c])]
    if "score" in cols and "probability" in cols:
        cols.remove("probability")
    if "year" in cols and _year_in_titles(recs):
        cols.remove("year")
    return cols


def _is_empty(column: Any) -> bool:
    """True when no cell of ``column`` holds anything to show (NaN, None, "", ())."""
    for value in column:
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, str | tuple | list) and len(value) == 0:
            continue
        return False
    return len(column) > 0


def _year_in_titles(frame: pd.DataFrame) -> bool:
    """True when every title already ends its text with its year, "Heat (1995)"."""
    if "title" not in frame.columns:
        return False
    for title, year in zip(frame["title"], frame["year"], strict=True):
        if year is None or year != year:
            continue
        if f"({int(year)})" not in str(title):
            return False
    return True


def because_titles(recs: pd.DataFrame, titles: Any) -> list[str]:
    """The titles of each row's ``because`` movies (ids, or (id, weight) pairs), joined."""
    out = []
    for value in recs["because"]:
        ids = [v[0] if isinstance(v, tuple | list) else v for v in (value or ())]
        out.append("; ".join(str(titles.get(int(i), i)) for i in ids))
    return out


def _matching_data(run_dir: str, data: MovieLensData | None) -> MovieLensData | None:
    """The loaded data when the run was trained on it (same fingerprint), else None."""
    if data is None:
        return None
    try:
        return data if Run(run_dir).trained_on(data) else None
    except (WideDeepError, OSError):
        return None


class RecommendPage(QWidget):
    """Shows a run's recommendations for one user; problems are explained in the page."""

    _stale = False  # a run was opened while the page was hidden: update when shown

    stateChanged = Signal(str)

    def __init__(self, store: RunStore, parent: QWidget | None = None, stepwise: bool = False):
        super().__init__(parent)
        self.store = store
        self.data: MovieLensData | None = None
        self.recommender: Recommender | None = None
        self.recommendations: pd.DataFrame | None = None  # the last top-N list, every column
        self._run_dir: str | None = None
        self._pending_run: str | None = None
        self.jobs = JobRunner(self)
        self.jobs.succeeded.connect(self._on_recommender)
        self.jobs.failed.connect(self._on_load_failed)
        self.jobs.finished.connect(self._on_task_done)
        self.export_jobs = JobRunner(self)  # every user's list to a CSV file, streamed
        self.export_jobs.progress.connect(self._on_export_progress)
        self.export_jobs.succeeded.connect(self._on_exported)
        self.export_jobs.failed.connect(self._on_export_failed)
        self.export_jobs.cancelled.connect(self._on_export_cancelled)
        # with ``stepwise`` the caller runs the pieces (one plot each) over several turns
        self.construction = Steps(self._build())
        if not stepwise:
            self.construction.finish()

    # ---------------------------------------------------------------- layout
    def _build(self) -> Iterator[None]:
        self.runCombo = QComboBox()
        self.runCombo.setObjectName("runCombo")
        self.runCombo.setMinimumContentsLength(30)
        self.runCombo.activated.connect(self._on_run_chosen)
        self.refreshButton = QPushButton("Refresh")
        self.refreshButton.setToolTip("List the runs again and open the shown one")
        self.refreshButton.clicked.connect(self._on_refresh)

        self.userSelector = QComboBox()
        self.userSelector.setObjectName("userSelector")
        self.userSelector.setEditable(True)
        self.userSelector.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.userSelector.setMinimumContentsLength(8)
        self._user_model = QStringListModel()
        self.userSelector.setModel(self._user_model)
        completer = QCompleter(self._user_model, self.userSelector)
        completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.userSelector.setCompleter(completer)
        self.userSelector.lineEdit().setPlaceholderText("user id")
        self.userSelector.lineEdit().editingFinished.connect(self.update_recommendations)
        self.userSelector.activated.connect(self.update_recommendations)

        self.topNSpin = QSpinBox()
        self.topNSpin.setObjectName("topNSpin")
        self.topNSpin.setRange(1, 500)
        self.topNSpin.setValue(10)
        self.topNSpin.valueChanged.connect(self.update_recommendations)
        self.genreCombo = QComboBox()
        self.genreCombo.setObjectName("genreCombo")
        self.genreCombo.addItem(ALL_GENRES, None)
        self.genreCombo.currentIndexChanged.connect(self.update_recommendations)
        self.excludeCombo = QComboBox()
        self.excludeCombo.setObjectName("excludeCombo")
        for rule, meaning in EXCLUDE_RULES.items():
            self.excludeCombo.addItem(EXCLUDE_SHORT.get(rule, rule), rule)
            self.excludeCombo.setItemData(
                self.excludeCombo.count() - 1, f"Leave out {meaning}", Qt.ItemDataRole.ToolTipRole
            )
        self.excludeCombo.setCurrentIndex(max(self.excludeCombo.findData(DEFAULT_EXCLUDE), 0))
        self.excludeCombo.setToolTip(
            "Which movies the list leaves out. The ranking metrics (and the table of "
            "baselines) judge lists that leave out the protocol's history only: choose "
            "'test history' to see those lists."
        )
        self.excludeCombo.currentIndexChanged.connect(self.update_recommendations)

        row = QHBoxLayout()
        row.addWidget(QLabel("Run:"))
        row.addWidget(self.runCombo, 2)
        row.addWidget(self.refreshButton)
        row.addSpacing(12)
        row.addWidget(QLabel("User:"))
        row.addWidget(self.userSelector)
        row.addWidget(QLabel("Top N:"))
        row.addWidget(self.topNSpin)
        row.addWidget(QLabel("Genre:"))
        row.addWidget(self.genreCombo)
        row.addWidget(QLabel("Leave out:"))
        row.addWidget(self.excludeCombo)
        row.addStretch(1)
        self.exportButton = QPushButton("Export all users...")
        self.exportButton.setObjectName("recommendExportButton")
        self.exportButton.setToolTip(
            "Every user's top N (with the Leave out rule) as user,rank,item,score CSV"
        )
        self.exportButton.clicked.connect(self._choose_export)
        self.exportButton.setEnabled(False)
        self.exportProgress = QProgressBar()
        self.exportProgress.setObjectName("recommendExportProgress")
        self.exportProgress.setRange(0, 1000)
        self.exportProgress.setMaximumWidth(220)
        self.exportProgress.setVisible(False)
        row.addWidget(self.exportProgress)
        row.addWidget(self.exportButton)

        self.profileLabel = QLabel("")
        self.profileLabel.setObjectName("userProfile")
        self.profileLabel.setWordWrap(True)
        self.errorLabel = message_label("recommendError")

        self.fallbackLabel = QLabel("")
        self.fallbackLabel.setObjectName("recommendFallback")
        self.fallbackLabel.setWordWrap(True)
        self.fallbackLabel.setStyleSheet("color: #8a5a00;")
        self.fallbackLabel.setVisible(False)
        self.baselinesTable = ComparisonTable("recommendBaselines")
        self.baselinesTable.setMaximumHeight(190)
        self.run_metrics: dict[str, Any] = {}

        self.recModel = DataFrameModel(headers=REC_HEADERS, tooltips=REC_TOOLTIPS)
        self.recommendationsTable = FittedTable("recommendationsTable", self.recModel)
        self.ratedModel = DataFrameModel(headers=RATED_HEADERS)
        self.topRatedTable = FittedTable("topRatedTable", self.ratedModel)
        self.excludeLabel = QLabel("")
        self.excludeLabel.setObjectName("excludeLabel")
        self.excludeLabel.setWordWrap(True)
        self.excludeLabel.setStyleSheet("color: #555;")

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("<b>Recommended</b>"))
        lv.addWidget(self.excludeLabel)
        lv.addWidget(self.recommendationsTable)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(QLabel("<b>The user's highest-rated movies</b>"))
        rv.addWidget(self.topRatedTable, 2)
        rv.addWidget(QLabel("<b>This run's test metrics beside the baselines</b>"))
        rv.addWidget(self.baselinesTable, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("recommendSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        # the list has up to nine columns, the favourites three: 2:1 keeps both readable
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.profileLabel)
        layout.addWidget(self.errorLabel)
        layout.addWidget(self.fallbackLabel)
        layout.addWidget(self.splitter, 1)
        yield
        self.refresh_runs()

    # ---------------------------------------------------------------- runs
    @Slot()
    def refresh_runs(self) -> None:
        """List the runs that have weights (finished or cancelled), newest first."""
        current = self.runCombo.currentData()
        self.runCombo.blockSignals(True)
        self.runCombo.clear()
        try:
            runs = self.store.list()
        except (WideDeepError, OSError):
            runs = []
        for info in runs:
            if info.can_serve:
                metric = monitor_text(info)
                metric = f" · {metric}" if metric else ""
                label = f"{info.name} ({info.data_name or '?'}, {info.status}{metric})"
                self.runCombo.addItem(label, str(info.path))
        if self.runCombo.count() == 0:
            self.runCombo.addItem("No finished runs yet: train one on the Train page", None)
        i = self.runCombo.findData(current) if current else -1
        self.runCombo.setCurrentIndex(max(i, 0))
        self.runCombo.blockSignals(False)
        if self.isVisible():  # the shown run is the one whose list is shown
            self._ensure_loaded()

    @Slot()
    def _on_refresh(self) -> None:
        self.refresh_runs()
        self._ensure_loaded(retry=True)

    def _ensure_loaded(self, retry: bool = False) -> None:
        """Open the run the combo shows unless it is open (or opening); say so when
        there is none. ``retry`` opens it again after a failure (the Refresh button)."""
        run_dir = self.runCombo.currentData()
        if not run_dir:
            self._clear("")
            self.profileLabel.setText(NO_RUN)
            return
        if run_dir != self._run_dir or (retry and self.recommender is None):
            self.load_run(run_dir)

    def state(self) -> dict[str, Any]:
        """What a restart restores: the run (by folder name), user, N, genre and rule."""
        run_dir = self.runCombo.currentData()
        return {
            "run": Path(run_dir).name if run_dir else None,
            "user": self.userSelector.currentText().strip(),
            "top_n": self.topNSpin.value(),
            "genre": self.genreCombo.currentData(),
            "exclude": self.excludeCombo.currentData(),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Show a saved :meth:`state`; its run opens now when shown, else on the first show."""
        if not isinstance(state, dict):
            return
        widgets = (self.topNSpin, self.excludeCombo, self.runCombo, self.userSelector)
        for w in widgets:
            w.blockSignals(True)
        try:
            if isinstance(state.get("top_n"), int):
                self.topNSpin.setValue(state["top_n"])
            i = self.excludeCombo.findData(state.get("exclude"))
            if i >= 0:
                self.excludeCombo.setCurrentIndex(i)
            run = state.get("run")
            for i in range(self.runCombo.count()):
                data = self.runCombo.itemData(i)
                if run and data and Path(data).name == run:
                    self.runCombo.setCurrentIndex(i)
            if isinstance(state.get("user"), str):
                self.userSelector.setEditText(state["user"])
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._wanted_genre = state.get("genre") if isinstance(state.get("genre"), str) else None
        self._select_genre()
        if self.isVisible():
            self._ensure_loaded()

    def select_run(self, run_dir: str) -> None:
        """Choose a run (e.g. the one just trained) and load it."""
        i = self.runCombo.findData(str(run_dir))
        if i < 0:  # not listed yet (the Runs page's refresh usually listed it already)
            self.refresh_runs()
            i = self.runCombo.findData(str(run_dir))
        if i >= 0:
            self.runCombo.setCurrentIndex(i)
            self.load_run(str(run_dir))

    def set_data(self, data: MovieLensData | None) -> None:
        """The Data page's data set: used when a run was trained on it (no reload)."""
        self.data = data
        self._fill_genres(getattr(data, "genres", ()) or ())

    _wanted_genre: str | None = None  # a restored genre, chosen once the list has it

    def _fill_genres(self, genres: Any) -> None:
        """List ``genres`` in the genre combo, keeping the chosen one where it is listed."""
        genres = list(genres)
        current = self.genreCombo.currentData()
        if [self.genreCombo.itemData(i) for i in range(1, self.genreCombo.count())] == genres:
            return
        self.genreCombo.blockSignals(True)
        self.genreCombo.clear()
        self.genreCombo.addItem(ALL_GENRES, None)
        for g in genres:
            self.genreCombo.addItem(g, g)
        self.genreCombo.setCurrentIndex(max(self.genreCombo.findData(current), 0))
        self.genreCombo.blockSignals(False)
        self._select_genre()

    def _select_genre(self) -> None:
        i = self.genreCombo.findData(self._wanted_genre) if self._wanted_genre else -1
        if i >= 0:
            self.genreCombo.blockSignals(True)
            self.genreCombo.setCurrentIndex(i)
            self.genreCombo.blockSignals(False)
            self._wanted_genre = None

    @Slot()
    def _on_run_chosen(self) -> None:
        run_dir = self.runCombo.currentData()
        if run_dir:
            self.load_run(run_dir)

    def load_run(self, run_dir: str) -> None:
        """Open the run's recommender in a worker thread."""
        if self.jobs.is_busy():
            self._pending_run = run_dir  # load it when the current one is done
            return
        self._run_dir = run_dir
        self.recommender = None
        self.exportButton.setEnabled(self.recommender is not None or self.export_jobs.is_busy())
        show_message(self.errorLabel, "")
        data = _matching_data(run_dir, self.data)
        self.profileLabel.setText(f"Loading {Path(run_dir).name} ...")
        self.stateChanged.emit("Loading run for recommendations")
        self.jobs.start(lambda report: _open_recommender(run_dir, data, report))

    def is_busy(self) -> bool:
        """True while a run is being opened."""
        return self.jobs.is_busy()

    def shutdown(self) -> None:
        """Wait for a run being opened or exported (window closing)."""
        self._pending_run = None  # nothing new starts while closing
        self.export_jobs.shutdown()
        self.jobs.shutdown()  # _on_task_done runs

    # ---------------------------------------------------------------- export
    @Slot()
    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export every user's list", "recommendations.csv", "CSV (*.csv)"
        )
        if path:
            self.export_all(path)

    def export_all(self, path: str) -> bool:
        """Write every user's top N to ``path`` in a worker (a block of users at a time,
        with progress; Cancel by clicking the button again). False when nothing started."""
        rec = self.recommender
        if rec is None or self.export_jobs.is_busy():
            return False
        n, rule = self.topNSpin.value(), self.excludeCombo.currentData() or DEFAULT_EXCLUDE
        list(rec.iter_recommend_all(n, rec.users[:0], exclude=rule))  # ranker built here

        def job(report: Report) -> tuple[str, int]:
            from widedeep_core.fileio import write_output_chunks

            rows = -1  # the header is a line too

            def progress(done: int, total: int) -> None:
                report(done / max(total, 1), f"{done:,} of {total:,} users")

            def chunks() -> Iterator[str]:
                nonlocal rows
                for chunk in rec.iter_all_users_csv(n, exclude=rule, progress=progress):
                    rows += chunk.count("\n")
                    yield chunk

            write_output_chunks(path, chunks())
            return path, rows

        show_message(self.errorLabel, "")
        self.exportProgress.setValue(0)
        self.exportProgress.setFormat("Exporting")
        self.exportProgress.setVisible(True)
        self.exportButton.setText("Cancel export")
        self.exportButton.clicked.disconnect()
        self.exportButton.clicked.connect(self.export_jobs.cancel)
        self.stateChanged.emit("Exporting recommendations")
        return self.export_jobs.start(job)

    @Slot(float, str)
    def _on_export_progress(self, fraction: float, message: str) -> None:
        self.exportProgress.setValue(round(1000 * max(0.0, min(fraction, 1.0))))
        self.exportProgress.setFormat(message)

    @Slot(object)
    def _on_exported(self, result: tuple[str, int]) -> None:
        path, rows = result
        self._export_done(f"{rows:,} rows written to {path}", done=True)

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        show_message(self.errorLabel, message)
        self._export_done("Export failed")

    @Slot()
    def _on_export_cancelled(self) -> None:
        self._export_done("Export cancelled (no file written)")

    def _export_done(self, text: str, done: bool = False) -> None:
        self.exportProgress.setFormat(text)
        self.exportProgress.setValue(1000 if done else 0)
        self.exportButton.setText("Export all users...")
        self.exportButton.clicked.disconnect()
        self.exportButton.clicked.connect(self._choose_export)
        self.exportButton.setEnabled(self.recommender is not None)
        self.last_export = text
        self.stateChanged.emit("")

    @Slot(object)
    def _on_recommender(self, loaded: tuple[Recommender, dict[str, Any]]) -> None:
        rec, self.run_metrics = loaded
        self.baselinesTable.set_metrics(self.run_metrics)
        self.baselinesTable.setToolTip(
            self.baselinesTable.toolTip().split("\n")[0]
            + ("\n" + baseline_note(self.run_metrics) if self.run_metrics else "")
        )
        self.recommender = rec
        self.exportButton.setEnabled(self.recommender is not None or self.export_jobs.is_busy())
        self._fill_genres(rec.data.genres or ())  # the run's data: also without the Data page's
        users = [str(int(u)) for u in rec.users]
        current = self.userSelector.currentText().strip()
        self._user_model.setStringList(users)
        if current in users:
            self.userSelector.setCurrentIndex(users.index(current))
        elif users:
            self.userSelector.setCurrentIndex(0)
        self.profileLabel.setText("")
        if self.isVisible():
            self.update_recommendations()
        else:  # scored when shown: 60-75 ms of GUI-thread work at the end of every run
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        """Open the shown run, or show the list of one opened while the page was hidden."""
        super().showEvent(event)
        # the shown run is the listed one: after a restart (never opened) or after the
        # run list changed while hidden, it is opened now
        self._ensure_loaded()
        if self._stale and self.recommender is not None:
            self.update_recommendations()

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.recommender = None
        self.exportButton.setEnabled(self.recommender is not None or self.export_jobs.is_busy())
        self.run_metrics = {}
        self.baselinesTable.set_metrics({})
        self.profileLabel.setText("")
        self.excludeLabel.setText("")
        show_message(self.errorLabel, f"Cannot use this run: {message}")
        self.recModel.clear()
        self.ratedModel.clear()

    @Slot()
    def _on_task_done(self) -> None:
        self.stateChanged.emit("")
        pending, self._pending_run = self._pending_run, None
        if pending and pending != self._run_dir:
            self.load_run(pending)

    # ---------------------------------------------------------------- recommendations
    def current_user(self) -> int | None:
        """The user id typed or chosen; None when it is not a whole number."""
        text = self.userSelector.currentText().strip()
        try:
            return int(text)
        except ValueError:
            return None

    @Slot()
    def update_recommendations(self) -> None:
        """Recompute the top-N list and the user's favourites (fast: one user)."""
        self._stale = False
        rec = self.recommender
        if rec is None:  # not opened yet (a restart) or being opened: its end shows the list
            self._ensure_loaded()
            return
        text = self.userSelector.currentText().strip()
        user = self.current_user()
        if user is None:
            self._clear(f"{text!r} is not a user id: type a whole number." if text else "")
            return
        rule = self.excludeCombo.currentData() or DEFAULT_EXCLUDE
        try:
            recs = rec.recommend(
                user, n=self.topNSpin.value(), genre=self.genreCombo.currentData(), exclude=rule
            )
            rated = rec.top_rated(user, n=self.topNSpin.value())
            profile = rec.user_profile(user)
            left_out = len(rec.excluded_items(user, recs.attrs.get("exclude") or rule))
        except WideDeepError as exc:
            self._clear(str(exc))
            return
        show_message(self.errorLabel, "")
        self.recommendations = recs
        show_message(self.fallbackLabel, recs.attrs.get("fallback") or "")
        shown = recs
        if "because" in recs.columns:
            shown = recs.assign(because_titles=because_titles(recs, self._titles(rec)))
        meaning = recs.attrs.get("score")  # the core says what its score column is
        self.recModel.set_tooltip(
            "score", f"Score: {meaning}. Higher ranks first." if meaning else REC_TOOLTIPS["score"]
        )
        self.recModel.set_frame(shown[shown_columns(shown)])
        self.ratedModel.set_frame(rated[shown_columns(rated, RATED_HEADERS)])
        for table in (self.recommendationsTable, self.topRatedTable):
            table.fit()
        made_by = recs.attrs.get("exclude") or rule
        self.excludeLabel.setText(
            f"Leaving out: {EXCLUDE_RULES.get(made_by, made_by)} ({left_out:,} movies)"
        )
        self.profileLabel.setText(profile_text(user, profile, rec.data.layout))
        if len(recs) == 0 and self.genreCombo.currentData():
            show_message(self.errorLabel, "No unseen movie of this genre for this user.")

    def _titles(self, rec: Recommender) -> dict[int, str]:
        """Movie id -> title of the recommender's data (built once per recommender)."""
        if getattr(self, "_titles_of", None) is not rec:
            movies = rec.data.movies
            pairs = zip(movies["item"].tolist(), movies["title"].tolist(), strict=True)
            self._title_map = dict(pairs)
            self._titles_of = rec
        return self._title_map

    def _clear(self, message: str) -> None:
        self.recommendations = None
        self.excludeLabel.setText("")
        show_message(self.fallbackLabel, "")
        show_message(self.errorLabel, message)
        self.profileLabel.setText("")
        self.recModel.clear()
        self.ratedModel.clear()


def profile_text(user: int, profile: dict[str, Any], layout: str | None = None) -> str:
    """One line about a user: demographics where the data has them (ML-1M's age and
    occupation codes in words), and rating count."""
    parts = [f"<b>User {user}</b>"]
    for key in ("gender", "age", "occupation", "zip"):
        if profile.get(key) not in (None, ""):
            value = decode_demographic(key, profile[key]) if layout == "ml-1m" else profile[key]
            parts.append(f"{key}: {html.escape(str(value))}")
    if "n_ratings" in profile:
        parts.append(f"{int(profile['n_ratings'])} ratings")
    return " · ".join(parts)


def decode_demographic(key: str, value: Any) -> Any:
    """An ML-1M age or occupation code in words (``constants``); other values as they are."""
    try:
        code = int(value)
    except (TypeError, ValueError):
        return value
    if key == "age":
        return ML1M_AGE_LABELS.get(code, value)
    if key == "occupation" and 0 <= code < len(ML1M_OCCUPATIONS):
        return ML1M_OCCUPATIONS[code]
    return value


def column_widths(
    names: list[str], natural: list[int], available: int
) -> tuple[int | None, list[int]]:
    """(title column, widths) that fit ``available`` px: numbers keep their natural width,
    the elastic text columns give way down to ``ELASTIC_MIN`` before the title does, and
    the title (stretched by the header) takes what is left. Widths of the title's column
    are its share; the header stretches it to the rest of the viewport."""
    widths = list(natural)
    title = names.index("Title") if "Title" in names else None
    elastic = [c for c, n in enumerate(names) if n in ELASTIC_HEADERS]
    fixed = sum(w for c, w in enumerate(natural) if c != title and c not in elastic)
    rest = available - fixed
    need = sum(natural[c] for c in elastic)
    title_need = natural[title] if title is not None else 0
    if title_need + need > rest and need > 0:
        least = {c: min(natural[c], ELASTIC_MIN) for c in elastic}
        floor = sum(least.values())
        title_gets = max(min(title_need, rest - floor), TITLE_MIN)
        spare = max(rest - title_gets - floor, 0)  # beyond the floors, shared by need
        for c in elastic:
            widths[c] = least[c] + spare * (natural[c] - least[c]) // max(need - floor, 1)
    if title is not None:
        widths[title] = max(rest - sum(widths[c] for c in elastic), TITLE_MIN)
    return title, widths


class FittedTable(QTableView):
    """A read-only table whose columns fit its width (see :func:`column_widths`)."""

    def __init__(self, name: str, model: DataFrameModel):
        super().__init__()
        self.setObjectName(name)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._natural: list[int] = []  # content widths of the shown frame, measured once

    def fit(self) -> None:
        """Measure the columns of a new frame, then fit them to the width."""
        header = self.horizontalHeader()
        n = self.model().columnCount()
        self._natural = [
            max(self.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(n)
        ]
        self._apply()

    def _apply(self) -> None:
        model, header = self.model(), self.horizontalHeader()
        n = model.columnCount()
        if n == 0 or len(self._natural) != n:
            return
        names = [str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(n)]
        title, widths = column_widths(names, self._natural, self.viewport().width())
        for c, w in enumerate(widths):
            stretch = c == title
            mode = QHeaderView.ResizeMode.Stretch if stretch else QHeaderView.ResizeMode.Interactive
            header.setSectionResizeMode(c, mode)
            if not stretch:
                header.resizeSection(c, w)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Refit on every width change (the measured widths are kept)."""
        super().resizeEvent(event)
        self._apply()
