"""Zips we refuse before reading: bombs (declared size and ratio), encrypted or unknown methods.

Issue 12, findings 1 and 12: every refusal is one DataError naming the zip and member.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from widedeep_core.data import ZipLimits, load_movielens, write_synthetic_zip
from widedeep_core.errors import DataError

SIZE = {"n_users": 30, "n_items": 40, "n_ratings": 500, "seed": 2}
_MiB = 1 << 20


def _bomb(path: Path, mib: int) -> Path:
    """A zip whose u.data inflates ~1000:1 (a repeated valid line), as in the issue."""
    line = b"1\t1\t5\t881250949\n"
    body = line * (mib * _MiB // len(line))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("ml-100k/u.data", body)
    return path


def _patch_central(path: Path, member: str, **fields: int) -> None:
    """Rewrite fields of one member's central-directory record (flags, method, size)."""
    data = bytearray(path.read_bytes())
    offsets = {"flags": (8, "<H"), "method": (10, "<H"), "file_size": (24, "<I")}
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        n_name = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + n_name].decode() == member:
            for name, value in fields.items():
                off, fmt = offsets[name]
                struct.pack_into(fmt, data, pos + off, value)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def test_zip_bomb_is_refused_from_the_central_directory(tmp_path):
    bomb = _bomb(tmp_path / "bomb.zip", 24)
    assert bomb.stat().st_size < _MiB // 4
    with pytest.raises(DataError) as err:
        load_movielens(bomb, cache=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{bomb}/ml-100k/u.data" in msg and "ratio" in msg and "zip bomb" in msg
    assert "WIDEDEEP_ZIP_MAX_RATIO" in msg


def test_declared_size_limit_and_its_overrides(tmp_path, monkeypatch):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    small = ZipLimits(max_member_bytes=1000)
    with pytest.raises(DataError, match=r"ml-1m\.zip/ml-1m/\w+\.dat: the member declares"):
        load_movielens(archive, cache=False, zip_limits=small)
    monkeypatch.setenv("WIDEDEEP_ZIP_MAX_MEMBER_MB", "0.001")
    with pytest.raises(DataError, match="above the limit of 1,048 "):
        load_movielens(archive, cache=False)
    monkeypatch.setenv("WIDEDEEP_ZIP_MAX_MEMBER_MB", "lots")
    with pytest.raises(DataError, match=r"\$WIDEDEEP_ZIP_MAX_MEMBER_MB must be a number"):
        load_movielens(archive, cache=False)
    monkeypatch.delenv("WIDEDEEP_ZIP_MAX_MEMBER_MB")
    monkeypatch.setenv("WIDEDEEP_ZIP_MAX_TOTAL_MB", "0.01")
    with pytest.raises(DataError, match="the release's files declare"):
        load_movielens(archive, cache=False)
    monkeypatch.setenv("WIDEDEEP_ZIP_MAX_TOTAL_MB", "100")
    assert load_movielens(archive, cache=False).n_ratings == SIZE["n_ratings"]


def test_a_bomb_admitted_by_raised_limits_still_loads(tmp_path):
    """The limits refuse by policy, not by accident: raising them admits the same zip."""
    bomb = _bomb(tmp_path / "bomb.zip", 1)
    loose = ZipLimits(max_ratio=1e6)
    data = load_movielens(bomb, cache=False, zip_limits=loose)
    assert data.n_ratings == 1  # the same line repeated: duplicates collapse to one


def test_defaults_admit_the_largest_official_release():
    limits = ZipLimits()
    ml32m_ratings = 877 * 10**6  # bytes of ml-32m/ratings.csv, ~4:1 in the zip
    assert limits.max_member_bytes > 2 * ml32m_ratings
    assert limits.max_ratio > 10


def test_member_inflating_past_its_declared_size_is_cut_and_named(tmp_path):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    _patch_central(archive, "ml-1m/ratings.dat", file_size=100)  # the header lies: 100 bytes
    with pytest.raises(DataError) as err:
        load_movielens(archive, cache=False)
    msg = str(err.value)
    assert msg.startswith(f"{archive}/ml-1m/ratings.dat: ") and "\n" not in msg


def test_encrypted_member_is_one_clear_error(tmp_path):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    _patch_central(archive, "ml-1m/ratings.dat", flags=0x1)
    with pytest.raises(DataError, match=r"ml-1m\.zip/ml-1m/ratings\.dat: the member is encrypted"):
        load_movielens(archive, cache=False)


@pytest.mark.parametrize("method", [93, 99])  # zstandard, AES
def test_unsupported_compression_method_is_one_clear_error(tmp_path, method):
    archive = write_synthetic_zip(tmp_path / "ml-1m.zip", "ml-1m", **SIZE)
    _patch_central(archive, "ml-1m/movies.dat", method=method)
    with pytest.raises(DataError) as err:
        load_movielens(archive, cache=False)
    msg = str(err.value)
    assert msg.startswith(f"{archive}/ml-1m/movies.dat: the member uses compression method")
    assert "internal error" not in msg and "\n" not in msg
