"""Config: validation naming the field, presets pinned, string parsing, JSON round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from widedeep_core.config import (
    PRESET_HELP,
    PRESETS,
    Config,
    adapt_to_data,
    check_against_data,
    check_strings,
    config_fields,
    config_from_strings,
    field_info,
    fields_available,
    format_value,
    from_strings,
    parse_assignments,
    parse_value,
    preset,
)
from widedeep_core.constants import FIELDS
from widedeep_core.errors import ConfigError

ALL = ("user", "item", "gender", "age", "occupation", "zip", "year", "genres")
GENRE_CROSSES = ["gender x genres", "age x genres", "occupation x genres"]

REFERENCE = {
    "threshold": 3.0,
    "positive_rule": ">",
    "drop_neutral": False,
    "min_rating": 0.0,
    "min_user_ratings": 0,
    "min_item_ratings": 0,
    "test_history": "train",
    "split": "random",
    "split_fractions": [0.8, 0.1, 0.1],
    "seed": 0,
    "wide_fields": ["user", "item"],
    "deep_fields": ["user", "item"],
    "crosses": [],
    "embed_dim": 16,
    "hidden": [16, 16],
    "activation": "relu",
    "dropout": 0.5,
    "batch_norm": True,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-6,
    "wide_optimizer": None,
    "wide_lr": None,
    "ftrl_l1": 0.0,
    "ftrl_l2": 0.0,
    "batch_size": 512,
    "epochs": 100,
    "patience": None,
    "monitor": "val_auc",
    "lr_schedule": "none",
    "device": "auto",
    "amp": False,
    "eval_batch_size": 8192,
    "log_every": 20,
    "ranking_k": 10,
    "negatives": 0,
    "negative_sampling": "uniform",
    "negative_power": 0.75,
    "hard_negatives": 0,
    "retrieval": "none",
    "ease_lambda": 500.0,
    "candidates": 200,
    "retrieval_folds": 5,
    "retrieval_features": ["score", "liked_score", "rank"],
    "rate_features": True,
    "ranking_users": None,
    "preset": "reference",
    "shuffle": False,
    "restore_best": False,
    "name": None,
}


def test_reference_preset_is_pinned_field_by_field():
    # Every field is listed, so a new field forces a decision about the reference preset.
    assert preset("reference").to_dict() == REFERENCE
    assert Config() == preset("reference")


def test_reference_preset_learning_setup():
    ref = preset("reference")
    assert not ref.early_stopping
    assert ref.wide_optimizer_name == "adam"
    assert ref.wide_learning_rate == 1e-3
    assert ref.all_fields == ("user", "item")


def test_paper_preset_pairs_ftrl_wide_with_adagrad_deep():
    p = preset("paper")
    assert p.wide_optimizer == "ftrl" and p.wide_optimizer_name == "ftrl"
    assert p.optimizer == "adagrad"
    assert p.wide_lr == 0.05 and p.wide_learning_rate == 0.05
    assert p.ftrl_l1 > 0
    assert p.embed_dim == 32
    assert p.hidden == (256, 128, 64)
    assert p.activation == "relu"
    assert set(p.deep_fields) == set(ALL)
    assert list(p.crosses) == GENRE_CROSSES
    assert p.early_stopping and p.patience == 3
    assert p.preset == "paper"


def test_full_preset_values():
    f = preset("full").to_dict()
    expected = {
        "embed_dim": 32,
        "hidden": [256, 128],
        "dropout": 0.0,
        "batch_norm": False,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-6,
        "batch_size": 1024,
        "epochs": 40,
        "patience": 3,
        "shuffle": True,
        "restore_best": True,
        "crosses": GENRE_CROSSES,
        "wide_fields": list(ALL),
        "deep_fields": list(ALL),
        "preset": "full",
        "wide_optimizer": None,
    }
    assert {k: f[k] for k in expected} == expected


def test_presets_are_valid_and_described():
    names = {"reference", "paper", "full", "fast", "topn", "recbole-context", "recbole-general"}
    assert set(PRESETS) == names == set(PRESET_HELP)
    for name, cfg in PRESETS.items():
        assert cfg.preset == name
        cfg.validate()
        assert preset(name.upper()) is cfg


def test_unknown_preset_lists_the_names():
    with pytest.raises(ConfigError) as info:
        preset("best")
    assert info.value.field == "preset"
    for name in PRESETS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"lr": -0.001}, "lr", "(0, 10]"),
        ({"lr": 0.0}, "lr", "(0, 10]"),
        ({"lr": float("nan")}, "lr", "got nan"),
        ({"weight_decay": -1e-6}, "weight_decay", "[0, 1]"),
        ({"wide_lr": -1.0}, "wide_lr", "(0, 10]"),
        ({"ftrl_l1": -0.1}, "ftrl_l1", "[0, 100]"),
        ({"dropout": 1.0}, "dropout", "[0, 1)"),
        ({"dropout": -0.1}, "dropout", "[0, 1)"),
        ({"batch_size": 0}, "batch_size", "[1, "),
        ({"eval_batch_size": 0}, "eval_batch_size", "[1, "),
        ({"epochs": 0}, "epochs", "[1, "),
        ({"embed_dim": 0}, "embed_dim", "[1, 1024]"),
        ({"hidden": (64, 0)}, "hidden", "each value"),
        ({"hidden": ()}, "hidden", "deep_fields"),
        ({"patience": -1}, "patience", "[0, "),
        ({"seed": -1}, "seed", "[0, 4294967295]"),
        ({"threshold": 11.0}, "threshold", "[0, 10]"),
        ({"ranking_k": 0}, "ranking_k", "[1, 1000]"),
        ({"log_every": 0}, "log_every", "[1, "),
        ({"activation": "swish"}, "activation", "relu, sigmoid, tanh, gelu"),
        ({"optimizer": "rmsprop"}, "optimizer", "adam, adamw, sgd, adagrad, ftrl"),
        ({"wide_optimizer": "lbfgs"}, "wide_optimizer", "ftrl"),
        ({"split": "kfold"}, "split", "random, temporal, leave-last-out"),
        ({"monitor": "val_acc"}, "monitor", "val_auc, val_logloss"),
        ({"lr_schedule": "linear"}, "lr_schedule", "cosine"),
        ({"split_fractions": (0.5, 0.3, 0.1)}, "split_fractions", "sum to 1"),
        ({"split_fractions": (0.9, 0.1)}, "split_fractions", "exactly 3"),
        ({"split_fractions": (0.9, 0.1, 0.0)}, "split_fractions", "(0, 1]"),
        ({"wide_fields": ("user", "colour")}, "wide_fields", "'colour'"),
        ({"deep_fields": ("item", "item")}, "deep_fields", "twice"),
        ({"crosses": ("gender genres",)}, "crosses", "'a x b'"),
        ({"crosses": ("gender x colour",)}, "crosses", "unknown field 'colour'"),
        ({"crosses": ("genres x genres",)}, "crosses", "itself"),
        ({"crosses": ("gender x genres", "genres x gender")}, "crosses", "repeats"),
        ({"wide_fields": (), "deep_fields": (), "crosses": ()}, "wide_fields", "no input"),
        ({"device": "gpu"}, "device", "cpu, cuda, cuda:N, mps or auto"),
        ({"device": "cuda:x"}, "device", "cuda:N"),
        ({"epochs": "3"}, "epochs", "whole number"),
        ({"batch_norm": 1}, "batch_norm", "true or false"),
        ({"embed_dim": 16.0}, "embed_dim", "whole number"),
        ({"hidden": "64,32"}, "hidden", "list of whole numbers"),
        ({"lr": None}, "lr", "must be set"),
        ({"preset": ""}, "preset", "1 to 100"),
    ],
)
def test_validation_names_the_field_and_the_allowed_values(changes, field, fragment):
    with pytest.raises(ConfigError) as info:
        Config().replace(**changes)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert fragment in str(info.value)


def test_valid_edge_values_are_accepted():
    cfg = Config(
        dropout=0.0,
        deep_fields=(),
        hidden=(),
        patience=0,
        crosses=("user x item",),
        split_fractions=(0.7, 0.2, 0.1),
        device="cuda:3",
    )
    assert not cfg.early_stopping
    assert cfg.all_fields == ("user", "item")


def test_normalisation_of_json_and_form_values():
    cfg = Config(
        lr=1,
        threshold=4,
        split_fractions=[0.8, 0.1, 0.1],
        hidden=[32, 16],
        optimizer=" AdamW ",
        crosses=["Gender  X genres", "age×genres"],
        wide_fields=["USER", "item"],
        name="",
    )
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.threshold == 4.0 and isinstance(cfg.threshold, float)
    assert cfg.split_fractions == (0.8, 0.1, 0.1)
    assert cfg.hidden == (32, 16)
    assert cfg.optimizer == "adamw"
    assert cfg.crosses == ("gender x genres", "age x genres")
    assert cfg.cross_pairs == (("gender", "genres"), ("age", "genres"))
    assert cfg.wide_fields == ("user", "item")
    assert cfg.name is None


def test_replace_returns_a_validated_copy():
    base = Config()
    new = base.replace(epochs=3, hidden=(8,))
    assert (new.epochs, new.hidden) == (3, (8,))
    assert base.epochs == 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.epochs = 5  # type: ignore[misc]
    with pytest.raises(ConfigError) as info:
        base.replace(epoch=3)
    assert info.value.field == "epoch"
    assert "epochs" in str(info.value)


def test_from_strings_parses_by_field_type():
    cfg = from_strings(
        Config(),
        {
            "hidden": "64,32",
            "epochs": "3",
            "batch_norm": "false",
            "crosses": "gender x genres,age x genres",
            "patience": "none",
            "lr": "2e-3",
            "wide_optimizer": "ftrl",
            "split_fractions": "0.7, 0.15, 0.15",
            "wide_fields": "user, item, gender",
            "name": "My run",
        },
    )
    assert cfg.hidden == (64, 32)
    assert cfg.epochs == 3
    assert cfg.batch_norm is False
    assert cfg.crosses == ("gender x genres", "age x genres")
    assert cfg.patience is None
    assert cfg.lr == 0.002
    assert cfg.wide_optimizer == "ftrl"
    assert cfg.split_fractions == (0.7, 0.15, 0.15)
    assert cfg.wide_fields == ("user", "item", "gender")
    assert cfg.name == "My run"
    assert config_from_strings is from_strings


def test_from_strings_empty_and_bracketed_values():
    cfg = from_strings(
        Config(), {"crosses": "", "hidden": "[128, 64]", "wide_lr": "", "patience": "5"}
    )
    assert cfg.crosses == () and cfg.hidden == (128, 64)
    assert cfg.wide_lr is None and cfg.patience == 5


@pytest.mark.parametrize(
    ("key", "text", "fragment"),
    [
        ("epochs", "3.5", "whole number"),
        ("epochs", "many", "whole number"),
        ("lr", "fast", "a number"),
        ("batch_norm", "maybe", "true or false"),
        ("hidden", "64;32", "separate values with commas"),
        ("epochs", "", "whole number"),
        ("seed", "-", "whole number"),
        ("epochs", "none", "whole number"),
    ],
)
def test_from_strings_reports_unreadable_text(key, text, fragment):
    with pytest.raises(ConfigError) as info:
        from_strings(Config(), {key: text})
    assert info.value.field == key
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


def test_from_strings_validates_after_parsing():
    with pytest.raises(ConfigError) as info:
        from_strings(Config(), {"dropout": "1.5"})
    assert info.value.field == "dropout"
    with pytest.raises(ConfigError) as info:
        from_strings(Config(), {"colour": "red"})
    assert info.value.field == "colour"


def test_format_value_round_trips_every_field_of_every_preset():
    for cfg in PRESETS.values():
        for info in config_fields():
            value = getattr(cfg, info.name)
            assert parse_value(info.name, format_value(info.name, value)) == value, info.name
        changed = from_strings(
            Config(), {i.name: format_value(i.name, getattr(cfg, i.name)) for i in config_fields()}
        )
        assert changed == cfg


@given(st.lists(st.integers(min_value=1, max_value=65536), min_size=1, max_size=6))
def test_hidden_text_round_trip(sizes):
    from widedeep_core.config import validate_all

    assume(not validate_all({"hidden": tuple(sizes)}))  # too big for this machine's RAM
    cfg = Config().replace(hidden=tuple(sizes))
    assert from_strings(Config(), {"hidden": format_value("hidden", cfg.hidden)}) == cfg


@given(st.floats(min_value=1e-9, max_value=10.0, allow_nan=False))
def test_lr_text_round_trip_is_exact(lr):
    assert parse_value("lr", format_value("lr", lr)) == lr


def test_json_round_trip():
    for cfg in [*PRESETS.values(), Config(name="x", wide_lr=0.1, patience=2)]:
        text = json.dumps(cfg.to_dict())
        assert Config.from_dict(json.loads(text)) == cfg


def test_from_dict_unknown_missing_and_wrong_types():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"epochs": 3, "learning_rate": 0.1})
    assert info.value.field == "learning_rate"
    assert Config.from_dict({"epochs": 3}) == Config(epochs=3)  # missing keys: defaults
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"hidden": "64,32"})
    assert info.value.field == "hidden"
    with pytest.raises(ConfigError) as info:
        Config.from_dict([1, 2])  # type: ignore[arg-type]
    assert info.value.field == "config"


def test_field_metadata_drives_forms_and_cli():
    infos = config_fields()
    assert [i.name for i in infos] == [f.name for f in dataclasses.fields(Config)]
    for info in infos:
        assert (
            info.help
            and info.group
            in {"data", "features", "model", "optimisation", "training", "device", "run"}
            and info.label
        )
    assert field_info("activation").choices == ("relu", "sigmoid", "tanh", "gelu")
    assert field_info("wide_fields").choices == FIELDS
    assert field_info("dropout").describe_range() == "[0, 1)"
    assert field_info("lr").describe_range() == "(0, 10]"
    assert field_info("hidden").kind == "int_tuple"
    assert field_info("split_fractions").length == 3
    assert field_info("patience").optional and not field_info("epochs").optional
    with pytest.raises(ConfigError):
        field_info("nope")


def test_parse_assignments():
    assert parse_assignments(["epochs=3", "batch-size=64", "crosses=a x b=c"]) == {
        "epochs": "3",
        "batch_size": "64",
        "crosses": "a x b=c",
    }
    for bad in ("epochs", "=3"):
        with pytest.raises(ConfigError) as info:
            parse_assignments([bad])
        assert info.value.field == "--set"


def test_every_bad_setting_is_reported_at_once_with_suggestions():
    # an unknown key does not hide the other invalid values
    cfg, errors = check_strings(
        preset("fast"), parse_assignments(["epoch=3", "lr=-1", "batch_size=x", "hiden=8"])
    )
    assert cfg is None
    assert set(errors) == {"epoch", "lr", "batch_size", "hiden"}
    assert "did you mean epochs?" in errors["epoch"]
    assert "did you mean hidden?" in errors["hiden"]
    assert "known settings" in check_strings(preset("fast"), {"zzzz": "1"})[1]["zzzz"]


class _NoUsers:
    has_demographics = False


def test_fields_available(small_data):
    assert fields_available(small_data) == ALL
    assert fields_available(_NoUsers()) == ("user", "item", "year", "genres")


def test_check_against_data_names_missing_fields():
    available = fields_available(_NoUsers())
    ref = preset("reference")
    assert check_against_data(ref, available) is ref
    with pytest.raises(ConfigError) as info:
        check_against_data(preset("full"), available)
    assert info.value.field == "wide_fields"
    message = str(info.value)
    for name in ("gender", "age", "occupation", "zip"):
        assert name in message
    with pytest.raises(ConfigError) as info:
        check_against_data(Config(crosses=("gender x genres",)), available)
    assert info.value.field == "crosses" and "gender" in str(info.value)


def test_adapt_to_data_drops_unavailable_fields_with_notes():
    available = fields_available(_NoUsers())
    adapted, notes = adapt_to_data(preset("paper"), available)
    assert adapted.wide_fields == ("user", "item", "year", "genres")
    assert adapted.deep_fields == ("user", "item", "year", "genres")
    assert adapted.crosses == ()
    assert len(notes) == 3 and "gender x genres" in notes[2]
    assert adapted.optimizer == "adagrad" and adapted.preset == "paper"
    same, none = adapt_to_data(preset("reference"), available)
    assert same is preset("reference") and none == []
    with pytest.raises(ConfigError):
        adapt_to_data(Config(wide_fields=("gender",), deep_fields=(), hidden=()), available)


def test_validate_all_reports_every_field_at_once():
    from widedeep_core.config import check_strings, validate_all

    errors = validate_all({"dropout": 1.5, "batch_size": 0, "colour": 1, "crosses": ("a x b",)})
    assert set(errors) == {"dropout", "batch_size", "colour", "crosses"}
    assert validate_all({"dropout": 0.2}, preset("full")) == {}
    # a rule over several fields is skipped while one of them has its own error
    assert set(validate_all({"split_fractions": (0.5, "x", 0.5)})) == {"split_fractions"}
    cfg, errors = check_strings(preset("full"), {"dropout": "x", "hidden": "", "device": "gpu"})
    assert cfg is None and set(errors) == {"dropout", "hidden", "device"}
    cfg, errors = check_strings(preset("full"), {"dropout": "0.25"})
    assert errors == {} and cfg == preset("full").replace(dropout=0.25)
    cfg, errors = check_strings(preset("full"), {}, available_fields=["user", "item"])
    assert cfg is None and set(errors) == {"wide_fields"}
    # the first error of validate_all is the one Config raises
    with pytest.raises(ConfigError) as err:
        preset("full").replace(dropout=1.5, batch_size=0)
    assert err.value.field == next(iter(validate_all({"dropout": 1.5, "batch_size": 0})))
