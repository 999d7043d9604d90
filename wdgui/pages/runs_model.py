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

from widedeep_core.config.seeds import set_name
from widedeep_core.runs import RunInfo
from widedeep_core.runs.filters import RunFilter, parse_filter
from widedeep_core.runs.grouping import Spread, aggregate, group_runs, seed_key, seed_sets
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
_SCORE_KEYS = [c.key for c in COLUMNS if c.higher_is_better is not None]


class Node:
    """One row: a group header, a seed set (runs that differ only by seed) or a run."""

    __slots__ = ("children", "kind", "label", "parent", "row", "runs", "sorts", "texts", "values")

    def __init__(self, kind: str, label: str, runs: Sequence[RunInfo], values: dict[str, Any]):
        self.kind = kind  # "root", "group", "set" or "run"
        self.label = label
        self.runs = list(runs)
        self.values = values
        self.children: list[Node] = []
        self.parent: Node | None = None
        self.row = 0
        self.sorts: dict[int, Any] = {}  # column -> its sort value (the proxy sorts often)
        self.texts: dict[int, str] = {}  # column -> its text (views ask for it often)

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
# what a listing's rows need of one run, computed once per run (for the page's first
# listing, 100 runs an event-loop turn): the run, its row values, its seed-set key
Derived = dict[int, tuple[RunInfo, dict[str, Any], str]]


def derive(runs: Sequence[RunInfo]) -> Derived:
    """``id(run) -> (run, run_values(run), seed_key(run))``; pure Python, any thread."""
    return {id(r): (r, run_values(r), seed_key(r)) for r in runs}


def _run_node(info: RunInfo, values_of: ValuesOf = run_values) -> Node:
    return Node("run", info.name, [info], dict(values_of(info)))


def _set_values(runs: Sequence[RunInfo], values_of: ValuesOf = run_values) -> dict[str, Any]:
    values = aggregate([values_of(r) for r in runs])
    seeds = ",".join(str(s) for s in values.get("seed") or ())
    values["name"] = f"{set_name(runs[0].name)} (seeds {seeds})"
    return values


def _set_node(
    runs: Sequence[RunInfo],
    values_of: ValuesOf = run_values,
    set_values: Callable[[Sequence[RunInfo]], dict[str, Any]] | None = None,
) -> Node:
    if len(runs) == 1:
        return _run_node(runs[0], values_of)
    values = dict(set_values(runs)) if set_values else _set_values(runs, values_of)
    node = Node("set", values["name"], runs, values)
    for r in runs:
        node.add(_run_node(r, values_of))
    return node


_R = Qt.ItemDataRole
_DISPLAY, _USER, _FONT, _TIP, _FOREGROUND, _ALIGN = (
    int(r.value)
    for r in (_R.DisplayRole, _R.UserRole, _R.FontRole, _R.ToolTipRole, _R.ForegroundRole,
              _R.TextAlignmentRole)
)  # fmt: skip
_RUN, _NODE = _USER + 1, _USER + 2
_ROLES = frozenset((_DISPLAY, _USER, _FONT, _TIP, _FOREGROUND, _ALIGN, _RUN, _NODE))
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)


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
        # per run and per seed set, kept across regroups and, for the runs a re-listing
        # returns unchanged (the store hands back the same RunInfo), across listings:
        # recomputing them took most of a 100 ms regroup of 500 runs
        self._derived: Derived = {}
        self._sets: dict[tuple[int, ...], tuple[list[RunInfo], dict[str, Any]]] = {}
        self._root = Node("root", "", [], {})
        self.grouping = "none"
        self.fold_seeds = True
        self._k = "K"
        self._best: dict[str, set[int]] = {}  # column key -> id() of the best rows
        # id() of a group -> the runs the filter lets through (``mark_best`` counts them:
        # a proxy ``data`` override for the title put every cell's every role through
        # Python twice, and fitting 23 columns of 500 rows took over a second)
        self._shown_runs: dict[int, int] | None = None  # None: not counted (no filter yet)
        self._bold = QFont()
        self._bold.setBold(True)

    # ------------------------------------------------------------ content
    def set_runs(self, runs: Sequence[RunInfo], derived: Derived | None = None) -> None:
        """Replace the listed runs (``derived``: ``derive(runs)``, if computed already)."""
        self._runs = list(runs)
        known = {**self._derived, **(derived or {})}
        self._derived = {}
        for r in self._runs:
            held = known.get(id(r))
            if held is None or held[0] is not r:  # an id is only its run's while it lives
                held = (r, run_values(r), seed_key(r))
            self._derived[id(r)] = held
        self._sets = {
            key: held
            for key, held in self._sets.items()
            if all(id(r) in self._derived and self._derived[id(r)][0] is r for r in held[0])
        }
        ks = {run_k(r) for r in self._runs if r.test_metrics}
        self._k = str(ks.pop()) if len(ks) == 1 else "K"
        self._rebuild()

    def set_layout(self, grouping: str, fold_seeds: bool) -> None:
        """Group by ``grouping`` ("none", "study", "data", "preset", "protocol", "tag")."""
        self.grouping, self.fold_seeds = grouping, fold_seeds
        self._rebuild()

    def _values_of(self, info: RunInfo) -> dict[str, Any]:
        held = self._derived.get(id(info))
        if held is None or held[0] is not info:
            held = self._derived[id(info)] = (info, run_values(info), seed_key(info))
        return held[1]

    def _seed_key(self, info: RunInfo) -> str:
        held = self._derived.get(id(info))
        return held[2] if held is not None and held[0] is info else seed_key(info)

    def _set_values(self, runs: Sequence[RunInfo]) -> dict[str, Any]:
        key = tuple(id(r) for r in runs)
        held = self._sets.get(key)
        if held is None or any(a is not b for a, b in zip(held[0], runs, strict=True)):
            held = self._sets[key] = (list(runs), _set_values(runs, self._values_of))
        return held[1]

    def _items(self, runs: Sequence[RunInfo]) -> list[Node]:
        if self.fold_seeds:
            return [
                _set_node(s, self._values_of, self._set_values)
                for s in seed_sets(runs, self._seed_key)
            ]
        return [_run_node(r, self._values_of) for r in runs]

    def _rebuild(self) -> None:
        self.beginResetModel()
        root = Node("root", "", self._runs, {})
        if self.grouping == "none":
            # a sweep's trials sit folded under their study, not among the ordinary runs
            # (a 200-trial study would bury them); the other groupings place them as usual
            studies: dict[str, list[RunInfo]] = {}
            plain = []
            for info in self._runs:
                study = info.tags.get("study")
                if study in (None, ""):
                    plain.append(info)
                else:
                    studies.setdefault(str(study), []).append(info)
            for item in self._items(plain):
                root.add(item)
            for name, runs in studies.items():
                group = root.add(Node("group", f"study {name}", runs, {}))
                for item in self._items(runs):
                    group.add(item)
        else:
            for label, runs in group_runs(self._runs, self.grouping).items():
                group = root.add(Node("group", label, runs, {}))
                for item in self._items(runs):
                    group.add(item)
        self._root = root
        self._best = {}  # marks name the old rows; ``mark_best`` marks the new ones
        self._shown_runs = None
        self.endResetModel()

    def has_folds(self) -> bool:
        """True when a row holds others (a group, a study's trials, a seed set)."""
        return any(node.kind != "run" for node in self._root.children) or any(
            n.kind == "set" for n in self.items()
        )

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
        """Bold the best value of every score column among ``shown``, within each protocol;
        a group's title counts its runs among ``shown`` (the rows the filter lets through)."""
        protocols = [n.protocol for n in shown]
        self._shown_runs = {}
        for n in shown:
            if n.parent is not None and n.parent.kind == "group":
                key = id(n.parent)
                self._shown_runs[key] = self._shown_runs.get(key, 0) + len(n.runs)
        self._best = {}
        for key in _SCORE_KEYS:
            rows = [{key: _plain(n.values.get(key))} for n in shown]
            self._best[key] = {id(shown[i]) for i in best_rows(rows, key, protocols)}
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(KEYS) - 1))

    def is_best(self, node: Node, key: str) -> bool:
        """True when ``node`` holds the best ``key`` of its protocol (bold)."""
        return id(node) in self._best.get(key, ())

    def sort_value(self, node: Node, column: int) -> Any:
        """What ``UserRole`` gives for ``node``'s cell in ``column`` (kept on the node)."""
        value = node.sorts.get(column, _UNSET)
        if value is _UNSET:
            if node.kind == "group":
                value = node.label if column == 0 else ""
            else:
                value = sort_value(_plain(node.values.get(KEYS[column])))
            node.sorts[column] = value
        return value

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

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        # called for every role of every cell a view paints or measures (fitting 23
        # columns of 500 rows: 100,000 calls): plain ints, unasked roles answered first
        if role not in _ROLES or not index.isValid():
            return None
        node = self.node(index)
        column = index.column()
        key = KEYS[column]
        if node.kind == "group":
            if role == _DISPLAY and column == 0:
                counted = self._shown_runs
                n = len(node.runs) if counted is None else counted.get(id(node), 0)
                return f"{node.label} ({n} run{'s' if n != 1 else ''})"
            if role == _USER:
                return node.label if column == 0 else ""
            if role == _FONT:
                return self._bold
            if role == _NODE:
                return node
            return None
        if role == _DISPLAY:
            text = node.texts.get(column)
            if text is None:
                value = node.values.get(key)
                text = format_value(key, value)
                node.texts[column] = text
            return text
        value = node.values.get(key)
        if role == _USER:
            return self.sort_value(node, column)
        if role == _RUN:
            return node.info
        if role == _NODE:
            return node
        if role == _FONT:
            return self._bold if self.is_best(node, key) else None
        if role == _TIP:
            if isinstance(value, Spread):
                return (
                    f"mean {value.mean:.4f}, std {value.std:.4f}, min {value.low:.4f}, "
                    f"max {value.high:.4f} over {value.n} seeds"
                )
            info = node.runs[0]
            tip = info.message or str(info.path)
            return f"{tip}\nbest of its protocol" if self.is_best(node, key) else tip
        if role == _FOREGROUND:
            c = STATUS_COLORS.get(str(value)) if key == "status" else None
            return QColor(c) if c else None
        if (
            role == _ALIGN
            and isinstance(_plain(value), int | float)
            and not isinstance(value, bool)
        ):
            return _RIGHT
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


_UNSET = object()


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
        # the values ``UserRole`` gives (the sort role), read from the nodes: through
        # ``data`` each comparison crossed into Qt and back twice
        va, vb = model.sort_value(a, left.column()), model.sort_value(b, right.column())
        if type(va) is not type(vb):
            return str(va) < str(vb)
        return bool(va < vb)

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


__all__ = ["KEYS", "Derived", "Node", "RunsProxy", "RunsTreeModel", "derive"]
