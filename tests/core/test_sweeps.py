"""Sweeps: space parsing and validation, studies, pruning, resume, bad input, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from widedeep_core.cli import main
from widedeep_core.config import preset
from widedeep_core.errors import ConfigError, SweepError
from widedeep_core.runs import Run, RunStore
from widedeep_core.sweeps import (
    SweepSpec,
    display_url,
    load_study,
    normalize_url,
    open_storage,
    parse_param,
    parse_space,
    run_sweep,
    study_summary,
    validate_space,
)

TINY = {"n_users": 60, "n_items": 80, "n_ratings": 2500, "seed": 3}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: OpenMP threads spinning against other processes on 2 cores
    made a 0.6 s trial take 20 s here."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_data():
    from widedeep_core.data import make_synthetic

    return make_synthetic(**TINY)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from widedeep_core.data import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("sweepdata") / "ml", layout="ml-1m", **TINY)


def base_config(**kw):
    values = dict(epochs=2, batch_size=256, log_every=2, device="cpu")
    values.update(kw)
    return preset("reference").replace(**values)


def make_spec(tmp_path, data, space=("lr=0.00001|0.05",), name="s", **kw) -> SweepSpec:
    values = dict(
        study=name,
        storage=normalize_url(tmp_path / "sweeps.db"),
        space=parse_space(space),
        base=kw.pop("base", base_config()),
        data_path=None,
        data_fingerprint=data.fingerprint,
        runs_dir=str(tmp_path / "runs"),
        seed=1,
    )
    values.update(kw)
    return SweepSpec(**values)


# ---------------------------------------------------------------- space parser


def test_parse_ranges_and_choices_round_trip():
    lr = parse_param("lr=1e-4..1e-2:log")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-2, True)
    emb = parse_param(" embed-dim = 8..64 ")
    assert (emb.name, emb.kind, emb.low, emb.high, emb.log) == ("embed_dim", "int", 8, 64, False)
    hidden = parse_param("hidden=64,32|256, 128")
    assert hidden.kind == "choice" and hidden.choices == ("64,32", "256,128")
    opt = parse_param("optimizer=Adam|adamw")
    assert opt.choices == ("adam", "adamw")
    patience = parse_param("patience=none|3")
    assert patience.choices == ("none", "3")
    space = parse_space(["lr=1e-4..1e-2:log", "hidden=64,32|256,128", "batch_norm=true|false"])
    assert parse_space(space.texts()).texts() == space.texts()
    assert space.texts()[0] == "lr=0.0001..0.01:log"
    cfg = space.apply(base_config(), {"lr": 0.003, "hidden": "256,128", "batch_norm": "false"})
    assert cfg.lr == 0.003 and cfg.hidden == (256, 128) and cfg.batch_norm is False
    validate_space(space, base_config())


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([], "search space is empty"),
        (["colour=1..2"], "unknown setting"),
        (["lr"], "expected FIELD=LOW..HIGH"),
        (["lr="], "no values given"),
        (["lr=0.01"], "single value"),
        (["lr=0.1..0.01"], "LOW < HIGH"),
        (["lr=0.01..0.01"], "LOW < HIGH"),
        (["weight_decay=0..0.1:log"], "log range needs bounds > 0"),
        (["lr=1e-4..1e-2:lg"], "unknown range option"),
        (["embed_dim=8.5..64"], "not a whole number"),
        (["lr=a..b"], "not a number"),
        (["hidden=16..64"], "not a number: give choices"),
        (["optimizer=adam|adam"], "listed twice"),
        (["lr=1e-4..1e-2", "lr=1e-3..1e-1"], "given twice"),
        (["device=cpu|cuda"], "not a hyperparameter"),
    ],
)
def test_bad_space_text(items, words):
    with pytest.raises(ConfigError) as err:
        parse_space(items)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("dropout=0.0..1.0", "rejects '1.0'"),
        ("lr=0.0..0.5", "rejects '0.0'"),
        ("embed_dim=0..16", "rejects '0'"),
        ("hidden=16|0", "rejects '0'"),
        ("optimizer=adam|nadam", "rejects 'nadam'"),
    ],
)
def test_space_values_the_configuration_rejects(item, words):
    space = parse_space([item])
    with pytest.raises(ConfigError) as err:
        validate_space(space, base_config())
    assert words in str(err.value) and item.split("=")[0] in str(err.value)


def test_space_checked_against_the_data_fields():
    space = parse_space(["wide_fields=user,item|user,item,gender"])
    validate_space(space, base_config(), ("user", "item", "gender"))
    with pytest.raises(ConfigError, match="no gender"):
        validate_space(space, base_config(), ("user", "item", "genres", "year"))


# ---------------------------------------------------------------- storage


def test_storage_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDEDEEP_RUNS_DIR", str(tmp_path / "runs"))
    assert normalize_url(None) == f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    assert normalize_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    url = normalize_url("postgres://me:s3cret@db.example:5433/w")
    assert url == "postgresql+psycopg://me:s3cret@db.example:5433/w"
    assert "s3cret" not in display_url(url) and "db.example" in display_url(url)


def test_unreachable_server_names_the_host_not_the_password():
    url = normalize_url("postgresql://me:s3cret-pw@127.0.0.1:1/studies")
    with pytest.raises(SweepError) as err:
        open_storage(url)
    text = str(err.value)
    assert "127.0.0.1:1" in text and "refused" in text and "s3cret-pw" not in text
    assert "\n" not in text


def test_bad_storage_url():
    with pytest.raises(SweepError, match="unknown database kind 'notadialect'"):
        open_storage("notadialect://x")
    with pytest.raises(SweepError, match="cannot read the storage URL"):
        open_storage("://x")


# ---------------------------------------------------------------- studies


def test_sweep_trials_are_tagged_runs_and_bad_trials_are_pruned(tmp_path, tiny_data):
    spec = make_spec(tmp_path, tiny_data, ("lr=1e-5..1e-1:log",), base=base_config(epochs=3))
    seen = []
    outcome = run_sweep(spec, tiny_data, n_trials=6, on_trial=seen.append)
    assert not outcome.stopped and len(seen) == 6
    summary = study_summary(outcome.study, spec.storage)
    states = [t["state"] for t in summary["trials"]]
    assert len(states) == 6 and set(states) <= {"complete", "pruned"}
    assert "pruned" in states, states  # seeded: the same trials are pruned on every run
    store = RunStore(spec.runs_dir)
    infos = {i.tags["trial"]: i for i in store.list()}
    assert sorted(infos) == list(range(6))
    for trial in summary["trials"]:
        info = infos[trial["number"]]
        assert info.tags["study"] == "s" and Path(trial["run_dir"]) == info.path
        assert info.name == f"s #{trial['number']}"
        if trial["state"] == "pruned":
            assert info.status == "cancelled" and "pruned" in info.message
            assert info.tags["pruned_at_epoch"] == trial["pruned_at_epoch"] < 3
            assert len(trial["intermediate"]) == trial["pruned_at_epoch"]
        else:
            assert info.status == "finished" and info.epochs_run == 3
            assert trial["value"] == max(v for _, v in trial["intermediate"])
    best = summary["best"]
    assert best["value"] == max(t["value"] or 0 for t in summary["trials"])
    assert f"lr={best['params']['lr']!r}" in best["set"]
    assert "epochs=3" in best["set"] and "device=cpu" in best["set"]

    # resume: the study holds 6 trials, so a budget of 6 runs none and 7 runs one more
    assert run_sweep(spec, tiny_data, n_trials=6).started == 0
    outcome = run_sweep(spec, tiny_data, n_trials=7)
    assert outcome.started == 1 and len(outcome.study.trials) == 7


def test_same_seed_same_trials(tmp_path, tiny_data):
    space = ("lr=1e-4..1e-1:log", "embed_dim=4..16")
    a = run_sweep(make_spec(tmp_path / "a", tiny_data, space), tiny_data, n_trials=3)
    b = run_sweep(make_spec(tmp_path / "b", tiny_data, space), tiny_data, n_trials=3)
    assert [t.params for t in a.study.trials] == [t.params for t in b.study.trials]
    assert [t.value for t in a.study.trials] == [t.value for t in b.study.trials]


def test_refusals_and_unknown_study(tmp_path, tiny_data):
    spec = make_spec(tmp_path, tiny_data)
    run_sweep(spec, tiny_data, n_trials=1)
    other = make_spec(tmp_path, tiny_data, space=("lr=1e-4..1e-2:log",))
    with pytest.raises(SweepError, match="already exists with another search space"):
        run_sweep(other, tiny_data, n_trials=1)
    changed = make_spec(tmp_path, tiny_data, base=base_config(batch_size=128))
    with pytest.raises(SweepError, match="other fixed settings \\(batch_size differ\\)"):
        run_sweep(changed, tiny_data, n_trials=1)
    # the machine-specific fields may differ between machines sharing a study
    run_sweep(make_spec(tmp_path, tiny_data, base=base_config(log_every=3)), tiny_data, n_trials=1)
    with pytest.raises(SweepError, match=r"no study named 'nope'.*studies there: s"):
        load_study("nope", spec.storage)
    with pytest.raises(SweepError, match="budget"):
        run_sweep(spec, tiny_data)
    with pytest.raises(SweepError, match="at least 1"):
        run_sweep(spec, tiny_data, n_trials=2, workers=0)
    with pytest.raises(ConfigError, match="unknown objective"):
        make_spec(tmp_path, tiny_data, metric="val_f1").direction  # noqa: B018


class _StopAfter:
    """A stop flag that turns on after ``n`` looks: a deterministic 'user clicked Stop'."""

    def __init__(self, n: int):
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_stop_mid_trial_fails_that_trial_and_keeps_its_run(tmp_path, tiny_data):
    spec = make_spec(tmp_path, tiny_data, base=base_config(epochs=3))
    outcome = run_sweep(spec, tiny_data, n_trials=3, stop=_StopAfter(6))
    assert outcome.stopped
    (trial,) = outcome.study.trials
    assert trial.state.name == "FAIL" and trial.user_attrs["error"] == "stopped by the user"
    assert Run(trial.user_attrs["run_dir"]).status == "cancelled"
    # a resumed sweep fills the budget again: failed trials do not count
    assert run_sweep(spec, tiny_data, n_trials=1).started == 1


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from widedeep_core.data import load_movielens
    from widedeep_core.sweeps import objective, run_sweep
    import test_sweeps as t

    spec = t.make_spec(t.Path(sys.argv[1]), load_movielens(sys.argv[2]))
    original = objective.Objective._on_epoch

    def on_epoch(self, trial, trainer, event, state):
        original(self, trial, trainer, event, state)
        if trial.number == 1:  # die the hard way in the middle of the second trial
            os.kill(os.getpid(), signal.SIGKILL)

    objective.Objective._on_epoch = on_epoch
    run_sweep(spec, load_movielens(sys.argv[2]), n_trials=3)
    """
)


def test_resume_after_a_worker_is_killed_mid_trial(tmp_path, tiny_folder):
    from widedeep_core.data import load_movielens

    env = {"PYTHONPATH": f"{Path(__file__).parent}:{Path.cwd()}"}
    import os

    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path), str(tiny_folder)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    data = load_movielens(tiny_folder)
    spec = make_spec(tmp_path, data)
    study = load_study("s", spec.storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]
    killed_run = Run(study.trials[1].user_attrs["run_dir"])
    assert killed_run.status == "interrupted"

    outcome = run_sweep(spec, data, n_trials=3)
    assert outcome.recovered == [1]
    states = [t.state.name for t in outcome.study.trials]
    assert states[1] == "FAIL"
    assert "stopped mid-trial" in outcome.study.trials[1].user_attrs["error"]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3


# ---------------------------------------------------------------- CLI


def test_cli_sweep_then_show(tmp_path, tiny_folder, capsys):
    args = [
        "sweep", "--data", str(tiny_folder), "--runs-dir", str(tmp_path / "runs"),
        "--set", "epochs=2", "--set", "batch_size=256", "--set", "device=cpu",
        "--space", "lr=1e-3..1e-1:log", "--space", "hidden=16|32,16",
        "--trials", "3", "--study", "cli", "--json",
    ]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["trials"]) == 3 and out["best"]["number"] in range(3)
    assert all(Path(t["run_dir"]).is_dir() for t in out["trials"])
    assert {t["state"] for t in out["trials"]} <= {"complete", "pruned"}

    assert main(["sweep", "show", "cli", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["trials"] == out["trials"] and shown["best"] == out["best"]
    assert main(["sweep", "show", "cli", "--runs-dir", str(tmp_path / "runs")]) == 0
    text = capsys.readouterr().out
    assert "state" in text and "--set lr=" in text and "--preset fast" in text  # the default
    # the runs list sees the trials as ordinary runs
    assert main(["runs", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sweep", "--space", "lr=1e-4..1e-2"], "needs the data folder"),
        (["sweep", "--data", "X", "--trials", "2"], "search space is empty"),
        (["sweep", "--data", "X", "--space", "lr=1..0.1"], "LOW < HIGH"),
        (["sweep", "--data", "X", "--space", "lr=1e-3..1e-2", "--metric", "f1"], "objective"),
        (["sweep", "--data", "X", "--space", "lr=1e-3..1e-2", "--pruner", "x"], "pruner"),
        (["sweep", "show", "nope"], "no study named 'nope'"),
    ],
)
def test_cli_bad_input_is_one_line(args, words, capsys, tmp_path):
    assert main([*args, "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_ctrl_c_ends_a_sweep_with_one_line_and_a_stopped_trial(tmp_path, tiny_folder):
    # a real process and a real SIGINT, sent while a trial trains (its run folder exists)
    import os
    import signal
    import time

    runs = tmp_path / "runs"
    argv = [sys.executable, "-m", "widedeep_core.cli", "sweep", "--data", str(tiny_folder),
            "--preset", "reference", "--set", "epochs=200", "--space", "lr=1e-3|1e-2",
            "--trials", "3", "--runs-dir", str(runs), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "WIDEDEEP_THREADS": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(
        (p / "epochs.jsonl").exists() for p in runs.glob("20*")
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "[W " not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("widedeep: interrupted; study ")
    spec_url = f"sqlite:///{runs / 'sweeps.db'}"
    (trial,) = load_study(lines[0].split()[3], spec_url).trials
    assert trial.user_attrs["error"] == "stopped by the user"
