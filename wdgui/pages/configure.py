"""Configure page: a form generated from the Config fields, presets, devices, inline errors."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.config import (
    PRESET_HELP,
    PRESETS,
    Config,
    adapt_to_data,
    check_against_data,
    config_fields,
    fields_available,
    parse_value,
)
from widedeep_core.devices import available_devices, resolve_device
from widedeep_core.errors import WideDeepError

from ..config_form import Editor, FieldSetEditor, make_editor
from ..widgets import message_label, show_message
from ..workers import JobWorker, Report, Task

GROUP_TITLES = {
    "data": "Data protocol",
    "features": "Features",
    "model": "Model",
    "optimisation": "Optimisation",
    "training": "Training loop",
    "device": "Device",
    "run": "Run",
}
# Set by the preset selector, not typed in the form.
NOT_IN_FORM = ("preset",)


def cross_support_lines(cfg: Config, data: Any, report: Report) -> list[str]:
    """Worker thread: fit the encoder on the training split, describe each cross's support."""
    from widedeep_core.features.prepare import prepare

    report(-1.0, "Fitting the encoder on the training split")
    encoder = prepare(cfg, data).encoder
    lines = []
    for cross in cfg.crosses:
        counts = encoder.cross_support(cross)
        if len(counts) == 0:
            lines.append(f"{cross}: no value seen in the training split")
            continue
        c = counts["count"]
        top = ", ".join(f"{v} ({n:,})" for v, n in counts.head(3).itertuples(index=False))
        lines.append(
            f"{cross}: {len(counts):,} values, {int(c.min()):,} to {int(c.max()):,} training"
            f" rows each (median {int(c.median()):,}); most common: {top}"
        )
    return lines


def device_items() -> list[tuple[str, str]]:
    """(key, label) of "auto" and every device this machine has, CPU first."""
    items = [("auto", "auto (best available)")]
    items += [(d.key, f"{d.key} — {d.name}") for d in available_devices()]
    return items


class ConfigurePage(QWidget):
    """Edits one Config; ``config()`` is the valid configuration or None."""

    validityChanged = Signal(bool)
    configChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.editors: dict[str, Editor] = {}
        self.error_labels: dict[str, QLabel] = {}
        self._errors: dict[str, str] = {}
        self._config: Config | None = None
        self._available: tuple[str, ...] | None = None
        self._data: Any = None
        self._support_task: Task | None = None
        self._valid = False
        self._build()
        self.apply_preset(self.presetCombo.currentData())

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.presetCombo = QComboBox()
        self.presetCombo.setObjectName("presetCombo")
        for name in PRESETS:
            self.presetCombo.addItem(name, name)
            self.presetCombo.setItemData(
                self.presetCombo.count() - 1, PRESET_HELP.get(name, ""), Qt.ItemDataRole.ToolTipRole
            )
        self.presetCombo.activated.connect(self._on_preset_chosen)
        self.presetHelp = QLabel(PRESET_HELP.get(self.presetCombo.currentData(), ""))
        self.presetHelp.setWordWrap(True)
        self.resetButton = QPushButton("Reset to preset")
        self.resetButton.clicked.connect(self._on_preset_chosen)

        top = QHBoxLayout()
        top.addWidget(QLabel("Preset:"))
        top.addWidget(self.presetCombo)
        top.addWidget(self.resetButton)
        top.addWidget(self.presetHelp, 1)

        self.summaryLabel = message_label("configError")
        self.notesLabel = QLabel("")
        self.notesLabel.setObjectName("configNotes")
        self.notesLabel.setWordWrap(True)
        self.notesLabel.setStyleSheet("color: #555;")

        devices = device_items()
        groups: dict[str, QFormLayout] = {}
        boxes: list[QGroupBox] = []
        for info in config_fields():
            if info.name in NOT_IN_FORM:
                continue
            if info.group not in groups:
                box = QGroupBox(GROUP_TITLES.get(info.group, info.group.title()))
                box.setObjectName(f"group_{info.group}")
                groups[info.group] = QFormLayout(box)
                boxes.append(box)
            editor = make_editor(info, devices)
            editor.connect(self._revalidate)
            self.editors[info.name] = editor
            error = message_label(f"error_{info.name}")
            self.error_labels[info.name] = error
            cell = QWidget()
            v = QVBoxLayout(cell)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(1)
            v.addWidget(editor.widget)
            v.addWidget(error)
            label = QLabel(info.label[:1].upper() + info.label[1:])
            label.setToolTip(editor.widget.toolTip())
            groups[info.group].addRow(label, cell)

        self.supportButton = QPushButton("Show support")
        self.supportButton.setObjectName("crossSupportButton")
        self.supportButton.setToolTip(
            "Fit the encoder on the training split and count the rows behind each cross value"
        )
        self.supportButton.clicked.connect(self.compute_support)
        self.supportLabel = QLabel("")
        self.supportLabel.setObjectName("crossSupport")
        self.supportLabel.setWordWrap(True)
        self.supportLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        support = QWidget()
        sv = QVBoxLayout(support)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.supportButton, 0, Qt.AlignmentFlag.AlignLeft)
        sv.addWidget(self.supportLabel)
        groups["features"].addRow("Cross support", support)

        form = QWidget()
        grid = QGridLayout(form)
        # two columns of group boxes, filled top to bottom
        half = (len(boxes) + 1) // 2
        for i, box in enumerate(boxes):
            grid.addWidget(box, i % half, i // half)
        grid.setRowStretch(half, 1)
        scroll = QScrollArea()
        scroll.setObjectName("configScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(form)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summaryLabel)
        layout.addWidget(self.notesLabel)
        layout.addWidget(scroll, 1)

    # ---------------------------------------------------------------- public API
    def config(self) -> Config | None:
        """The current configuration when every entry is valid, else None."""
        return self._config if self._valid else None

    def errors(self) -> dict[str, str]:
        """Field name -> the core's message, for every entry marked invalid."""
        return dict(self._errors)

    def is_valid(self) -> bool:
        """True when Start may use ``config()``."""
        return self._valid

    def strings(self) -> dict[str, str]:
        """Every entry as the text ``parse_value`` reads (what the settings keep)."""
        return {name: editor.text() for name, editor in self.editors.items()}

    def preset_name(self) -> str:
        """The selected preset."""
        return str(self.presetCombo.currentData())

    def set_config(self, cfg: Config) -> None:
        """Show ``cfg`` in the form ("load into form"); its preset becomes the selection."""
        i = self.presetCombo.findData(cfg.preset)
        if i >= 0:
            self.presetCombo.setCurrentIndex(i)
            self.presetHelp.setText(PRESET_HELP.get(cfg.preset, ""))
        for name, editor in self.editors.items():
            editor.set_value(getattr(cfg, name))
        self._revalidate()

    def set_strings(self, strings: dict[str, str], preset: str | None = None) -> None:
        """Restore entries saved by ``strings()``; unreadable ones keep their value."""
        if preset is not None and self.presetCombo.findData(preset) >= 0:
            self.presetCombo.setCurrentIndex(self.presetCombo.findData(preset))
        for name, text in strings.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            try:
                editor.set_value(parse_value(name, text))
            except (WideDeepError, ValueError, TypeError):
                continue
        self._revalidate()

    def apply_preset(self, name: str) -> None:
        """Load the named preset, dropping fields the loaded data set lacks."""
        cfg = PRESETS[name]
        notes: list[str] = []
        if self._available is not None:
            cfg, notes = adapt_to_data(cfg, self._available)
        self.set_config(cfg)
        self.notesLabel.setText("\n".join(notes))

    def set_data(self, data: Any) -> None:
        """Data loaded: mark unavailable fields and adapt the form to them."""
        self._data = data
        self._available = fields_available(data) if data is not None else None
        for editor in self.editors.values():
            if isinstance(editor, FieldSetEditor):
                editor.set_available(self._available)
        if self._config is not None and self._available is not None:
            cfg, notes = adapt_to_data(self._config, self._available)
            if notes:
                self.set_config(cfg)
                self.notesLabel.setText("\n".join(notes))
                return
        self._revalidate()

    # ---------------------------------------------------------------- cross support
    @Slot()
    def compute_support(self) -> None:
        """Count, in a worker thread, the training rows behind each cross value."""
        cfg = self.config()
        if self._support_task is not None or cfg is None or self._data is None:
            return
        data = self._data
        worker = JobWorker(lambda report: cross_support_lines(cfg, data, report))
        worker.succeeded.connect(self._on_support)
        worker.failed.connect(self._on_support_failed)
        self._support_task = Task(worker, self)
        self._support_task.finished.connect(self._on_support_done)
        self.supportLabel.setText("Counting...")
        self._update_support_button()
        self._support_task.start()

    def is_busy(self) -> bool:
        """True while the cross support is being counted."""
        return self._support_task is not None

    def shutdown(self) -> None:
        """Wait for the support count (window closing)."""
        if self._support_task is not None:
            self._support_task.wait()  # emits finished: _on_support_done runs

    @Slot(object)
    def _on_support(self, lines: list[str]) -> None:
        self.supportLabel.setText("\n".join(lines))

    @Slot(str)
    def _on_support_failed(self, message: str) -> None:
        self.supportLabel.setText(f"Cannot count the support: {message}")

    @Slot()
    def _on_support_done(self) -> None:
        self._support_task = None
        self._update_support_button()

    def _update_support_button(self) -> None:
        cfg = self.config()
        ok = cfg is not None and bool(cfg.crosses) and self._data is not None
        self.supportButton.setEnabled(ok and self._support_task is None)
        if self._data is None:
            self.supportButton.setToolTip("Load data first")

    # ---------------------------------------------------------------- validation
    @Slot()
    def _on_preset_chosen(self) -> None:
        name = self.presetCombo.currentData()
        self.presetHelp.setText(PRESET_HELP.get(name, ""))
        self.apply_preset(name)

    @Slot()
    def _revalidate(self) -> None:
        """Parse every entry and check it with the core; mark each failing field inline."""
        base = PRESETS[self.preset_name()]
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, editor in self.editors.items():
            try:
                values[name] = parse_value(name, editor.text())
            except WideDeepError as exc:
                errors[name] = getattr(exc, "reason", str(exc))
        # each value alone against the (valid) preset: every independent error shows
        for name, value in values.items():
            try:
                base.replace(**{name: value})
            except WideDeepError as exc:
                errors.setdefault(getattr(exc, "field", name), getattr(exc, "reason", str(exc)))
        cfg = None
        if not errors:
            try:
                cfg = base.replace(**values, preset=self.preset_name())
                if self._available is not None:
                    check_against_data(cfg, self._available)
                resolve_device(cfg.device)
            except WideDeepError as exc:
                field = getattr(exc, "field", None) or (
                    "device" if "device" in str(exc) else "config"
                )
                errors[field] = getattr(exc, "reason", str(exc))
                cfg = None
        self._apply_errors(errors)
        self._config = cfg
        valid = cfg is not None
        changed = valid != self._valid
        self._valid = valid
        if changed:
            self.validityChanged.emit(valid)
        if self.supportLabel.text() and not self.is_busy():
            self.supportLabel.setText("")  # it described other settings
        self._update_support_button()
        self.configChanged.emit()

    def _apply_errors(self, errors: dict[str, str]) -> None:
        self._errors = errors
        for name, label in self.error_labels.items():
            show_message(label, errors.get(name, ""))
            self.editors[name].widget.setStyleSheet(
                "border: 1px solid #b00020;" if name in errors else ""
            )
        unplaced = [f"{k}: {v}" for k, v in errors.items() if k not in self.error_labels]
        n = len(errors)
        head = f"{n} setting{'s' if n != 1 else ''} need{'s' if n == 1 else ''} fixing" if n else ""
        show_message(self.summaryLabel, "\n".join(([head] if head else []) + unplaced))
