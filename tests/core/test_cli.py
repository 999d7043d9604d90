"""The widedeep CLI contract: train -> evaluate -> recommend -> runs, and clean failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from widedeep_core.cli import main
from widedeep_core.data import write_synthetic


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_synthetic(
        tmp_path_factory.mktemp("data") / "ml-1m", "ml-1m", n_users=80, n_items=100, n_ratings=3000
    )


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_end_to_end_train_evaluate_recommend_runs(folder, tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "widedeep_core.cli", "train", "--data", str(folder),
           "--preset", "reference", "--set", "epochs=2", "--set", "batch_size=256",
           "--set", "device=cpu", "--runs-dir", str(runs), "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # exactly one JSON object on stdout
    for key in ("run_dir", "epochs_run", "best_val_auc", "test_auc", "test_logloss",
                "train_seconds"):  # fmt: skip
        assert key in summary
    assert summary["epochs_run"] == 2
    assert "epoch 1/2" in proc.stderr  # progress goes to stderr
    assert (runs / Path(summary["run_dir"]).name / "weights_best.pt").is_file()


def test_cli_in_process(folder, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "train", "--data", str(folder), "--set", "epochs=2", "--set", "device=cpu",
        "--set", "hidden=8,4", "--runs-dir", str(runs), "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    run_dir = summary["run_dir"]

    code, out, err = run_cli(capsys, "evaluate", run_dir, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["auc"] == pytest.approx(summary["test_auc"], abs=1e-12)
    for key in ("hr@10", "ndcg@10", "precision@10", "recall@10", "gauc"):
        assert key in metrics

    code, out, err = run_cli(capsys, "recommend", run_dir, "--user", "3", "-n", "4", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert len(rec["items"]) == 4
    from widedeep_core.data import load_movielens

    data = load_movielens(folder)
    rated = set(data.ratings.loc[data.ratings["user"] == 3, "item"])
    assert not rated & {row["item"] for row in rec["items"]}

    code, out, err = run_cli(capsys, "recommend", run_dir, "--user", "3", "-n", "2")
    assert code == 0 and "top 2 for user 3" in out

    code, out, err = run_cli(capsys, "runs", "--runs-dir", str(runs), "--json")
    assert code == 0
    listed = json.loads(out)
    assert [r["path"] for r in listed] == [run_dir]
    assert listed[0]["status"] == "finished" and listed[0]["epochs_run"] == 2

    code, out, err = run_cli(capsys, "info", str(folder), "--json")
    assert code == 0
    info = json.loads(out)
    assert info["layout"] == "ml-1m" and info["n_ratings"] == 3000


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["info", "/no/such/folder"], "/no/such/folder"),
        (["train", "--data", "{folder}", "--preset", "nope"], "preset"),
        (["train", "--data", "{folder}", "--set", "dropout=1.5"], "dropout"),
        (["train", "--data", "{folder}", "--set", "batch_size=0"], "batch_size"),
        (["train", "--data", "{folder}", "--set", "colour=red"], "colour"),
        (["train", "--data", "{folder}", "--set", "device=cuda:7"], "cuda:7"),
        (["recommend", "/no/such/run", "--user", "1"], "/no/such/run"),
        (["evaluate", "/no/such/run"], "/no/such/run"),
    ],
)
def test_failures_exit_nonzero_with_one_line(folder, tmp_path, capsys, argv, needle):
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    if argv[0] == "train":
        argv += ["--runs-dir", str(tmp_path / "runs"), "--quiet"]
    code, _out, err = run_cli(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("widedeep: error:") and needle in lines[0]
    assert "Traceback" not in err


def test_unknown_user_is_a_clean_error(folder, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "train", "--data", str(folder), "--set", "epochs=1", "--set", "device=cpu",
        "--runs-dir", str(tmp_path), "--json", "--quiet",
    )  # fmt: skip
    run_dir = json.loads(out)["run_dir"]
    code, out, err = run_cli(capsys, "recommend", run_dir, "--user", "99999")
    assert code == 1 and "user 99999 is not in the data" in err


def test_runs_rename_export_delete(capsys, tmp_path):
    from widedeep_core.config import preset
    from widedeep_core.runs import RunStore

    runs = tmp_path / "runs"
    store = RunStore(runs)
    run = store.create(preset("reference"), {"name": "demo"}, tags={"trial": 3})
    run.set_status("running")
    run.append_epoch_metrics({"epoch": 1, "train_loss": 0.6, "val_auc": 0.7})
    run.append_batch_metrics([{"epoch": 1, "batch": 1, "step": 1, "loss": 0.7}])
    run.write_test_metrics({"auc": 0.71})
    run.set_status("finished")

    code, out, err = run_cli(
        capsys, "runs", "rename", run.id, "best so far", "--runs-dir", str(runs)
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "runs", "--runs-dir", str(runs), "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "best so far" and listed["tags"] == {"trial": 3}

    code, out, err = run_cli(
        capsys, "runs", "--runs-dir", str(runs), "export", run.id, "--output", str(tmp_path / "x")
    )
    assert code == 0, err
    assert (tmp_path / "x" / "epochs.csv").read_text().splitlines() == [
        "epoch,train_loss,val_auc",
        "1,0.6,0.7",
    ]
    assert (tmp_path / "x" / "batches.csv").read_text().splitlines()[1] == "1,1,1,0.7"
    assert (tmp_path / "x" / "test_metrics.csv").read_text().splitlines() == ["auc", "0.71"]
    one = tmp_path / "one.csv"
    code, out, err = run_cli(capsys, "runs", "export", str(run.path), "--output", str(one))
    assert code == 0, err
    assert one.read_text().splitlines()[0] == "run_id,run_name,epoch,train_loss,val_auc"

    (run.path / "run.json").write_text("{ damaged")  # a damaged run can still be deleted
    code, out, err = run_cli(capsys, "runs", "delete", run.id, "--runs-dir", str(runs))
    assert code == 0, err
    assert not run.path.exists()
    code, out, err = run_cli(capsys, "runs", "delete", "nope", "--runs-dir", str(runs))
    assert code != 0 and "nope" in err


def test_train_reports_every_bad_setting_at_once(capsys, folder):
    argv = ["train", "--data", str(folder), "--set", "dropout=1.5", "--set", "batch_size=0"]
    code, _out, err = run_cli(capsys, *argv)
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "dropout" in err and "batch_size" in err
