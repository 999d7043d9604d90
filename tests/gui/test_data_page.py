"""Data page: demo data without dialogs, summaries, bad folders, problems, drops, download."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from PySide6 import QtGui
from PySide6.QtCore import QMimeData, QPointF, Qt, QThread, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QTextDocument
from PySide6.QtWidgets import QLabel

from wdgui.pages.data import DataPage
from widedeep_core.data import DEMO_SIZE


@pytest.fixture
def page(qtbot):
    p = DataPage()
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def wait_idle(qtbot, page):
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20000)


def test_demo_button_loads_synthetic_data_without_dialogs(page, qtbot):
    with qtbot.waitSignal(page.dataLoaded, timeout=20000) as blocker:
        page.demoDataButton.click()
    wait_idle(qtbot, page)
    data = blocker.args[0]
    assert DEMO_SIZE == {"n_users": 1000, "n_items": 1700, "n_ratings": 100_000}  # the README's
    assert data.n_ratings == DEMO_SIZE["n_ratings"]
    assert data.ratings["user"].nunique() == DEMO_SIZE["n_users"]
    text = page.dataSummary.toPlainText()
    assert f"{DEMO_SIZE['n_ratings']:,}" in text and "Sparsity" in text
    heights = page.ratingBars.opts["height"]
    assert sum(heights) == data.n_ratings
    assert sum(page.userBars.opts["height"]) == data.ratings["user"].nunique()
    assert page.recent and Path(page.recent[0]) == Path(data.source)
    assert page.errorLabel.isHidden()


@pytest.mark.parametrize("kind", ["empty", "missing", "garbage"])
def test_a_bad_folder_gives_a_message_not_a_crash(page, qtbot, tmp_path, kind):
    target = tmp_path / "bad"
    if kind == "empty":
        target.mkdir()
    elif kind == "garbage":
        target.mkdir()
        (target / "ratings.dat").write_text("this is not\na ratings file\n")
    page.dataPathEdit.setText(str(target))
    page.dataPathEdit.returnPressed.emit()
    wait_idle(qtbot, page)
    assert page.data is None
    assert not page.errorLabel.isHidden()
    assert page.last_error and "Traceback" not in page.last_error
    assert "bad" in page.last_error  # names the folder or file


def test_problems_the_loader_reported_are_listed(page, qtbot, tiny_folder, tmp_path):
    folder = tmp_path / "dups"
    shutil.copytree(tiny_folder, folder)
    ratings = folder / "ratings.dat"
    first = ratings.read_bytes().splitlines(keepends=True)[0]
    ratings.write_bytes(ratings.read_bytes() + first)  # one duplicated rating
    page.open_path(folder)
    wait_idle(qtbot, page)
    assert page.data is not None, page.last_error
    problems = [page.problemsList.item(i).text() for i in range(page.problemsList.count())]
    assert problems and problems != ["none"]
    assert problems == [str(p) for p in page.data.problems]


def test_dropping_a_folder_opens_it(page, qtbot, tiny_folder):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_folder))])
    event = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    with qtbot.waitSignal(page.dataLoaded, timeout=20000):
        page.dropEvent(event)
    wait_idle(qtbot, page)
    assert page.dataPathEdit.text() == str(tiny_folder)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def release_server(tmp_path):
    """A local HTTP server offering a synthetic ml-100k.zip (no network)."""
    from widedeep_core.data import write_synthetic_zip

    root = tmp_path / "server"
    root.mkdir()
    write_synthetic_zip(
        root / "ml-100k.zip", layout="ml-100k", n_users=50, n_items=60, n_ratings=900
    )
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_shows_progress_then_loads(page, qtbot, release_server):
    page.base_url = release_server
    progress = []
    page.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(page.dataLoaded, timeout=20000) as blocker:
        page.download("ml-100k")
    wait_idle(qtbot, page)
    assert blocker.args[0].layout == "ml-100k"
    assert blocker.args[0].n_ratings == 900
    assert progress  # the bar moved
    assert page.progressRow.isHidden()


def test_lazy_histograms_draw_the_data_loaded_before_them(qtbot):
    page = DataPage(lazy_plots=True)
    qtbot.addWidget(page)
    assert not page.has_plots()
    with qtbot.waitSignal(page.dataLoaded, timeout=20000) as blocker:
        page.demoDataButton.click()
    wait_idle(qtbot, page)
    assert not page.has_plots() and "Sparsity" in page.dataSummary.toPlainText()
    page.build_plots()  # the window does it once pyqtgraph is loaded
    assert sum(page.ratingBars.opts["height"]) == blocker.args[0].n_ratings


def test_demo_data_is_built_in_the_worker_while_the_window_stays_live(page, qtbot, monkeypatch):
    """The demo is ML-100K-sized: it is written off the GUI thread, which keeps turning."""
    import widedeep_core.data as data_package

    real = data_package.write_synthetic
    release = threading.Event()
    calls = []

    def held_write(folder, layout="ml-1m", **size):
        calls.append((QThread.currentThread(), size))
        release.wait(10)  # hold the job until the GUI thread has shown it turns
        return real(folder, layout, n_users=40, n_items=50, n_ratings=900)

    monkeypatch.setattr(data_package, "write_synthetic", held_write)
    turns = []
    page.demoDataButton.click()
    assert page.is_busy() and not page.demoDataButton.isEnabled()
    QTimer.singleShot(0, lambda: turns.append(page.is_busy()))
    qtbot.waitUntil(lambda: bool(turns) and bool(calls), timeout=5000)
    assert turns == [True]  # the event loop ran while the demo was being built
    assert calls[0][0] is not QThread.currentThread()  # in the worker thread
    assert calls[0][1] == DEMO_SIZE  # the core's one demo size
    assert not page.progressRow.isHidden()
    with qtbot.waitSignal(page.dataLoaded, timeout=20000):
        release.set()
    wait_idle(qtbot, page)


def shown_text(label: QLabel) -> str:
    """What a label shows: rich text rendered, plain text as it is."""
    rich = label.textFormat() == Qt.TextFormat.RichText or (
        label.textFormat() == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(label.text())
    )
    if not rich:
        return label.text()
    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


def test_the_welcome_text_says_wide_and_deep(page):
    texts = [shown_text(label) for label in page.welcomePanel.findChildren(QLabel)]
    assert "Welcome to the Wide & Deep Workbench" in texts
    assert any("use Wide & Deep recommenders" in t for t in texts)
    assert not any("&amp;" in t for t in texts)
    assert any("size of ML-100K" in t for t in texts)
