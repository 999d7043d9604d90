"""Small widgets and formatting shared by the pages (item models: ``models.py``)."""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


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
