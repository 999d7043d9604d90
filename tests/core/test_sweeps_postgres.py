"""A shared study on a real PostgreSQL server that the test starts (and removes).

The server binaries refuse to run as root, so as root the cluster runs as the
``postgres`` OS user (``runuser``); as any other user it runs as that user. Without
the binaries, the user or the driver, the tests are skipped with the reason.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from widedeep_core.cli import main
from widedeep_core.errors import SweepError

PASSWORD = "wd-test-pw"


def _bindir() -> Path | None:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(found, "initdb").exists() and Path(found, "pg_ctl").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """Start a throwaway cluster on 127.0.0.1; yield a URL to an empty database."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (extra 'postgres') is missing")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: shared study untested")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' OS user to run the server as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and no 'runuser' to start the server as postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="wd-pg-"))
    if as_user:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)

    def pg(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    data = base / "data"
    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
           "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
           "--no-sync")  # fmt: skip
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60",
           "-o", f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off", "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')[-300:]}")
    try:
        import psycopg

        admin = f"host=127.0.0.1 port={port} user=postgres password={PASSWORD} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE wd LOGIN PASSWORD '{PASSWORD}'")
            conn.execute("CREATE DATABASE studies OWNER wd")
        yield f"postgresql://wd:{PASSWORD}@127.0.0.1:{port}/studies"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_shared_study_with_two_worker_processes(postgres_url, tmp_path):
    import torch

    from widedeep_core.data import write_synthetic

    folder = write_synthetic(
        tmp_path / "ml", layout="ml-1m", n_users=60, n_items=80, n_ratings=2500, seed=3
    )
    common = [
        "--data", str(folder), "--runs-dir", str(tmp_path / "runs"), "--storage", postgres_url,
        "--study", "shared", "--set", "epochs=2", "--set", "batch_size=256",
        "--set", "device=cpu", "--space", "lr=1e-4..1e-1:log", "--space", "embed_dim=4..16",
        "--quiet", "--json",
    ]  # fmt: skip
    # one "machine" with two local worker processes, then another joining the study
    assert main(["sweep", *common, "--trials", "4", "--workers", "2"]) == 0
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["sweep", *common, "--trials", "6", "--workers", "1"]) == 0
    finally:
        torch.set_num_threads(previous)

    from widedeep_core.sweeps import load_study, normalize_url

    study = load_study("shared", normalize_url(postgres_url))
    trials = study.trials
    assert [t.number for t in trials] == list(range(6))
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert os.getpid() in pids and len(pids) >= 2
    assert all(Path(t.user_attrs["run_dir"]).is_dir() for t in trials)


def test_show_over_postgres_and_bad_credentials(postgres_url, capsys):
    assert main(["sweep", "show", "shared", "--storage", postgres_url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["trials"]) == 6 and PASSWORD not in json.dumps(shown)
    assert "***" in shown["storage"]

    from widedeep_core.sweeps import normalize_url, open_storage

    wrong = postgres_url.replace(PASSWORD, "not-the-password")
    with pytest.raises(SweepError) as err:
        open_storage(normalize_url(wrong))
    text = str(err.value)
    host = postgres_url.split("@")[1].split("/")[0]
    assert host in text and "wrong user name or password" in text
    assert "not-the-password" not in text and "\n" not in text
    assert main(["sweep", "show", "shared", "--storage", wrong]) == 1
    line = capsys.readouterr().err
    assert host in line and "not-the-password" not in line
    with pytest.raises(SweepError, match="database nope does not exist"):
        open_storage(normalize_url(postgres_url.replace("/studies", "/nope")))
