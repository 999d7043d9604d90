"""The Runs page's item models: runs as a tree (groups > seed sets > runs) and its proxy.

Every value comes from the core (``runs.table.run_values``, ``runs.grouping``,
``runs.filters``); this module only lays the rows out for a view. The proxy sorts runs
within their protocol first (runs on different protocols are never ranked as if alike)
and filters by the parsed filter, keeping a group or a seed set while any of its runs
passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from widedeep_core.runs import RunInfo
from widedeep_core.runs.filters import RunFilter, parse_filter
from widedeep_core.runs.grouping import Spread, aggregate, group_runs, seed_sets
from widedeep_core.runs.table import (
    COLUMNS,
    best_rows,
    format_value,
    run_k,
    run_values,
    sort_value,
)

Index = QModelIndex | QPersistentModelIndex

STATUS_COLORS = {
    "failed": "#b00020",
    "cancelled": "#b36b00",
    "interrupted": "#b36b00",
    "damaged": "#b00020",
    "incomplete": "#b00020",
}
KEYS = [c.key for c in COLUMNS]


class Node:
    """One row: a group header, a seed set (runs that differ only by seed) or a run."""

    __slots__ = ("children", "kind", "label", "parent", "row", "runs", "values")

    def __init__(self, kind: str, label: str, runs: Sequence[RunInfo], values: dict[str, Any]):
        self.kind = kind  # "root", "group", "set" or "run"
        self.label = label
        self.runs = list(runs)
        self.values = values
        self.children: list[Node] = []
        self.parent: Node | None = None
        self.row = 0

    def add(self, child: Node) -> Node:
        """Append ``child`` under this node."""
        child.parent, child.row = self, len(self.children)
        self.children.append(child)
        return child

    @property
    def info(self) -> RunInfo | None:
        """The run of a run row."""
        return self.runs[0] if self.kind == "run" else None

    @property
    def protocol(self) -> str | None:
        """The protocol the row's runs were judged on (None for a group)."""
        return self.values.get("protocol") if self.kind in ("run", "set") else None


ValuesOf = Callable[[RunInfo], dict[str, Any]]


def _run_node(info: RunInfo, values_of: ValuesOf = run_values) -> Node:
    return Node("run", info.name, [info], dict(values_of(info)))


def _set_node(runs: Sequence[RunInfo], values_of: ValuesOf = run_values) -> Node:
    if len(runs) == 1:
        return _run_node(runs[0], values_of)
    rows = [values_of(r) for r in runs]
    values = aggregate(rows)
    seeds = ",".join(str(s) for s in values.get("seed") or ())
    values["name"] = f"{runs[0].name} (seeds {seeds})"
    node = Node("set", values["name"], runs, values)
    for r in runs:
        node.add(_run_node(r, values_of))
    return node


class RunsTreeModel(QAbstractItemModel):
    """The runs, grouped (``set_grouping``) and with seed sets folded (``fold_seeds``).

    ``UserRole`` gives a value that sorts, ``RunRole`` the ``RunInfo`` of a run row,
    ``NodeRole`` the row's ``Node``.
    """

    RunRole = Qt.ItemDataRole.UserRole + 1
    NodeRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self) -> None:
        super().__init__()
        self._runs: list[RunInfo] = []
        self._values: dict[int, dict[str, Any]] = {}
        self._root = Node("root", "", [], {})
        self.grouping = "none"
        self.fold_seeds = True
        self._k = "K"
        self._best: dict[str, set[int]] = {}  # column key -> id() of the best rows
        self._bold = QFont()
        self._bold.setBold(True)

    # ------------------------------------------------------------ content
    def set_runs(self, runs: Sequence[RunInfo]) -> None:
        """Replace the listed runs."""
        self._runs = list(runs)
        self._values = {}  # a run's row values, computed once per listing (not per regroup)
        ks = {run_k(r) for r in self._runs if r.test_metrics}
        self._k = str(ks.pop()) if len(ks) == 1 else "K"
        self._rebuild()

    def set_layout(self, grouping: str, fold_seeds: bool) -> None:
        """Group by ``grouping`` ("none", "study", "data", "preset", "protocol", "tag")."""
        self.grouping, self.fold_seeds = grouping, fold_seeds
        self._rebuild()

    def _values_of(self, info: RunInfo) -> dict[str, Any]:
        values = self._values.get(id(info))
        if values is None:
            values = self._values[id(info)] = run_values(info)
        return values

    def _items(self, runs: Sequence[RunInfo]) -> list[Node]:
        if self.fold_seeds:
            return [_set_node(s, self._values_of) for s in seed_sets(runs)]
        return [_run_node(r, self._values_of) for r in runs]

    def _rebuild(self) -> None:
        self.beginResetModel()
        root = Node("root", "", self._runs, {})
        if self.grouping == "none":
            for item in self._items(self._runs):
                root.add(item)
        else:
            for label, runs in group_runs(self._runs, self.grouping).items():
                group = root.add(Node("group", label, runs, {}))
                for item in self._items(runs):
                    group.add(item)
        self._root = root
        self.endResetModel()

    def runs(self) -> list[RunInfo]:
        """Every listed run."""
        return list(self._runs)

    def items(self) -> list[Node]:
        """The rows that are one experiment each: seed sets and lone runs."""
        out: list[Node] = []
        stack = list(self._root.children)
        while stack:
            node = stack.pop(0)
            if node.kind == "group":
                stack[:0] = node.children
            else:
                out.append(node)
        return out

    def mark_best(self, shown: Sequence[Node]) -> None:
        """Bold the best value of every score column among ``shown``, within each protocol."""
        rows = [{k: _plain(v) for k, v in n.values.items()} for n in shown]
        protocols = [n.protocol for n in shown]
        self._best = {}
        for column in COLUMNS:
            if column.higher_is_better is not None:
                self._best[column.key] = {id(shown[i]) for i in best_rows(rows, column.key,
                                                                          protocols)}  # fmt: skip
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(KEYS) - 1))

    def is_best(self, node: Node, key: str) -> bool:
        """True when ``node`` holds the best ``key`` of its protocol (bold)."""
        return id(node) in self._best.get(key, ())

    def header(self, column: int) -> str:
        """A column's header, "@K" read as the listed runs' common K."""
        return COLUMNS[column].label.replace("@K", f"@{self._k}")

    # ------------------------------------------------------------ Qt
    def node(self, index: Index) -> Node:
        """The node of an index (the root for an invalid one)."""
        if not index.isValid():
            return self._root
        return index.internalPointer()  # type: ignore[no-any-return]

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        node = self.node(parent)
        if 0 <= row < len(node.children) and 0 <= column < len(KEYS):
            return self.createIndex(row, column, node.children[row])
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        node = self.node(index).parent
        if node is None or node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.node(parent).children)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(KEYS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self.node(index)
        key = KEYS[index.column()]
        if node.kind == "group":
            if role == Qt.ItemDataRole.DisplayRole and index.column() == 0:
                n = len(node.runs)
                return f"{node.label} ({n} run{'s' if n != 1 else ''})"
            if role == Qt.ItemDataRole.UserRole:
                return node.label if index.column() == 0 else ""
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
            if role == self.NodeRole:
                return node
            return None
        value = node.values.get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            return value.text() if isinstance(value, Spread) else format_value(key, value)
        if role == Qt.ItemDataRole.UserRole:
            return sort_value(_plain(value))
        if role == self.RunRole:
            return node.info
        if role == self.NodeRole:
            return node
        if role == Qt.ItemDataRole.FontRole and self.is_best(node, key):
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            if isinstance(value, Spread):
                return (
                    f"mean {value.mean:.4f}, std {value.std:.4f}, min {value.low:.4f}, "
                    f"max {value.high:.4f} over {value.n} seeds"
                )
            info = node.runs[0]
            tip = info.message or str(info.path)
            return f"{tip}\nbest of its protocol" if self.is_best(node, key) else tip
        if role == Qt.ItemDataRole.ForegroundRole and key == "status":
            c = STATUS_COLORS.get(str(value))
            return QColor(c) if c else None
        if (
            role == Qt.ItemDataRole.TextAlignmentRole
            and isinstance(_plain(value), int | float)
            and not isinstance(value, bool)
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(KEYS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.header(section)
        if role == Qt.ItemDataRole.ToolTipRole:
            column = COLUMNS[section]
            return f"{column.key}: {column.help}" if column.help else column.key
        return None


def _plain(value: Any) -> Any:
    return value.mean if isinstance(value, Spread) else value


class RunsProxy(QSortFilterProxyModel):
    """Filters by a parsed filter and sorts runs within their protocol."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.run_filter: RunFilter = parse_filter("")

    def set_filter_text(self, text: str) -> RunFilter:
        """Filter by ``text`` (a bad filter keeps every run and says why in ``error``)."""
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+: invalidateFilter is deprecated
            self.beginFilterChange()
            self.run_filter = parse_filter(text)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # PySide6 6.7-6.9 (pyproject allows them)
            self.run_filter = parse_filter(text)
            self.invalidateFilter()
        return self.run_filter

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, RunsTreeModel)
        node = model.node(model.index(source_row, 0, source_parent))
        if not self.run_filter.clauses or self.run_filter.error:
            return True
        if node.kind != "run":
            return False  # shown while one of its runs passes (recursive filtering)
        info = node.runs[0]
        return self.run_filter.matches(node.values, info.tags)

    def lessThan(self, left: Index, right: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, RunsTreeModel)
        a, b = model.node(left), model.node(right)
        pa, pb = a.protocol or "", b.protocol or ""
        if pa != pb and self.sortColumn() != KEYS.index("protocol"):
            # runs of other protocols are never ranked together: each protocol's block
            # stays whole, in the same order whichever way the column sorts
            ascending = self.sortOrder() == Qt.SortOrder.AscendingOrder
            return (pa < pb) == ascending
        va, vb = left.data(self.sortRole()), right.data(self.sortRole())
        if type(va) is not type(vb):
            return str(va) < str(vb)
        return bool(va < vb)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A group's title counts the runs the filter lets through."""
        if role == Qt.ItemDataRole.DisplayRole and index.isValid() and index.column() == 0:
            model = self.sourceModel()
            assert isinstance(model, RunsTreeModel)
            node = model.node(self.mapToSource(index))
            if node.kind == "group":
                n = sum(
                    len(model.node(self.mapToSource(self.index(r, 0, index))).runs)
                    for r in range(self.rowCount(index))
                )
                return f"{node.label} ({n} run{'s' if n != 1 else ''})"
        return super().data(index, role)

    def shown_items(self) -> list[Node]:
        """The experiment rows (seed sets, lone runs) that pass the filter."""
        out: list[Node] = []
        model = self.sourceModel()
        assert isinstance(model, RunsTreeModel)

        def walk(parent: QModelIndex) -> None:
            for r in range(self.rowCount(parent)):
                index = self.index(r, 0, parent)
                node = model.node(self.mapToSource(index))
                if node.kind == "group":
                    walk(index)
                else:
                    out.append(node)

        walk(QModelIndex())
        return out


__all__ = ["KEYS", "Node", "RunsProxy", "RunsTreeModel"]
