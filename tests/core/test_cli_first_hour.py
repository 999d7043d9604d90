"""What a new user meets first on the command line: the default preset, run ids, the
monitored metric, every bad setting at once, files and lines, progress, clean errors."""

from __future__ import annotations

import json
import re

import pytest

from widedeep_core.cli import main
from widedeep_core.config import DEFAULT_PRESET, PRESETS
from widedeep_core.data import write_synthetic


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_synthetic(
        tmp_path_factory.mktemp("data") / "ml-1m", "ml-1m", n_users=80, n_items=100, n_ratings=3000
    )


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    code = main(["train", "--data", str(folder), "--set", "epochs=2", "--set", "device=cpu",
                 "--runs-dir", str(runs), "--json", "--quiet"])  # fmt: skip
    assert code == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return runs, run


def test_the_default_preset_is_the_fast_try(trained):
    _, run = trained
    assert DEFAULT_PRESET == "fast"
    assert json.loads((run / "config.json").read_text())["preset"] == "fast"


def test_every_command_takes_the_id_that_runs_prints(trained, capsys):
    runs, run = trained
    code, out, _ = cli(capsys, "runs", "--runs-dir", runs)
    assert code == 0 and out.split()[0] == run.name
    for argv in (
        ("evaluate", run.name, "--runs-dir", runs, "--json"),
        ("recommend", run.name, "--runs-dir", runs, "--user", 1, "-n", 3),
        ("split", run.name, "--runs-dir", runs, "--part", "test"),
    ):
        code, out, err = cli(capsys, *argv)
        assert code == 0, (argv, err)
    code, _, err = cli(capsys, "evaluate", "no-such-run", "--runs-dir", runs)
    assert code == 1 and err.count("\n") == 1 and "no run 'no-such-run'" in err


def test_epoch_lines_and_the_summary_show_the_monitor(folder, tmp_path, capsys):
    code, out, err = cli(
        capsys, "train", "--data", folder, "--preset", "topn", "--set", "epochs=1",
        "--set", "candidates=30", "--set", "device=cpu", "--runs-dir", tmp_path,
    )  # fmt: skip
    assert code == 0, err
    epoch = next(line for line in err.replace("\r", "\n").splitlines() if "train loss" in line)
    assert re.search(r"ndcg@10 \d\.\d{4}  best 1 \(val NDCG@10 \d\.\d{4}\)", epoch), epoch
    assert "by val NDCG@10" in out
    assert err.index("preparing ") < err.index("training on ") < err.index("evaluating the test")


def test_every_bad_setting_at_once(folder, capsys):
    code, _, err = cli(capsys, "train", "--data", folder, "--set", "epochz=3",
                       "--set", "lr=-1", "--set", "batch_size=x")  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert "did you mean epochs?" in err and "lr:" in err and "batch_size:" in err


def test_info_names_each_problem_with_its_file_and_line(folder, tmp_path, capsys):
    import shutil

    broken = tmp_path / "dup"
    shutil.copytree(folder, broken)
    with open(broken / "ratings.dat", "a", encoding="latin-1") as f:
        f.write("1::999999::4::978300760\n")  # a movie movies.dat does not list
    code, out, _ = cli(capsys, "info", broken)
    assert code == 0
    problem = next(line for line in out.splitlines() if line.strip().startswith("- "))
    assert str(broken / "movies.dat") in problem


def test_presets_lists_every_preset_with_its_settings(capsys):
    code, out, _ = cli(capsys, "presets", "--json")
    assert code == 0
    listed = {p["name"]: p for p in json.loads(out)}
    assert set(listed) == set(PRESETS)
    assert listed["fast"]["settings"]["batch_size"] == PRESETS["fast"].batch_size
    code, out, _ = cli(capsys, "presets")
    assert "topn: " in out and "    monitor = val_ndcg" in out


def test_demo_refuses_bad_folders_in_one_line(folder, tmp_path, capsys):
    code, _, err = cli(capsys, "demo", "/etc/passwd/x")
    assert code == 1 and "internal error" not in err and err.count("\n") == 1
    code, _, err = cli(capsys, "demo", folder, "--layout", "csv")
    assert code == 1 and "another layout" in err
    assert not (folder / "ratings.csv").exists()


def test_help_has_no_rest_markup(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "presets" in out and "download" in out
