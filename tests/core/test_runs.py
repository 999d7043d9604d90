"""Run store lifecycle, interrupted detection, crash-safe files and safe weight loading."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from widedeep_core import fileio as wio
from widedeep_core.config import Config, preset
from widedeep_core.errors import DataError, RunError
from widedeep_core.owners import pid_alive
from widedeep_core.runs import Run, RunStore, default_runs_root
from widedeep_core.runs.schema import RUN_JSON
from widedeep_core.runs.store import slugify

DATA_INFO = {
    "name": "ml-1m",
    "layout": "ml-1m",
    "path": "/data/ml-1m",
    "fingerprint": "abc123",
    "counts": {"ratings": 8000, "users": 200, "items": 300},
}


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- root


def test_default_root_from_env_and_platformdirs(monkeypatch, tmp_path):
    monkeypatch.setenv("WIDEDEEP_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert RunStore().root == tmp_path / "elsewhere"
    monkeypatch.delenv("WIDEDEEP_RUNS_DIR")
    root = default_runs_root()
    assert root.name == "runs" and "widedeep-workbench" in str(root)
    assert RunStore(tmp_path / "x").root == tmp_path / "x"


# ---------------------------------------------------------------- lifecycle


def test_create_writes_a_complete_uniquely_named_folder(store):
    cfg = preset("reference")
    run = store.create(cfg, DATA_INFO)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{6}_reference_[0-9a-f]{4}", run.id)
    assert run.path.parent == store.root
    for name in (RUN_JSON, "config.json", "data.json"):
        assert (run.path / name).is_file()
    assert run.read_config() == cfg
    assert run.read_data_info() == DATA_INFO
    # without a name: the preset and the start time, so two runs of a preset differ
    assert re.fullmatch(r"reference \d{2}-\d{2} \d{2}:\d{2}:\d{2}", run.name)
    assert run.status == "created"  # this process owns it and is alive
    ids = {store.create(cfg, DATA_INFO).id for _ in range(30)}
    assert len(ids) == 30


def test_display_name_and_slug(store):
    run = store.create(Config(name="Config name"), DATA_INFO, name="My Run #2 (ml-1m)")
    assert "_my-run-2-ml-1m_" in run.id
    assert run.name == "My Run #2 (ml-1m)"
    assert "_config-name_" in store.create(Config(name="Config name"), DATA_INFO).id
    assert slugify("  ###  ") == "run"
    assert len(slugify("x" * 200)) == 40


def test_full_lifecycle_and_run_info(store):
    cfg = preset("full").replace(epochs=3)
    run = store.create(cfg, DATA_INFO)
    run.set_status("running")
    assert run.status == "running"
    run.write_split({"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0, "hash": "h"})
    run.write_encoder({"fields": {"user": ["a", "b"]}})
    run.write_environment(torch.device("cpu"))
    for epoch, auc in enumerate([0.70, 0.74, 0.73], start=1):
        run.append_batch_metrics([{"epoch": epoch, "batch": b, "loss": 0.6} for b in range(5)])
        run.append_epoch_metrics({"epoch": epoch, "train_loss": 0.5, "val_auc": auc})
    run.write_test_metrics({"auc": 0.731, "logloss": 0.55, "hr@10": np.float32(0.25)})
    run.set_status("finished", "done")

    assert run.status == "finished"
    assert run.read_split()["hash"] == "h"
    assert run.read_encoder() == {"fields": {"user": ["a", "b"]}}
    assert len(run.read_batch_metrics()) == 15
    assert [r["val_auc"] for r in run.read_epoch_metrics()] == [0.70, 0.74, 0.73]
    assert run.read_test_metrics()["hr@10"] == pytest.approx(0.25)

    env = run.read_environment()
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["device"].startswith("cpu")

    meta = run.read_meta()
    assert meta["started"] and meta["ended"] and meta["message"] == "done"
    info = store.list()[0]
    assert info.id == run.id and info.path == run.path
    assert info.status == "finished" and info.message == "done"
    assert info.preset == "full"
    assert (info.data_name, info.data_layout) == ("ml-1m", "ml-1m")
    assert info.best_val_auc == pytest.approx(0.74)
    assert info.test_auc == pytest.approx(0.731)
    assert info.epochs_run == 3
    assert info.duration_s is not None and info.duration_s >= 0
    assert info.hyperparameters["hidden"] == list(preset("full").hidden)
    assert info.hyperparameters["optimizer"] == "adamw"
    # The trainer's own record of the kept epoch wins over the maximum seen.
    run.write_test_metrics({"auc": 0.731, "best_val_auc": 0.73})
    assert store.list()[0].best_val_auc == pytest.approx(0.73)
    assert info.created is not None and info.created.tzinfo is not None


def test_list_is_newest_first_and_skips_foreign_folders(store):
    runs = [store.create(Config(), DATA_INFO, name=f"r{i}") for i in range(3)]
    # Same second: give them distinct creation times, oldest first.
    for i, run in enumerate(runs):
        run.update_meta(created=f"2026-01-0{i + 1}T10:00:00.000+00:00")
    (store.root / "not-a-run").mkdir()
    (store.root / "stray.txt").write_text("x")
    assert [i.name for i in store.list()] == ["r2", "r1", "r0"]
    assert RunStore(store.root / "missing").list() == []


def _age(run_path: Path, seconds: float = 60.0) -> None:
    """Date a run's files back, past the store's racy-timestamp margin."""
    for path in [run_path, *run_path.iterdir()]:
        stamp = path.stat().st_mtime - seconds
        os.utime(path, (stamp, stamp))


def test_list_keeps_unchanged_summaries_and_rereads_changed_runs(store):
    """A re-listing reuses the summary of a run whose files are unchanged (500 runs: the
    Runs page re-lists in 20 ms, not 500) and reads a run again once a file changes."""
    a = store.create(Config(), DATA_INFO, name="a")
    b = store.create(Config(), DATA_INFO, name="b")
    a.set_status("finished")
    b.set_status("finished")
    _age(a.path)
    _age(b.path)
    first = {i.name: i for i in store.list()}
    again = {i.name: i for i in store.list()}
    assert again["a"] is first["a"] and again["b"] is first["b"]
    a.append_epoch_metrics({"epoch": 1, "val_auc": 0.7})  # an append: same inode
    store.rename(b, "b2")  # an atomic write: a new inode
    fresh = {i.name: i for i in store.list()}
    assert fresh["a"].epochs_run == 1 and fresh["a"] is not first["a"]
    assert set(fresh) == {"a", "b2"}
    # a file written just now is never trusted by its stamp alone (same-tick writes)
    recent = {i.name: i for i in store.list()}
    assert recent["a"] is not fresh["a"]
    store.delete(a)
    assert [i.name for i in store.list()] == ["b2"]


def test_a_live_run_is_read_at_every_listing(store):
    run = store.create(Config(), DATA_INFO, name="live")
    run.set_status("running")
    _age(run.path)
    assert store.list()[0] is not store.list()[0]


def test_rename_keeps_the_folder(store):
    run = store.create(Config(), DATA_INFO)
    renamed = store.rename(run.id, "  Baseline  ")
    assert renamed.path == run.path and renamed.name == "Baseline"
    assert store.get(run.path).name == "Baseline"
    for bad in ("", "   ", "a\nb"):
        with pytest.raises(RunError):
            store.rename(run, bad)


def test_get_by_id_path_and_errors(store, tmp_path):
    run = store.create(Config(), DATA_INFO)
    assert store.get(run.id) == run
    assert store.get(str(run.path)) == run
    assert store.load(run) == run
    with pytest.raises(RunError) as info:
        store.get("2020-01-01_000000_nope_0000")
    assert "nope" in str(info.value)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RunError) as info:
        store.get(plain)
    assert "run.json" in str(info.value)


def test_delete(store):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    with pytest.raises(RunError) as info:
        store.delete(run)
    assert "in progress" in str(info.value)
    run.set_status("cancelled")
    store.delete(run.id)
    assert not run.path.exists()
    with pytest.raises(RunError):
        store.get(run.id)
    live = store.create(Config(), DATA_INFO)
    store.delete(live, force=True)
    assert not live.path.exists()


def test_set_status_rejects_unknown_status(store):
    run = store.create(Config(), DATA_INFO)
    with pytest.raises(RunError) as info:
        run.set_status("done")
    assert "'done'" in str(info.value)
    with pytest.raises(RunError):
        run.set_status("created")


# ---------------------------------------------------------------- interrupted


def test_running_run_of_a_dead_process_reads_interrupted(store):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    assert run.status == "running"
    dead = _dead_pid()
    assert not pid_alive(dead)
    run.update_meta(pid=dead)
    assert run.status == "interrupted"
    assert store.list()[0].status == "interrupted"
    assert run.read_meta()["status"] == "running"  # derived on reading, never written
    store.delete(run)  # an interrupted run can be deleted without force


def test_running_run_on_another_host_reads_interrupted(store):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    run.update_meta(host="some-other-host.invalid")
    assert run.status == "interrupted"


def test_finished_run_stays_finished_when_process_is_gone(store):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    run.set_status("failed", "loss is NaN")
    run.update_meta(pid=_dead_pid())
    assert run.status == "failed"
    assert pid_alive(os.getpid())


# ---------------------------------------------------------------- damaged folders


def test_damaged_files_raise_run_error_naming_the_file(store):
    run = store.create(Config(), DATA_INFO)
    (run.path / "data.json").write_text('{"name": "ml-1m",')
    with pytest.raises(RunError) as info:
        run.read_data_info()
    assert "data.json" in str(info.value) and "line 1" in str(info.value)
    (run.path / "config.json").write_text(json.dumps({"lr": -1.0}))
    with pytest.raises(RunError) as info:
        run.read_config()
    assert "config.json" in str(info.value) and "lr" in str(info.value)
    (run.path / "split.json").write_text("[1, 2]")
    with pytest.raises(RunError) as info:
        run.read_split()
    assert "split.json" in str(info.value)
    with pytest.raises(RunError) as info:
        run.read_encoder()
    assert "encoder.json" in str(info.value) and "missing" in str(info.value)


def test_damaged_run_is_listed_as_damaged(store):
    good = store.create(Config(), DATA_INFO, name="good")
    bad = store.create(Config(), DATA_INFO, name="bad")
    (bad.path / RUN_JSON).write_text("{not json")
    infos = {i.id: i for i in store.list()}
    assert infos[good.id].status == "created"
    assert infos[bad.id].status == "damaged"
    assert "run.json" in infos[bad.id].message
    with pytest.raises(RunError) as info:
        store.get(bad.id)
    assert "run.json" in str(info.value)


# ---------------------------------------------------------------- json lines


def test_truncated_last_jsonl_line_is_tolerated_and_cut_on_append(store):
    run = store.create(Config(), DATA_INFO)
    run.append_epoch_metrics({"epoch": 1, "val_auc": 0.7})
    run.append_epoch_metrics({"epoch": 2, "val_auc": 0.72})
    path = run.path / "epochs.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"epoch": 3, "val_a')  # the crash cut this row short
    assert [r["epoch"] for r in run.read_epoch_metrics()] == [1, 2]
    assert store.list()[0].epochs_run == 2
    run.append_epoch_metrics({"epoch": 3, "val_auc": 0.75})
    assert [r["epoch"] for r in run.read_epoch_metrics()] == [1, 2, 3]
    assert path.read_bytes().endswith(b"}\n")


def test_bad_jsonl_line_in_the_middle_raises_naming_file_and_line(store):
    run = store.create(Config(), DATA_INFO)
    path = run.path / "batches.jsonl"
    path.write_text('{"loss": 1}\nnot json\n{"loss": 2}\n')
    with pytest.raises(RunError) as info:
        run.read_batch_metrics()
    assert "batches.jsonl" in str(info.value) and "line 2" in str(info.value)
    path.write_text('{"loss": 1}\n[1, 2]\n')
    with pytest.raises(RunError):
        run.read_batch_metrics()


def test_missing_metrics_read_as_empty(store):
    run = store.create(Config(), DATA_INFO)
    assert run.read_epoch_metrics() == [] and run.read_batch_metrics() == []
    assert run.read_test_metrics() is None and run.read_environment() is None
    wio.append_jsonl(run.path / "x.jsonl", [])
    assert not (run.path / "x.jsonl").exists()


def test_partial_tail_without_any_newline_is_dropped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"a": ')
    assert wio.read_jsonl(path) == []
    wio.append_jsonl(path, [{"a": 1}])
    assert path.read_text() == '{"a": 1}\n'


# ---------------------------------------------------------------- weights


class _Payload:
    """Not a tensor or container: ``weights_only`` loading must refuse it."""

    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_weights_round_trip(store):
    run = store.create(Config(), DATA_INFO)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    run.save_weights(model.state_dict(), "best")
    run.save_weights(model.state_dict(), which="last")
    assert run.has_weights("best") and run.has_weights("last")
    state = run.load_weights("best")
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    assert _no_temp_files(run.path)


def test_load_weights_is_weights_only(store):
    run = store.create(Config(), DATA_INFO)
    torch.save({"w": torch.zeros(2), "evil": _Payload()}, run.path / "weights_best.pt")
    with pytest.raises(RunError) as info:
        run.load_weights("best")
    assert "weights_best.pt" in str(info.value)


def test_load_weights_errors(store):
    run = store.create(Config(), DATA_INFO)
    with pytest.raises(RunError) as info:
        run.load_weights("last")
    assert "weights_last.pt" in str(info.value) and "no last weights" in str(info.value)
    (run.path / "weights_best.pt").write_bytes(b"not a zip file")
    with pytest.raises(RunError) as info:
        run.load_weights()
    assert "weights_best.pt" in str(info.value)
    torch.save([torch.zeros(1)], run.path / "weights_last.pt")
    with pytest.raises(RunError) as info:
        run.load_weights("last")
    assert "state_dict" in str(info.value)
    with pytest.raises(RunError):
        run.save_weights({}, which="final")


# ---------------------------------------------------------------- atomic writes


def test_atomic_writes_replace_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "a.json"
    for i in range(5):
        wio.atomic_write_json(target, {"i": i, "t": (1, 2), "nan": float("nan")})
    assert json.loads(target.read_text()) == {"i": 4, "t": [1, 2], "nan": None}
    wio.atomic_write_text(tmp_path / "b.txt", "héllo")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    wio.atomic_torch_save(tmp_path / "c.pt", {"x": torch.ones(2)})
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["x"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.json",
        "b.txt",
        "c.pt",
    ]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    wio.atomic_write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        wio.atomic_write_json(target, {"v": object()})
    with pytest.raises(Exception):  # noqa: B017 - pickling a lambda fails with a pickle error
        wio.atomic_torch_save(target, {"f": lambda: 0})
    assert json.loads(target.read_text()) == {"v": 1}

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(wio.os, "replace", broken_replace)
    with pytest.raises(OSError):
        wio.atomic_write_text(target, "new")
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert _no_temp_files(tmp_path)


def test_to_jsonable_converts_numpy_and_paths():
    value = {"a": np.int64(3), "b": np.array([1.5, np.inf]), "c": Path("/x"), "d": {2, 1}}
    assert wio.to_jsonable(value) == {"a": 3, "b": [1.5, None], "c": "/x", "d": [1, 2]}


def test_read_json_errors_name_the_path(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  oops\n}')
    with pytest.raises(RunError) as info:
        wio.read_json(bad)
    assert str(bad) in str(info.value) and "line 3" in str(info.value)
    with pytest.raises(DataError) as data_info:
        wio.read_json(bad, DataError)
    assert data_info.value.path == str(bad) and data_info.value.line == 3
    with pytest.raises(RunError) as info:
        wio.read_json(tmp_path / "none.json")
    assert "none.json" in str(info.value) and "missing" in str(info.value)


def test_run_equality_and_repr(tmp_path):
    assert Run(tmp_path / "a") == Run(str(tmp_path / "a"))
    assert len({Run(tmp_path / "a"), Run(tmp_path / "a")}) == 1
    assert "a" in repr(Run(tmp_path / "a"))


def test_tags_can_serve_and_a_newer_format(store):
    run = store.create(preset("reference"), DATA_INFO, tags={"study": "s1", "trial": 4})
    info = run.info()
    assert info.tags == {"study": "s1", "trial": 4}
    assert not info.can_serve  # created, no epoch yet
    run.set_status("running")
    run.append_epoch_metrics({"epoch": 1, "val_auc": 0.7})
    run.set_status("cancelled")
    assert run.info().can_serve
    old = store.create(preset("reference"), DATA_INFO)
    meta = json.loads((old.path / RUN_JSON).read_text())
    del meta["format"], meta["tags"]  # as the first releases wrote it
    (old.path / RUN_JSON).write_text(json.dumps(meta))
    assert old.info().tags == {}
    meta["format"] = 99
    (old.path / RUN_JSON).write_text(json.dumps(meta))
    (listed,) = [i for i in store.list() if i.id == old.id]
    assert listed.status == "damaged" and "newer version" in listed.message
    store.delete(old.id)
    assert not old.path.exists()


def test_serving_weights_follow_restore_best():
    assert preset("reference").serving_weights == "last"
    assert preset("full").serving_weights == "best"


def test_recorder_writes_the_run_from_events(tmp_path, small_data):
    from widedeep_core.api import train
    from widedeep_core.runs import read_curve

    cfg = preset("reference").replace(epochs=2, device="cpu", batch_size=256, log_every=5)
    events = []
    result = train(cfg, small_data, runs_dir=tmp_path, callback=events.append, tags={"t": 1})
    run = Run(result.run_dir)
    assert run.status == "finished" and run.info().tags == {"t": 1}
    epochs = run.read_epoch_metrics()
    # the recorder adds the wall time since the start (the curves' wall-time axis)
    walls = [r.pop("wall_s") for r in epochs]
    assert epochs == result.history and 0 <= walls[0] <= walls[1]
    batches = [e for e in events if type(e).__name__ == "BatchEvent"]
    assert [r["step"] for r in run.read_batch_metrics()] == [e.step for e in batches]
    xs, ys = read_curve(run, "epochs", "val_auc")
    assert xs == [1.0, 2.0] and ys == [r["val_auc"] for r in epochs]
    assert run.read_test_metrics()["auc"] == result.test["auc"]


def test_best_val_auc_is_the_auc_of_the_epoch_the_monitor_kept(store):
    # monitored by log loss: the best epoch is the lowest log loss, and its AUC is the one
    # shown (not the highest AUC of any epoch), while training and after
    cfg = preset("full").replace(epochs=3, monitor="val_logloss", ranking_k=20)
    run = store.create(cfg, DATA_INFO)
    rows = [(0.70, 0.60), (0.74, 0.58), (0.72, 0.55)]  # (auc, logloss): best by logloss is 3
    for epoch, (auc, loss) in enumerate(rows, start=1):
        kept = min(r[1] for r in rows[:epoch])
        row = {"epoch": epoch, "val_auc": auc, "val_logloss": loss}
        run.append_epoch_metrics({**row, "best_epoch": epoch, "best_value": kept})
    info = store.get(run.id).info()
    assert (info.monitor, info.best_epoch, info.ranking_k) == ("val_logloss", 3, 20)
    assert info.best_val_auc == pytest.approx(0.72) and info.best_value == pytest.approx(0.55)
    bare = store.create(cfg, DATA_INFO)  # rows without the trainer's record: by the monitor
    for epoch, (auc, loss) in enumerate(rows, start=1):
        bare.append_epoch_metrics({"epoch": epoch, "val_auc": auc, "val_logloss": loss})
    assert bare.info().best_epoch == 3 and bare.info().best_val_auc == pytest.approx(0.72)
