"""Files the user names as outputs: their kind, their mode, and what a spreadsheet sees."""

from __future__ import annotations

import os
import stat

import pytest

from widedeep_core.errors import DataError
from widedeep_core.fileio import atomic_write_text, write_output_text
from widedeep_core.runs.export import write_rows_csv


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, umask_022):
    new = atomic_write_text(tmp_path / "new.json", "{}")
    assert stat.S_IMODE(new.stat().st_mode) == 0o644  # not mkstemp's 0600
    kept = tmp_path / "kept.csv"
    kept.write_text("old")
    kept.chmod(0o640)
    write_output_text(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_outputs_never_replace_devices_links_or_folders(tmp_path):
    devnull = os.stat(os.devnull)
    write_output_text(os.devnull, "a,b\n")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # still the device
    assert os.stat(os.devnull).st_ino == devnull.st_ino
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_output_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_output_text(fifo, "x\n")
        assert os.read(reader, 10) == b"x\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(DataError, match="is a folder"):
        write_output_text(tmp_path, "x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match=str(loop)):
        write_output_text(loop, "x")


def test_csv_cells_that_look_like_formulas_stay_text(tmp_path):
    path = write_rows_csv(tmp_path / "x.csv", [{"run_name": '=HYPERLINK("http://x")', "v": -1.5}])
    lines = path.read_text().splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[1].endswith(",-1.5")
