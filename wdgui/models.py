"""Qt item models of the GUI: a pandas frame as a table, the run store as a table."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from widedeep_core.monitors import monitor_of
from widedeep_core.runs.compare import ranking_k

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


def _hp(name: str) -> Callable[[RunInfo], Any]:
    def get(info: RunInfo) -> Any:
        value = info.hyperparameters.get(name)
        return tuple(value) if isinstance(value, list) else value

    return get


def _created(info: RunInfo) -> datetime | None:
    return info.created


def run_k(info: RunInfo) -> int:
    """The K of a run's ranking metrics (its test metrics' keys; 10, the default, before)."""
    # TODO(core): RunInfo could carry config.ranking_k; the stored keys say it meanwhile
    return ranking_k(info.test_metrics) or 10


def monitor_text(info: RunInfo) -> str:
    """The metric that picked the run's best epoch and its value, "val NDCG@10 0.1234"."""
    try:
        monitor = monitor_of(info.monitor, run_k(info))
    except ValueError:
        return ""
    if info.best_value is None:
        return monitor.label
    return f"{monitor.label} {monitor.format(info.best_value)}"


def _test(metric: str, baseline: str | None = None) -> Callable[[RunInfo], Any]:
    """The run's test ``metric``@K, or a baseline's (``test_metrics["baselines"]``)."""

    def get(info: RunInfo) -> Any:
        metrics = info.test_metrics or {}
        if baseline is not None:
            metrics = (metrics.get("baselines") or {}).get(baseline) or {}
        value = metrics.get(f"{metric}@{run_k(info)}")
        return float(value) if isinstance(value, int | float) else None

    return get


# (header, getter): the columns of the table, in order. "@K" reads "@10" when every
# listed run ranks at the same K (the header of the model says which).
COLUMNS: list[tuple[str, Callable[[RunInfo], Any]]] = [
    ("Name", lambda r: r.name),
    ("Created", _created),
    ("Data", lambda r: r.data_name),
    ("Preset", lambda r: r.preset),
    ("Status", lambda r: r.status),
    ("Epochs", lambda r: r.epochs_run),
    ("Monitor", monitor_text),
    ("Best val AUC", lambda r: r.best_val_auc),
    ("Test AUC", lambda r: r.test_auc),
    ("Test HR@K", _test("hr")),
    ("Test NDCG@K", _test("ndcg")),
    ("Popularity NDCG@K", _test("ndcg", "popularity")),
    ("EASE NDCG@K", _test("ndcg", "ease")),
    ("Duration", lambda r: r.duration_s),
    ("Embed", _hp("embed_dim")),
    ("Hidden", _hp("hidden")),
    ("Dropout", _hp("dropout")),
    ("Optimizer", _hp("optimizer")),
    ("LR", _hp("lr")),
    ("Batch", _hp("batch_size")),
    ("Crosses", _hp("crosses")),
]
COLUMN_TOOLTIPS = {
    "Monitor": "The validation metric that picked the best epoch (config.monitor), and its "
    "value there: compare runs by it, or by the test columns.",
    "Best val AUC": "The validation AUC of the epoch the run kept.",
    "Test HR@K": "Test hit rate: share of judged users with a liked test movie in their top K.",
    "Test NDCG@K": "Test NDCG: where the liked test movies rank in each user's top K.",
    "Popularity NDCG@K": "The most-rated movies, judged alike: what the model must beat.",
    "EASE NDCG@K": "EASE^R (a linear item-item model), judged alike: a strong baseline.",
}
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
        self._k = "K"  # what "@K" reads in the headers

    def set_runs(self, runs: Sequence[RunInfo]) -> None:
        """Replace the listed runs."""
        self.beginResetModel()
        self._runs = list(runs)
        ks = {run_k(r) for r in self._runs if r.test_metrics}
        self._k = str(ks.pop()) if len(ks) == 1 else "K"
        self.endResetModel()

    def header(self, column: int) -> str:
        """The shown header of ``column``, "@K" replaced by the listed runs' common K."""
        return COLUMNS[column][0].replace("@K", f"@{self._k}")

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
            tip = info.message or str(info.path)
            if "@K" in COLUMNS[index.column()][0] and value is not None:
                tip = f"K = {run_k(info)}\n{tip}"
            return tip
        if role == Qt.ItemDataRole.ForegroundRole and COLUMNS[index.column()][0] == "Status":
            c = STATUS_COLORS.get(info.status)
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.header(section)
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TOOLTIPS.get(COLUMNS[section][0])
        return None
