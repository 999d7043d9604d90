"""Download an official MovieLens zip from GroupLens: atomically, with progress, verified.

Integrity: the zip's members must pass their CRC check (``ZipFile.testzip``) and, where
GroupLens publishes ``<name>.zip.md5`` beside the zip (it does for its releases), the MD5
must match. No checksum is hard-coded: ml-latest changes over time, the .md5 file with it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from .. import __version__
from ..constants import RELEASES
from ..errors import DownloadError
from .cache import user_cache_dir
from .loader import Progress, load_movielens
from .types import MovieLensData

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
_CHUNK = 1 << 20
_MD5 = re.compile(rb"\b([0-9a-fA-F]{32})\b")

DownloadProgress = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes)``; total is None when the server does not say."""


class _Event(Protocol):
    def is_set(self) -> bool: ...


def download_dir() -> Path:
    """Where releases are downloaded by default: ``user_cache_dir()/downloads``."""
    return user_cache_dir() / "downloads"


def download_release(
    name: str,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    progress: DownloadProgress | None = None,
    base_url: str = BASE_URL,
    cancel: Callable[[], bool] | _Event | None = None,
    force: bool = False,
    timeout: float = 30.0,
) -> Path:
    """Download ``<name>.zip`` into ``dest_dir`` (default: the user cache) and return its path.

    An intact earlier download is reused unless ``force``. The file appears under its final
    name only once complete and verified. ``cancel`` is a callable or an Event, polled per chunk.
    """
    if name not in RELEASES:
        raise DownloadError(f"unknown release {name!r}: choose one of {', '.join(RELEASES)}")
    dest = Path(dest_dir) if dest_dir is not None else download_dir()
    target = dest / f"{name}.zip"
    if target.is_file() and not force and _zip_problem(target) is None:
        return target
    url = base_url.rstrip("/") + f"/{name}.zip"
    is_cancelled = _cancel_check(cancel)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.zip.", suffix=".part", dir=dest)
    except OSError as exc:
        raise DownloadError(f"cannot write into {dest}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, progress, is_cancelled, timeout)
        expected = _published_md5(url + ".md5", timeout)
        if expected is not None and expected != digest:
            raise DownloadError(f"{url}: MD5 {digest} differs from the published {expected}")
        problem = _zip_problem(tmp)
        if problem:
            raise DownloadError(f"{url}: the downloaded file is not a valid zip ({problem})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def open_release(
    name: str,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    progress: DownloadProgress | None = None,
    base_url: str = BASE_URL,
    cancel: Callable[[], bool] | _Event | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    load_progress: Progress | None = None,
) -> MovieLensData:
    """Download a release (or reuse the earlier download) and load it."""
    path = download_release(name, dest_dir, progress=progress, base_url=base_url, cancel=cancel)
    return load_movielens(path, cache=cache, cache_dir=cache_dir, progress=load_progress)


def _cancel_check(cancel: Callable[[], bool] | _Event | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    is_set = getattr(cancel, "is_set", None)
    return is_set if callable(is_set) else cancel  # type: ignore[return-value]


def _request(url: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": f"widedeep-workbench/{__version__}"})


def _fetch(
    url: str,
    out,
    progress: DownloadProgress | None,
    is_cancelled: Callable[[], bool],
    timeout: float,
) -> str:
    """Stream ``url`` into ``out``; return the MD5 of what was written. DownloadError on failure."""
    md5 = hashlib.md5(usedforsecurity=False)
    done = 0
    total = None
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress:
                progress(0, total)
            while True:
                if is_cancelled():
                    raise DownloadError(f"the download of {url} was cancelled")
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                md5.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        host = urlsplit(url).netloc
        raise DownloadError(f"cannot reach {host} ({exc.reason}); check the connection") from exc
    except http.client.IncompleteRead as exc:
        raise DownloadError(
            f"{url}: the connection closed after {done + len(exc.partial)} of {total} bytes"
        ) from exc
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{url}: the download broke after {done} bytes ({exc})") from exc
    if total is not None and done != total:
        raise DownloadError(f"{url}: received {done} of {total} bytes; the download is incomplete")
    return md5.hexdigest()


def _published_md5(url: str, timeout: float) -> str | None:
    """The MD5 GroupLens publishes beside a zip, or None where there is none to fetch."""
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as resp:
            text = resp.read(4096)
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None  # no published checksum: the zip CRC check still applies
    found = _MD5.search(text)
    return found.group(1).decode().lower() if found else None


def _zip_problem(path: Path) -> str | None:
    """Why a zip is unusable (bad archive, a member failing its CRC), or None when intact."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return f"member {bad} fails its CRC check" if bad else None
