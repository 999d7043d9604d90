"""`widedeep train --seeds`, `widedeep runs` with its protocol column, filter and seed
groups, and `widedeep runs tag/untag/note`."""

from __future__ import annotations

import json

import pytest

from widedeep_core.cli import main, parse_seeds
from widedeep_core.data import write_synthetic

FAST = ["--set", "epochs=1", "--set", "batch_size=256", "--set", "device=cpu"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Three runs of one setting over seeds 0,1,2, and one other run."""
    base = tmp_path_factory.mktemp("cli_runs")
    folder = write_synthetic(base / "ml-1m", "ml-1m", n_users=50, n_items=60, n_ratings=1500)
    runs = base / "runs"
    common = ["train", "--data", str(folder), "--preset", "reference", "--runs-dir", str(runs)]
    assert main([*common, *FAST, "--seeds", "0,1,2", "--quiet"]) == 0
    assert main([*common, *FAST, "--set", "lr=0.01", "--quiet"]) == 0
    return runs


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_seeds_train_one_run_each_and_group_as_one_row(seeded, capsys):
    listed = run_json(capsys, "runs", "--runs-dir", str(seeded), "--json")
    assert len(listed) == 4 and {r["protocol"] for r in listed} == {"seed"}
    named = sorted(r["name"] for r in listed if "seed" in r["name"])
    assert named == ["reference seed 0", "reference seed 1", "reference seed 2"]
    groups = run_json(capsys, "runs", "--runs-dir", str(seeded), "--group", "seed", "--json")
    sizes = sorted(len(g["runs"]) for g in groups)
    assert sizes == [1, 3]
    (three,) = [g for g in groups if len(g["runs"]) == 3]
    assert sorted(three["seeds"]) == [0, 1, 2]
    aucs = [r["best_val_auc"] for r in listed if r["id"] in three["runs"]]
    assert three["metrics"]["val_auc"]["mean"] == pytest.approx(sum(aucs) / 3)
    assert three["metrics"]["val_auc"]["min"] == min(aucs)
    assert main(["runs", "--runs-dir", str(seeded), "--group", "seed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if x.startswith("3 run(s)")]
    assert line.endswith("  reference")  # the set's name, not its first run's


def test_a_sets_name_drops_the_seed_and_its_duration_stays_a_duration():
    from widedeep_core.config import set_name
    from widedeep_core.runs.grouping import spread
    from widedeep_core.runs.table import format_value

    assert set_name("fast lr 0.01 seed 2") == "fast lr 0.01"
    assert set_name("seed 2") == "seed 2" and set_name("my seed 2b") == "my seed 2b"
    assert format_value("duration", spread([61.0, 63.0, 65.0])) == "1:03 ± 0:02"
    assert format_value("duration", spread([61.0])) == "1:01"
    assert format_value("val_auc", spread([0.7, 0.8])) == "0.7500 ± 0.0707"


def test_runs_lists_the_protocol_and_filters(seeded, capsys):
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(seeded)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(" seed " in line for line in lines)
    only = run_json(capsys, "runs", "--runs-dir", str(seeded), "--filter", "lr > 0.005", "--json")
    assert len(only) == 1 and only[0]["hyperparameters"]["lr"] == 0.01
    assert main(["runs", "--runs-dir", str(seeded), "--filter", "val_acu > 1"]) == 1
    assert "did you mean val_auc" in capsys.readouterr().err


def test_tag_untag_and_note(seeded, capsys, tmp_path):
    import shutil

    runs = shutil.copytree(seeded, tmp_path / "runs")
    rid = run_json(capsys, "runs", "--runs-dir", str(runs), "--json")[0]["id"]
    assert main(["runs", "tag", rid, "baseline", "keep", "--runs-dir", str(runs)]) == 0
    assert main(["runs", "untag", rid, "keep", "--runs-dir", str(runs)]) == 0
    assert main(["runs", "note", rid, "first", "try", "--runs-dir", str(runs)]) == 0
    (row,) = run_json(capsys, "runs", "--runs-dir", str(runs), "--filter", "tag:baseline", "--json")
    assert row["id"] == rid and row["user_tags"] == ["baseline"] and row["note"] == "first try"
    assert main(["runs", "tag", rid, "two words", "--runs-dir", str(runs)]) == 1
    assert "invalid tag" in capsys.readouterr().err


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5, 1") == [3, 4, 5, 1]
    from widedeep_core.errors import DataError

    for bad in ("", "a", "1,,x", "5-2"):
        with pytest.raises(DataError, match="--seeds"):
            parse_seeds(bad)


def test_seed_run_names_each_run_of_a_set_once():
    from widedeep_core.config import preset, seed_run

    fast = preset("fast")
    assert seed_run(fast, 3).name == "fast seed 3" and seed_run(fast, 3).seed == 3
    again = seed_run(seed_run(fast.replace(name="my net"), 3), 0)  # a set's run repeated
    assert again.name == "my net seed 0" and again.seed == 0
