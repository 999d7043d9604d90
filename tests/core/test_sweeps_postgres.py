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
from typing import Any

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


class PgCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (as the ``postgres`` OS user when root).

    ``start()`` creates and starts it, or skips the test with the reason; ``stop()`` and
    ``restart()`` stop and start the server; ``remove()`` deletes everything.
    """

    def __init__(self) -> None:
        pytest.importorskip("psycopg", reason="the PostgreSQL driver (extra 'postgres') is missing")
        bindir = _bindir()
        if bindir is None:
            pytest.skip(
                "PostgreSQL server binaries (initdb, pg_ctl) not found: shared study untested"
            )
        self.bindir = bindir
        self.as_user: list[str] = []
        self.owner: Any = None
        if os.geteuid() == 0:
            import pwd

            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and no 'postgres' OS user to run the server as")
            if shutil.which("runuser") is None:
                pytest.skip("running as root and no 'runuser' to start the server as postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.base = Path(tempfile.mkdtemp(prefix="wd-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()

    def _pg(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def ctl(self, *args: str) -> list[str]:
        """The ``pg_ctl`` command line for this cluster (run it as the server's user)."""
        return [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]

    def start(self) -> PgCluster:
        if self.owner is not None:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.owner is not None:
            os.chown(pwfile, self.owner.pw_uid, self.owner.pw_gid)
        try:
            self._pg(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256",
                     f"--pwfile={pwfile}", "--no-sync")  # fmt: skip
            self.restart()
        except subprocess.CalledProcessError as exc:
            self.remove()
            pytest.skip(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')[-300:]}")
        self.admin(f"CREATE ROLE wd LOGIN PASSWORD {_literal(PASSWORD)}")
        return self

    def restart(self) -> None:
        """Start the (stopped) server and wait until it accepts connections."""
        subprocess.run(
            self.ctl("-l", str(self.base / "log"), "-w", "-t", "60",
                     "-o", f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off", "start"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (what a crash or a killed server does to a client)."""
        subprocess.run(self.ctl("-m", "immediate", "stop"), capture_output=True, timeout=60)

    def admin_dsn(self, db: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres password={PASSWORD} dbname={db}"

    def admin(self, sql: str, db: str = "postgres") -> None:
        """Run one statement as the superuser."""
        import psycopg

        with psycopg.connect(self.admin_dsn(db), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self, name: str) -> str:
        """An empty database owned by ``wd``; its URL (with the password)."""
        self.admin(f"CREATE DATABASE {name} OWNER wd")
        return f"postgresql://wd:{PASSWORD}@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def pg_cluster():
    """A running throwaway cluster for the module's tests (removed at the end)."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="module")
def postgres_url(pg_cluster):
    """The URL of an empty database ``studies`` on the module's cluster."""
    return pg_cluster.new_database("studies")


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
