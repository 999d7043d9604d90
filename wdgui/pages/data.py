"""Data page: open, download or generate a MovieLens folder; show its summary and problems."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..settings import DISPLAY_NAME, push_recent
from ..widgets import Steps, message_label, show_message
from ..workers import JobRunner, Report

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    # widedeep_core.data loads pandas and pyarrow (seconds): only in jobs, never at start
    from widedeep_core.data import MovieLensData
    from widedeep_core.data.summary import DataSummary


def demo_folder() -> Path:
    """Where "Demo data" writes its synthetic ml-1m folder (inside the core's cache)."""
    from widedeep_core.data import user_cache_dir

    return user_cache_dir() / "demo" / "ml-1m-synthetic"


def release_names() -> tuple[str, ...]:
    """The official releases the Download menu offers."""
    from widedeep_core.data.download import RELEASES

    return tuple(RELEASES)


@dataclass(frozen=True)
class Loaded:
    """What a load job hands to the GUI thread."""

    data: MovieLensData
    summary: DataSummary
    per_user: tuple[np.ndarray, np.ndarray]  # histogram of log10(ratings per user)


def _load_job(path: str, report: Report) -> Loaded:
    """Worker thread: load and summarise a folder or zip (nothing heavy left for the GUI)."""
    from widedeep_core.data import load_movielens
    from widedeep_core.data.summary import summarize

    def progress(fraction: float, what: str) -> None:
        report(fraction, f"Loading: {what}")

    data = load_movielens(path, progress=progress)
    report(0.99, "Summarising")
    return Loaded(data, summarize(data), per_user_histogram(data))


def _demo_job(report: Report) -> Loaded:
    """Worker thread: write the synthetic demo folder (offline), then load it."""
    # the data package loads pandas: imported here, in the worker, not in the GUI thread
    from widedeep_core.data import DEMO_SIZE, write_synthetic

    folder = demo_folder()
    report(-1.0, "Writing demo data")
    write_synthetic(folder, layout="ml-1m", **DEMO_SIZE)  # the size the README states
    return _load_job(str(folder), report)


def _download_job(name: str, base_url: str | None, report: Report) -> Loaded:
    """Worker thread: download a release (reused when already there), then load it."""
    from widedeep_core.data.download import download_release

    def progress(done: int, total: int | None) -> None:
        size = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        report(done / total if total else -1.0, f"Downloading {name}: {size}")

    mirror = {"base_url": base_url} if base_url else {}
    path = download_release(name, progress=progress, **mirror)
    return _load_job(str(path), report)


class DataPage(QWidget):
    """Loads data in a worker thread; shows counts, histograms and the loader's problems."""

    dataLoaded = Signal(object)  # MovieLensData
    stateChanged = Signal(str)
    recentChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None, lazy_plots: bool = False):
        super().__init__(parent)
        self.data: MovieLensData | None = None
        self.summary: DataSummary | None = None
        self.recent: list[str] = []
        self.last_error = ""
        self.base_url: str | None = None  # None: the GroupLens server; a mirror may replace it
        self.jobs = JobRunner(self)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.succeeded.connect(self._on_loaded)
        self.jobs.failed.connect(self._show_error)
        self.jobs.cancelled.connect(self._on_cancelled)
        self.jobs.finished.connect(self._on_task_done)
        self.setAcceptDrops(True)
        self._build()
        self._shown: Loaded | None = None  # drawn into the histograms once they exist
        self._plot_steps: Steps | None = None
        if not lazy_plots:
            self.build_plots()

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.dataPathEdit = QLineEdit()
        self.dataPathEdit.setObjectName("dataPathEdit")
        self.dataPathEdit.setPlaceholderText(
            "A MovieLens folder or official .zip (ml-100k, ml-1m, ml-10m, ml-latest, ...);"
            " drop one here"
        )
        self.dataPathEdit.returnPressed.connect(self._on_path_entered)
        self.openDataButton = QPushButton("Open folder...")
        self.openDataButton.setObjectName("openDataButton")
        self.openDataButton.setToolTip("Open a MovieLens folder (Ctrl+O)")
        self.openDataButton.clicked.connect(self.choose_folder)
        self.openZipButton = QPushButton("Open zip...")
        self.openZipButton.setObjectName("openZipButton")
        self.openZipButton.clicked.connect(self.choose_zip)
        self.recentButton = QToolButton()
        self.recentButton.setObjectName("recentButton")
        self.recentButton.setText("Recent")
        self.recentButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recentMenu = QMenu(self.recentButton)
        self.recentButton.setMenu(self.recentMenu)
        self.downloadButton = QToolButton()
        self.downloadButton.setObjectName("downloadButton")
        self.downloadButton.setText("Download...")
        self.downloadButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.downloadMenu = QMenu(self.downloadButton)
        self.downloadMenu.setObjectName("downloadMenu")
        # filled when first shown: the release list lives beside the loader (pandas)
        self.downloadMenu.aboutToShow.connect(self._fill_download_menu)
        self.downloadMenu.triggered.connect(self._on_download_chosen)
        self.downloadButton.setMenu(self.downloadMenu)
        self.demoDataButton = QPushButton("Demo data")
        self.demoDataButton.setObjectName("demoDataButton")
        self.demoDataButton.setToolTip(
            "Generate a synthetic MovieLens-like folder the size of ML-100K, offline"
        )
        self.demoDataButton.clicked.connect(self.load_demo)

        top = QHBoxLayout()
        top.addWidget(self.dataPathEdit, 1)
        for w in (
            self.openDataButton,
            self.openZipButton,
            self.recentButton,
            self.downloadButton,
            self.demoDataButton,
        ):
            top.addWidget(w)

        self.progress = QProgressBar()
        self.progress.setObjectName("dataProgress")
        self.progress.setRange(0, 1000)
        self.progressLabel = QLabel("")
        self.cancelButton = QPushButton("Cancel")
        self.cancelButton.setObjectName("cancelDataButton")
        self.cancelButton.clicked.connect(self.cancel)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.progressLabel, 2)
        prow.addWidget(self.cancelButton)
        self.progressRow = QWidget()
        self.progressRow.setLayout(prow)
        self.progressRow.setVisible(False)

        self.errorLabel = message_label("dataError")

        self.dataSummary = QTextBrowser()
        self.dataSummary.setObjectName("dataSummary")
        self.dataSummary.setPlaceholderText(
            "No data loaded. Open a MovieLens folder, download a release or click Demo data."
        )
        self.problemsList = QListWidget()
        self.problemsList.setObjectName("problemsList")
        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("dataLeftSplitter")
        left.addWidget(self.dataSummary)
        problems_box = QWidget()
        pv = QVBoxLayout(problems_box)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(QLabel("Problems the loader reported:"))
        pv.addWidget(self.problemsList)
        left.addWidget(problems_box)

        # the histograms come later (build_plots): the welcome panel hides them at first,
        # and pyqtgraph's import would delay the window's first paint by 0.3-1 s
        self.plotSplitter = right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("dataPlotSplitter")

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("dataSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        # First launch: the three ways in instead of empty plots (swapped once data loads)
        self.welcomePanel = self._build_welcome()
        self.stack = QStackedWidget()
        self.stack.setObjectName("dataStack")
        self.stack.addWidget(self.welcomePanel)
        self.stack.addWidget(self.splitter)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progressRow)
        layout.addWidget(self.errorLabel)
        layout.addWidget(self.stack, 1)

    def _build_welcome(self) -> QWidget:
        panel = QWidget()
        panel.setObjectName("welcomePanel")
        title = _label(f"<h2>Welcome to the {html.escape(DISPLAY_NAME)}</h2>", rich=True)
        intro = _label(
            "Train, compare and use Wide & Deep recommenders on MovieLens ratings."
            " Start with some data, in any of three ways:"
        )
        self.welcomeOpenButton = QPushButton("Open a folder or zip...")
        self.welcomeOpenButton.setObjectName("welcomeOpenButton")
        menu = QMenu(self.welcomeOpenButton)
        menu.addAction("Folder...", self.choose_folder)
        menu.addAction("Zip...", self.choose_zip)
        self.welcomeOpenButton.setMenu(menu)
        self.welcomeDownloadButton = QPushButton("Download a MovieLens release")
        self.welcomeDownloadButton.setObjectName("welcomeDownloadButton")
        self.welcomeDownloadButton.setMenu(self.downloadMenu)
        self.welcomeDemoButton = QPushButton("Build demo data")
        self.welcomeDemoButton.setObjectName("welcomeDemoButton")
        self.welcomeDemoButton.clicked.connect(self.load_demo)
        rows = (
            (self.welcomeOpenButton, "ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest...:"
             " an unpacked folder or the official .zip. You can also drop one here."),
            (self.welcomeDownloadButton, "Fetch an official release from GroupLens"
             " (ml-latest-small and ml-100k take seconds)."),
            (self.welcomeDemoButton, "A synthetic MovieLens-like folder the size of"
             " ML-100K, built offline in a moment: good for a first try of every page."),
        )  # fmt: skip
        v = QVBoxLayout(panel)
        v.setContentsMargins(24, 24, 24, 24)
        v.addWidget(title)
        v.addWidget(intro)
        for button, text in rows:
            button.setMinimumWidth(260)
            label = _label(text)
            row = QHBoxLayout()
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
            row.addWidget(label, 1)
            v.addLayout(row)
        v.addWidget(_label("Then pick a preset on the Configure page and press Start (F5)."))
        v.addStretch(1)
        return panel

    def has_plots(self) -> bool:
        """True once the histograms exist (with ``lazy_plots``: after :meth:`build_plots`)."""
        return hasattr(self, "ratingPlot")

    def build_plots(self) -> None:
        """Create the two histograms (once) and draw the data shown meanwhile.

        With ``lazy_plots`` the window calls it once its warm-up thread has imported
        pyqtgraph: importing it here while that thread dlopen'ed libtorch held the GIL
        waiting for the loader lock (0.3-1.3 s stalls right after the data loaded).
        """
        self.plot_steps().finish()

    def plot_steps(self) -> Steps:
        """:meth:`build_plots` a plot per step (the window runs one per event-loop turn)."""
        if self._plot_steps is None:
            self._plot_steps = Steps(self._build_plots())
        return self._plot_steps

    def _build_plots(self) -> Iterator[None]:
        import pyqtgraph as pg

        from ..plotting import color, plot_steps

        rating = yield from plot_steps("ratingHistogram", "Ratings", "rating", "count")
        self.ratingBars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=color(0))
        rating.addItem(self.ratingBars)
        yield
        user = yield from plot_steps(
            "ratingsPerUserPlot", "Ratings per user", "ratings per user (log scale)", "users"
        )
        self.userBars = pg.BarGraphItem(x=[], height=[], width=0.1, brush=color(2))
        user.addItem(self.userBars)
        yield
        self.ratingPlot, self.userPlot = rating, user  # has_plots() from here on
        self.plotSplitter.addWidget(self.ratingPlot)
        self.plotSplitter.addWidget(self.userPlot)
        if self._shown is not None:
            self._draw_histograms(self._shown)

    def is_welcome_shown(self) -> bool:
        """True while no data has been loaded (the first-launch panel is shown)."""
        return self.stack.currentWidget() is self.welcomePanel

    @Slot()
    def _fill_download_menu(self) -> None:
        if self.downloadMenu.actions():
            return
        for name in release_names():
            action = QAction(name, self.downloadMenu)
            action.setData(name)
            self.downloadMenu.addAction(action)

    # ---------------------------------------------------------------- public API
    def is_busy(self) -> bool:
        """True while loading, generating or downloading."""
        return self.jobs.is_busy()

    def open_path(self, path: str | Path) -> None:
        """Load a folder or zip in a worker thread (ignored while busy)."""
        text = str(path).strip()
        self.dataPathEdit.setText(text)
        if not text:
            self._show_error("Enter or choose a MovieLens folder or .zip first.")
            return
        self._start(lambda report: _load_job(text, report), f"Loading {text}")

    @Slot()
    def load_demo(self) -> None:
        """Generate the synthetic demo folder offline and load it (no dialog)."""
        self.dataPathEdit.clear()  # the folder's path shows once it is loaded
        self._start(_demo_job, "Generating demo data")

    def download(self, name: str) -> None:
        """Download an official release (with progress and Cancel), then load it."""
        url = self.base_url
        self._start(lambda report: _download_job(name, url, report), f"Downloading {name}")

    @Slot()
    def cancel(self) -> None:
        """Stop the current load or download at its next progress report."""
        if self.jobs.is_busy():
            self.jobs.cancel()
            self.progressLabel.setText("Cancelling...")

    def shutdown(self) -> None:
        """Cancel and wait for the worker (window closing)."""
        self.jobs.shutdown()  # cancels, then waits: _on_task_done runs

    def set_recent(self, paths: list[str]) -> None:
        """Fill the Recent menu (from the settings)."""
        self.recent = [p for p in paths if isinstance(p, str) and p][:8]
        self.recentMenu.clear()
        for p in self.recent:
            action = self.recentMenu.addAction(p)
            action.setData(p)
            action.triggered.connect(self._on_recent)
        self.recentButton.setEnabled(bool(self.recent))

    # ---------------------------------------------------------------- dialogs and drops
    @Slot()
    def choose_folder(self) -> None:
        """Ask for a folder with a dialog, then load it."""
        path = QFileDialog.getExistingDirectory(self, "Open a MovieLens folder")
        if path:
            self.open_path(path)

    @Slot()
    def choose_zip(self) -> None:
        """Ask for an official .zip with a dialog, then load it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a MovieLens zip", "", "Zip (*.zip)")
        if path:
            self.open_path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_path(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_path(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_path(path)

    @Slot()
    def _on_path_entered(self) -> None:
        self.open_path(self.dataPathEdit.text())

    @Slot()
    def _on_recent(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.open_path(str(action.data()))

    @Slot(QAction)
    def _on_download_chosen(self, action: QAction) -> None:
        self.download(str(action.data()))

    # ---------------------------------------------------------------- worker
    def _start(self, job: Callable[[Report], Loaded], what: str) -> None:
        if self.jobs.is_busy():
            return
        show_message(self.errorLabel, "")
        self.last_error = ""
        self.progress.setRange(0, 0)  # busy until the first report
        self.progressLabel.setText(what)
        self.progressRow.setVisible(True)
        self._set_inputs_enabled(False)
        self.stateChanged.emit(what)
        self.jobs.start(job)

    def _set_inputs_enabled(self, on: bool) -> None:
        for w in (
            self.dataPathEdit,
            self.openDataButton,
            self.openZipButton,
            self.recentButton,
            self.downloadButton,
            self.demoDataButton,
            self.welcomeOpenButton,
            self.welcomeDownloadButton,
            self.welcomeDemoButton,
        ):
            w.setEnabled(on)
        if on:
            self.recentButton.setEnabled(bool(self.recent))

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(min(fraction, 1.0) * 1000))
        if message:
            self.progressLabel.setText(message)

    @Slot(object)
    def _on_loaded(self, result: Loaded) -> None:
        self.data, self.summary = result.data, result.summary
        self.show_summary(result)
        source = str(self.data.source)
        self.dataPathEdit.setText(source)
        self.set_recent(push_recent(self.recent, source))
        self.recentChanged.emit(self.recent)
        self.dataLoaded.emit(self.data)

    @Slot(str)
    def _show_error(self, message: str) -> None:
        self.last_error = message
        show_message(self.errorLabel, message)

    @Slot()
    def _on_cancelled(self) -> None:
        show_message(self.errorLabel, "Cancelled.")

    @Slot()
    def _on_task_done(self) -> None:
        self.progressRow.setVisible(False)
        self._set_inputs_enabled(True)
        self.stateChanged.emit("")

    # ---------------------------------------------------------------- summary
    def show_summary(self, loaded: Loaded) -> None:
        """Fill the summary text, the problem list and both histograms."""
        self.stack.setCurrentWidget(self.splitter)
        summary = loaded.summary
        self.dataSummary.setHtml(summary_html(loaded.data, summary))
        self.problemsList.clear()
        for p in summary.problems:
            self.problemsList.addItem(str(p))
        if not summary.problems:
            self.problemsList.addItem("none")
        self._shown = loaded
        if self.has_plots():
            self._draw_histograms(loaded)

    def _draw_histograms(self, loaded: Loaded) -> None:
        import numpy as np  # not at import: the window's first paint does without it

        summary = loaded.summary
        values = np.array(sorted(summary.rating_histogram), dtype=float)
        counts = np.array([summary.rating_histogram[v] for v in values], dtype=float)
        width = 0.4 if len(values) < 2 else 0.8 * float(np.min(np.diff(values)))
        self.ratingBars.setOpts(x=values, height=counts, width=width)
        centres, users = loaded.per_user
        step = float(centres[1] - centres[0]) if len(centres) > 1 else 0.1
        self.userBars.setOpts(x=centres, height=users, width=step * 0.9)
        if len(centres):
            ticks = log_ticks(centres[0] - step, centres[-1] + step)
            self.userPlot.getPlotItem().getAxis("bottom").setTicks([ticks])
        self.ratingPlot.getPlotItem().autoRange()
        self.userPlot.getPlotItem().autoRange()


def _label(text: str, rich: bool = False) -> QLabel:
    """A word-wrapped label whose format is said, not guessed: Qt's guess took plain text
    with an entity ("Wide &amp; Deep") as plain and showed the entity."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def _dropped_path(event: QDragEnterEvent | QDropEvent) -> str | None:
    """The first dropped local folder or .zip, else None."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        path = Path(url.toLocalFile())
        if url.isLocalFile() and (path.is_dir() or path.suffix.lower() == ".zip"):
            return str(path)
    return None


def per_user_histogram(data: MovieLensData, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of log10(ratings per user): bin centres and user counts (for the plot)."""
    import numpy as np  # not at import: the window's first paint does without it

    _, per_user = np.unique(data.ratings["user"].to_numpy(), return_counts=True)
    if len(per_user) == 0:
        return np.zeros(0), np.zeros(0)
    counts, edges = np.histogram(np.log10(per_user), bins=bins)
    return (edges[:-1] + edges[1:]) / 2, counts.astype(float)


def log_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Ticks 1, 2, 5, 10, 20, 50 ... placed at their log10 between ``lo`` and ``hi``."""
    import numpy as np

    ticks = []
    for decade in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        for m in (1, 2, 5):
            value = m * 10**decade
            if lo <= np.log10(value) <= hi:
                ticks.append((float(np.log10(value)), f"{value:,}"))
    return ticks


def summary_html(data: MovieLensData, s: DataSummary) -> str:
    """The summary as an HTML table: layout, counts, sparsity, scale, activity, time range."""
    rows = [
        ("Source", str(data.source)),
        ("Layout", s.layout),
        ("Ratings", f"{s.n_ratings:,}"),
        ("Users", f"{s.n_users:,}" + _listed(s.users_listed)),
        ("Movies", f"{s.n_movies:,}" + _listed(s.movies_listed)),
        ("Sparsity", f"{s.sparsity:.2%} of the user x movie matrix is empty"),
        ("Rating scale", f"{s.rating_scale[0]:g} to {s.rating_scale[1]:g}"),
        ("Mean rating", f"{s.mean_rating:.2f}"),
        ("Ratings per user", _quantile_text(s.ratings_per_user)),
        ("Ratings per movie", _quantile_text(s.ratings_per_movie)),
        ("Time range", " to ".join(_day(t) for t in s.time_range)),
        ("Demographics", "yes" if s.has_demographics else "no (ids, years and genres only)"),
        ("Genres", str(s.n_genres)),
        ("Problems", str(len(s.problems)) if s.problems else "none"),
        ("Fingerprint", s.fingerprint[:16]),
    ]
    body = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<h3>{html.escape(s.name)}</h3><table cellspacing='4'>{body}</table>"


def _listed(n: int | None) -> str:
    return "" if n is None else f" rated ({n:,} listed)"


def _quantile_text(q: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:,.0f}" for k, v in q.items())


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d")
