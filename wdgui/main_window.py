"""The main window: five pages, a status bar, menus with shortcuts, and saved state."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, QSignalBlocker, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from widedeep_core.config import Config, seed_run
from widedeep_core.runs import Run, RunStore

from .about import AboutDialog
from .pages.configure import ConfigurePage, torch_loaded
from .pages.data import DataPage
from .settings import DISPLAY_NAME, app_icon, make_settings, read_json, write_json
from .warmup import WARMED, qt_type_steps, warm_up
from .widgets import Steps
from .workers import JobRunner, responsive_gil

if TYPE_CHECKING:  # pragma: no cover
    from widedeep_core.data import MovieLensData
    from widedeep_core.training import FinishedEvent

    from .pages.diagnose import DiagnosePage
    from .pages.recommend import RecommendPage
    from .pages.runs import RunsPage
    from .pages.sweep import SweepPage
    from .pages.train import TrainPage

PAGE_TITLES = ("Data", "Configure", "Train", "Runs", "Recommend", "Sweep", "Diagnose")
# Pages built on first show (or when the window is idle after the warm-up): their
# modules import pyqtgraph, and building their plots before the first paint made
# ``wdgui`` take 1-4 s longer to show a window.
LAZY_PAGES = ("train", "runs", "recommend", "sweep", "diagnose")
# How long a hint in the status bar ("Load data first.") stays before it goes.
STATUS_MESSAGE_MS = 5000


class MainWindow(QMainWindow):
    """The workbench. ``MainWindow()`` opens no dialog and touches no network.

    ``settings`` defaults to the app's QSettings; ``runs_dir`` to ``$WIDEDEEP_RUNS_DIR``
    or the user data folder; ``data_path`` is opened at start (``wdgui --data PATH``).
    Set ``confirm_close = False`` to close during training without the question.
    With ``warm_up``, PyTorch and the trainer are loaded in a worker thread once the
    window has been painted (``wdgui`` does this), so the first run does not stall it.
    ``lazy_pages`` (default: ``warm_up``) builds only the Data and Configure pages at
    start; the others are built when first shown, when their attribute is first used,
    or, once the warm-up has ended, a piece (one plot, say) per event-loop turn.
    """

    firstPainted = Signal()
    warmedUp = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        runs_dir: str | Path | None = None,
        data_path: str | Path | None = None,
        warm_up: bool = False,
        lazy_pages: bool | None = None,
    ):
        super().__init__()
        lazy_pages = warm_up if lazy_pages is None else lazy_pages
        self.settings = settings if settings is not None else make_settings()
        self.store = RunStore(runs_dir)
        self.confirm_close = True
        self.about_dialog: AboutDialog | None = None
        self._painted = False
        self.warm_up_jobs = JobRunner(self)
        self.warm_up_jobs.succeeded.connect(self._on_warmed_up)
        self.warm_up_jobs.failed.connect(self._on_warmed_up)
        if warm_up:
            responsive_gil()  # the warm-up thread imports PyTorch beside the GUI thread
            self.firstPainted.connect(self.start_warm_up)
        elif lazy_pages:  # nothing imports pyqtgraph in another thread: build after painting
            self.firstPainted.connect(self._build_the_rest)
        self.setObjectName("mainWindow")
        self.setWindowTitle(DISPLAY_NAME)
        self.setWindowIcon(app_icon())

        self._lazy = lazy_pages
        self._built: dict[str, QWidget] = {}
        self._building: dict[str, Steps] = {}  # pages under construction, by key
        self._idle_build: Steps | None = None  # what the idle turns build after the warm-up
        self._after_run: Steps | None = None  # the new run shown in the Runs and Recommend pages
        self._start_build: Steps | None = None  # the Train page built in turns for a Start
        self._start_after_warm_up = False  # a Start clicked while the warm-up ran
        self._seed_queue: list[Config] = []  # the set's runs still to train, in order
        self._qt_types: Steps | None = None  # PySide's classes created before the warm-up's
        self._can_start: tuple[bool, str] = (False, "Load data first (Data page).")
        self.data_page = DataPage(lazy_plots=lazy_pages)
        self.configure_page = ConfigurePage()
        self.pages = QTabWidget()
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        for title in PAGE_TITLES:
            key = title.lower()
            page = {"data": self.data_page, "configure": self.configure_page}.get(key)
            if page is None:  # a placeholder until the page is built
                page = QWidget()
                page.setObjectName(f"{key}PagePlaceholder")
            else:
                page.setObjectName(f"{key}Page")
            self.pages.addTab(page, title)
        self.setCentralWidget(self.pages)
        self.pages.currentChanged.connect(self._on_current_changed)

        self.dataStatus = QLabel("No data")
        self.dataStatus.setObjectName("dataStatus")
        self.deviceStatus = QLabel("")
        self.deviceStatus.setObjectName("deviceStatus")
        self.jobStatus = QLabel("Idle")
        self.jobStatus.setObjectName("jobStatus")
        bar = self.statusBar()
        # permanent widgets: a hint (showMessage) shows beside them instead of hiding them
        bar.addPermanentWidget(self.dataStatus)
        bar.addPermanentWidget(self.jobStatus)
        bar.addPermanentWidget(self.deviceStatus)

        self._build_actions()
        self._wire()
        self._restore_settings()
        self._update_device()
        self._update_can_start()
        if not lazy_pages:
            self.build_pages()
        self._page(PAGE_TITLES[self.pages.currentIndex()].lower())  # the visible one
        if data_path:
            self.data_page.open_path(str(data_path))

    # ---------------------------------------------------------------- pages, built lazily
    @property
    def train_page(self) -> TrainPage:
        """The Train page (built on first use)."""
        return self._page("train")  # type: ignore[return-value]

    @property
    def runs_page(self) -> RunsPage:
        """The Runs page (built on first use)."""
        return self._page("runs")  # type: ignore[return-value]

    @property
    def recommend_page(self) -> RecommendPage:
        """The Recommend page (built on first use)."""
        return self._page("recommend")  # type: ignore[return-value]

    @property
    def sweep_page(self) -> SweepPage:
        """The Sweep page (built on first use)."""
        return self._page("sweep")  # type: ignore[return-value]

    @property
    def diagnose_page(self) -> DiagnosePage:
        """The Diagnose page (built on first use)."""
        return self._page("diagnose")  # type: ignore[return-value]

    def is_built(self, key: str) -> bool:
        """True once the page ``key`` ("train", "runs", ...) exists."""
        return key not in LAZY_PAGES or key in self._built

    def build_pages(self) -> None:
        """Build every page not built yet (at once)."""
        for key in LAZY_PAGES:
            self._page(key)

    def _rest_steps(self) -> Iterator[None]:
        """The histograms, then every page not built yet, one piece at a time."""
        yield from self.data_page.plot_steps()
        for key in LAZY_PAGES:
            if key not in self._built:
                yield from self._construction(key)

    @Slot(int)
    def _on_current_changed(self, index: int) -> None:
        if 0 <= index < len(PAGE_TITLES):
            self._page(PAGE_TITLES[index].lower())

    def _page(self, key: str) -> QWidget:
        if key == "data":
            return self.data_page
        if key == "configure":
            return self.configure_page
        page = self._built.get(key)
        if page is None:
            self._construction(key).finish()  # what the idle build left, at once
            page = self._built[key]
        return page

    def _construction(self, key: str) -> Steps:
        """The build of page ``key``, shared by the idle turns and a first use."""
        steps = self._building.get(key)
        if steps is None:
            steps = self._building[key] = Steps(self._page_steps(key))
        return steps

    def _page_steps(self, key: str) -> Iterator[None]:
        """Import the page's module, build the page a piece at a time, then install it."""
        importlib.import_module(f".pages.{key}", __package__)  # its own turn: 10-20 ms
        yield
        page = self._make_page(key)
        yield from page.construction
        self._built[key] = page
        del self._building[key]
        self._install(key, page)

    def _make_page(self, key: str) -> Any:
        """A page whose construction has begun (``page.construction`` finishes it)."""
        if key == "train":
            from .pages.train import TrainPage

            return TrainPage(stepwise=True)
        if key == "runs":
            from .pages.runs import RunsPage

            return RunsPage(self.store, stepwise=True, settings=self.settings)
        if key == "recommend":
            from .pages.recommend import RecommendPage

            return RecommendPage(self.store, stepwise=True)
        if key == "diagnose":
            from .pages.diagnose import DiagnosePage

            return DiagnosePage(self.store, stepwise=True)
        from .pages.sweep import SweepPage

        return SweepPage(stepwise=True)

    def _install(self, key: str, page: QWidget) -> None:
        """Put a new page in its tab, wire it and give it its saved state."""
        index = next(i for i, t in enumerate(PAGE_TITLES) if t.lower() == key)
        page.setObjectName(f"{key}Page")
        current = self.pages.currentIndex()
        placeholder = self.pages.widget(index)
        with QSignalBlocker(self.pages):  # swapping a tab is not a page change
            self.pages.removeTab(index)
            self.pages.insertTab(index, page, PAGE_TITLES[index])
            self.pages.setCurrentIndex(current)
        placeholder.deleteLater()
        getattr(self, f"_wire_{key}")(page)
        s = self.settings
        for splitter in page.findChildren(QSplitter):
            saved = s.value(f"splitters/{splitter.objectName()}")
            if splitter.objectName() and isinstance(saved, QByteArray):
                splitter.restoreState(saved)

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
        self.pauseAction = self._action("&Pause / resume", self._toggle_pause)
        self.pauseAction.setShortcut(QKeySequence("F6"))
        self.stopAction = self._action("S&top training", self._stop, ["Shift+F5", "Ctrl+."])
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

    @Slot()
    def _toggle_pause(self) -> None:
        if self.is_built("train"):
            self.train_page.pauseButton.toggle()

    @Slot()
    def _stop(self) -> None:
        if self.is_built("train"):
            self.train_page.stop()

    def _wire(self) -> None:
        d, c = self.data_page, self.configure_page
        d.dataLoaded.connect(self._on_data_loaded)
        d.stateChanged.connect(self._on_job_state)
        d.recentChanged.connect(self._save_recent)
        c.validityChanged.connect(self._update_can_start)
        c.configChanged.connect(self._update_device)

    def _wire_train(self, t: TrainPage) -> None:
        t.startRequested.connect(self.start_training)
        t.stateChanged.connect(self._on_job_state)
        t.runFinished.connect(self._on_run_finished)
        t.runFailed.connect(self._on_run_failed)
        smoothing = read_json(self.settings, "train/smoothing")
        if isinstance(smoothing, list) and len(smoothing) == 2:
            t.smoothCheck.setChecked(bool(smoothing[0]))
            t.smoothSpin.setValue(float(smoothing[1]))
        t.set_can_start(*self._can_start)

    def _wire_runs(self, r: RunsPage) -> None:
        r.loadConfigRequested.connect(self._on_load_config)
        r.repeatRequested.connect(self._on_repeat)
        r.resumeRequested.connect(self.resume_run)
        r.runsChanged.connect(self._on_runs_changed)

    def _wire_recommend(self, rec: RecommendPage) -> None:
        rec.stateChanged.connect(self._on_job_state)
        if self.data_page.data is not None:
            rec.set_data(self.data_page.data)
        state = read_json(self.settings, "recommend/state")
        if isinstance(state, dict):  # the run shown before the restart (opened when shown)
            rec.restore_state(state)

    def _wire_sweep(self, sweep: SweepPage) -> None:
        sweep.startRequested.connect(self.start_sweep)
        sweep.loadConfigRequested.connect(self._on_load_config)
        sweep.openRunRequested.connect(self._on_open_run)
        sweep.stateChanged.connect(self._on_job_state)
        sweep.runs_dir = self.store.root

    def _wire_diagnose(self, page: DiagnosePage) -> None:
        page.stateChanged.connect(self._on_job_state)
        page.data_source = lambda: self.data_page.data  # a run trained on it is not reloaded

    @Slot()
    def _on_runs_changed(self) -> None:
        if self.is_built("recommend"):  # a page built later reads the store itself
            self.recommend_page.refresh_runs()

    # ---------------------------------------------------------------- behaviour
    @Slot()
    def start_training(self) -> None:
        """Train the Configure page's configuration on the loaded data (F5)."""
        if self._start_after_warm_up or (self._start_build and not self._start_build.done):
            return  # this Start is under way already
        if self.is_built("train") and self.train_page.is_training():
            return
        data = self.data_page.data
        if data is None:
            self.pages.setCurrentWidget(self.data_page)
            self.hint("Load data first.")
            return
        cfg = self.configure_page.config()
        if cfg is None:
            self.pages.setCurrentWidget(self.configure_page)
            self.hint("Fix the marked settings first.")
            return
        if not self.is_built("train"):
            self._start_when_built()
            return
        seeds = self.configure_page.seeds()
        if seeds:  # one run per seed, one after another (a Stop or a failure ends the set)
            self._seed_queue = [seed_run(cfg, seed) for seed in seeds]
            cfg = self._seed_queue.pop(0)
        self.pages.setCurrentWidget(self.train_page)
        self.train_page.show_plots()  # so that the repaint below paints them, not the hint
        # Paint the page before the worker starts: its first paint (plots included)
        # took ~30 ms alone but ~90 ms while competing with the worker's data preparation.
        self.train_page.repaint()
        self._start_run(cfg, data, in_set=bool(seeds))

    def _start_run(self, cfg: Config, data: MovieLensData, in_set: bool) -> None:
        self.train_page.start(cfg, data, self.store.root)
        if in_set:
            left = len(self._seed_queue)
            self.train_page.log(f"{cfg.name}: {left} more run{'s' if left != 1 else ''} after it")
        self._update_can_start()

    @Slot()
    def _start_next_seed(self) -> None:
        """The next run of a seed set, once the previous one has ended well."""
        data, last = self.data_page.data, self.train_page.last_finished
        if not self._seed_queue or data is None or self.train_page.is_training():
            return
        if last is None or last.status != "finished":  # ended without a result: no more
            self._seed_queue.clear()
            return
        self._start_run(self._seed_queue.pop(0), data, in_set=True)

    def _start_when_built(self) -> None:
        """Show the Train tab, let a running warm-up end, build the page in turns, start.

        Built at once on a first Start (before the idle build reached it), its plots
        held the window for 160-270 ms; built while the warm-up thread imported PyTorch,
        each piece took twice as long (the two threads share the GIL). The run loses
        nothing by waiting: its worker would wait for the warm-up's lock anyway.
        """
        index = PAGE_TITLES.index("Train")
        with QSignalBlocker(self.pages):  # showing the placeholder must not build at once
            self.pages.setCurrentIndex(index)
        self.startAction.setEnabled(False)
        self.jobStatus.setText("Preparing: importing PyTorch")
        if self.warm_up_jobs.is_busy() and not WARMED.is_set():
            self._start_after_warm_up = True  # _on_warmed_up (still to come) comes back
            return

        def then_start() -> Iterator[None]:
            if not self.is_built("train"):  # the idle build may have finished it
                yield from self._construction("train")
            QTimer.singleShot(1, self, self.start_training)  # its own turn

        self._start_build = Steps(then_start())
        self._start_build.run_in_turns(self)

    def hint(self, text: str) -> None:
        """A status-bar message that goes after ``STATUS_MESSAGE_MS``."""
        self.statusBar().showMessage(text, STATUS_MESSAGE_MS)

    @Slot()
    def start_warm_up(self) -> None:
        """Load PyTorch, pandas and the trainer in a worker thread (once).

        Meanwhile the GUI thread creates PySide's classes a few at a time; the warm-up
        imports pyqtgraph only after that (see :func:`wdgui.warmup.qt_type_steps`).
        """
        if self.warm_up_jobs.is_busy() or self._qt_types is not None:
            return
        ready = threading.Event()
        self._qt_types = Steps(self._qt_type_steps(ready))
        self._qt_types.run_in_turns(self)
        self.warm_up_jobs.start(lambda report: warm_up(ready))

    def _qt_type_steps(self, ready: threading.Event) -> Iterator[None]:
        try:
            yield from qt_type_steps()
        finally:  # also when the window closes first: the warm-up must not wait
            ready.set()

    @Slot()
    def _on_warmed_up(self) -> None:
        self.configure_page.refresh_devices()
        self._update_device()
        self._build_the_rest()
        self.warmedUp.emit()
        if self._start_after_warm_up:
            self._start_after_warm_up = False
            self.start_training()

    @Slot()
    def _build_the_rest(self) -> None:
        """The histograms and the other pages, a piece per event-loop turn (pyqtgraph loaded).

        A whole page in one turn held the window for 150-290 ms (mostly pyqtgraph
        building each PlotWidget: 20-40 ms a plot); a piece is one plot or less.
        """
        if self._idle_build is None:
            self._idle_build = Steps(self._rest_steps())
            QTimer.singleShot(1, self, lambda: self._idle_build.run_in_turns(self))

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
            self.hint("Load data and fix the marked settings first.")
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
        if self.is_built("recommend"):  # otherwise it gets the data when built
            self.recommend_page.set_data(data)
        self._update_can_start()

    @Slot()
    def _update_can_start(self) -> None:
        if self.data_page.data is None:
            self._can_start = (False, "Load data first (Data page).")
        elif not self.configure_page.is_valid():
            self._can_start = (False, "Fix the marked settings (Configure page).")
        else:
            self._can_start = (True, "")
        if self.is_built("train"):
            self.train_page.set_can_start(*self._can_start)
            self.startAction.setEnabled(self.train_page.startButton.isEnabled())
        else:
            self.startAction.setEnabled(self._can_start[0])

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
        if not text and self._seed_queue:  # a job went idle: the set's next run, next turn
            QTimer.singleShot(1, self, self._start_next_seed)

    @Slot(object)
    def _on_run_finished(self, event: FinishedEvent) -> None:
        """List the new run, select it in the Runs, then the Recommend page: a turn each.

        Each of the three took 5-25 ms of the GUI thread; in one turn, together with the
        Train page's last repaint, they held the window past 50 ms.
        """
        steps = self._after_run = Steps(self._show_new_run(event))
        QTimer.singleShot(1, self, lambda: steps.run_in_turns(self))
        if event.status != "finished":
            self._seed_queue.clear()  # stopped: the set stops with it

    def _show_new_run(self, event: FinishedEvent) -> Iterator[None]:
        self.runs_page.refresh()
        if event.run_dir is None:
            return
        yield
        self.runs_page.select_runs([Path(event.run_dir).name])
        yield
        self.recommend_page.select_run(str(event.run_dir))

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self._seed_queue.clear()
        if self.is_built("runs"):  # a page built later reads the store itself
            self.runs_page.refresh()

    @Slot(str)
    def resume_run(self, run_dir: str) -> bool:
        """Go on with a stored run after its last finished epoch, on the loaded data."""
        from widedeep_core.errors import WideDeepError

        if self.is_built("train") and self.train_page.is_training():
            self.hint("A training is running: stop it first.")
            return False
        run, data = Run(run_dir), self.data_page.data
        if data is None or not run.trained_on(data):
            name = run.read_data_info().get("name", "its data")
            self.hint(f"Open the data this run was trained on ({name}) first.")
            return False
        try:
            cfg = run.read_config()
        except WideDeepError as exc:
            self.hint(str(exc))
            return False
        self._seed_queue.clear()
        self.pages.setCurrentWidget(self.train_page)
        self.train_page.start(cfg, data, self.store.root, resume=run.path)
        self._update_can_start()
        return True

    @Slot(object, str)
    def _on_repeat(self, cfg: Config, seeds: str) -> None:
        """A run's "Repeat with seeds": its configuration in the form, then Start."""
        self.configure_page.set_config(cfg)
        self.configure_page.seedsEdit.setText(seeds)
        self.start_training()

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
        seeds = s.value("configure/seeds")
        if isinstance(seeds, str):
            self.configure_page.seedsEdit.setText(seeds)
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
        s.setValue("configure/seeds", self.configure_page.seedsEdit.text())
        write_json(s, "data/recent", self.data_page.recent)
        if self.is_built("recommend"):  # else the saved state stands
            write_json(s, "recommend/state", self.recommend_page.state())
        if self.is_built("train"):  # else the saved values stand
            t = self.train_page
            write_json(s, "train/smoothing", [t.smoothCheck.isChecked(), t.smoothSpin.value()])
        s.sync()

    # ---------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask when training runs, then stop every worker and wait for its thread."""
        if self.is_built("train") and self.train_page.is_training() and self.confirm_close:
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
        for steps in (self._idle_build, self._after_run, self._qt_types, self._start_build):
            if steps is not None:
                steps.cancel()
        for page in self._built.values():
            stop = getattr(page, "shutdown", None)  # the pages that run workers
            if stop is not None:
                stop()
        self.data_page.shutdown()
        self.configure_page.shutdown()
        self.warm_up_jobs.shutdown()
        self.statusBar().clearMessage()  # and its timer
