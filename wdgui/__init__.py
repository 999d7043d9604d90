"""PySide6 + pyqtgraph desktop workbench over the headless widedeep_core.

``import wdgui`` stays light: Qt and pyqtgraph load only when ``MainWindow`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MainWindow"]

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow


def __getattr__(name: str) -> Any:
    """Import the window lazily so that ``import wdgui`` does not start Qt."""
    if name == "MainWindow":
        from .main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module 'wdgui' has no attribute {name!r}")
