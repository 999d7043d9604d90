"""Qt item models of the GUI: a pandas frame as a table; a run's monitor as text (the
Runs page's table model is ``pages.runs_model``)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from widedeep_core.monitors import monitor_of
from widedeep_core.runs.table import run_k

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
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str):
            return value  # the whole text of a cell a narrow column elides
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


def monitor_text(info: RunInfo) -> str:
    """The metric that picked the run's best epoch and its value, "val NDCG@10 0.1234"."""
    try:
        monitor = monitor_of(info.monitor, run_k(info))
    except ValueError:
        return ""
    if info.best_value is None:
        return monitor.label
    return f"{monitor.label} {monitor.format(info.best_value)}"
