"""The run store under faults: the trainer killed at each write, a full disk, concurrent processes.

After any of them: nothing a listener was told is done is lost, no file is half written,
every run lists (never hidden) and can be deleted, and a failure is one line naming the
file and the cause.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from widedeep_core.fileio import read_json, read_jsonl
from widedeep_core.runs import Run, RunStore
from widedeep_core.runs import run as run_mod

PRELUDE = """
import json, os, sys
import torch
torch.set_num_threads(1)
from widedeep_core.config import preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.errors import WideDeepError
from widedeep_core.runs import RunStore
from widedeep_core.training import BatchEvent, EpochEvent, FinishedEvent
from widedeep_core.api import train

DATA = make_synthetic(n_users=60, n_items=70, n_ratings=2500, seed=5)
CFG = preset("reference").replace(epochs=EPOCHS, device="cpu", batch_size=256, log_every=3,
                                  eval_batch_size=4096)
# warm-up without a run folder: the children are forked with torch's first-use costs paid
# (one intra-op thread, so no thread pool is running at the fork)
train(CFG.replace(epochs=1), DATA, save_run=False)


def heard(log_path):
    # what a listener was told is done, written after the recorder wrote it
    def on_event(event):
        row = None
        if isinstance(event, BatchEvent):
            row = {"kind": "batch", "step": event.step}
        elif isinstance(event, EpochEvent):
            row = {"kind": "epoch", "epoch": event.epoch, "improved": event.improved}
        elif isinstance(event, FinishedEvent):
            row = {"kind": "finished", "status": event.status}
        if row is not None:
            with open(log_path, "a") as fh:
                fh.write(json.dumps(row) + "\\n")
    return on_event
"""
TRAIN = """
root = os.path.join(RUNS, TARGET or "clean")  # one folder per kill
os.makedirs(root, exist_ok=True)
train(CFG, DATA, runs_dir=os.path.join(root, "runs"), callback=heard(os.path.join(root, "heard")))
"""


# Every write of a one-epoch run, in order: "run.<file>" before it, "run.<file>.replace"
# when its temp file is whole but not in place; the folder is renamed into place once
# run.json is in it ("run.create.rename").
_JSON = ["run.{0}", "run.{0}.replace"]
WRITE_STEPS = [
    *[s.format(name) for name in ("config.json", "data.json", "run.json") for s in _JSON],
    "run.create.rename",
    *[s.format(n) for n in ("split.json", "encoder.json", "environment.json", "run.json")
      for s in _JSON],
    *["run.batches.jsonl"] * 3,
    "run.epochs.jsonl",
    *[s.format(n) for n in ("weights_last.pt", "weights_best.pt", "resume.pt",
                            "test_metrics.json", "run.json") for s in _JSON],
]  # fmt: skip


def _prelude(runs: Path, epochs: int = 1) -> str:
    return f"EPOCHS = {epochs}\nRUNS = {str(runs)!r}\n" + PRELUDE


def _heard(root: Path) -> list[dict]:
    path = root / "heard"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _check_run_files(run: Run) -> None:
    """Every file of the run parses: no half-written JSON, JSON lines or weights."""
    for name in ("run.json", "config.json", "data.json", "split.json", "encoder.json",
                 "test_metrics.json", "environment.json"):  # fmt: skip
        if run.file(name).exists():
            read_json(run.file(name))
    read_jsonl(run.file("epochs.jsonl"))
    read_jsonl(run.file("batches.jsonl"))
    if run.has_resume():  # whole or absent, never half written
        run.load_resume()
    for which in ("best", "last"):
        if run.has_weights(which):
            run.load_weights(which)


def _check_store(root: Path, heard: list[dict], where: str) -> str | None:
    """Check a runs folder after a kill; returns the one run's status (None: no run)."""
    store = RunStore(root)
    infos = store.list()
    assert len(infos) <= 1, f"{where}: {infos}"
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(".")] if root.exists() else []
    assert not leftovers, f"{where}: temp folders left after listing: {leftovers}"
    if not infos:
        assert not heard, f"{where}: a listener heard of work but no run is listed"
        return None
    (info,) = infos
    assert info.status in ("interrupted", "finished"), f"{where}: {info.status} {info.message}"
    run = Run(info.path)
    _check_run_files(run)
    assert not list(run.path.glob(".*.tmp")), f"{where}: temp files left after listing"
    steps = {r["step"] for r in run.read_batch_metrics()}
    epochs = {r["epoch"] for r in run.read_epoch_metrics()}
    for event in heard:
        if event["kind"] == "batch":
            assert event["step"] in steps, f"{where}: batch row {event['step']} lost"
        elif event["kind"] == "epoch":
            assert event["epoch"] in epochs, f"{where}: epoch row {event['epoch']} lost"
            assert run.has_weights("last"), f"{where}: weights of a reported epoch lost"
            if event["improved"]:
                assert run.has_weights("best"), f"{where}: best weights lost"
        else:
            assert info.status == event["status"], f"{where}: reported finished, reads {info}"
    store.delete(info.id)  # no force: the owner is gone
    assert not info.path.exists()
    return info.status


def _targets(points: list[str]) -> list[str]:
    """Each occurrence of each point once: ``name``, ``name#2``, ..."""
    seen: Counter = Counter()
    out = []
    for p in points:
        seen[p] += 1
        out.append(p if seen[p] == 1 else f"{p}#{seen[p]}")
    return out


def test_killed_at_each_run_write_nothing_reported_is_lost(faults, tmp_path, monkeypatch):
    runs = tmp_path / "k"
    targets = _targets(WRITE_STEPS)
    statuses = faults.kill_at(targets, TRAIN, prelude=_prelude(runs), record=True)
    assert faults.last_points == WRITE_STEPS, "the run's write steps changed: update WRITE_STEPS"
    assert statuses == dict.fromkeys(targets, -9), faults.last_stderr
    monkeypatch.setattr(run_mod, "STALE_TEMP_S", 0.0)  # the writers are dead
    assert _check_store(runs / "clean" / "runs", _heard(runs / "clean"), "clean") == "finished"
    found = {t: _check_store(runs / t / "runs", _heard(runs / t), t) for t in targets}
    # killed before the folder was renamed into place: no run, nothing hidden left (a
    # stale temp folder is removed by the listing); after it: a listed, interrupted run
    first_listed = targets.index("run.create.rename") + 1
    assert all(found[t] is None for t in targets[:first_listed]), found
    assert all(found[t] == "interrupted" for t in targets[first_listed:]), found


def test_a_full_disk_during_a_run_is_one_line_and_the_run_stays_deletable(
    faults, small_disk, tmp_path
):
    runs = small_disk.path / "runs"
    body = """
try:
    train(CFG, DATA, runs_dir=RUNS)
except WideDeepError as exc:
    print("ERROR", exc, flush=True)
"""
    prelude = _prelude(runs, epochs=1) + small_disk.inject_prelude("run.weights_last.pt")
    # room for the small JSON files, not for the weights
    small_disk.fill(leave=24 * 1024)
    assert faults.run_parallel(1, body, prelude=prelude) == [0], faults.last_stderr
    lines = [ln for ln in faults.last_stdout.splitlines() if ln.startswith("ERROR ")]
    assert len(lines) == 1, faults.last_stdout
    message = lines[0][len("ERROR ") :]
    assert message.startswith(f"no space left on device while writing {runs}/"), message
    small_disk.free()
    infos = RunStore(runs).list()
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]
    for info in infos:
        assert info.status in ("failed", "interrupted"), info
        _check_run_files(Run(info.path))
        RunStore(runs).delete(info.id)
    assert list(runs.iterdir()) == []


def test_concurrent_trainers_and_a_lister_share_one_runs_folder(faults, tmp_path):
    runs = tmp_path / "shared"
    body = """
import time
store = RunStore(RUNS)
if INDEX == 0:
    # list while the others train: never a damaged, incomplete or vanished run
    deadline = time.monotonic() + 150  # a safety net only: it ends when all finished
    while time.monotonic() < deadline:
        for info in store.list():
            if info.status not in ("created", "running", "finished"):
                raise AssertionError(f"{info.id}: {info.status} {info.message}")
        done = [i for i in store.list() if i.status == "finished"]
        if len(done) == N_TRAINERS:
            break
    else:
        raise AssertionError("the trainers' runs never all read finished")
else:
    result = train(CFG.replace(seed=INDEX), DATA, runs_dir=RUNS)
    assert result.status == "finished"
"""
    n_trainers = 3
    prelude = _prelude(runs, epochs=1) + f"N_TRAINERS = {n_trainers}\n"
    statuses = faults.run_parallel(n_trainers + 1, body, prelude=prelude)
    assert statuses == [0] * (n_trainers + 1), faults.last_stderr
    store = RunStore(runs)
    infos = store.list()
    assert [i.status for i in infos] == ["finished"] * n_trainers
    assert len({i.id for i in infos}) == n_trainers
    for info in infos:
        _check_run_files(Run(info.path))
        store.delete(info.id)
    assert list(runs.iterdir()) == []
