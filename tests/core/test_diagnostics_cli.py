"""`widedeep diagnose`: tables as text, JSON and CSV files; one line for every failure."""

from __future__ import annotations

import json
import shutil

import pytest

from widedeep_core.cli import main


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    from widedeep_core.api import train
    from widedeep_core.config import preset
    from widedeep_core.data import write_synthetic

    base = tmp_path_factory.mktemp("diagcli")
    folder = write_synthetic(
        base / "ml-1m", layout="ml-1m", n_users=60, n_items=80, n_ratings=2500, seed=3
    )
    from widedeep_core.data import load_movielens

    data = load_movielens(folder, cache=False)
    cfg = preset("fast").replace(device="cpu", epochs=2)
    root = base / "runs"
    a = train(cfg, data, runs_dir=root).run_dir
    b = train(cfg.replace(lr=1e-3), data, runs_dir=root).run_dir
    return root, a, b


def test_text_json_and_csv(run_dirs, tmp_path, capsys):
    root, a, b = run_dirs
    assert main(["diagnose", a.name, "--runs-dir", str(root), "--skip-permutation"]) == 0
    text = capsys.readouterr().out
    for heading in ("calibration:", "by_activity:", "lists:", "logit_parts:", "ece"):
        assert heading in text
    assert "permutation:" not in text
    assert main(["diagnose", str(a), "--compare", b.name, "--runs-dir", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["diagnosis"]["tables"]["permutation"]["columns"][0] == "field"
    assert {"metric", "diff", "lo", "hi"} <= set(doc["compare"]["columns"])
    out = tmp_path / "diag"
    assert main(["diagnose", str(a), "--output", str(out), "--part", "val"]) == 0
    err = capsys.readouterr().err
    assert "CSV" in err and "matplotlib" in err
    assert (out / "calibration.csv").read_text().startswith("lo,hi,count")
    assert (out / "per_user.csv").exists() and not list(out.glob("*.png"))


def test_every_failure_is_one_line(run_dirs, tmp_path, capsys):
    root, a, _ = run_dirs
    bare = shutil.copytree(a, tmp_path / "bare")
    (bare / "test_metrics.json").unlink()
    damaged = shutil.copytree(a, tmp_path / "damaged")
    (damaged / "config.json").write_text("[")
    for argv, words in (
        (["diagnose", str(bare)], "no test metrics"),
        (["diagnose", str(damaged)], "config.json"),
        (["diagnose", "no-such-run", "--runs-dir", str(root)], "no run"),
        (["diagnose", str(a), "--compare", str(bare)], "no test metrics"),
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("widedeep: error:") and words in err
