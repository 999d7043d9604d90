"""Run store, training and CLI under misuse and faults: one test or two per case."""

from __future__ import annotations

import errno
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from widedeep_core import cli, faultpoints
from widedeep_core.api import train
from widedeep_core.config import Config, preset
from widedeep_core.data import load_movielens, write_synthetic
from widedeep_core.errors import RunError, TrainingError
from widedeep_core.owners import boot_id, owner_fields, process_start
from widedeep_core.runs import Run, RunStore
from widedeep_core.runs import run as run_mod
from widedeep_core.runs import store as store_mod
from widedeep_core.runs.schema import RUN_JSON
from widedeep_core.training import BatchEvent, FailedEvent

ROOT = Path(__file__).resolve().parents[2]
DATA_INFO = {"name": "ml-1m", "layout": "ml-1m", "path": "/data/ml-1m", "fingerprint": "abc"}


def tiny(**changes) -> Config:
    base = dict(epochs=1, device="cpu", batch_size=256, log_every=5, eval_batch_size=4096)
    return preset("reference").replace(**{**base, **changes})


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def hook():
    """Install a faultpoints hook for one test (removed afterwards)."""
    installed = []

    def install(fn):
        installed.append(faultpoints.set_hook(fn))

    yield install
    if installed:
        faultpoints.set_hook(installed[0])


def _full_from(first: str):
    """ENOSPC at ``first`` and at every run.json write after it (the disk stays full)."""
    seen = []

    def fn(name):
        if name == first or (seen and name == "run.run.json"):
            seen.append(name)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return fn


def _no_space_at(*points):
    def fn(name):
        if name in points:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return fn


# ------------------------------------------------------------ 2. damaged run.json


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"status": 5}',
        b'{"status": "running", "format": 99}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_a_run_with_a_damaged_run_json_can_be_deleted(store, damage, capsys):
    for force in (False, True):
        run = store.create(Config(), DATA_INFO)
        run.file(RUN_JSON).write_bytes(damage)
        (info,) = [i for i in store.list() if i.id == run.id]
        assert info.status == "damaged" and "run.json" in info.message
        store.delete(run.id, force=force)
        assert not run.path.exists()
    run = store.create(Config(), DATA_INFO)
    run.file(RUN_JSON).write_bytes(damage)
    assert cli.main(["runs", "delete", run.id, "--runs-dir", str(store.root)]) == 0
    assert not run.path.exists() and capsys.readouterr().out.startswith("deleted")


# ------------------------------------------------------------ 3. disk full


def test_disk_full_on_weights_is_one_line_and_the_first_error_is_kept(
    small_data, tmp_path, hook, capsys
):
    # ENOSPC on the weights, and again on run.json when the failure is recorded
    hook(_full_from("run.weights_last.pt.replace"))
    with pytest.raises(RunError) as info:
        train(tiny(), small_data, runs_dir=tmp_path / "runs")
    message = str(info.value)
    assert message.startswith("no space left on device while writing ")
    assert message.endswith("weights_last.pt") and "\n" not in message
    (run_dir,) = (tmp_path / "runs").iterdir()
    # the failure could not be recorded; the run reads interrupted once we are gone
    assert Run(run_dir).read_meta()["status"] == "running"
    assert not list(run_dir.glob(".*.tmp"))


def test_cli_reports_disk_full_not_internal_error(tmp_path, hook, capsys):
    folder = write_synthetic(tmp_path / "d", "ml-1m", n_users=60, n_items=70, n_ratings=2500)
    hook(_full_from("run.weights_last.pt"))
    argv = ["train", "--data", str(folder), "--runs-dir", str(tmp_path / "r"), "--quiet"]
    argv += [f"--set={k}={v}" for k, v in {"epochs": 1, "device": "cpu"}.items()]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("widedeep: error: no space left on device while writing ")
    assert err.endswith("weights_last.pt") and "internal error" not in err


def test_torch_save_on_a_full_disk_raises_enospc_not_torch_text(tmp_path, monkeypatch):
    from widedeep_core import fileio

    real = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
    run = Run(tmp_path)
    with pytest.raises(RunError) as info:
        run.save_weights({"w": torch.zeros(3)}, "best")
    assert str(info.value) == f"no space left on device while writing {tmp_path}/weights_best.pt"
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------ 6. reused process id


def test_a_reused_pid_does_not_keep_a_run_running(store):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    meta = run.read_meta()
    assert meta["pid"] == os.getpid() and meta["pid_start"] == process_start(os.getpid())
    assert meta["boot_id"] == boot_id() and run.status == "running"
    # our pid, but the recorded owner started at another time: the id was reused
    run.update_meta(pid_start=meta["pid_start"] - 1)
    assert run.status == "interrupted"
    run.update_meta(pid_start=meta["pid_start"], boot_id="an-earlier-boot")
    assert run.status == "interrupted"
    store.delete(run.id)  # no force needed
    assert not run.path.exists()


def test_owner_fields_are_this_process():
    fields = owner_fields()
    assert fields["host"] == socket.gethostname() and fields["pid"] == os.getpid()
    if sys.platform == "linux":
        assert isinstance(fields["pid_start"], int) and fields["boot_id"]


# ------------------------------------------------------------ 7. invisible folder


def test_creation_is_atomic_and_a_failed_creation_leaves_nothing(store, hook):
    hook(_no_space_at("run.run.json"))
    with pytest.raises(RunError, match=r"no space left on device while writing .*run\.json"):
        store.create(Config(), DATA_INFO)
    assert list(store.root.iterdir()) == []
    hook(None)
    run = store.create(Config(), DATA_INFO)
    assert [p.name for p in store.root.iterdir()] == [run.id]
    assert store_mod.RUN_FOLDER_RE.match(run.id)


def test_an_incomplete_folder_is_listed_and_deleted_foreign_ones_are_not(store):
    store.create(Config(), DATA_INFO)
    old = store.root / "2026-01-02_101500_reference_ab12"  # an older version's leftover
    old.mkdir()
    (old / "config.json").write_text("{}")
    foreign = store.root / "my-notes"
    foreign.mkdir()
    infos = {i.id: i for i in store.list()}
    assert infos[old.name].status == "incomplete" and "run.json" in infos[old.name].message
    assert foreign.name not in infos
    store.delete(old.name)
    assert not old.exists()
    with pytest.raises(RunError):
        store.delete(foreign)
    assert foreign.exists()


def test_stale_creation_folders_are_cleaned(store):
    store.root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = store_mod.slugify(socket.gethostname(), 30)
    stale = store.root / f".new-{host}-{dead}-0000aaaa"
    live = store.root / f".new-{host}-{os.getpid()}-0000bbbb"
    other = store.root / ".new-another-host-1-0000cccc"
    for p in (stale, live, other):
        p.mkdir()
        (p / "config.json").write_text("{}")
    assert store.list() == []
    assert not stale.exists() and live.exists() and other.exists()
    old = time.time() - store_mod.STALE_NEW_S - 60
    os.utime(other, (old, old))
    store.list()
    assert not other.exists() and live.exists()


# ------------------------------------------------------------ 8. Ctrl-C


def test_ctrl_c_is_stored_as_interrupted(small_data, tmp_path):
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, BatchEvent):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(), small_data, runs_dir=tmp_path, callback=on_event)
    failed = events[-1]
    assert isinstance(failed, FailedEvent) and failed.interrupted
    meta = Run(failed.run_dir).read_meta()
    assert meta["status"] == "interrupted" and "interrupted" in meta["message"]
    assert RunStore(tmp_path).list()[0].status == "interrupted"


def test_cli_prints_the_run_folder_on_ctrl_c(tmp_path, monkeypatch, capsys):
    from widedeep_core.training import trainer as trainer_mod

    folder = write_synthetic(tmp_path / "d", "ml-1m", n_users=60, n_items=70, n_ratings=2500)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod, "predict_parts", interrupt)  # the validation step
    runs = tmp_path / "r"
    argv = ["train", "--data", str(folder), "--runs-dir", str(runs), "--quiet", "--set=epochs=1"]
    assert cli.main(argv) == 130
    (run_dir,) = runs.iterdir()
    err = capsys.readouterr().err.strip()
    assert err == f"widedeep: interrupted; the run is kept as interrupted in {run_dir}"
    assert Run(run_dir).read_meta()["status"] == "interrupted"


def test_cli_sigterm_during_training_keeps_the_run_as_interrupted(tmp_path, monkeypatch, capsys):
    """`timeout 600 widedeep train ...` ending the job: stored like Ctrl-C, exit 143."""
    import os
    import signal

    from widedeep_core.training import trainer as trainer_mod

    folder = write_synthetic(tmp_path / "d", "ml-1m", n_users=60, n_items=70, n_ratings=2500)

    def terminate(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not unwind the training")

    monkeypatch.setattr(trainer_mod, "predict_parts", terminate)
    runs = tmp_path / "r"
    argv = ["train", "--data", str(folder), "--runs-dir", str(runs), "--quiet", "--set=epochs=1"]
    assert cli.main(argv) == 143
    (run_dir,) = runs.iterdir()
    err = capsys.readouterr().err.strip()
    assert err == f"widedeep: terminated; the run is kept as interrupted in {run_dir}"
    assert Run(run_dir).read_meta()["status"] == "interrupted"


# ------------------------------------------------------------ 9. batch rows as they come


def test_batch_rows_are_on_disk_at_each_log_point(small_data, tmp_path):
    on_disk = []

    def on_event(event):
        if isinstance(event, BatchEvent):
            # the recorder is called first: the row of this very event is already there
            (folder,) = tmp_path.iterdir()
            on_disk.append(Run(folder).read_batch_metrics()[-1]["step"] == event.step)

    train(tiny(), small_data, runs_dir=tmp_path, callback=on_event)
    assert len(on_disk) > 2 and all(on_disk)


# ------------------------------------------------------------ 10. NaN in epoch 1


def test_nan_in_epoch_one_does_not_promise_weights(small_data, tmp_path, monkeypatch):
    real = torch.nn.BCEWithLogitsLoss

    class NanAtOnce(real):
        def forward(self, logits, target):
            return super().forward(logits, target) * float("nan")

    monkeypatch.setattr(torch.nn, "BCEWithLogitsLoss", NanAtOnce)
    with pytest.raises(TrainingError) as info:
        train(tiny(), small_data, runs_dir=tmp_path)
    assert "no epoch finished, so no weights were saved" in str(info.value)
    assert "last good weights" not in str(info.value)


# ------------------------------------------------------------ 11. unsafe weights


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_weights_are_refused_without_torch_advice(store, capsys):
    run = store.create(Config(), DATA_INFO)
    with open(run.weights_path("best"), "wb") as handle:
        pickle.dump({"w": _Payload()}, handle, protocol=2)
    with pytest.raises(RunError) as info:
        run.load_weights("best")
    text = str(info.value)
    assert text.endswith("weights_best.pt: the file holds objects other than tensors and "
                         "was not loaded")  # fmt: skip
    assert "weights_only" not in text and "this must never run" not in capsys.readouterr().out
    run.weights_path("last").write_bytes(b"garbage" * 10)
    with pytest.raises(RunError) as info:
        run.load_weights("last")
    assert "was not loaded" in str(info.value) and "weights_only" not in str(info.value)


# ------------------------------------------------------------ 13. broken pipe


def test_runs_into_a_closed_pipe_ends_quietly(store):
    for i in range(3):
        store.create(Config(), DATA_INFO, name=f"r{i}")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first write fails with EPIPE, deterministically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "widedeep_core.cli", "runs", "--runs-dir", str(store.root)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode in (0, 141) and proc.stderr == ""


# ------------------------------------------------------------ 15. weights temp files


def test_weight_temp_files_of_a_killed_write_are_cleaned(store, monkeypatch):
    run = store.create(Config(), DATA_INFO)
    run.set_status("running")
    left = run.path / ".weights_best.pt.x1y2.tmp"
    left.write_bytes(b"half a file")
    run.save_weights({"w": torch.ones(2)}, "best")
    assert not left.exists() and run.has_weights("best")
    run.set_status("finished")
    left.write_bytes(b"half")
    other = run.path / ".run.json.abcd.tmp"
    other.write_bytes(b"{")
    store.list()
    assert left.exists(), "a fresh temp may still be renamed by its writer"
    monkeypatch.setattr(run_mod, "STALE_TEMP_S", 0.0)
    store.list()  # not live: the temps of killed writes go
    assert not left.exists() and not other.exists()


# ------------------------------------------------------------ 17. non-UTF-8 data path


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes")
def test_a_non_utf8_data_path_trains_records_and_reloads(tmp_path):
    from widedeep_core.serving import load_trained

    where = Path(os.fsdecode(os.fsencode(tmp_path) + b"/data-\xff-\xe9"))
    folder = write_synthetic(where, "ml-1m", n_users=60, n_items=70, n_ratings=2500, seed=2)
    data = load_movielens(folder)
    result = train(tiny(), data, runs_dir=tmp_path / "runs")
    run = Run(result.run_dir)
    stored = json.loads(run.file("data.json").read_text("utf-8"))
    assert stored["path"].endswith("data-\\xff-\\xe9")
    assert run.data_path() == folder.resolve()
    assert load_trained(run).data.fingerprint == data.fingerprint
    assert [i.status for i in RunStore(tmp_path / "runs").list()] == ["finished"]


# ------------------------------------------------------------ 18. bad encoder.json


def test_a_bad_encoder_json_is_named(small_data, tmp_path):
    from widedeep_core.serving import load_trained

    run = Run(train(tiny(), small_data, runs_dir=tmp_path).run_dir)
    for content in ({"fields": 3}, {}, {"specs": "x"}):
        run.file("encoder.json").write_text(json.dumps(content))
        with pytest.raises(RunError) as info:
            load_trained(run, small_data)
        assert str(info.value).startswith(f"{run.path}/encoder.json: ")


# ------------------------------------------------------------ 14. models too big for memory


def test_a_too_big_mlp_is_refused_on_hidden_with_the_figure(monkeypatch):
    from widedeep_core.config import check_strings, memory
    from widedeep_core.errors import ConfigError

    monkeypatch.setattr(memory, "total_ram", lambda: 23 * 2**30)
    with pytest.raises(ConfigError) as info:
        preset("reference").replace(hidden=(65536, 65536))
    assert info.value.field == "hidden"
    assert info.value.reason.startswith(
        "hidden layers of up to 65536 units need 16.0 GiB for weights; "
    )
    assert "more than 75% of this machine's 23.0 GiB RAM" in info.value.reason
    cfg, errors = check_strings(preset("reference"), {"hidden": "65536,65536"})
    assert cfg is None and list(errors) == ["hidden"]
    assert preset("reference").replace(hidden=(1024, 512)).hidden == (1024, 512)


def test_too_big_embedding_tables_are_refused_at_prepare(small_data, monkeypatch):
    from widedeep_core.config import memory
    from widedeep_core.errors import ConfigError
    from widedeep_core.features import prepare

    cfg = tiny(embed_dim=1024, hidden=(8,))
    monkeypatch.setattr(memory, "total_ram", lambda: 4 * 2**20)
    with pytest.raises(ConfigError) as info:
        prepare(cfg, small_data)
    assert info.value.field == "embed_dim" and "embedding tables" in info.value.reason
    assert "this machine's 4.0 MiB RAM" in info.value.reason
    monkeypatch.setattr(memory, "total_ram", lambda: 64 * 2**30)
    prepare(cfg, small_data)


def test_the_guard_counts_what_training_holds(monkeypatch):
    # embed 1024 and three layers of 20,000 on full passed the weights-only estimate on a
    # 23.5 GiB machine (21.5 GiB estimated) and reached 19 GiB in a minute: weights x7
    # (gradients, Adam's moments, best and last copies, a transient one) and a batch's
    # activations must fit in 75% of the RAM
    from widedeep_core.config import check_strings, memory

    monkeypatch.setattr(memory, "total_ram", lambda: int(23.5 * 2**30))
    cfg, errors = check_strings(
        preset("full"), {"embed_dim": "1024", "hidden": "20000,20000,20000"}
    )
    assert cfg is None and "hidden" in errors and "training holds about" in errors["hidden"]
    parameters = memory.mlp_parameters(8, 16, (256, 128), False)
    assert memory.training_bytes(parameters) == parameters * 7 * 4
    assert preset("full").hidden  # the shipped presets fit with room


def test_negatives_too_big_for_memory_are_refused_before_any_is_drawn(small_data, monkeypatch):
    from widedeep_core.config import memory
    from widedeep_core.errors import ConfigError
    from widedeep_core.features import prepare
    from widedeep_core.training import topn, trainer

    cfg = preset("topn").replace(epochs=30, negatives=8, device="cpu", retrieval="none")
    prep = prepare(cfg, small_data)
    drawn = []
    monkeypatch.setattr(topn.NegativeSampler, "sample", lambda *a: drawn.append(a))
    # the estimate by hand: 30 epochs of n_pos * 8 pairs (two int32), the encoded rated
    # rows (int64 ids) and one epoch's labels and shuffle (12 bytes a row)
    u, _, y = topn.training_rows(small_data, prep.split.train, prep.labels)
    n_pos, fields = int((y > 0.5).sum()), len(prep.encoder.specs)
    expected = 30 * n_pos * 8 * 8 + len(u) * fields * 8 + (len(u) + n_pos * 8) * 12
    assert memory.negatives_bytes(cfg, n_pos, len(u), fields, 0) == expected
    monkeypatch.setattr(memory, "total_ram", lambda: int(expected))  # 75% of it: too little
    with pytest.raises(ConfigError) as info:
        topn.TopNRows(prep)
    assert info.value.field == "negatives" and not drawn
    assert f"{n_pos * 8:,} rows an epoch; for 30 epochs" in info.value.reason
    assert "use fewer negatives or epochs" in info.value.reason
    # through the trainer: one line, the run fails before training
    with pytest.raises(ConfigError, match="negatives"):
        trainer.Trainer(cfg, small_data).fit()
