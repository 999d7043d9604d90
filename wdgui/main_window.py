"""The main window: five pages, a status bar, menus with shortcuts, and saved state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from widedeep_core.config import Config
from widedeep_core.runs import RunStore

from .about import AboutDialog
from .pages.configure import ConfigurePage, torch_loaded
from .pages.data import DataPage
from .pages.recommend import RecommendPage
from .pages.runs import RunsPage
from .pages.sweep import SweepPage
from .pages.train import TrainPage
from .plotting import configure_pyqtgraph
from .settings import DISPLAY_NAME, app_icon, make_settings, read_json, write_json
from .warmup import warm_up
from .workers import JobRunner

if TYPE_CHECKING:  # pragma: no cover
    from widedeep_core.data import MovieLensData
    from widedeep_core.training import FinishedEvent

PAGE_TITLES = ("Data", "Configure", "Train", "Runs", "Recommend", "Sweep")


class MainWindow(QMainWindow):
    """The workbench. ``MainWindow()`` opens no dialog and touches no network.

    ``settings`` defaults to the app's QSettings; ``runs_dir`` to ``$WIDEDEEP_RUNS_DIR``
    or the user data folder; ``data_path`` is opened at start (``wdgui --data PATH``).
    Set ``confirm_close = False`` to close during training without the question.
    With ``warm_up``, PyTorch and the trainer are loaded in a worker thread once the
    window has been painted (``wdgui`` does this), so the first run does not stall it.
    """

    firstPainted = Signal()
    warmedUp = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        runs_dir: str | Path | None = None,
        data_path: str | Path | None = None,
        warm_up: bool = False,
    ):
        super().__init__()
        configure_pyqtgraph()
        self.settings = settings if settings is not None else make_settings()
        self.store = RunStore(runs_dir)
        self.confirm_close = True
        self.about_dialog: AboutDialog | None = None
        self._painted = False
        self.warm_up_jobs = JobRunner(self)
        self.warm_up_jobs.succeeded.connect(self._on_warmed_up)
        self.warm_up_jobs.failed.connect(self._on_warmed_up)
        if warm_up:
            self.firstPainted.connect(self.start_warm_up)
        self.setObjectName("mainWindow")
        self.setWindowTitle(DISPLAY_NAME)
        self.setWindowIcon(app_icon())

        self.data_page = DataPage()
        self.configure_page = ConfigurePage()
        self.train_page = TrainPage()
        self.runs_page = RunsPage(self.store)
        self.recommend_page = RecommendPage(self.store)
        self.sweep_page = SweepPage()
        self.pages = QTabWidget()
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        for title, page in zip(PAGE_TITLES, self._pages(), strict=True):
            page.setObjectName(f"{title.lower()}Page")
            self.pages.addTab(page, title)
        self.setCentralWidget(self.pages)

        self.dataStatus = QLabel("No data")
        self.dataStatus.setObjectName("dataStatus")
        self.deviceStatus = QLabel("")
        self.deviceStatus.setObjectName("deviceStatus")
        self.jobStatus = QLabel("Idle")
        self.jobStatus.setObjectName("jobStatus")
        bar = self.statusBar()
        bar.addWidget(self.dataStatus, 2)
        bar.addWidget(self.jobStatus, 2)
        bar.addPermanentWidget(self.deviceStatus)

        self._build_actions()
        self._wire()
        self._restore_settings()
        self._update_device()
        self._update_can_start()
        if data_path:
            self.data_page.open_path(str(data_path))

    def _pages(self) -> tuple[QWidget, ...]:
        return (
            self.data_page,
            self.configure_page,
            self.train_page,
            self.runs_page,
            self.recommend_page,
            self.sweep_page,
        )

    # ---------------------------------------------------------------- menus and shortcuts
    def _action(self, text: str, slot: Any, shortcuts: list[Any] | None = None) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whatever page has focus
        return action

    def _build_actions(self) -> None:
        self.openAction = self._action(
            "&Open data folder...", self.data_page.choose_folder, [QKeySequence.StandardKey.Open]
        )
        self.openZipAction = self._action("Open data &zip...", self.data_page.choose_zip)
        self.demoAction = self._action("&Demo data", self.data_page.load_demo)
        self.quitAction = self._action("&Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.startAction = self._action("&Start training", self.start_training, ["F5", "Ctrl+R"])
        self.pauseAction = self._action("&Pause / resume", self.train_page.pauseButton.toggle)
        self.pauseAction.setShortcut(QKeySequence("F6"))
        self.stopAction = self._action(
            "S&top training", self.train_page.stop, ["Shift+F5", "Ctrl+."]
        )
        self.aboutAction = self._action("&About...", self.show_about)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for a in (self.openAction, self.openZipAction, self.demoAction):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.quitAction)
        train_menu = menu.addMenu("&Train")
        for a in (self.startAction, self.pauseAction, self.stopAction):
            train_menu.addAction(a)
        view_menu = menu.addMenu("&View")
        for i, title in enumerate(PAGE_TITLES):
            a = QAction(title, self)
            a.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            a.setData(i)
            a.triggered.connect(self._on_page_action)
            self.addAction(a)
            view_menu.addAction(a)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.aboutAction)

    @Slot()
    def _on_page_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.pages.setCurrentIndex(int(action.data()))

    def _wire(self) -> None:
        d, c, t, r, rec, sweep = self._pages()
        d.dataLoaded.connect(self._on_data_loaded)
        d.stateChanged.connect(self._on_job_state)
        d.recentChanged.connect(self._save_recent)
        c.validityChanged.connect(self._update_can_start)
        c.configChanged.connect(self._update_device)
        t.startRequested.connect(self.start_training)
        t.stateChanged.connect(self._on_job_state)
        t.runFinished.connect(self._on_run_finished)
        t.runFailed.connect(self._on_run_failed)
        r.loadConfigRequested.connect(self._on_load_config)
        r.runsChanged.connect(rec.refresh_runs)
        rec.stateChanged.connect(self._on_job_state)
        sweep.startRequested.connect(self.start_sweep)
        sweep.loadConfigRequested.connect(self._on_load_config)
        sweep.openRunRequested.connect(self._on_open_run)
        sweep.stateChanged.connect(self._on_job_state)

    # ---------------------------------------------------------------- behaviour
    @Slot()
    def start_training(self) -> None:
        """Train the Configure page's configuration on the loaded data (F5)."""
        if self.train_page.is_training():
            return
        data = self.data_page.data
        if data is None:
            self.pages.setCurrentWidget(self.data_page)
            self.statusBar().showMessage("Load data first.")
            return
        cfg = self.configure_page.config()
        if cfg is None:
            self.pages.setCurrentWidget(self.configure_page)
            self.statusBar().showMessage("Fix the marked settings first.")
            return
        self.pages.setCurrentWidget(self.train_page)
        # Paint the page before the worker starts: its first paint (plots included)
        # took ~30 ms alone but ~90 ms while competing with the worker's data preparation.
        self.train_page.repaint()
        self.train_page.start(cfg, data, self.store.root)
        self._update_can_start()

    @Slot()
    def start_warm_up(self) -> None:
        """Load PyTorch, pandas and the trainer in a worker thread (once)."""
        self.warm_up_jobs.start(lambda report: warm_up())

    @Slot()
    def _on_warmed_up(self) -> None:
        self.configure_page.refresh_devices()
        self._update_device()
        self.warmedUp.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Emit ``firstPainted`` once, after the window's first paint."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.firstPainted.emit()

    def start_sweep(self) -> None:
        """Sweep around the Configure page's configuration on the loaded data."""
        data, cfg = self.data_page.data, self.configure_page.config()
        if data is None or cfg is None:
            self.statusBar().showMessage("Load data and fix the marked settings first.")
            return
        self.sweep_page.start(cfg, data, self.store.root)

    @Slot(str)
    def _on_open_run(self, run_dir: str) -> None:
        self.runs_page.refresh()
        self.runs_page.select_runs([Path(run_dir).name])
        self.pages.setCurrentWidget(self.runs_page)

    @Slot(object)
    def _on_data_loaded(self, data: MovieLensData) -> None:
        self.dataStatus.setText(f"Data: {data.name} ({data.layout}, {data.n_ratings:,} ratings)")
        self.configure_page.set_data(data)
        self.recommend_page.set_data(data)
        self._update_can_start()

    @Slot()
    def _update_can_start(self) -> None:
        if self.data_page.data is None:
            self.train_page.set_can_start(False, "Load data first (Data page).")
        elif not self.configure_page.is_valid():
            self.train_page.set_can_start(False, "Fix the marked settings (Configure page).")
        else:
            self.train_page.set_can_start(True)
        self.startAction.setEnabled(self.train_page.startButton.isEnabled())

    @Slot()
    def _update_device(self) -> None:
        cfg = self.configure_page.config()
        if cfg is None:
            return
        if not torch_loaded():  # the warm-up loads it; importing here delays the window
            self.deviceStatus.setText(f"Device: {cfg.device}")
            return
        from widedeep_core.devices import describe_device, resolve_device

        try:
            self.deviceStatus.setText(f"Device: {describe_device(resolve_device(cfg.device))}")
        except Exception as exc:  # shown, never raised: the form marks the field too
            self.deviceStatus.setText(f"Device: {exc}")

    @Slot(str)
    def _on_job_state(self, text: str) -> None:
        self.jobStatus.setText(text or "Idle")
        self._update_can_start()

    @Slot(object)
    def _on_run_finished(self, event: FinishedEvent) -> None:
        self.runs_page.refresh()
        if event.run_dir is not None:
            self.runs_page.select_runs([Path(event.run_dir).name])
            self.recommend_page.select_run(str(event.run_dir))

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self.runs_page.refresh()

    @Slot(object)
    def _on_load_config(self, cfg: Config) -> None:
        self.configure_page.set_config(cfg)
        self.pages.setCurrentWidget(self.configure_page)

    @Slot()
    def show_about(self) -> None:
        """Show the About dialog (non-blocking)."""
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self)
        self.about_dialog.open()

    # ---------------------------------------------------------------- settings
    @Slot(list)
    def _save_recent(self, recent: list) -> None:
        write_json(self.settings, "data/recent", recent)

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for splitter in self.findChildren(QSplitter):
            saved = s.value(f"splitters/{splitter.objectName()}")
            if splitter.objectName() and isinstance(saved, QByteArray):
                splitter.restoreState(saved)
        self.data_page.set_recent(read_json(s, "data/recent", []) or [])
        strings = read_json(s, "configure/strings")
        if isinstance(strings, dict):
            self.configure_page.set_strings(strings, s.value("configure/preset"))
        smoothing = read_json(s, "train/smoothing")
        if isinstance(smoothing, list) and len(smoothing) == 2:
            self.train_page.smoothCheck.setChecked(bool(smoothing[0]))
            self.train_page.smoothSpin.setValue(float(smoothing[1]))
        page = s.value("window/page")
        if page is not None and str(page).isdigit():
            self.pages.setCurrentIndex(int(page))

    def save_settings(self) -> None:
        """Write geometry, page, splitters, form values and recent folders."""
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/page", self.pages.currentIndex())
        for splitter in self.findChildren(QSplitter):
            if splitter.objectName():
                s.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        write_json(s, "configure/strings", self.configure_page.strings())
        s.setValue("configure/preset", self.configure_page.preset_name())
        write_json(s, "data/recent", self.data_page.recent)
        write_json(
            s,
            "train/smoothing",
            [self.train_page.smoothCheck.isChecked(), self.train_page.smoothSpin.value()],
        )
        s.sync()

    # ---------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask when training runs, then stop every worker and wait for its thread."""
        if self.train_page.is_training() and self.confirm_close:
            answer = QMessageBox.question(
                self,
                "Training in progress",
                "A training is running. Stop it (the best weights are kept) and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        self.save_settings()
        event.accept()

    def shutdown(self) -> None:
        """Cancel training and loading and wait for their threads."""
        self.train_page.shutdown()
        self.data_page.shutdown()
        self.configure_page.shutdown()
        self.recommend_page.shutdown()
        self.warm_up_jobs.shutdown()
        self.sweep_page.shutdown()
