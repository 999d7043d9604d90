"""Where MovieLens files come from: a folder or an official zip, and which layout they form."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DataError

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


@dataclass(frozen=True)
class _Entry:
    """One known file: where it lives and what cheaply identifies its version."""

    location: str  # absolute path in a folder, member name in a zip
    size: int
    mtime_ns: int


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
        """How a file is named in messages: its path, or zip path / member."""
        entry = self.files.get(name)
        if self.zip_path is None:
            return entry.location if entry else str(self.path / name)
        member = entry.location if entry else name
        return f"{self.zip_path}/{member}"

    def read(self, name: str) -> bytes:
        """The raw bytes of one file; DataError when it cannot be read."""
        entry = self.files[name]
        try:
            if self.zip_path is None:
                return Path(entry.location).read_bytes()
            with zipfile.ZipFile(self.zip_path) as zf:
                return zf.read(entry.location)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DataError(f"the zip archive is corrupt ({exc})", path=self.label(name)) from exc
        except OSError as exc:
            raise DataError(
                f"cannot read the file ({exc.strerror or exc})", path=self.label(name)
            ) from exc

    def cache_key(self, version: int) -> str:
        """A key from paths, sizes and modification times: cheap, no content is read."""
        if self.zip_path is not None:
            st = self.zip_path.stat()
            stamp: object = [str(self.zip_path), st.st_size, st.st_mtime_ns]
            members = sorted((n, e.location, e.size) for n, e in self.files.items())
            stamp = [stamp, members]
        else:
            stamp = sorted((n, e.location, e.size, e.mtime_ns) for n, e in self.files.items())
        text = json.dumps([version, stamp], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:40]


def open_source(path: str | os.PathLike[str]) -> Source:
    """Find a MovieLens release in a folder (or one subfolder) or an official zip."""
    p = Path(path).expanduser()
    try:
        p = p.resolve()
        if not p.exists():
            raise DataError("no such file or folder", path=p)
        if p.is_dir():
            return _open_folder(p)
        if p.name in KNOWN_FILES:  # the user picked a file of the release: use its folder
            return _open_folder(p.parent)
        return _open_zip(p)
    except PermissionError as exc:
        raise DataError("permission denied: cannot read it", path=exc.filename or p) from exc
    except OSError as exc:
        raise DataError(f"cannot read it ({exc.strerror or exc})", path=p) from exc


def _folder_files(folder: Path) -> dict[str, _Entry]:
    """Known MovieLens files directly inside a folder."""
    found = {}
    with os.scandir(folder) as it:
        for de in it:
            if de.name in KNOWN_FILES and de.is_file():
                st = de.stat()
                found[de.name] = _Entry(str(Path(de.path)), st.st_size, st.st_mtime_ns)
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
            f"holds several MovieLens releases ({names}); open one of them", path=folder
        )
    raise DataError(f"no MovieLens layout recognised: looked for {LOOKED_FOR}", path=folder)


def _open_zip(path: Path) -> Source:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise DataError(
            "is neither a folder nor a valid .zip archive of a MovieLens release", path=path
        ) from exc
    # group known members by their folder; skip macOS resource forks
    by_dir: dict[str, dict[str, _Entry]] = {}
    for info in infos:
        member = PurePosixPath(info.filename)
        if info.is_dir() or "__MACOSX" in member.parts or member.name not in KNOWN_FILES:
            continue
        by_dir.setdefault(str(member.parent), {})[member.name] = _Entry(
            info.filename, info.file_size, 0
        )
    hits = {d: f for d, f in by_dir.items() if any(n in f for n in RATINGS_FILES)}
    if not hits:
        raise DataError(
            f"no MovieLens layout recognised in the zip: looked for {LOOKED_FOR}", path=path
        )
    depth = min(len(PurePosixPath(d).parts) for d in hits)
    top = sorted(d for d in hits if len(PurePosixPath(d).parts) == depth)
    if len(top) > 1:
        raise DataError(f"holds several MovieLens releases ({', '.join(top)})", path=path)
    return Source(path, hits[top[0]], zip_path=path)
