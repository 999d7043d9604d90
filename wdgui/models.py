"""Qt item models of the GUI: a pandas frame as a table, the run store as a table."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from .widgets import format_cell

if TYPE_CHECKING:  # pragma: no cover - pandas loads lazily (start-up time)
    import pandas as pd

    from widedeep_core.runs import RunInfo

Index = QModelIndex | QPersistentModelIndex


class DataFrameModel(QAbstractTableModel):
    """A read-only view of a pandas DataFrame; ``UserRole`` gives the raw value for sorting."""

    def __init__(
        self,
        frame: pd.DataFrame | None = None,
        headers: dict[str, str] | None = None,
        tooltips: dict[str, str] | None = None,
    ):
        super().__init__()
        self._headers = headers or {}
        self._tooltips = tooltips or {}  # column name -> what its numbers mean
        self._frame: pd.DataFrame | None = None  # None: empty (pandas is not loaded yet)
        self._columns: list[str] = []
        self._rows: list[tuple] = []
        if frame is not None:
            self.set_frame(frame)

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Replace the shown table."""
        self.beginResetModel()
        self._frame = frame.reset_index(drop=True)
        self._columns = [str(c) for c in self._frame.columns]
        # plain Python rows: data() is called many times per paint, iloc would be slow
        self._rows = list(self._frame.itertuples(index=False, name=None))
        self.endResetModel()

    def clear(self) -> None:
        """Show an empty table."""
        self.beginResetModel()
        self._frame, self._columns, self._rows = None, [], []
        self.endResetModel()

    @property
    def frame(self) -> pd.DataFrame:
        """The table shown."""
        if self._frame is None:
            import pandas as pd

            return pd.DataFrame()
        return self._frame

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_cell(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, numbers.Number):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_tooltip(self, column: str, text: str) -> None:
        """What the numbers of ``column`` mean (its header's tooltip)."""
        self._tooltips[column] = text

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal and section < len(self._columns)
        if role == Qt.ItemDataRole.ToolTipRole and horizontal:
            return self._tooltips.get(self._columns[section])
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if horizontal:
            name = self._columns[section]
            return self._headers.get(name, name)
        return str(section + 1)


def _hp(name: str) -> Callable[[RunInfo], Any]:
    def get(info: RunInfo) -> Any:
        value = info.hyperparameters.get(name)
        return tuple(value) if isinstance(value, list) else value

    return get


def _created(info: RunInfo) -> datetime | None:
    return info.created


# (header, getter): the columns of the table, in order
COLUMNS: list[tuple[str, Callable[[RunInfo], Any]]] = [
    ("Name", lambda r: r.name),
    ("Created", _created),
    ("Data", lambda r: r.data_name),
    ("Preset", lambda r: r.preset),
    ("Status", lambda r: r.status),
    ("Epochs", lambda r: r.epochs_run),
    ("Best val AUC", lambda r: r.best_val_auc),
    ("Test AUC", lambda r: r.test_auc),
    ("Duration", lambda r: r.duration_s),
    ("Embed", _hp("embed_dim")),
    ("Hidden", _hp("hidden")),
    ("Dropout", _hp("dropout")),
    ("Optimizer", _hp("optimizer")),
    ("LR", _hp("lr")),
    ("Batch", _hp("batch_size")),
    ("Crosses", _hp("crosses")),
]
STATUS_COLORS = {
    "failed": "#b00020",
    "cancelled": "#b36b00",
    "interrupted": "#b36b00",
    "damaged": "#b00020",
    "incomplete": "#b00020",
}


def _display(column: int, value: Any) -> str:
    header = COLUMNS[column][0]
    if value is None:
        return ""
    if header == "Created" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if header == "Duration":
        s = round(float(value))
        return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"
    if header == "LR":
        return f"{float(value):g}"
    if isinstance(value, tuple):
        sep = ", " if header == "Crosses" else "-"
        return sep.join(str(v) for v in value)
    return format_cell(value)


def _sort_value(value: Any) -> Any:
    """A value the proxy can compare: numbers stay numbers, the rest becomes text."""
    if value is None:
        return float("-inf")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _display_text(value)


def _display_text(value: Any) -> str:
    return "-".join(map(str, value)) if isinstance(value, tuple) else str(value)


class RunsTableModel(QAbstractTableModel):
    """A table of ``RunInfo``; ``UserRole`` gives a sortable value, ``UserRole + 1`` the run."""

    RunRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self._runs: list[RunInfo] = []

    def set_runs(self, runs: Sequence[RunInfo]) -> None:
        """Replace the listed runs."""
        self.beginResetModel()
        self._runs = list(runs)
        self.endResetModel()

    def run(self, row: int) -> RunInfo:
        """The run of a source row."""
        return self._runs[row]

    def runs(self) -> list[RunInfo]:
        """Every listed run."""
        return list(self._runs)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info = self._runs[index.row()]
        value = COLUMNS[index.column()][1](info)
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(index.column(), value)
        if role == Qt.ItemDataRole.UserRole:
            return _sort_value(value)
        if role == self.RunRole:
            return info
        if role == Qt.ItemDataRole.ToolTipRole:
            return info.message or str(info.path)
        if role == Qt.ItemDataRole.ForegroundRole and COLUMNS[index.column()][0] == "Status":
            c = STATUS_COLORS.get(info.status)
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None
