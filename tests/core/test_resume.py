"""Resume: a cancelled run goes on after its last finished epoch, in the same folder,
and gives the numbers of an uninterrupted run bit for bit (same machine, same ops in
the same order on the same restored state: weights, optimiser moments, schedulers,
the batch-order and dropout generators, the early-stopping tracker)."""

from __future__ import annotations

import pytest
import torch

from widedeep_core.api import make_trainer, resume_trainer, train
from widedeep_core.config import preset
from widedeep_core.errors import RunError
from widedeep_core.runs import Run
from widedeep_core.training import EpochEvent

CASES = {
    # the fused step (Adam in one flat buffer), dropout, cosine schedule
    "fused": ("reference", dict(lr_schedule="cosine")),
    # torch optimisers (FTRL for the wide part, Adam for the deep part), side features
    "two optimisers": ("paper", dict()),
    # fixed batch order (no reshuffling): the order itself is part of the resume point
    "no shuffle": ("reference", dict(shuffle=False, patience=10)),
    # negatives drawn per epoch, a two-stage model with dense inputs (autograd step)
    "topn": ("topn", dict()),
}


def config(name: str, **kw):
    base, extra = CASES[name]
    settings = dict(epochs=4, device="cpu", batch_size=256, log_every=5, seed=5)
    return preset(base).replace(**{**settings, **extra, **kw})


def cancelled_after(cfg, data, runs_dir, epoch: int):
    trainer = None

    def stop(event):
        if isinstance(event, EpochEvent) and event.epoch == epoch:
            trainer.request_cancel()

    trainer = make_trainer(cfg, data, runs_dir=runs_dir, callback=stop)
    result = trainer.fit()
    assert result.status == "cancelled" and result.epochs_run == epoch
    return Run(result.run_dir)


def without_time(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "wall_s")} for r in rows]


@pytest.mark.parametrize("case", list(CASES))
def test_resumed_run_matches_an_uninterrupted_one(case, small_data, tmp_path):
    cfg = config(case)
    whole = train(cfg, small_data, runs_dir=tmp_path / "whole")
    whole_run = Run(whole.run_dir)
    run = cancelled_after(cfg, small_data, tmp_path / "cut", epoch=2)
    assert run.has_resume() and len(run.read_epoch_metrics()) == 2
    result = resume_trainer(run.path, small_data).fit()
    assert result.status == "finished" and result.run_dir == run.path
    assert without_time(run.read_epoch_metrics()) == without_time(whole_run.read_epoch_metrics())
    assert [r["epoch"] for r in run.read_epoch_metrics()] == [1, 2, 3, 4]
    assert result.test == whole.test
    for which in ("best", "last"):
        mine, theirs = run.load_weights(which), whole_run.load_weights(which)
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), which
    # the batch curve goes on from the cut: every step once, in order
    steps = [r["step"] for r in run.read_batch_metrics()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert run.status == "finished" and not run.has_resume()  # nothing left to resume


def test_a_cut_mid_epoch_redoes_that_epoch(small_data, tmp_path):
    cfg = config("fused")
    whole = train(cfg, small_data, runs_dir=tmp_path / "whole")
    trainer = None

    def stop(event):  # mid-epoch 3: its batch rows are written, its epoch never ends
        if getattr(event, "epoch", None) == 3 and getattr(event, "batch", 0) >= 10:
            trainer.request_cancel()

    trainer = make_trainer(cfg, small_data, runs_dir=tmp_path / "cut", callback=stop)
    run = Run(trainer.fit().run_dir)
    assert any(r["epoch"] == 3 for r in run.read_batch_metrics())
    result = resume_trainer(run.path, small_data).fit()
    assert result.test == whole.test
    assert [r["epoch"] for r in run.read_epoch_metrics()] == [1, 2, 3, 4]
    steps = [r["step"] for r in run.read_batch_metrics()]
    assert len(steps) == len(set(steps))  # the cut epoch's rows went before it was redone


def test_what_cannot_be_resumed_is_one_line(small_data, tmp_path):
    from widedeep_core.data.synthetic import make_synthetic

    cfg = config("fused", epochs=2)
    done = train(cfg, small_data, runs_dir=tmp_path)
    with pytest.raises(RunError, match="finished; there is nothing to resume"):
        resume_trainer(done.run_dir, small_data)
    run = cancelled_after(config("fused"), small_data, tmp_path, epoch=1)
    other = make_synthetic(n_users=50, n_items=60, n_ratings=900, seed=9)
    with pytest.raises(RunError, match="not the data this run was trained on"):
        resume_trainer(run.path, other)
    run.file("resume.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="cannot load the resume point"):
        resume_trainer(run.path, small_data)
    run.file("resume.pt").unlink()
    with pytest.raises(RunError, match="no resume point"):
        resume_trainer(run.path, small_data)


def test_cli_train_resume(small_data, tmp_path, capsys):
    import json

    from widedeep_core.cli import main
    from widedeep_core.data import write_synthetic

    folder = write_synthetic(tmp_path / "ml", layout="ml-1m", n_users=80, n_items=90,
                             n_ratings=3000, seed=2)  # fmt: skip
    from widedeep_core.data import load_movielens

    data = load_movielens(folder)
    runs = tmp_path / "runs"
    run = cancelled_after(config("fused"), data, runs, epoch=1)
    base = ["train", "--resume", run.id, "--runs-dir", str(runs)]
    assert main([*base, "--set", "epochs=9"]) == 1
    assert "keeps its own settings" in capsys.readouterr().err
    assert main(["train", "--runs-dir", str(runs)]) == 1
    assert "--data" in capsys.readouterr().err
    assert main([*base, "--json"]) == 0  # the run's own data folder, reopened
    out = capsys.readouterr()
    assert "resuming" in out.err and "after epoch 1 of 4" in out.err
    summary = json.loads(out.out)
    assert summary["status"] == "finished" and summary["epochs_run"] == 4
    assert Run(run.path).status == "finished"
    assert main(base) == 1  # finished now: nothing to resume, one line
    assert "nothing to resume" in capsys.readouterr().err
