"""Crash-safe file helpers: atomic writes, JSON with finite numbers, append-only JSON lines.

Every file a run keeps is written through here, so a crash or a full disk leaves
either the old file or the new one, never half of one (temp file in the same
folder, fsync, ``os.replace``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from widedeep_core.errors import DataError, RunError, WideDeepError
from widedeep_core.faultpoints import checkpoint

ErrorClass = type[WideDeepError]


def display_path(path: str | bytes | os.PathLike) -> str:
    """A path as text that always prints and encodes as UTF-8.

    On Linux a path may hold bytes that are not UTF-8 (``b"data\\xff"``); Python keeps them
    as lone surrogates (``"data\\udcff"``) that cannot be printed or written as UTF-8. Such
    bytes are shown as ``\\xff`` escapes; every other path is returned unchanged.
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def write_failure(exc: OSError, path: str | Path) -> str:
    """One line saying which file could not be written and why (disk full named as such)."""
    where = display_path(path)
    if exc.errno == errno.ENOSPC:
        return f"no space left on device while writing {where}"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing {where}"
    return f"cannot write {where} ({exc.strerror or exc})"


def file_stamp(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """(size, mtime in ns, inode) of ``path``, None when it cannot be read: what a cache
    compares to know a file changed (an append moves size and mtime, an atomic rewrite
    the inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; directories cannot be opened on Windows, so skip there."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (e.g. network mounts) refuse fsync on a directory
    finally:
        os.close(fd)


def _umask() -> int:
    """This process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # elsewhere: read by setting (briefly) and restoring
    os.umask(old)
    return old


def _mode_for(target: Path) -> int:
    """The mode a new file gets (0666 less the umask, as ``open`` would give it), or the
    mode of the regular file it replaces."""
    try:
        st = os.stat(target)
    except OSError:
        return 0o666 & ~_umask()
    return st.st_mode & 0o7777


def _atomic_write(
    path: str | Path,
    write: Callable[[IO[bytes]], object],
    point: str | None = None,
    create_parent: bool = True,
) -> Path:
    """Call ``write`` on a temp file beside ``path``, then move it over ``path`` atomically.

    The file gets the mode a plain ``open`` would give it (the umask's), or keeps the
    mode of the file it replaces; ``mkstemp`` alone would leave it 0600. ``point`` names
    a fault checkpoint reached when the temp file is whole but not yet in place
    (``faultpoints``).
    """
    target = Path(path)
    if create_parent:  # a run's own files never re-create a folder deleted under them
        target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with contextlib.suppress(OSError):  # e.g. a file system without modes
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if point is not None:
            checkpoint(point)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_bytes(
    path: str | Path, data: bytes, point: str | None = None, create_parent: bool = True
) -> Path:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix."""
    return _atomic_write(path, lambda handle: handle.write(data), point, create_parent)


def atomic_write_text(
    path: str | Path,
    text: str,
    encoding: str = "utf-8",
    point: str | None = None,
    create_parent: bool = True,
) -> Path:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename)."""
    return atomic_write_bytes(path, text.encode(encoding), point, create_parent)


def write_output_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write an export the user named: atomically over a regular file or a new path (a
    symlink's target, not the link), streamed into anything else (``/dev/null``,
    ``/dev/stdout``, a FIFO), which is never replaced; a folder is a DataError."""
    return write_output_chunks(path, [text], encoding)


def write_output_chunks(path: str | Path, chunks: Iterable[str], encoding: str = "utf-8") -> Path:
    """:func:`write_output_text` for text made piece by piece (``chunks`` is consumed
    while writing, so the whole text is never held): a regular file appears only when
    every chunk is written; an error midway leaves the old file (or none)."""
    target = Path(path)
    try:
        real = target.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        raise DataError(
            f"{display_path(target)}: cannot resolve the path (a symlink loop?)"
        ) from None
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise DataError(write_failure(exc, target)) from None
    try:
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise DataError(f"{display_path(target)}: is a folder; give a file name")
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(real, "w", encoding=encoding, newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            return target

        def write(handle: IO[bytes]) -> None:
            for chunk in chunks:
                handle.write(chunk.encode(encoding))

        return _atomic_write(real, write)
    except OSError as exc:
        raise DataError(write_failure(exc, target)) from None


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as plain JSON types: tuples to lists, numpy to Python, NaN/inf to None.

    Non-finite floats become ``null`` because standard JSON has no NaN and other
    tools (browsers, jq) reject Python's ``NaN`` token.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(to_jsonable(v) for v in obj)
    if isinstance(obj, Path):
        return str(obj)
    # numpy / torch scalars and arrays, without importing either here
    if hasattr(obj, "tolist"):
        return to_jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON: {obj!r}")


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Serialize ``obj`` (after ``to_jsonable``) as strict JSON text."""
    return json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)


def atomic_write_json(
    path: str | Path,
    obj: Any,
    indent: int | None = 2,
    point: str | None = None,
    create_parent: bool = True,
) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; serialized before any file is touched."""
    return atomic_write_text(
        path, dumps(obj, indent) + "\n", point=point, create_parent=create_parent
    )


def atomic_torch_save(
    path: str | Path, obj: Any, point: str | None = None, create_parent: bool = True
) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (temp file, fsync, rename).

    Serialized in memory first: torch's own file writer turns a full disk into
    ``inline_container.cc ... unexpected pos``; a plain write raises ``ENOSPC``.
    """
    import torch  # local: keeps this module cheap for callers that never save tensors

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return _atomic_write(
        path, lambda handle: handle.write(buffer.getbuffer()), point, create_parent
    )


def _error(
    error_cls: ErrorClass, path: Path, message: str, line: int | None = None
) -> WideDeepError:
    """Build ``error_cls`` naming the file (and line), whatever its constructor takes."""
    if issubclass(error_cls, DataError):
        return error_cls(message, path=path, line=line)
    where = f"{path}, line {line}" if line is not None else f"{path}"
    return error_cls(f"{where}: {message}")


# A JSON document of a run or the cache is small (kilobytes); one larger than this is not
# ours, and reading it whole could take the process's memory.
MAX_JSON_BYTES = 64 << 20


def _loads(text: str | bytes) -> Any:
    """``json.loads`` whose every refusal is a ``json.JSONDecodeError``-like ValueError:
    nesting too deep (RecursionError), an integer of too many digits, and so on."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json(path: str | Path, error_cls: ErrorClass = RunError) -> Any:
    """Read a JSON file; a missing, unreadable, oversized or malformed file (nesting too
    deep, a number too long) raises ``error_cls`` naming it."""
    source = Path(path)
    try:
        if source.stat().st_size > MAX_JSON_BYTES:
            raise _error(error_cls, source, f"is larger than {MAX_JSON_BYTES >> 20} MiB: not ours")
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(error_cls, source, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(error_cls, source, f"cannot be read ({exc})") from None
    try:
        return _loads(text)
    except json.JSONDecodeError as exc:
        raise _error(error_cls, source, f"is not valid JSON ({exc.msg})", exc.lineno) from None
    except ValueError as exc:  # too deep, or an integer over Python's digit limit
        raise _error(error_cls, source, f"is not valid JSON ({exc})") from None


def _drop_partial_tail(handle: IO[bytes]) -> None:
    """Cut a last line left without its newline by a crash, so the next row starts cleanly."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    # Walk back in blocks to the last complete line; the partial row is lost anyway.
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        handle.seek(start)
        block = handle.read(pos - start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            handle.truncate(start + cut + 1)
            return
        pos = start
    handle.truncate(0)


def append_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]], fsync: bool = False) -> int:
    """Append ``rows`` as JSON lines and flush them (and fsync when asked); returns the count."""
    lines = [dumps(row, indent=None) + "\n" for row in rows]
    if not lines:
        return 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a+b") as handle:
        _drop_partial_tail(handle)
        handle.seek(0, os.SEEK_END)
        handle.write("".join(lines).encode("utf-8"))
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    return len(lines)


def iter_jsonl(path: str | Path, error_cls: ErrorClass = RunError) -> Iterator[dict[str, Any]]:
    """Yield the rows of a JSON-lines file; a truncated last line is skipped, bad lines raise."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _error(error_cls, source, f"cannot be read ({exc})") from None
    lines = data.split(b"\n")
    complete = data.endswith(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_last = number == len(lines)
        try:
            row = _loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if is_last and not complete:
                return  # written while a crash cut the process short: keep what came before
            raise _error(error_cls, source, "is not a valid JSON line", number) from None
        if not isinstance(row, dict):
            raise _error(error_cls, source, "expected a JSON object on this line", number)
        yield row


def read_jsonl(path: str | Path, error_cls: ErrorClass = RunError) -> list[dict[str, Any]]:
    """Read every row of a JSON-lines file (empty list when the file does not exist)."""
    return list(iter_jsonl(path, error_cls))
