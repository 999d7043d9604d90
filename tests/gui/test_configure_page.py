"""Configure page: generated from the Config fields, presets, devices, inline core errors."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtWidgets import QLineEdit, QWidget

from wdgui.pages.configure import ConfigurePage
from widedeep_core.config import PRESETS, config_fields, preset
from widedeep_core.devices import available_devices
from widedeep_core.errors import ConfigError


@pytest.fixture
def page(qtbot):
    p = ConfigurePage()
    qtbot.addWidget(p)
    return p


def test_form_has_an_editor_for_every_config_field(page):
    names = {info.name for info in config_fields()}
    assert set(page.editors) == names - {"preset"}
    for name in ("epochsSpin", "batchSizeSpin", "learningRateSpin", "deviceCombo", "presetCombo"):
        assert page.findChild(object, name) is not None, name


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_the_form(page, name):
    page.set_config(PRESETS[name])
    assert page.is_valid(), page.errors()
    assert page.config() == PRESETS[name]
    # and through the saved strings (what QSettings keeps between sessions)
    strings = page.strings()
    page.set_config(preset("reference"))
    page.set_strings(strings, name)
    assert page.config() == PRESETS[name]


def test_invalid_values_are_marked_with_the_core_message(page):
    page.set_field("lr", 0.0)
    assert not page.is_valid() and page.config() is None
    label = page.error_labels["lr"]
    assert not label.isHidden()
    assert label.text() == page.errors()["lr"]
    assert "(0, 10]" in label.text()  # the core's range text

    page.set_field("lr", 0.01)
    page.findChild(QLineEdit, "field_hidden").setText("64,abc")  # typed, not parseable
    assert page.errors().keys() == {"hidden"}
    assert "64,abc" in page.error_labels["hidden"].text()
    assert page.error_labels["lr"].isHidden()

    page.set_field("hidden", "64,32")
    page.set_field("split_fractions", "0.5,0.2,0.2")
    assert "sum to 1" in page.errors()["split_fractions"]
    page.set_field("split_fractions", "0.8,0.1,0.1")
    assert page.is_valid()
    assert page.config().hidden == (64, 32) and page.config().lr == pytest.approx(0.01)


def test_validity_signal(page, qtbot):
    with qtbot.waitSignal(page.validityChanged) as blocker:
        page.set_field("dropout", 1.0)  # max is exclusive
    assert blocker.args == [False]
    assert "dropout" in page.errors()
    with qtbot.waitSignal(page.validityChanged) as blocker:
        page.set_field("dropout", 0.3)
    assert blocker.args == [True]


def test_preset_selector_loads_the_preset(page):
    i = page.presetCombo.findData("paper")
    page.presetCombo.setCurrentIndex(i)
    page.presetCombo.activated.emit(i)
    cfg = page.config()
    assert cfg == PRESETS["paper"]
    assert page.findChild(object, "epochsSpin").value() == PRESETS["paper"].epochs


def test_device_chooser_lists_only_existing_devices(page):
    combo = page.findChild(object, "deviceCombo")
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys == ["auto"] + [d.key for d in available_devices()]
    assert "cpu" in keys


def test_a_device_that_is_not_here_is_marked(page):
    if any(d.key.startswith("cuda") for d in available_devices()):
        pytest.skip("this machine has a GPU")
    page.set_config(preset("reference").replace(device="cuda"))
    assert not page.is_valid()
    assert "cuda" in page.errors()["device"]


def test_data_without_demographics_adapts_the_form(page, small_data):
    page.set_data(dataclasses.replace(small_data, users=None))
    page.presetCombo.setCurrentIndex(page.presetCombo.findData("paper"))
    page.presetCombo.activated.emit(page.presetCombo.currentIndex())
    cfg = page.config()
    assert cfg is not None
    assert "gender" not in cfg.wide_fields and cfg.crosses == ()
    assert "dropped" in page.notesLabel.text()
    assert not page.findChild(QWidget, "wide_fields_age").isEnabled()


def test_cross_support_counts(page, qtbot, small_data):
    assert not page.supportButton.isEnabled()  # no data yet
    page.set_data(small_data)
    page.set_fields(
        wide_fields=("user", "item", "gender"), crosses="gender x genres, age x occupation"
    )
    assert page.is_valid(), page.errors()
    assert page.supportButton.isEnabled()
    page.supportButton.click()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20000)
    lines = page.supportLabel.text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["gender x genres", "age x occupation"]
    assert all("values" in line for line in lines)
    page.set_field("embed_dim", 8)  # the counts described other settings
    assert page.supportLabel.text() == ""


def test_set_field_is_the_public_way_in(page):
    page.set_field("epochs", 7)
    page.set_field("hidden", "48,24")  # text is parsed like the CLI's --set
    assert page.config().epochs == 7 and page.config().hidden == (48, 24)
    assert page.field_text("hidden") == "48,24"
    with pytest.raises(ConfigError, match="no_such_field"):
        page.set_field("no_such_field", 1)


def test_one_keystroke_validates_once(page, qtbot):
    from PySide6.QtCore import Qt

    edit = page.findChild(QLineEdit, "field_hidden")
    edit.setFocus()
    last = page.config().hidden[-1]
    before = page.validations
    qtbot.keyClick(edit, Qt.Key.Key_End)
    qtbot.keyClicks(edit, "8")
    assert page.validations - before == 1  # was 34 full validations per keystroke
    assert page.config().hidden[-1] == int(f"{last}8")  # e.g. "16,16" + "8"
    # while another entry is marked, an edit is checked alone: still one validation
    page.set_field("lr", 0.0)
    before = page.validations
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    assert page.validations - before == 1
    assert page.errors().keys() == {"lr"}


def test_errors_reach_their_field_by_name(page):
    # a rule over two fields (the core names the field in ConfigError.field)
    page.set_fields(deep_fields="user,item", hidden="")
    assert page.errors().keys() == {"hidden"}
    assert not page.error_labels["hidden"].isHidden()
    page.set_field("hidden", "16")
    assert page.is_valid()


def test_the_first_preset_is_the_fast_default(page):
    from widedeep_core.config import DEFAULT_PRESET, PRESET_HELP

    assert DEFAULT_PRESET == "fast"  # seconds on ML-1M, not reference's 100 epochs
    assert page.presetCombo.currentText() == "fast" and page.preset_name() == "fast"
    assert page.config() == PRESETS["fast"]
    assert page.findChild(QWidget, "epochsSpin").value() == PRESETS["fast"].epochs
    assert page.findChild(QWidget, "presetHelp").text() == PRESET_HELP["fast"]


@pytest.mark.parametrize("name", ["reference", "topn"])
def test_a_restored_preset_shows_its_own_description(qtbot, name):
    from widedeep_core.config import PRESET_HELP

    saved = ConfigurePage()
    qtbot.addWidget(saved)
    saved.set_config(PRESETS[name])
    strings = saved.strings()
    page = ConfigurePage()  # a restart: a new page, then the saved strings and preset
    qtbot.addWidget(page)
    page.set_strings(strings, name)
    assert page.presetCombo.currentText() == name and page.config() == PRESETS[name]
    assert page.findChild(QWidget, "presetHelp").text() == PRESET_HELP[name]
