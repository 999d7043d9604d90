"""The form state the Configure page shows: headless, one validation per edit."""

from __future__ import annotations

from widedeep_core.config import FormState, config_fields, format_value, preset


def _texts(name: str) -> dict[str, str]:
    cfg = preset(name)
    return {i.name: format_value(i.name, getattr(cfg, i.name)) for i in config_fields()}


def test_a_valid_edit_costs_one_validation_and_gives_the_config():
    form = FormState("fast")
    form.revalidate(_texts("fast"))
    assert form.valid and form.config == preset("fast") and form.errors == {}
    before = form.validations
    form.edit("lr", "0.01")
    assert form.validations == before + 1
    assert form.config is not None and form.config.lr == 0.01


def test_errors_go_to_their_fields_and_clear_when_fixed():
    form = FormState("fast")
    form.revalidate({**_texts("fast"), "lr": "-1", "epochs": "many", "batch_size": "0"})
    assert set(form.errors) == {"lr", "epochs", "batch_size"} and form.config is None
    form.edit("epochs", "3")  # others still marked: this one is checked alone
    assert "epochs" not in form.errors and set(form.errors) == {"lr", "batch_size"}
    form.edit("lr", "0.001")
    form.edit("batch_size", "64")
    assert form.valid and form.config.epochs == 3 and form.config.batch_size == 64


def test_a_cross_field_error_lands_on_the_field_the_core_names():
    form = FormState("full")
    form.revalidate({**_texts("full"), "split_fractions": "0.5,0.1,0.1"})
    assert list(form.errors) == ["split_fractions"]


def test_data_without_demographics_and_an_extra_check_are_errors_too():
    form = FormState("full")
    form.set_available(("user", "item", "year", "genres"))
    form.revalidate(_texts("full"))
    assert form.config is None and form.errors  # full reads gender, age, occupation
    checked = FormState("fast", extra_check=lambda cfg: ("device", "no such GPU"))
    checked.revalidate(_texts("fast"))
    assert checked.errors == {"device": "no such GPU"}
