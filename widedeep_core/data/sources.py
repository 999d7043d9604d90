"""Where MovieLens files come from: a folder or an official zip, and which layout they form."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import cast

from ..errors import DataError
from .types import display_path

# The file whose presence names a layout family; "dat" is ml-1m or ml-10m, told apart later.
RATINGS_FILES = {"u.data": "ml-100k", "ratings.dat": "dat", "ratings.csv": "csv"}
KNOWN_FILES = frozenset(
    {
        *RATINGS_FILES,
        *("u.user", "u.item", "u.genre", "u.occupation", "users.dat", "movies.dat", "tags.dat"),
        *("movies.csv", "tags.csv", "links.csv"),
    }
)
LOOKED_FOR = (
    "u.data (ml-100k), ratings.dat (ml-1m, ml-10m) or ratings.csv "
    "(ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small)"
)


_MiB = 1 << 20
_READ_CHUNK = 16 * _MiB
# Compression methods zipfile reads (bz2 and lzma only where Python was built with them).
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
try:
    import bz2  # noqa: F401

    _ZIP_METHODS[zipfile.ZIP_BZIP2] = "bzip2"
except ImportError:  # pragma: no cover - Python built without bz2
    pass
try:
    import lzma  # noqa: F401

    _ZIP_METHODS[zipfile.ZIP_LZMA] = "lzma"
except ImportError:  # pragma: no cover - Python built without lzma
    pass


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may declare before anything is extracted; a guard against zip bombs.

    The defaults admit every official release with room to grow (ml-32m's ratings.csv,
    the largest member, is ~877 MB and compresses ~4:1; rating text never nears 50:1),
    and refuse a small zip that would expand into memory-filling data. The member limit
    bounds memory: the ratings file is parsed from one in-memory buffer. Override them
    with ``$WIDEDEEP_ZIP_MAX_MEMBER_MB``, ``$WIDEDEEP_ZIP_MAX_TOTAL_MB`` and
    ``$WIDEDEEP_ZIP_MAX_RATIO``, or pass ``zip_limits=`` to ``load_movielens``.
    """

    max_member_bytes: int = 2048 * _MiB  # one file we read, uncompressed
    max_total_bytes: int = 4096 * _MiB  # all files we read, uncompressed
    max_ratio: float = 50.0  # uncompressed / compressed size of one file ...
    ratio_floor_bytes: int = 16 * _MiB  # ... checked only above this size

    @classmethod
    def from_env(cls) -> ZipLimits:
        """The defaults, overridden by the ``$WIDEDEEP_ZIP_MAX_*`` variables where set."""
        base = cls()

        def num(var: str, default: float, scale: int = 1) -> float:
            text = os.environ.get(var, "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                raise DataError(f"${var} must be a number, not {text!r}") from None
            if not value > 0:
                raise DataError(f"${var} must be positive, not {text!r}")
            return value * scale

        return cls(
            max_member_bytes=int(num("WIDEDEEP_ZIP_MAX_MEMBER_MB", base.max_member_bytes, _MiB)),
            max_total_bytes=int(num("WIDEDEEP_ZIP_MAX_TOTAL_MB", base.max_total_bytes, _MiB)),
            max_ratio=num("WIDEDEEP_ZIP_MAX_RATIO", base.max_ratio),
            ratio_floor_bytes=base.ratio_floor_bytes,
        )


@dataclass(frozen=True)
class _Entry:
    """One known file: where it lives and what cheaply identifies its version."""

    location: str  # absolute path in a folder, member name in a zip
    size: int
    # folder: (mtime_ns, ctime_ns, inode, device); zip: (CRC-32, compressed size, method)
    stamp: tuple[int, ...]


class Source:
    """A folder or zip holding one MovieLens release; reads its files by base name."""

    def __init__(self, path: Path, files: dict[str, _Entry], zip_path: Path | None = None):
        self.path = path
        self.files = files
        self.zip_path = zip_path
        self.family = next(RATINGS_FILES[n] for n in RATINGS_FILES if n in files)

    def has(self, name: str) -> bool:
        """Whether the release holds a file of that base name."""
        return name in self.files

    def label(self, name: str) -> str:
        """How a file is named in messages: its path, or zip path / member (always printable)."""
        entry = self.files.get(name)
        if self.zip_path is None:
            return display_path(entry.location if entry else self.path / name)
        member = entry.location if entry else name
        return f"{display_path(self.zip_path)}/{member}"

    def read(self, name: str) -> bytes:
        """The raw bytes of one file; DataError when it cannot be read."""
        entry = self.files[name]
        try:
            if self.zip_path is None:
                return Path(entry.location).read_bytes()
            # a bytearray, read as bytes: not copied
            return cast(bytes, _read_member(self.zip_path, entry, self.label(name)))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DataError(f"the zip archive is corrupt ({exc})", path=self.label(name)) from exc
        except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown method
            raise DataError(f"cannot read this zip member ({exc})", path=self.label(name)) from exc
        except OSError as exc:
            raise DataError(
                f"cannot read the file ({exc.strerror or exc})", path=self.label(name)
            ) from exc

    def cache_key(self, version: int) -> str:
        """A key from paths, sizes and file identities: cheap, no content is read.

        Besides size and mtime it holds the change time and inode of each file (of the zip
        and its members' CRC-32 for a zip): ``touch -r``, ``cp -p`` and ``rsync -t`` restore
        the mtime, but an edit always moves the change time, which no user tool can set.
        """
        files = sorted((n, e.location, e.size, *e.stamp) for n, e in self.files.items())
        stamp: object = files
        if self.zip_path is not None:
            stamp = [str(self.zip_path), *_stat_stamp(self.zip_path.stat()), files]
        text = json.dumps([version, stamp], separators=(",", ":"))  # ASCII: surrogates escaped
        return hashlib.sha256(text.encode()).hexdigest()[:40]


def _stat_stamp(st: os.stat_result) -> tuple[int, ...]:
    """What identifies a file's version without reading it: size, mtime, ctime, inode, device.

    On Windows ``st_ctime`` is the creation time, not the change time; there the check is
    weaker, and ``load_movielens(..., cache=False)`` or a cleared cache re-reads the files.
    """
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _read_member(zip_path: Path, entry: _Entry, label: str) -> bytearray:
    """Stream one member into a buffer of its declared size; never past it.

    ``ZipFile.read`` trusts the central directory; a member whose data inflates beyond
    its declared size is cut short here and refused, so memory stays bounded by the
    limits checked when the zip was opened.
    """
    size = entry.size
    buf = bytearray(size)
    view = memoryview(buf)
    pos = 0
    with zipfile.ZipFile(zip_path) as zf, zf.open(entry.location) as fh:
        while pos < size:
            got = fh.readinto(view[pos : pos + _READ_CHUNK])  # type: ignore[attr-defined]
            if not got:
                break
            pos += got
        extra = fh.read(1)
    if extra:
        raise DataError(
            f"the member holds more than the {size:,} bytes its header declares; refused",
            path=label,
        )
    if pos < size:
        raise DataError(
            f"the member holds {pos:,} of the {size:,} bytes its header declares", path=label
        )
    return buf


def open_source(
    path: str | bytes | os.PathLike[str], zip_limits: ZipLimits | None = None
) -> Source:
    """Find a MovieLens release in a folder (or one subfolder) or an official zip."""
    given = Path(os.fsdecode(path)).expanduser()  # bytes paths (non-UTF-8 names) are accepted
    p = given
    try:
        try:
            p = given.resolve(strict=True)
        except FileNotFoundError:
            # a dangling symlink is a path that exists: say what it is
            if given.is_symlink():
                raise DataError(
                    f"is a symbolic link to {os.readlink(given)}, which does not exist",
                    path=display_path(given),
                ) from None
            raise DataError("no such file or folder", path=display_path(given)) from None
        except RuntimeError:  # a symlink loop (Python < 3.13)
            raise DataError("is a symbolic link loop", path=display_path(given)) from None
        kind = _kind_of(p)
        if kind is not None:  # never opened: a FIFO would block, a device read forever
            raise DataError(
                f"is a {kind}, not a MovieLens folder or zip file", path=display_path(given)
            )
        if p.is_dir():
            return _open_folder(p)
        if p.name in KNOWN_FILES:  # the user picked a file of the release: use its folder
            return _open_folder(p.parent)
        return _open_zip(p, zip_limits or ZipLimits.from_env())
    except PermissionError as exc:
        where = display_path(exc.filename or p)
        raise DataError("permission denied: cannot read it", path=where) from exc
    except OSError as exc:
        raise DataError(f"cannot read it ({exc.strerror or exc})", path=display_path(p)) from exc


def _kind_of(p: Path) -> str | None:
    """What ``p`` is when it is neither a regular file nor a folder, else None."""
    mode = p.stat().st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _folder_files(folder: Path) -> dict[str, _Entry]:
    """Known MovieLens files directly inside a folder."""
    found = {}
    with os.scandir(folder) as it:
        for de in it:
            if de.name in KNOWN_FILES and de.is_file():
                st = de.stat()
                found[de.name] = _Entry(str(Path(de.path)), st.st_size, _stat_stamp(st)[1:])
    return found


def _open_folder(folder: Path) -> Source:
    files = _folder_files(folder)
    if any(n in files for n in RATINGS_FILES):
        return Source(folder, files)
    # an unpacked zip often leaves the release one level down (ml-1m/ml-1m/ratings.dat)
    subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    hits = [(d, f) for d in subs for f in [_folder_files(d)] if any(n in f for n in RATINGS_FILES)]
    if len(hits) == 1:
        return Source(hits[0][0], hits[0][1])
    if len(hits) > 1:
        names = ", ".join(d.name for d, _ in hits)
        raise DataError(
            f"holds several MovieLens releases ({names}); open one of them",
            path=display_path(folder),
        )
    raise DataError(
        f"no MovieLens layout recognised: looked for {LOOKED_FOR}", path=display_path(folder)
    )


def _open_zip(path: Path, limits: ZipLimits) -> Source:
    where = display_path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise DataError(
            "is neither a folder nor a valid .zip archive of a MovieLens release", path=where
        ) from exc
    # group known members by their folder; skip macOS resource forks
    by_dir: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for info in infos:
        member = PurePosixPath(info.filename)
        if info.is_dir() or "__MACOSX" in member.parts or member.name not in KNOWN_FILES:
            continue
        by_dir.setdefault(str(member.parent), {})[member.name] = info
    hits = {d: f for d, f in by_dir.items() if any(n in f for n in RATINGS_FILES)}
    if not hits:
        raise DataError(
            f"no MovieLens layout recognised in the zip: looked for {LOOKED_FOR}", path=where
        )
    depth = min(len(PurePosixPath(d).parts) for d in hits)
    top = sorted(d for d in hits if len(PurePosixPath(d).parts) == depth)
    if len(top) > 1:
        raise DataError(f"holds several MovieLens releases ({', '.join(top)})", path=where)
    members = hits[top[0]]
    _check_members(where, members.values(), limits)
    files = {
        n: _Entry(i.filename, i.file_size, (i.CRC, i.compress_size, i.compress_type))
        for n, i in members.items()
    }
    return Source(path, files, zip_path=path)


def _check_members(where: str, infos, limits: ZipLimits) -> None:
    """Refuse, before reading a byte, members we cannot read or that would expand too far."""
    total = 0
    for info in infos:
        label = f"{where}/{info.filename}"
        if info.flag_bits & 0x1:
            raise DataError(
                "the member is encrypted (password-protected); unpack it and open the folder",
                path=label,
            )
        if info.compress_type not in _ZIP_METHODS:
            known = ", ".join(_ZIP_METHODS.values())
            raise DataError(
                f"the member uses compression method {info.compress_type}, which cannot be "
                f"read here (readable: {known}); unpack it and open the folder",
                path=label,
            )
        size, packed = info.file_size, info.compress_size
        total += size
        if size > limits.max_member_bytes:
            raise DataError(
                f"the member declares {size:,} bytes uncompressed, above the limit of "
                f"{limits.max_member_bytes:,} ($WIDEDEEP_ZIP_MAX_MEMBER_MB); refused",
                path=label,
            )
        ratio = size / max(packed, 1)
        if size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise DataError(
                f"the member declares {size:,} bytes from {packed:,} compressed, a ratio of "
                f"{ratio:,.0f}:1 above the limit of {limits.max_ratio:g}:1 "
                "($WIDEDEEP_ZIP_MAX_RATIO); refused as a likely zip bomb",
                path=label,
            )
        if total > limits.max_total_bytes:
            raise DataError(
                f"the release's files declare {total:,} bytes uncompressed, above the limit "
                f"of {limits.max_total_bytes:,} ($WIDEDEEP_ZIP_MAX_TOTAL_MB); refused",
                path=where,
            )
