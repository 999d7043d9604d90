"""Where studies live: an SQLite file in the runs folder by default, any SQLAlchemy URL else.

A URL may carry a password; it is never printed. Every message names the host (or the
file) and says what went wrong in words: refused, unknown host, wrong password, ...
"""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path
from typing import Any

from widedeep_core.errors import SweepError

DB_NAME = "sweeps.db"
CONNECT_TIMEOUT_S = 10
# Seconds between a worker's heartbeats, and the silence after which its trial fails.
HEARTBEAT_S = 10
GRACE_S = 60


def default_storage(runs_dir: str | Path | None = None) -> str:
    """``sqlite:///<runs folder>/sweeps.db`` (the folder is made when missing)."""
    from widedeep_core.runs import RunStore

    root = RunStore(runs_dir).root
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / DB_NAME).resolve()}"


def normalize_url(text: str | Path | None, runs_dir: str | Path | None = None) -> str:
    """A full SQLAlchemy URL: None -> the default file, a bare path -> an SQLite file.

    ``postgres://`` and ``postgresql://`` use psycopg 3 (the ``postgres`` extra), not the
    psycopg2 that SQLAlchemy would pick on its own.
    """
    if text is None or not str(text).strip():
        return default_storage(runs_dir)
    url = str(text).strip()
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url)


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
    if "timeout" in low or "timed out" in low:
        return f"no answer within {CONNECT_TIMEOUT_S} s"
    match = re.search(r'database "([^"]+)" does not exist', text)
    if match:
        return f"database {match.group(1)} does not exist"
    if "unable to open database file" in low:
        return "cannot create or open the file (does the folder exist and is it writable?)"
    secret = _password(url)
    if secret:
        text = text.replace(secret, "***")
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    return text[:300] or type(exc).__name__


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
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        # several worker processes write one file: wait for its lock rather than fail
        connect_args["timeout"] = 60
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    beat: dict[str, Any] = {}
    if heartbeat:
        beat = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S}
    try:
        with warnings.catch_warnings():
            # the heartbeat is "experimental" in Optuna; it is the documented way to
            # fail the trials of dead workers, and its interface is pinned by our tests
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"connect_args": connect_args}, **beat
            )
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
