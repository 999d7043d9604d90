"""Sweeps under storage faults: a stopped server, a damaged file, a full disk, a lock held
too long, missing privileges.

Each ends the ``widedeep sweep`` process with one line on stderr naming the storage
(never the password) and the cause, a non-zero exit and no traceback (Optuna's logger
included); every trial the sweep reported done is kept, and once the fault is gone
the same command resumes the study.

The faults are injected from inside a real CLI process at a named point
(``widedeep_core.faultpoints``): a ``sitecustomize`` on ``PYTHONPATH`` installs the hook
given in ``$WD_SWEEP_HOOK`` in the command and in each worker process it spawns, so a
fault lands at an exact step, with no timing involved. ``told`` (a file the hook
appends to after each ``sweep.trial.told``) is what the sweep reported done.
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

from test_sweeps_postgres import PASSWORD, PgCluster

from widedeep_core.cli import main
from widedeep_core.runs import Run
from widedeep_core.sweeps import load_study, normalize_url

ROOT = Path(__file__).resolve().parents[2]
TINY = {"n_users": 60, "n_items": 80, "n_ratings": 2500, "seed": 3}
DONE = {"COMPLETE", "PRUNED"}

SITE = """
import os
_code = os.environ.get("WD_SWEEP_HOOK")
if _code:
    exec(compile(_code, "<sweep hook>", "exec"), {"__name__": "__sweep_hook__"})
"""

# The hook's helpers: ``at(point, nth, action)`` runs ``action`` at the nth time this
# process reaches ``point``; ``once(name)`` is True in the first process that asks (the
# workers of one sweep share a fault); every "sweep.trial.told" is appended to $WD_TOLD.
HOOK = """
import os, subprocess, sys
from widedeep_core import faultpoints

_seen = {}
_actions = {}


def once(name):
    try:
        os.close(os.open(os.environ["WD_MARKS"] + "/" + name, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def at(point, nth, action):
    _actions[(point, nth)] = action


def _hook(name):
    _seen[name] = _seen.get(name, 0) + 1
    if name == "sweep.trial.told" and os.environ.get("WD_TOLD"):
        with open(os.environ["WD_TOLD"], "a") as fh:
            fh.write("told\\n")
    action = _actions.get((name, _seen[name]))
    if action is not None:
        action()


faultpoints.set_hook(_hook)
"""


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from widedeep_core.data import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("faultdata") / "ml", layout="ml-1m", **TINY)


@pytest.fixture(scope="module")
def hook_site(tmp_path_factory) -> Path:
    """A folder whose ``sitecustomize`` installs ``$WD_SWEEP_HOOK`` in every process."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITE)
    return site


def sweep_args(folder: Path, tmp_path: Path, storage: str, trials: int = 4, *extra: str):
    """A quiet ``widedeep sweep`` of tiny two-epoch trials on ``storage``."""
    return [
        "sweep", "--data", str(folder), "--runs-dir", str(tmp_path / "runs"),
        "--storage", storage, "--study", "s", "--preset", "reference",
        "--set", "epochs=2", "--set", "batch_size=256", "--set", "device=cpu",
        "--space", "lr=1e-4..1e-1:log", "--trials", str(trials), "--quiet", *extra,
    ]  # fmt: skip


def run_cli(
    args: list[str], site: Path, tmp_path: Path, hook: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m widedeep_core.cli ARGS`` with ``hook`` (source after HOOK) installed."""
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    full = {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
        "WIDEDEEP_THREADS": "1",
        "WD_SWEEP_HOOK": (HOOK + textwrap.dedent(hook)) if hook else "",
        "WD_MARKS": str(marks),
        "WD_TOLD": str(tmp_path / "told"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "widedeep_core.cli", *args],
        capture_output=True, text=True, timeout=300, env=full, cwd=ROOT,
    )  # fmt: skip


def told(tmp_path: Path) -> int:
    """How many trials the sweep reported done (the hook counted them)."""
    path = tmp_path / "told"
    return len(path.read_text().splitlines()) if path.exists() else 0


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed: no traceback, no log record."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "[W " not in proc.stderr
    assert lines[0].startswith("widedeep: error: "), lines[0]
    return lines[0]


def assert_resumed(url: str, trials: int, failed_mid_trial: list[int]) -> None:
    """The resumed study: ``trials`` done, the trials left running marked failed."""
    study = load_study("s", normalize_url(url))
    states = [t.state.name for t in study.trials]
    assert sum(s in DONE for s in states) == trials, states
    for number in failed_mid_trial:
        assert states[number] == "FAIL"
        assert "stopped mid-trial" in study.trials[number].user_attrs["error"]


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def own_cluster():
    """A cluster of this test's own: these tests stop it or take privileges away."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


def test_postgres_stopped_mid_sweep(own_cluster, tiny_folder, hook_site, tmp_path):
    url = own_cluster.new_database("studies")
    args = sweep_args(tiny_folder, tmp_path, url)
    # the server goes away during trial 2's first epoch (two epochs a trial)
    hook = """
        import json
        at("run.epochs.jsonl", 5, lambda: subprocess.run(json.loads(os.environ["WD_STOP"]),
                                                         capture_output=True))
    """
    stop = json.dumps(own_cluster.ctl("-m", "immediate", "stop"))
    proc = run_cli(args, hook_site, tmp_path, hook, env={"WD_STOP": stop})
    line = one_error_line(proc)
    assert line.startswith(
        f"widedeep: error: the study storage on host 127.0.0.1:{own_cluster.port}, "
        "database studies failed: "
    ), line
    assert "closed the connection" in line or "connection refused" in line, line
    assert PASSWORD not in proc.stderr + proc.stdout
    assert told(tmp_path) == 2

    own_cluster.restart()
    study = load_study("s", normalize_url(url))
    assert [t.state.name in DONE for t in study.trials[:2]] == [True, True]
    (left,) = study.trials[2:]
    assert left.state.name == "RUNNING"  # nobody could tell the stopped server
    run = Run(left.user_attrs["run_dir"])
    assert run.status == "cancelled" and "storage" in (run.read_meta().get("message") or "")

    proc = run_cli(args, hook_site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_resumed(url, 4, failed_mid_trial=[2])


def test_postgres_privileges_taken_mid_sweep(own_cluster, tiny_folder, hook_site, tmp_path):
    url = own_cluster.new_database("studies")
    args = sweep_args(tiny_folder, tmp_path, url)
    hook = """
        import psycopg


        def revoke():
            with psycopg.connect(os.environ["WD_ADMIN"], autocommit=True) as conn:
                conn.execute("REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA public FROM wd")

        at("run.epochs.jsonl", 3, revoke)
    """
    proc = run_cli(
        args, hook_site, tmp_path, hook, env={"WD_ADMIN": own_cluster.admin_dsn("studies")}
    )
    line = one_error_line(proc)
    assert f"host 127.0.0.1:{own_cluster.port}, database studies failed: missing privileges" in line
    assert "user wd" in line and PASSWORD not in proc.stderr
    assert told(tmp_path) == 1

    own_cluster.admin("GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO wd", db="studies")
    proc = run_cli(args, hook_site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_resumed(url, 4, failed_mid_trial=[1])


# ---------------------------------------------------------------- SQLite


def test_sqlite_file_damaged_before_the_sweep(tmp_path, tiny_folder, capsys):
    db = tmp_path / "sweeps.db"
    db.write_bytes(b"this is no database, " * 400)
    args = sweep_args(tiny_folder, tmp_path, str(db))
    for argv in (args, ["sweep", "show", "s", "--storage", str(db)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert f"the SQLite file {db}" in lines[0] and "damaged" in lines[0], lines[0]


def test_sqlite_file_damaged_mid_sweep_with_two_workers(tmp_path, tiny_folder, hook_site):
    db = tmp_path / "sweeps.db"
    args = sweep_args(tiny_folder, tmp_path, str(db), 6, "--workers", "2")
    # the first worker to finish a trial overwrites every page after the first and the
    # header's change counter (so no connection trusts its cached pages)
    hook = f"""
        def damage():
            if not once("damaged"):
                return
            size = os.path.getsize({str(db)!r})
            with open({str(db)!r}, "r+b") as fh:
                fh.seek(24)
                fh.write(b"\\x7f\\x7f\\x7f\\x7f")
                fh.seek(4096)
                fh.write(b"\\xa5" * (size - 4096))

        at("sweep.trial.told", 1, damage)
    """
    proc = run_cli(args, hook_site, tmp_path, hook)
    line = one_error_line(proc)
    assert f"the study storage on the SQLite file {db} failed: the file is damaged" in line


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (we run as root, CI too); skipped where mounting is refused."""
    where = tmp_path / "disk"
    where.mkdir()
    if sys.platform != "linux" or os.environ.get("WIDEDEEP_TEST_NO_MOUNT"):
        pytest.skip("a full disk needs a tmpfs mount (Linux, mount permitted)")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True, timeout=30,
    )  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.decode(errors='replace')[-200:]}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def test_sqlite_disk_full_mid_sweep(small_disk, tmp_path, tiny_folder, hook_site):
    db = small_disk / "sweeps.db"  # the runs are elsewhere: only the study storage is full
    args = sweep_args(tiny_folder, tmp_path, str(db))
    hook = f"""
        def fill():
            with open({str(small_disk / "filler")!r}, "wb") as fh:
                try:
                    while True:
                        fh.write(b"\\0" * 65536)
                        fh.flush()
                except OSError:
                    pass

        at("run.epochs.jsonl", 3, fill)
    """
    proc = run_cli(args, hook_site, tmp_path, hook)
    line = one_error_line(proc)
    assert f"the study storage on the SQLite file {db} failed: the disk is full" in line, line
    assert told(tmp_path) == 1

    (small_disk / "filler").unlink()
    proc = run_cli(args, hook_site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_resumed(str(db), 4, failed_mid_trial=[1])


def test_sqlite_lock_held_too_long(tmp_path, tiny_folder, hook_site):
    db = tmp_path / "sweeps.db"
    args = sweep_args(tiny_folder, tmp_path, str(db))
    # another connection takes the file's write lock mid-trial and keeps it; the wait
    # is shortened from 60 s so that the test does not sit through it
    hook = f"""
        import sqlite3
        from widedeep_core.sweeps import storage
        storage.SQLITE_TIMEOUT_S = 0.3
        _holder = []


        def hold():
            conn = sqlite3.connect({str(db)!r}, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            _holder.append(conn)

        at("run.epochs.jsonl", 3, hold)
    """
    proc = run_cli(args, hook_site, tmp_path, hook)
    line = one_error_line(proc)
    assert f"the SQLite file {db} failed: the file stayed locked by another process" in line
    assert "over 0.3 s" in line
    assert told(tmp_path) == 1

    proc = run_cli(args, hook_site, tmp_path)  # the holder is gone with its process
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_resumed(str(db), 4, failed_mid_trial=[1])


def test_a_trial_that_never_recorded_its_worker_is_failed_on_resume(tmp_path):
    # the storage failed right after creating the trial: no worker, no heartbeat
    import datetime

    from optuna.trial import TrialState, create_trial
    from test_sweeps import make_spec

    from widedeep_core.data import make_synthetic
    from widedeep_core.sweeps import open_study, run_sweep
    from widedeep_core.sweeps.storage import GRACE_S

    data = make_synthetic(**TINY)
    spec = make_spec(tmp_path, data)
    study = open_study(spec)
    for age in (GRACE_S + 30, 1):  # one long dead, one that may still record itself
        started = datetime.datetime.now() - datetime.timedelta(seconds=age)
        template = create_trial(state=TrialState.RUNNING)
        template.datetime_start = started
        study._storage.create_new_trial(study._study_id, template_trial=template)
    # the young one still counts against the budget: one trial is run, not two
    outcome = run_sweep(spec, data, n_trials=2)
    assert outcome.recovered == [0] and outcome.finished == 1
    trials = load_study("s", spec.storage).trials
    assert [t.state.name for t in trials[:2]] == ["FAIL", "RUNNING"]
    assert "before it recorded itself" in trials[0].user_attrs["error"]
