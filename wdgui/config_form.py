"""Editors generated from ``widedeep_core.config.config_fields()``: one per Config field.

Every editor turns its widget into the text ``parse_value`` reads and takes a
Config value back, so the form, the CLI and ``config.json`` share one parser and
one set of checks: the form cannot drift from the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from widedeep_core.config import FieldInfo, format_value

INT32_MAX = 2**31 - 1
# Names the automated checks (tests, benchmarks) rely on; other fields get "field_<name>".
OBJECT_NAMES = {
    "epochs": "epochsSpin",
    "batch_size": "batchSizeSpin",
    "lr": "learningRateSpin",
    "device": "deviceCombo",
}


class SciSpinBox(QDoubleSpinBox):
    """A double spin box that shows ``1e-05`` rather than ``0.00001000`` and can step ×2/÷2."""

    def __init__(self, log_step: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self._log_step = log_step
        self.setDecimals(12)  # keeps 1e-6 exact; the text is formatted by textFromValue

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        try:
            value = float(text)
        except ValueError:
            # "1e-", "-", "" are on their way to a number
            partial = text.strip().lower().rstrip("e+-.") or ""
            ok = partial == "" or _is_float(partial)
            return QValidator.State.Intermediate if ok else QValidator.State.Invalid
        if not math.isfinite(value) or not self.minimum() <= value <= self.maximum():
            return QValidator.State.Intermediate
        return QValidator.State.Acceptable

    def stepBy(self, steps: int) -> None:
        # learning rates and penalties live on a log scale: step by doubling/halving
        if self._log_step and self.value() > 0:
            self.setValue(self.value() * 2.0**steps)
        else:
            super().stepBy(steps)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Editor:
    """Base: a widget for one Config field, read and written as ``parse_value`` text."""

    def __init__(self, info: FieldInfo, widget: QWidget):
        self.info = info
        self.widget = widget
        widget.setObjectName(OBJECT_NAMES.get(info.name, f"field_{info.name}"))
        widget.setToolTip(f"{info.help}\nAllowed: {info.describe_range()}")

    def text(self) -> str:
        """The entry as text for ``parse_value``."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show a Config value (signals blocked: the caller revalidates once)."""
        raise NotImplementedError

    def connect(self, slot: Callable[[], None]) -> None:
        """Call ``slot`` whenever the entry changes."""
        raise NotImplementedError


class BoolEditor(Editor):
    """A check box."""

    def __init__(self, info: FieldInfo):
        self.box = QCheckBox()
        super().__init__(info, self.box)

    def text(self) -> str:
        return "true" if self.box.isChecked() else "false"

    def set_value(self, value: Any) -> None:
        self.box.blockSignals(True)
        self.box.setChecked(bool(value))
        self.box.blockSignals(False)

    def connect(self, slot: Callable[[], None]) -> None:
        self.box.toggled.connect(slot)


class IntSpinEditor(Editor):
    """A spin box for whole numbers; for optional fields 0 shows as "off" and means None."""

    def __init__(self, info: FieldInfo):
        self.spin = QSpinBox()
        lo = int(info.min) if info.min is not None else -INT32_MAX
        hi = int(info.max) if info.max is not None else INT32_MAX
        self.spin.setRange(max(lo, -INT32_MAX), min(hi, INT32_MAX))
        self.spin.setGroupSeparatorShown(True)
        if info.optional:
            self.spin.setSpecialValueText("off")
        super().__init__(info, self.spin)

    def text(self) -> str:
        v = self.spin.value()
        return "none" if self.info.optional and v == self.spin.minimum() else str(v)

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self.spin.minimum() if value is None else int(value))
        self.spin.blockSignals(False)

    def connect(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class FloatSpinEditor(Editor):
    """A spin box for numbers; the range is the field's closed range (exclusive ends are
    left to the core's check, so its message shows inline)."""

    def __init__(self, info: FieldInfo):
        self.spin = SciSpinBox(log_step=info.group == "optimisation")
        self.spin.setRange(
            info.min if info.min is not None else -1e12, info.max if info.max is not None else 1e12
        )
        self.spin.setSingleStep(0.5 if (info.max or 0) > 1 else 0.05)
        super().__init__(info, self.spin)

    def text(self) -> str:
        return repr(float(self.spin.value()))

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(float(value))
        self.spin.blockSignals(False)

    def connect(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class LineEditor(Editor):
    """Free text in the ``parse_value`` syntax: lists with commas, empty for "not set"."""

    def __init__(self, info: FieldInfo, placeholder: str = ""):
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        super().__init__(info, self.edit)

    def text(self) -> str:
        return self.edit.text()

    def set_value(self, value: Any) -> None:
        self.edit.blockSignals(True)
        text = "" if value is None else format_value(self.info.name, value)
        if self.info.name == "crosses":
            text = ", ".join(value or ())
        self.edit.setText(text)
        self.edit.blockSignals(False)

    def connect(self, slot: Callable[[], None]) -> None:
        self.edit.textChanged.connect(slot)


class ChoiceEditor(Editor):
    """A combo box of (text, value) items; value None stands for "not set"."""

    def __init__(self, info: FieldInfo, items: Sequence[tuple[str, str | None]]):
        self.combo = QComboBox()
        for label, value in items:
            self.combo.addItem(label, value)
        super().__init__(info, self.combo)

    def text(self) -> str:
        value = self.combo.currentData()
        return "none" if value is None else str(value)

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        i = self.combo.findData(value)
        if i < 0:  # e.g. a run made on a machine with a GPU: keep it, the check will say why
            self.combo.addItem(f"{value} (not on this machine)", value)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)
        self.combo.blockSignals(False)

    def connect(self, slot: Callable[[], None]) -> None:
        self.combo.currentIndexChanged.connect(slot)


class FieldSetEditor(Editor):
    """One check box per allowed field (wide_fields, deep_fields)."""

    def __init__(self, info: FieldInfo):
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.checks: dict[str, QCheckBox] = {}
        for name in info.choices or ():
            check = QCheckBox(name)
            check.setObjectName(f"{info.name}_{name}")
            row.addWidget(check)
            self.checks[name] = check
        row.addStretch(1)
        super().__init__(info, box)

    def text(self) -> str:
        return ",".join(n for n, c in self.checks.items() if c.isChecked())

    def set_value(self, value: Any) -> None:
        for name, check in self.checks.items():
            check.blockSignals(True)
            check.setChecked(name in (value or ()))
            check.blockSignals(False)

    def set_available(self, names: Sequence[str] | None) -> None:
        """Grey out fields the loaded data set does not have (None: all available)."""
        for name, check in self.checks.items():
            ok = names is None or name in names
            check.setEnabled(ok or check.isChecked())  # a checked one stays clickable to clear
            check.setToolTip("" if ok else "not in the loaded data set")

    def connect(self, slot: Callable[[], None]) -> None:
        for check in self.checks.values():
            check.toggled.connect(slot)


def make_editor(info: FieldInfo, devices: Sequence[tuple[str, str]] = ()) -> Editor:
    """The editor that fits a field's kind, range and choices."""
    if info.name == "device":
        return ChoiceEditor(info, [(label, key) for key, label in devices])
    if info.kind == "bool":
        return BoolEditor(info)
    if info.kind == "str_tuple" and info.choices:
        return FieldSetEditor(info)
    if info.choices and info.kind == "str":
        items: list[tuple[str, str | None]] = [(c, c) for c in info.choices]
        if info.optional:
            items.insert(0, ("(same as the deep part)", None))
        return ChoiceEditor(info, items)
    big = info.max is not None and info.max > INT32_MAX
    if info.kind == "int" and not big:
        return IntSpinEditor(info)
    if info.kind == "float" and not info.optional:
        return FloatSpinEditor(info)
    placeholder = {
        "int_tuple": "e.g. 64,32",
        "float_tuple": "e.g. 0.8,0.1,0.1",
        "str_tuple": "e.g. gender x genres, age x genres",
    }.get(info.kind, "")
    if info.optional:
        placeholder = placeholder or "empty: not set"
    return LineEditor(info, placeholder)
