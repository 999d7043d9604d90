"""Small widgets and formatting shared by the pages (item models: ``models.py``)."""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)


def error_box(parent: QWidget, title: str, message: str) -> QMessageBox:
    """A window-modal message box that does not block: ``open()``, not ``exec()``.

    Tests read its text and close it; the caller keeps the reference.
    """
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok)
    box.setParent(parent, box.windowFlags())
    box.setObjectName("errorDialog")
    box.open()
    return box


def message_label(name: str) -> QLabel:
    """A word-wrapped label for errors shown inside a page (hidden while empty)."""
    label = QLabel("")
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("color: #b00020;")
    label.setVisible(False)
    return label


def show_message(label: QLabel, text: str) -> None:
    """Set the label's text and show it only when there is something to say."""
    label.setText(text)
    label.setVisible(bool(text))


def format_cell(value: Any, decimals: int = 4) -> str:
    """How a table shows one value: floats rounded, whole floats as ints, tuples joined."""
    if value is None:
        return ""
    # numbers.Real minus Integral covers numpy floats without importing numpy, which
    # would add 0.1-0.8 s before the window's first paint
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.{decimals}f}"
    np = sys.modules.get("numpy")  # an array exists only once numpy is imported
    if isinstance(value, (tuple, list)) or (np is not None and isinstance(value, np.ndarray)):
        return ", ".join(str(v) for v in value)
    return str(value)


RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class ComparisonTable(QTableWidget):
    """The model beside popularity and EASE^R at K, from a run's test metrics."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.setToolTip(
            "Every row is judged alike: the same test users, every movie they did not rate "
            "in training ranked, their held-out liked movies as hits. Coverage: share of the "
            "catalogue listed at least once; Pop rank: mean popularity rank of listed movies "
            "(1 = most rated)."
        )

    def set_metrics(self, metrics: Mapping[str, Any] | None) -> None:
        """Show the table of ``metrics`` (a run's test metrics); empty without ranking ones."""
        from widedeep_core.runs.compare import cell_text, comparison

        header, rows = comparison(metrics or {})
        self.clear()
        self.setColumnCount(len(header) if rows else 0)
        self.setRowCount(len(rows))
        self.setHorizontalHeaderLabels(header if rows else [])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                text = value if c == 0 else cell_text(value, row[0])
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(RIGHT)
                self.setItem(r, c, item)
        self.resizeColumnsToContents()

    def values(self) -> list[list[str]]:
        """The shown cells, header first (for tests)."""
        header = [self.horizontalHeaderItem(c).text() for c in range(self.columnCount())]
        cells = [
            [self.item(r, c).text() for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]
        return [header, *cells] if cells else []


class Steps:
    """One piece of construction spread over event-loop turns, or finished at once.

    ``steps`` is a generator that yields between its costly pieces (one plot each, say):
    an idle timer runs one :meth:`step` per turn, so no turn holds the window for long,
    and whoever needs the result now calls :meth:`finish`. Both share the generator, so
    a build interrupted by a first use is completed, never started twice.
    """

    def __init__(self, steps: Iterator[None]):
        self._steps = steps
        self.done = False

    def step(self) -> bool:
        """Run the next piece; True once every piece has run."""
        if not self.done:
            try:
                next(self._steps)
            except StopIteration:
                self.done = True
        return self.done

    def finish(self) -> None:
        """Run every piece left, now."""
        while not self.step():
            pass

    def cancel(self) -> None:
        """Run no further piece."""
        self._steps.close()
        self.done = True

    def __iter__(self) -> Iterator[None]:
        """One yield per piece run, so a larger build can ``yield from`` this one."""
        while not self.step():
            yield

    def run_in_turns(self, owner: QObject) -> None:
        """Run a piece now and each next one on a later event-loop turn (while ``owner`` lives).

        The next piece waits on a 1 ms timer, not a posted call: posted calls ran back
        to back with the repaints they caused, and the window's timers waited for all.
        """
        if not self.step():
            QTimer.singleShot(1, owner, lambda: self.run_in_turns(owner))
