"""Configure page: a form generated from the Config fields, presets, devices, inline errors."""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from widedeep_core.config import (
    DEFAULT_PRESET,
    PRESET_HELP,
    PRESETS,
    Config,
    FormState,
    adapt_to_data,
    config_fields,
    field_info,
    fields_available,
    parse_seeds,
    parse_value,
)
from widedeep_core.errors import ConfigError, WideDeepError

from ..config_form import ChoiceEditor, Editor, FieldSetEditor, make_editor
from ..widgets import message_label, show_message
from ..workers import JobRunner, Report

if TYPE_CHECKING:  # pragma: no cover
    from widedeep_core.data import MovieLensData

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


def cross_support_lines(cfg: Config, data: MovieLensData, report: Report) -> list[str]:
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


# Devices that exist on every machine: checking them needs no torch import.
ALWAYS_THERE = ("auto", "cpu")


def _imported(name: str) -> bool:
    """True when ``name`` is fully imported (not still being imported by another thread)."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


def torch_loaded() -> bool:
    """True once PyTorch and the device module are imported (the warm-up does it).

    Checked without importing: while the warm-up thread imports them, an import from
    the GUI thread would wait for the module lock, seconds (measured 2.9-3.8 s).
    """
    return _imported("torch") and _imported("widedeep_core.devices")


def device_items() -> list[tuple[str, str]]:
    """(key, label) of "auto" and every device this machine has, CPU first.

    Before PyTorch is loaded only "auto" and "cpu" are listed (importing it here would
    delay the first window by seconds); :meth:`ConfigurePage.refresh_devices` completes
    the list once the warm-up has loaded it.
    """
    items = [("auto", "auto (best available)")]
    if not torch_loaded():
        return [*items, ("cpu", "cpu")]
    from widedeep_core.devices import available_devices

    items += [(d.key, f"{d.key} — {d.name}") for d in available_devices()]
    return items


def _device_check(cfg: Config) -> tuple[str, str] | None:
    """The form state's last check: the configured device exists here."""
    problem = device_problem(cfg.device)
    return ("device", problem) if problem is not None else None


def device_problem(device: str) -> str | None:
    """Why ``device`` cannot be used here, or None (no torch import for auto and cpu)."""
    if device in ALWAYS_THERE:
        return None
    from widedeep_core.devices import resolve_device

    try:
        resolve_device(device)
    except WideDeepError as exc:
        return str(exc)
    return None


class ConfigurePage(QWidget):
    """Edits one Config; ``config()`` is the valid configuration or None."""

    validityChanged = Signal(bool)
    configChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.editors: dict[str, Editor] = {}
        self.error_labels: dict[str, QLabel] = {}
        # the core keeps the form's validation state (config.FormState); the page shows it
        self.form = FormState(DEFAULT_PRESET, extra_check=_device_check)
        self._data: MovieLensData | None = None
        self.support_jobs = JobRunner(self)
        self.support_jobs.succeeded.connect(self._on_support)
        self.support_jobs.failed.connect(self._on_support_failed)
        self.support_jobs.finished.connect(self._update_support_button)
        self._valid = False
        self._build()
        self.apply_preset(self.presetCombo.currentData())  # the core's default preset

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.presetCombo = QComboBox()
        self.presetCombo.setObjectName("presetCombo")
        for name in PRESETS:
            self.presetCombo.addItem(name, name)
            self.presetCombo.setItemData(
                self.presetCombo.count() - 1, PRESET_HELP.get(name, ""), Qt.ItemDataRole.ToolTipRole
            )
        # the core's default (fast: a first F5 takes seconds, not the reference's minutes)
        self.presetCombo.setCurrentIndex(max(self.presetCombo.findData(DEFAULT_PRESET), 0))
        self.presetCombo.activated.connect(self._on_preset_chosen)
        self.presetHelp = QLabel(PRESET_HELP.get(self.presetCombo.currentData(), ""))
        self.presetHelp.setObjectName("presetHelp")
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
            editor.connect(partial(self._on_edited, info.name))
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

        # not a Config field: Start trains the configuration once per seed listed here
        self.seedsEdit = QLineEdit()
        self.seedsEdit.setObjectName("seedsEdit")
        self.seedsEdit.setPlaceholderText("one run (the seed above); 0,1,2 or 0-4: one per seed")
        self.seedsEdit.setToolTip(
            "Repeat the run over these seeds (commas, or a range with both ends): the Runs "
            "page groups the runs into one row with mean and spread"
        )
        self.seedsEdit.textChanged.connect(self._on_seeds_edited)
        self.seedsError = message_label("error_seeds")
        self._seeds_error = ""
        seeds_cell = QWidget()
        sv = QVBoxLayout(seeds_cell)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.setSpacing(1)
        sv.addWidget(self.seedsEdit)
        sv.addWidget(self.seedsError)
        groups[field_info("seed").group].addRow("Repeat over seeds", seeds_cell)

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
        return self.form.config if self._valid else None

    def errors(self) -> dict[str, str]:
        """Field name -> the core's message, for every entry marked invalid."""
        return dict(self.form.errors)

    @property
    def validations(self) -> int:
        """Full Config validations so far (one per change at most)."""
        return self.form.validations

    def is_valid(self) -> bool:
        """True when Start may use ``config()``."""
        return self._valid

    def seeds(self) -> list[int] | None:
        """The seeds to repeat the run over; None for one run (empty or invalid field)."""
        text = self.seedsEdit.text().strip()
        if not text:
            return None
        try:
            return parse_seeds(text, "Repeat over seeds")
        except WideDeepError:
            return None

    @Slot(str)
    def _on_seeds_edited(self, text: str) -> None:
        try:
            if text.strip():
                parse_seeds(text, "Repeat over seeds")
            self._seeds_error = ""
        except WideDeepError as exc:
            self._seeds_error = str(exc)
        show_message(self.seedsError, self._seeds_error)
        self.seedsEdit.setStyleSheet("border: 1px solid #b00020;" if self._seeds_error else "")
        self._show_validation()

    def strings(self) -> dict[str, str]:
        """Every entry as the text ``parse_value`` reads (what the settings keep)."""
        return {name: editor.text() for name, editor in self.editors.items()}

    def preset_name(self) -> str:
        """The selected preset."""
        return str(self.presetCombo.currentData())

    def set_field(self, name: str, value: Any) -> None:
        """Enter one value as a user would (text is parsed like the CLI's ``--set``).

        The form then validates once, as after any edit; an unknown name raises
        ``ConfigError``. Tests, benchmarks and scripts use this, not the widgets.
        """
        info = field_info(name)
        editor = self.editors.get(name)
        if editor is None:
            raise ConfigError(name, "is not edited in the form (choose a preset instead)")
        if isinstance(value, str) and info.kind != "str":
            value = parse_value(name, value)
        editor.set_value(value)
        self._on_edited(name)

    def set_fields(self, **values: Any) -> None:
        """:meth:`set_field` for several fields, validated once at the end."""
        for name, value in values.items():
            info = field_info(name)
            if name not in self.editors:
                raise ConfigError(name, "is not edited in the form (choose a preset instead)")
            if isinstance(value, str) and info.kind != "str":
                value = parse_value(name, value)
            self.editors[name].set_value(value)
        self._revalidate()

    def field_text(self, name: str) -> str:
        """The entry of one field as ``parse_value`` text."""
        return self.editors[name].text()

    def refresh_devices(self) -> None:
        """List every device of this machine (called once PyTorch is loaded)."""
        editor = self.editors.get("device")
        if not isinstance(editor, ChoiceEditor):
            return
        current = editor.combo.currentData()
        editor.combo.blockSignals(True)
        editor.combo.clear()
        for key, label in device_items():
            editor.combo.addItem(label, key)
        editor.combo.blockSignals(False)
        editor.set_value(current)
        self._on_edited("device")

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
            self.presetHelp.setText(PRESET_HELP.get(preset, ""))
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
        if self.form.available is not None:
            cfg, notes = adapt_to_data(cfg, self.form.available)
        self.set_config(cfg)
        self.notesLabel.setText("\n".join(notes))

    def set_data(self, data: MovieLensData | None) -> None:
        """Data loaded: mark unavailable fields and adapt the form to them."""
        self._data = data
        self.form.set_available(fields_available(data) if data is not None else None)
        available = self.form.available
        for editor in self.editors.values():
            if isinstance(editor, FieldSetEditor):
                editor.set_available(available)
        if self.form.config is not None and available is not None:
            cfg, notes = adapt_to_data(self.form.config, available)
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
        data = self._data
        if self.support_jobs.is_busy() or cfg is None or data is None:
            return
        self.supportLabel.setText("Counting...")
        self.support_jobs.start(lambda report: cross_support_lines(cfg, data, report))
        self._update_support_button()

    def is_busy(self) -> bool:
        """True while the cross support is being counted."""
        return self.support_jobs.is_busy()

    def shutdown(self) -> None:
        """Wait for the support count (window closing)."""
        self.support_jobs.shutdown()

    @Slot(object)
    def _on_support(self, lines: list[str]) -> None:
        self.supportLabel.setText("\n".join(lines))

    @Slot(str)
    def _on_support_failed(self, message: str) -> None:
        self.supportLabel.setText(f"Cannot count the support: {message}")

    @Slot()
    def _update_support_button(self) -> None:
        cfg = self.config()
        ok = cfg is not None and bool(cfg.crosses) and self._data is not None
        self.supportButton.setEnabled(ok and not self.support_jobs.is_busy())
        if self._data is None:
            self.supportButton.setToolTip("Load data first")

    # ---------------------------------------------------------------- validation
    @Slot()
    def _on_preset_chosen(self) -> None:
        name = self.presetCombo.currentData()
        self.presetHelp.setText(PRESET_HELP.get(name, ""))
        self.apply_preset(name)

    def _texts(self) -> dict[str, str]:
        return {name: editor.text() for name, editor in self.editors.items()}

    def _on_edited(self, name: str, *_signal_args: object) -> None:
        """One entry changed: the core re-checks it, then the whole config, once."""
        self.form.preset = self.preset_name()
        self.form.edit(name, self.editors[name].text())
        self._show_validation()

    @Slot()
    def _revalidate(self) -> None:
        """Re-check every entry (preset, loaded config, new data): one validation if valid."""
        self.form.preset = self.preset_name()
        self.form.revalidate(self._texts())
        self._show_validation()

    def _show_validation(self) -> None:
        """Show the form state's errors; emit when the validity or the config changed."""
        self._apply_errors(self.form.errors)
        valid = self.form.valid and not self._seeds_error
        changed = valid != self._valid
        self._valid = valid
        if changed:
            self.validityChanged.emit(valid)
        if self.supportLabel.text() and not self.is_busy():
            self.supportLabel.setText("")  # it described other settings
        self._update_support_button()
        self.configChanged.emit()

    def _apply_errors(self, errors: dict[str, str]) -> None:
        for name, label in self.error_labels.items():
            show_message(label, errors.get(name, ""))
            self.editors[name].widget.setStyleSheet(
                "border: 1px solid #b00020;" if name in errors else ""
            )
        unplaced = [f"{k}: {v}" for k, v in errors.items() if k not in self.error_labels]
        n = len(errors)
        head = f"{n} setting{'s' if n != 1 else ''} need{'s' if n == 1 else ''} fixing" if n else ""
        show_message(self.summaryLabel, "\n".join(([head] if head else []) + unplaced))
