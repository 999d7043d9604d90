"""Studies this project did not create, and study names no trial could carry.

A plain Optuna study in the same storage is refused by ``sweep`` (nothing is added to
it) and shown by ``sweep show`` as what it is; a study name with a control character
or too long for a trial's run name is refused before anything starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from test_sweeps import make_spec

from widedeep_core.cli import main
from widedeep_core.errors import ConfigError
from widedeep_core.runs import RunStore
from widedeep_core.sweeps import load_study, normalize_url, open_study
from widedeep_core.sweeps.study import STUDY_NAME_MAX

TINY = {"n_users": 60, "n_items": 80, "n_ratings": 2500, "seed": 3}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from widedeep_core.data import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("foreigndata") / "ml", layout="ml-1m", **TINY)


def sweep(folder: Path, tmp_path: Path, study: str, *extra: str) -> list[str]:
    return [
        "sweep", "--data", str(folder), "--runs-dir", str(tmp_path / "runs"),
        "--storage", str(tmp_path / "sweeps.db"), "--study", study, "--preset", "reference",
        "--set", "epochs=1", "--set", "batch_size=256", "--set", "device=cpu",
        "--space", "lr=1e-4..1e-1:log", "--trials", "1", "--quiet", *extra,
    ]  # fmt: skip


def plain_optuna_study(tmp_path: Path, name: str = "foreign", **kw) -> str:
    """A study made by plain Optuna (minimising, unlike val_auc) with two trials."""
    import optuna

    url = normalize_url(tmp_path / "sweeps.db")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=url, study_name=name, **kw)
    if "directions" in kw:
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    else:
        study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=2)
    return url


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sweep_refuses_a_plain_optuna_study(tmp_path, tiny_folder, capsys):
    url = plain_optuna_study(tmp_path)
    assert main(sweep(tiny_folder, tmp_path, "foreign")) == 1
    line = one_line(capsys)
    assert "study 'foreign'" in line and "was not created by widedeep" in line, line
    assert len(load_study("foreign", url).trials) == 2  # nothing added
    assert not (tmp_path / "runs").exists() or not RunStore(tmp_path / "runs").list()


def test_show_a_plain_optuna_study(tmp_path, capsys):
    plain_optuna_study(tmp_path)
    storage = str(tmp_path / "sweeps.db")
    assert main(["sweep", "show", "foreign", "--storage", storage]) == 0
    captured = capsys.readouterr()
    assert "is not a widedeep study" in captured.err and "Traceback" not in captured.err
    out = captured.out
    assert "not a widedeep study" in out and "x" in out.splitlines()[4]  # its parameter
    assert "best: trial" in out and "reproduce" not in out

    assert main(["sweep", "show", "foreign", "--storage", storage, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["widedeep"] is False and shown["direction"] == "minimize"
    assert len(shown["trials"]) == 2 and shown["best"]["number"] in (0, 1)


def test_show_a_plain_optuna_study_with_two_objectives(tmp_path, capsys):
    plain_optuna_study(tmp_path, "pareto", directions=["minimize", "maximize"])
    storage = str(tmp_path / "sweeps.db")
    assert main(["sweep", "show", "pareto", "--storage", storage, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["direction"] == "minimize/maximize" and shown["best"] is None
    assert [t["value"] for t in shown["trials"]] == [None, None]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("two\nlines", "control characters"),
        ("tab\there", "control characters"),
        ("x" * (STUDY_NAME_MAX + 1), f"at most {STUDY_NAME_MAX}"),
        ("", "empty"),
        ("   ", "empty"),
        (" padded", "spaces"),
    ],
)
def test_bad_study_names_are_refused_up_front(name, words, tmp_path, capsys):
    args = ["sweep", "--data", str(tmp_path / "no-data"), "--space", "lr=1e-3..1e-2"]
    assert main([*args, "--study", name, "--runs-dir", str(tmp_path)]) == 1
    line = one_line(capsys)
    assert line.startswith("widedeep: error: --study: ") and words in line, line
    # the library refuses them too (the app builds its spec without the CLI)
    from widedeep_core.data import make_synthetic

    spec = make_spec(tmp_path, make_synthetic(**TINY), name=name)
    with pytest.raises(ConfigError, match=words):
        open_study(spec)


def test_longest_study_name_runs(tmp_path, tiny_folder, capsys):
    name = "n" * STUDY_NAME_MAX
    assert main(sweep(tiny_folder, tmp_path, name, "--json")) == 0
    (trial,) = json.loads(capsys.readouterr().out)["trials"]
    assert trial["state"] == "complete"
    (info,) = RunStore(tmp_path / "runs").list()
    assert info.name == f"{name} #0"
