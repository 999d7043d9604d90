"""Where studies live: an SQLite file in the runs folder by default, any SQLAlchemy URL else.

A URL may carry a password; it is never printed. Every message names the host (or the
file) and says what went wrong in words: refused, unknown host, wrong password, a full
disk, a damaged file, missing privileges, ...

Several processes may open one fresh storage at the same moment (two sweeps started
together, or the workers of one). Optuna creates the schema with "create if missing"
steps that race: one process then fails on ``table studies already exists``, a duplicate
``alembic_version`` key or a duplicate ``studydirection`` type. ``storage_lock``
serialises the creation among this project's processes (an ``flock`` on a file beside
the SQLite file, a PostgreSQL advisory lock on a server), and ``open_storage`` retries
after such a collision anyway, for processes that do not take the lock (plain Optuna,
other servers).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from widedeep_core.errors import SweepError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the retry in open_storage remains
    fcntl = None  # type: ignore[assignment]

DB_NAME = "sweeps.db"
CONNECT_TIMEOUT_S = 10
# How long an SQLite write waits for another process's lock before it fails.
SQLITE_TIMEOUT_S: float = 60
# How long a process waits for another one to finish creating the schema or a study.
CREATE_LOCK_S = 120
CREATE_ATTEMPTS = 5
# The key of the PostgreSQL advisory lock around schema and study creation (any fixed
# 64-bit number; advisory locks are per database).
ADVISORY_KEY = 0x5744_5357_4545_5053  # "WDSWEEPS"
# Seconds between a worker's heartbeats, and the silence after which its trial fails.
HEARTBEAT_S = 10
GRACE_S = 60


def default_storage(runs_dir: str | Path | None = None) -> str:
    """``sqlite:///<runs folder>/sweeps.db`` (the folder is made when missing)."""
    from widedeep_core.runs import RunStore

    root = RunStore(runs_dir).root
    root.mkdir(parents=True, exist_ok=True)
    return sqlite_url(root / DB_NAME)


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of an SQLite file, its path quoted: a folder named with ``?``,
    ``#`` or ``%41`` names that folder, not a query string or an escape."""
    from sqlalchemy.engine import URL

    database = str(Path(path).expanduser().resolve())
    return URL.create("sqlite", database=database).render_as_string(hide_password=False)


def normalize_url(text: str | Path | None, runs_dir: str | Path | None = None) -> str:
    """A full SQLAlchemy URL: None -> the default file, a bare path -> an SQLite file.

    ``postgres://`` and ``postgresql://`` use psycopg 3 (the ``postgres`` extra), not the
    psycopg2 that SQLAlchemy would pick on its own.
    """
    if text is None or not str(text).strip():
        return default_storage(runs_dir)
    url = str(text).strip()
    if "://" not in url:
        return sqlite_url(url)
    check_url(url)
    return re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url)


def check_url(url: str) -> None:
    """A SweepError for a server URL SQLAlchemy would misread: several ``@`` (a password
    holding ``@`` reads as part of the host, and would be shown), or a port that is not a
    number. Special characters of a password are written %-quoted (``@`` as ``%40``)."""
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    if netloc.count("@") > 1:
        raise SweepError(
            "the storage URL holds more than one '@': write special characters of the "
            "user name or password %-quoted (@ as %40, : as %3A, / as %2F)"
        )
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):  # [IPv6]:port
        host = host.split("]", 1)[-1]
    port = host.rsplit(":", 1)[1] if ":" in host else ""
    if port and not port.isdigit():
        raise SweepError(f"the storage URL's port {port!r} is not a number")


def display_url(url: str) -> str:
    """The URL with its password masked (what messages and JSON show)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def _where(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return "the storage URL"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {parsed.database or ':memory:'}"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    db = f", database {parsed.database}" if parsed.database else ""
    return f"host {host}{port}{db}"


def _password(url: str) -> str | None:
    with contextlib.suppress(Exception):
        from sqlalchemy.engine import make_url

        return make_url(url).password
    return None


def _reason(exc: BaseException, url: str) -> str:
    """The driver's complaint in a few words, without the password."""
    exc = _db_cause(exc) or exc
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    low = text.lower()
    user = ""
    with contextlib.suppress(Exception):
        from sqlalchemy.engine import make_url

        user = make_url(url).username or ""
    if "password authentication failed" in low or "authentication failed" in low:
        return f"wrong user name or password (user {user or '?'})"
    if "no password supplied" in low:
        return f"the server wants a password for user {user or '?'}; put it in the URL"
    if "connection refused" in low:
        return "connection refused (is the server running and listening on that port?)"
    if "could not translate host name" in low or "name or service not known" in low:
        return "unknown host name"
    if any(w in low for w in _CLOSED_WORDS):
        return "the server closed the connection (was it stopped or restarted?)"
    if "database is locked" in low:
        return (
            f"the file stayed locked by another process for over {SQLITE_TIMEOUT_S:g} s "
            "(a long write, or a process hung while holding it)"
        )
    if "lock timeout" in low or "canceling statement due to lock timeout" in low:
        return f"another process held the study's lock for over {CREATE_LOCK_S} s"
    if "timeout" in low or "timed out" in low:
        return f"no answer within {CONNECT_TIMEOUT_S} s"
    if any(w in low for w in _FULL_WORDS):
        return "the disk is full"
    if "file is not a database" in low or "malformed" in low or "file is encrypted" in low:
        return (
            "the file is damaged (not a readable SQLite database): restore a copy or use "
            "another --storage"
        )
    match = re.search(r"no such (table|column): ([\w.]+)", low)
    if match:
        return (
            f"the storage is damaged or not a study storage (no such {match.group(1)} "
            f"{match.group(2)}): restore a copy or use another --storage"
        )
    if "readonly database" in low or "read-only" in low:
        return "the storage is read-only (check the file's and its folder's permissions)"
    match = re.search(r"permission denied for (\w+) (\w+)", low)
    if match:
        return (
            f"missing privileges: user {user or '?'} may not use {match.group(1)} "
            f"{match.group(2)} (ask the database's owner to GRANT them)"
        )
    if "permission denied" in low:
        return f"missing privileges for user {user or '?'} ({text[:120]})"
    match = re.search(r'database "([^"]+)" does not exist', text)
    if match:
        return f"database {match.group(1)} does not exist"
    if "unable to open database file" in low:
        return "cannot create or open the file (does the folder exist and is it writable?)"
    secret = _password(url)
    if secret:
        text = text.replace(secret, "***")
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    text = re.sub(r"\[SQL: .*", "", text).strip()  # the statement: long, and no help
    return text[:300] or type(exc).__name__


_CLOSED_WORDS = (
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "connection is lost",
    "consuming input failed",
    "connection already closed",
    "the database system is shutting down",
    "the database system is starting up",
    "ssl syscall error: eof",
)
_FULL_WORDS = ("database or disk is full", "no space left on device", "could not extend file")


class StorageFailure(SweepError):
    """The study storage failed while in use (server gone, disk full, file damaged, ...).

    Fatal for the whole sweep, not for one trial: the other trials would fail the same way.
    """


def _db_cause(exc: BaseException | None) -> BaseException | None:
    """The first database error in ``exc``'s chain (itself, its cause or context)."""
    import sqlite3
    import sys

    kinds: list[type] = [sqlite3.Error]
    for module, name in (
        ("sqlalchemy.exc", "SQLAlchemyError"),
        ("optuna.exceptions", "StorageInternalError"),
        ("psycopg", "Error"),
    ):
        found = getattr(sys.modules.get(module), name, None)
        if isinstance(found, type):
            kinds.append(found)
    seen: set[int] = set()
    best = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, tuple(kinds)):
            # the innermost one carries the driver's words ("invalid data in the commit"
            # is Optuna's guess wrapped around them)
            best = exc
        elif isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC, e.g. a lock file
            best = exc
        exc = exc.__cause__ or exc.__context__
    return best


def is_storage_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a failure of the database itself."""
    return not isinstance(exc, SweepError) and _db_cause(exc) is not None


def storage_failure(exc: BaseException, url: str) -> StorageFailure:
    """One line naming the storage (never the password) and what went wrong."""
    return StorageFailure(f"the study storage on {_where(url)} failed: {_reason(exc, url)}")


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a database failure inside the block into one ``StorageFailure`` line."""
    try:
        yield
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        raise storage_failure(exc, url) from None


def quiet_database_loggers() -> None:
    """No tracebacks from SQLAlchemy's pool or Alembic on stderr: a failure is our one line.

    A dead server makes the pool log "Exception during reset or similar" with a
    traceback; with no handler anywhere that went to stderr through logging's last
    resort. A NullHandler ends that while an application's own logging still sees them.
    """
    for name in ("sqlalchemy", "alembic"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


@contextlib.contextmanager
def storage_lock(url: str) -> Iterator[None]:
    """Hold the creation lock of this storage (schema, a study and its attributes).

    SQLite: an ``flock`` on ``<file>.lock`` beside the database (left there: removing it
    would race with the next taker). PostgreSQL: a session advisory lock, released
    when the block ends or the process dies. Other servers, or a folder where no lock
    file can be made: nothing (``open_storage`` retries a colliding creation).
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or fcntl is None:
            yield
            return
        try:
            handle = open(f"{db}.lock", "a+b")  # noqa: SIM115 - held across the yield
        except OSError:  # a read-only folder: reading needs no lock
            yield
            return
        with handle:
            _flock(handle, url)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if backend == "postgresql":
        with _advisory_lock(url):
            yield
        return
    yield


def _flock(handle: Any, url: str) -> None:
    assert fcntl is not None
    deadline = time.monotonic() + CREATE_LOCK_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise SweepError(
                    f"the study storage on {_where(url)} stayed locked by another process "
                    f"for over {CREATE_LOCK_S} s (its lock file {handle.name})"
                ) from None
            time.sleep(0.05)  # the holder only creates tables or one study


@contextlib.contextmanager
def _advisory_lock(url: str) -> Iterator[None]:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"SET lock_timeout = '{CREATE_LOCK_S}s'"))
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            conn.commit()
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a dead server released it already
                    conn.execute(
                        sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY}
                    )
                    conn.commit()
    finally:
        engine.dispose()


def _creation_collision(exc: BaseException) -> bool:
    """Another process created the same table, type or version row a moment earlier."""
    cause = _db_cause(exc)
    low = str(getattr(cause, "orig", None) or cause or "").lower()
    return any(w in low for w in ("already exists", "duplicate key", "unique constraint failed"))


def open_storage(url: str, *, heartbeat: bool = True) -> Any:
    """An Optuna ``RDBStorage`` on ``url``; any failure is one ``SweepError`` line.

    With ``heartbeat`` the trials of a worker that stops beating for ``GRACE_S``
    seconds are marked failed by the next worker that starts a trial.
    """
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "trial N finished" chatter
    try:
        from sqlalchemy.engine import make_url

        backend = make_url(url).get_backend_name()
    except sqlalchemy.exc.ArgumentError:
        raise SweepError(
            f"cannot read the storage URL {display_url(url)!r}; "
            "use e.g. postgresql://user:password@host/db or a file path"
        ) from None
    quiet_database_loggers()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        # several worker processes write one file: wait for its lock rather than fail
        connect_args["timeout"] = SQLITE_TIMEOUT_S
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    beat: dict[str, Any] = {}
    if heartbeat:
        beat = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S}
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings(), storage_lock(url):
                    # the heartbeat is "experimental" in Optuna; it is the documented way to
                    # fail the trials of dead workers, and its interface is pinned by our tests
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs={"connect_args": connect_args}, **beat
                    )
            except Exception as exc:
                if attempt + 1 == CREATE_ATTEMPTS or not _creation_collision(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
    except SweepError:
        raise
    except sqlalchemy.exc.NoSuchModuleError:
        raise SweepError(
            f"unknown database kind {backend!r} in the storage URL {display_url(url)!r}; "
            "use a file path, sqlite:///FILE or postgresql://user:password@host/db"
        ) from None
    except ImportError as exc:
        hint = (
            " (install the PostgreSQL driver: pip install 'widedeep-workbench[postgres]')"
            if backend == "postgresql"
            else ""
        )
        raise SweepError(
            f"cannot open the study storage on {_where(url)}: no database driver for "
            f"{backend!r}: {exc}{hint}"
        ) from None
    except Exception as exc:
        # SQLAlchemy and driver errors both land here; their text may carry the URL
        raise SweepError(
            f"cannot open the study storage on {_where(url)}: {_reason(exc, url)}"
        ) from None
