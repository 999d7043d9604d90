"""Small widgets and Qt item models shared by the pages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

Index = QModelIndex | QPersistentModelIndex


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
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.{decimals}f}"
    if isinstance(value, (tuple, list, np.ndarray)):
        return ", ".join(str(v) for v in value)
    return str(value)


class DataFrameModel(QAbstractTableModel):
    """A read-only view of a pandas DataFrame; ``UserRole`` gives the raw value for sorting."""

    def __init__(self, frame: pd.DataFrame | None = None, headers: dict[str, str] | None = None):
        super().__init__()
        self._headers = headers or {}
        self._frame = pd.DataFrame()
        self._rows: list[tuple] = []
        if frame is not None:
            self.set_frame(frame)

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Replace the shown table."""
        self.beginResetModel()
        self._frame = frame.reset_index(drop=True)
        # plain Python rows: data() is called many times per paint, iloc would be slow
        self._rows = list(self._frame.itertuples(index=False, name=None))
        self.endResetModel()

    @property
    def frame(self) -> pd.DataFrame:
        """The table shown."""
        return self._frame

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._frame.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_cell(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float, np.number)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and section < len(self._frame.columns):
            name = str(self._frame.columns[section])
            return self._headers.get(name, name)
        return str(section + 1)
