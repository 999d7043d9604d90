"""Where the app keeps its state between runs (QSettings) and small helpers around it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtGui import QIcon

ORGANIZATION = "widedeep"
APPLICATION = "wdgui"
DISPLAY_NAME = "Wide & Deep Workbench"
RESOURCES = Path(__file__).resolve().parent / "resources"
MAX_RECENT = 8


def settings_path() -> Path:
    """``<user config dir>/widedeep/wdgui.ini``, e.g. under ``$XDG_CONFIG_HOME`` on Linux."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(base) / ORGANIZATION / f"{APPLICATION}.ini"


def make_settings() -> QSettings:
    """The app's settings file.

    The path is looked up on every call (QSettings' own default is fixed at first use),
    so a test that points ``$XDG_CONFIG_HOME`` elsewhere gets a fresh file.
    """
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


def app_icon() -> QIcon:
    """The window icon drawn by ``assets/make_icon.py`` (empty when the file is missing)."""
    path = RESOURCES / "icon.png"
    return QIcon(str(path)) if path.exists() else QIcon()


def read_json(settings: QSettings, key: str, default: Any = None) -> Any:
    """A JSON value stored under ``key``; ``default`` when absent or unreadable."""
    raw = settings.value(key)
    if not isinstance(raw, str) or not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def write_json(settings: QSettings, key: str, value: Any) -> None:
    """Store ``value`` as JSON (types survive INI files, unlike raw QVariants)."""
    settings.setValue(key, json.dumps(value))


def push_recent(recent: list[str], path: str, limit: int = MAX_RECENT) -> list[str]:
    """Move ``path`` to the front of the recent list, without duplicates, at most ``limit``."""
    return [path, *[p for p in recent if p != path]][:limit]
