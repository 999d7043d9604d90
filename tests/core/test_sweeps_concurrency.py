"""Sweeps run by several processes at once: a fresh storage opened together, two commands
on one study and its ``--trials``, ``--workers`` capped, a worker process killed.

Processes are real: children forked from one warm interpreter and released together by
one pipe (so they collide on the schema's creation as two commands started at once
did), or real ``widedeep sweep`` commands with a fault hook at a named point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from test_sweeps import make_spec
from test_sweeps_faults import hook_site, run_cli, sweep_args, tiny_folder
from test_sweeps_postgres import pg_cluster

from widedeep_core import faultpoints
from widedeep_core.cli import main
from widedeep_core.sweeps import load_study, normalize_url, run_sweep
from widedeep_core.sweeps.runner import cap_workers

__all__ = ["hook_site", "pg_cluster", "tiny_folder"]  # fixtures shared with other modules

ROOT = Path(__file__).resolve().parents[2]
DONE = {"COMPLETE", "PRUNED"}

# Forks ``n`` children per fresh storage; each opens (creates) a study there once the
# parent releases them all. Prints one JSON line: the exit status of every child.
OPEN_TOGETHER = r"""
import json, os, sys
from widedeep_core.config import preset
from widedeep_core.sweeps import SweepSpec, normalize_url, open_study, parse_space
import optuna, sqlalchemy, alembic.migration  # paid once, before the fork

urls, n = json.loads(sys.argv[1]), int(sys.argv[2])
base = preset("reference").replace(epochs=1, device="cpu")
statuses = []
for url in urls:
    release_r, release_w = os.pipe()
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.read(release_r, 1)
                spec = SweepSpec(study=f"s{i % 3}", storage=normalize_url(url),
                                 space=parse_space(["lr=1e-4..1e-2:log"]), base=base,
                                 data_path=None, data_fingerprint="f" * 64)
                open_study(spec)
            except BaseException as exc:
                print(f"child {i}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        pids.append(pid)
    os.write(release_w, b"x" * n)
    statuses += [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
print(json.dumps(statuses))
"""


def open_together(urls: list[str], n: int = 6) -> list[int]:
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_TOGETHER, json.dumps(urls), str(n)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = json.loads(proc.stdout.splitlines()[-1])
    assert statuses == [0] * (n * len(urls)), proc.stderr[-3000:]
    return statuses


def assert_studies_set_up(url: str) -> None:
    from widedeep_core.sweeps import study_names

    assert study_names(normalize_url(url)) == ["s0", "s1", "s2"]
    for name in ("s0", "s1", "s2"):
        attrs = load_study(name, normalize_url(url)).user_attrs
        assert attrs["space"] == ["lr=0.0001..0.01:log"] and attrs["metric"] == "val_auc"


def test_fresh_sqlite_storage_opened_by_many_processes_at_once(tmp_path):
    # three fresh files, six processes each, three study names among them
    urls = [str(tmp_path / f"try{k}" / "sweeps.db") for k in range(3)]
    open_together(urls)
    for url in urls:
        assert_studies_set_up(url)


def test_fresh_postgres_storage_opened_by_many_processes_at_once(pg_cluster):
    urls = [pg_cluster.new_database(f"fresh{k}") for k in range(3)]
    open_together(urls)
    for url in urls:
        assert_studies_set_up(url)


# ---------------------------------------------------------------- the trials budget

ASK_ONE = r"""
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1]).ask()
"""


def test_a_trial_created_meanwhile_by_another_process_is_not_overshot(tmp_path):
    from widedeep_core.data import make_synthetic

    data = make_synthetic(n_users=60, n_items=80, n_ratings=2500, seed=3)
    spec = make_spec(tmp_path, data)
    assert run_sweep(spec, data, n_trials=4).finished == 4

    # between this sweep's count (4 of 5) and its ask, another process starts trial 4
    def other_process_starts_one(name: str) -> None:
        if name == "sweep.trial.ask" and not started:
            started.append(1)
            subprocess.run([sys.executable, "-c", ASK_ONE, spec.storage, spec.study],
                           check=True, timeout=120)  # fmt: skip

    started: list[int] = []
    previous = faultpoints.set_hook(other_process_starts_one)
    try:
        outcome = run_sweep(spec, data, n_trials=5)
    finally:
        faultpoints.set_hook(previous)
    assert started and outcome.finished == 0  # nothing trained beyond the budget
    trials = load_study("s", spec.storage).trials
    assert [t.state.name for t in trials[4:]] == ["RUNNING", "FAIL"]
    assert trials[5].user_attrs["error"].startswith("not run: the study already held its 5")
    assert "run_dir" not in trials[5].user_attrs  # stopped before it trained


def test_two_commands_at_once_hold_the_total(tmp_path, tiny_folder, hook_site):
    args = sweep_args(tiny_folder, tmp_path, str(tmp_path / "sweeps.db"), 4)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WIDEDEEP_THREADS": "1"}
    command = [sys.executable, "-m", "widedeep_core.cli", *args]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, **pipes) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    trials = load_study("s", normalize_url(str(tmp_path / "sweeps.db"))).trials
    assert sum(t.state.name in DONE for t in trials) == 4
    for t in trials:  # anything else is an extra trial stopped before it trained
        assert t.state.name in DONE or t.user_attrs["error"].startswith("not run:")


# ---------------------------------------------------------------- workers


def test_workers_are_capped_at_the_trials_left_and_the_cores():
    assert cap_workers(2, 5, cores=4) == (2, None)
    assert cap_workers(8, 3, cores=4) == (3, "--workers 8 capped to 3 (3 trial(s) left)")
    assert cap_workers(8, 30, cores=4) == (4, "--workers 8 capped to 4 (4 core(s))")
    assert cap_workers(8, None, cores=2) == (2, "--workers 8 capped to 2 (2 core(s))")
    assert cap_workers(3, 2, cores=2)[1] == "--workers 3 capped to 2 (2 trial(s) left, 2 core(s))"


def test_cli_says_when_it_caps_the_workers(tmp_path, tiny_folder, capsys):
    args = sweep_args(tiny_folder, tmp_path, str(tmp_path / "sweeps.db"), 1, "--workers", "4")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "note: --workers 4 capped to 1 (1 trial(s) left" in err, err


KILL_A_WORKER = """
    import multiprocessing, signal


    def kill():
        if multiprocessing.current_process().name.startswith("widedeep-sweep-") and once("k"):
            os.kill(os.getpid(), signal.SIGKILL)

    at({point!r}, 1, kill)
"""


@pytest.fixture
def two_cores():
    from widedeep_core.threads import usable_cores

    if usable_cores() < 2:
        pytest.skip("two worker processes need two cores (--workers is capped at the cores)")


def test_a_killed_worker_is_reported(two_cores, tmp_path, tiny_folder, hook_site):
    db = str(tmp_path / "sweeps.db")
    args = sweep_args(tiny_folder, tmp_path, db, 3, "--workers", "2")
    # killed mid-trial: its trial is lost for this command, the study is left short
    proc = run_cli(args, hook_site, tmp_path, textwrap.dedent(KILL_A_WORKER).format(
        point="run.epochs.jsonl"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("note: worker process ") and "(killed by SIGKILL)" in lines[0]
    assert lines[0].endswith("is marked failed"), lines[0]
    assert lines[1].startswith("widedeep: error: worker process ")
    assert "study s holds 2 of 3 finished trial(s): rerun the same command" in lines[1]
    study = load_study("s", normalize_url(db))
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE", "FAIL"]

    proc = run_cli(args, hook_site, tmp_path)  # the same command fills the study
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load_study("s", normalize_url(db)).trials
    assert sum(t.state.name in DONE for t in trials) == 3


def test_a_worker_killed_between_trials_is_a_note(two_cores, tmp_path, tiny_folder, hook_site):
    db = str(tmp_path / "sweeps.db")
    args = sweep_args(tiny_folder, tmp_path, db, 3, "--workers", "2")
    # killed once its first trial is stored: every trial of the budget still ends
    proc = run_cli(args, hook_site, tmp_path, textwrap.dedent(KILL_A_WORKER).format(
        point="sweep.trial.told"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, lines
    assert lines[0].startswith("note: worker process ") and "(killed by SIGKILL)" in lines[0]
    trials = load_study("s", normalize_url(db)).trials
    assert sum(t.state.name in DONE for t in trials) == 3
