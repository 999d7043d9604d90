"""Domain exceptions: every failure a user can cause ends in one of these."""

from __future__ import annotations

from pathlib import Path


class WideDeepError(Exception):
    """Base class of every error the core raises on purpose."""


class DataError(WideDeepError):
    """A data folder, file or line cannot be used; names the file and line where known."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{message}")


class ConfigError(WideDeepError):
    """A configuration value is impossible; names the field and the allowed range."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class DeviceError(WideDeepError):
    """The requested compute device does not exist on this machine."""

    field = "device"  # the setting to fix, so a form can mark it without reading the text


class TrainingError(WideDeepError):
    """Training cannot go on (non-finite loss, ...)."""


class RunError(WideDeepError):
    """A run folder is missing, unreadable or incomplete."""


class DownloadError(WideDeepError):
    """A release could not be fetched or failed its integrity check."""


class SweepError(WideDeepError):
    """A study cannot be created, opened or resumed (storage, name, space)."""
