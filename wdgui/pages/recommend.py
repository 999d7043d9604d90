"""Recommend page: a finished run, a user, the top-N unseen movies and the user's favourites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStringListModel, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.errors import WideDeepError
from widedeep_core.runs import Run, RunStore
from widedeep_core.runs.compare import baseline_note

from ..models import DataFrameModel
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


def _open_recommender(
    run_dir: str, data: MovieLensData | None, report: Report
) -> tuple[Recommender, dict[str, Any]]:
    """Worker thread: load the model (and, without matching data, the run's data set),
    and the run's test metrics with its baselines."""
    from widedeep_core.serving.recommend import Recommender

    report(-1.0, "Loading the run" if data is not None else "Loading the run and its data")
    rec = Recommender.from_run(run_dir, data=data)
    if len(rec.users):  # the first ranking builds the item-side scorer: here, not in the GUI
        rec.recommend(int(rec.users[0]), n=1)
    try:
        metrics = Run(run_dir).read_test_metrics() or {}
    except (WideDeepError, OSError):
        metrics = {}  # the list still works without its scores
    return rec, metrics


def shown_columns(recs: pd.DataFrame) -> list[str]:
    """The columns the table shows: a score, when the model gives one, replaces P(like)."""
    cols = [c for c in REC_HEADERS if c in recs.columns]
    if "score" in cols and "probability" in cols:
        cols.remove("probability")
    return cols


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
        self.refreshButton.clicked.connect(self.refresh_runs)

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
        row.addStretch(1)

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
        self.recommendationsTable = _table("recommendationsTable", self.recModel)
        self.ratedModel = DataFrameModel(headers=RATED_HEADERS)
        self.topRatedTable = _table("topRatedTable", self.ratedModel)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("<b>Recommended (unseen movies)</b>"))
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
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

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
                auc = f" · val AUC {info.best_val_auc:.3f}" if info.best_val_auc else ""
                label = f"{info.name} ({info.data_name or '?'}, {info.status}{auc})"
                self.runCombo.addItem(label, str(info.path))
        if self.runCombo.count() == 0:
            self.runCombo.addItem("No finished runs yet: train one on the Train page", None)
        i = self.runCombo.findData(current) if current else -1
        self.runCombo.setCurrentIndex(max(i, 0))
        self.runCombo.blockSignals(False)

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
        genres = list(getattr(data, "genres", ()) or ())
        self.genreCombo.blockSignals(True)
        self.genreCombo.clear()
        self.genreCombo.addItem(ALL_GENRES, None)
        for g in genres:
            self.genreCombo.addItem(g, g)
        self.genreCombo.blockSignals(False)

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
        show_message(self.errorLabel, "")
        data = _matching_data(run_dir, self.data)
        self.profileLabel.setText(f"Loading {Path(run_dir).name} ...")
        self.stateChanged.emit("Loading run for recommendations")
        self.jobs.start(lambda report: _open_recommender(run_dir, data, report))

    def is_busy(self) -> bool:
        """True while a run is being opened."""
        return self.jobs.is_busy()

    def shutdown(self) -> None:
        """Wait for a run being opened (window closing)."""
        self._pending_run = None  # nothing new starts while closing
        self.jobs.shutdown()  # _on_task_done runs

    @Slot(object)
    def _on_recommender(self, loaded: tuple[Recommender, dict[str, Any]]) -> None:
        rec, self.run_metrics = loaded
        self.baselinesTable.set_metrics(self.run_metrics)
        self.baselinesTable.setToolTip(
            self.baselinesTable.toolTip().split("\n")[0]
            + ("\n" + baseline_note(self.run_metrics) if self.run_metrics else "")
        )
        self.recommender = rec
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
        """Show the recommendations of a run opened while the page was hidden."""
        super().showEvent(event)
        if self._stale:
            self.update_recommendations()

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.recommender = None
        self.run_metrics = {}
        self.baselinesTable.set_metrics({})
        self.profileLabel.setText("")
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
        if rec is None:
            return
        text = self.userSelector.currentText().strip()
        user = self.current_user()
        if user is None:
            self._clear(f"{text!r} is not a user id: type a whole number." if text else "")
            return
        try:
            recs = rec.recommend(user, n=self.topNSpin.value(), genre=self.genreCombo.currentData())
            rated = rec.top_rated(user, n=self.topNSpin.value())
            profile = rec.user_profile(user)
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
        self.ratedModel.set_frame(rated[[c for c in RATED_HEADERS if c in rated.columns]])
        for table in (self.recommendationsTable, self.topRatedTable):
            _fit_columns(table)
        self.profileLabel.setText(profile_text(user, profile))
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
        show_message(self.fallbackLabel, "")
        show_message(self.errorLabel, message)
        self.profileLabel.setText("")
        self.recModel.clear()
        self.ratedModel.clear()


def profile_text(user: int, profile: dict[str, Any]) -> str:
    """One line about a user: demographics where the data has them, and rating count."""
    parts = [f"<b>User {user}</b>"]
    for key in ("gender", "age", "occupation", "zip"):
        if profile.get(key) not in (None, ""):
            parts.append(f"{key}: {profile[key]}")
    if "n_ratings" in profile:
        parts.append(f"{int(profile['n_ratings'])} ratings")
    return " · ".join(parts)


def _fit_columns(view: QTableView) -> None:
    """Size columns to their content, then give the spare width to the title."""
    header = view.horizontalHeader()
    view.resizeColumnsToContents()
    model = view.model()
    for c in range(model.columnCount()):
        title = model.headerData(c, Qt.Orientation.Horizontal) == "Title"
        mode = QHeaderView.ResizeMode.Stretch if title else QHeaderView.ResizeMode.Interactive
        header.setSectionResizeMode(c, mode)


def _table(name: str, model: DataFrameModel) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view
