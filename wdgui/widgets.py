"""Small widgets and formatting shared by the pages (item models: ``models.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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
