"""About dialog: app version and the versions of the libraries and devices it runs on."""

from __future__ import annotations

import html
import platform

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from .settings import DISPLAY_NAME, app_icon


def version_rows() -> list[tuple[str, str]]:
    """(component, version) for the app, Python, torch, Qt, PySide6, pyqtgraph and devices."""
    import numpy
    import pandas
    import pyqtgraph
    import PySide6
    import torch

    import widedeep_core
    from widedeep_core.devices import available_devices

    devices = "; ".join(f"{d.key} ({d.name})" for d in available_devices())
    return [
        (DISPLAY_NAME, widedeep_core.__version__),
        ("Python", platform.python_version()),
        ("PyTorch", torch.__version__),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("pyqtgraph", pyqtgraph.__version__),
        ("NumPy", numpy.__version__),
        ("pandas", pandas.__version__),
        ("Devices", devices),
    ]


class AboutDialog(QDialog):
    """Lists versions and devices; shown with ``open()`` so it never blocks."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle(f"About {DISPLAY_NAME}")
        self.setWindowIcon(app_icon())
        rows = "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
            for k, v in version_rows()
        )
        text = (
            f"<h3>{html.escape(DISPLAY_NAME)}</h3>"
            "<p>Train, compare and use Wide &amp; Deep recommenders (Cheng et al., 2016) "
            "on MovieLens data.</p>"
            f"<table cellspacing='6'>{rows}</table>"
            "<p>MovieLens data sets: GroupLens Research, University of Minnesota.</p>"
        )
        self.label = QLabel(text)
        self.label.setObjectName("aboutText")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
