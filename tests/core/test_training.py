"""Trainer: events, run folder, determinism, cancel, pause, early stopping, failures."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from widedeep_core.api import evaluate_run, make_trainer, train
from widedeep_core.config import preset
from widedeep_core.errors import DeviceError, TrainingError
from widedeep_core.runs import Run
from widedeep_core.training import (
    BatchEvent,
    EpochEvent,
    EvaluatingEvent,
    FailedEvent,
    FinishedEvent,
    Trainer,
)


def small_config(**kw):
    base = dict(epochs=2, device="cpu", batch_size=256, log_every=5)
    base.update(kw)
    return preset("reference").replace(**base)


def test_events_and_run_folder(small_data, tmp_path):
    events = []
    result = train(small_config(), small_data, runs_dir=tmp_path, callback=events.append)
    kinds = [type(e) for e in events]
    assert kinds[-1] is FinishedEvent
    assert kinds[-2] is EvaluatingEvent  # the GUI shows "evaluating" from it
    assert kinds.count(EpochEvent) == 2
    assert BatchEvent in kinds
    batch = next(e for e in events if isinstance(e, BatchEvent))
    assert batch.n_batches == math.ceil(len(small_data.ratings) * 0.8 / 256)
    assert math.isfinite(batch.loss) and batch.samples_per_s > 0
    assert result.status == "finished" and result.epochs_run == 2
    run = Run(result.run_dir)
    for name in ("config.json", "data.json", "split.json", "encoder.json", "epochs.jsonl",
                 "batches.jsonl", "test_metrics.json", "environment.json",
                 "weights_best.pt", "weights_last.pt"):  # fmt: skip
        assert (run.path / name).is_file(), name
    assert run.status == "finished"
    assert len(run.read_epoch_metrics()) == 2
    assert run.read_data_info()["fingerprint"] == small_data.fingerprint
    test = run.read_test_metrics()
    for key in ("auc", "logloss", "accuracy", "gauc", "hr@10", "ndcg@10", "precision@10",
                "recall@10"):  # fmt: skip
        assert key in test and math.isfinite(test[key]), key
    assert 0.5 < test["auc"] <= 1.0


def test_same_seed_same_metrics_different_seed_differs(small_data):
    a = train(small_config(seed=3), small_data, save_run=False)
    b = train(small_config(seed=3), small_data, save_run=False)
    c = train(small_config(seed=4), small_data, save_run=False)
    assert a.history == [{**h, "seconds": a.history[i]["seconds"]} for i, h in
                         enumerate(b.history)]  # fmt: skip
    assert a.test == b.test
    assert a.test["auc"] != c.test["auc"]


def test_early_stopping_restores_best_weights(small_data, tmp_path):
    cfg = small_config(epochs=60, patience=2, lr=0.05, dropout=0.0, restore_best=True)
    result = train(cfg, small_data, runs_dir=tmp_path)
    assert result.epochs_run < 60
    assert result.best_epoch == result.epochs_run - 2
    # the stored best weights give the reported test metrics again
    again = evaluate_run(result.run_dir, small_data)
    assert again["auc"] == pytest.approx(result.test["auc"], abs=1e-12)


def test_cancel_mid_epoch_keeps_best_weights(small_data, tmp_path):
    trainer = None
    epochs_seen = []

    def on_event(e):
        if isinstance(e, EpochEvent):
            epochs_seen.append(e.epoch)
        if isinstance(e, BatchEvent) and e.epoch == 2 and e.batch >= 5:
            trainer.request_cancel()

    trainer = make_trainer(
        small_config(epochs=10), small_data, runs_dir=tmp_path, callback=on_event
    )
    result = trainer.fit()
    assert result.status == "cancelled"
    assert result.epochs_run == 1 and epochs_seen == [1]
    run = Run(result.run_dir)
    assert run.status == "cancelled"
    assert run.has_weights("best")
    assert math.isfinite(result.test["auc"])


def test_cancel_before_first_epoch(small_data, tmp_path):
    trainer = make_trainer(small_config(), small_data, runs_dir=tmp_path)
    trainer.request_cancel()
    result = trainer.fit()
    assert result.status == "cancelled" and result.epochs_run == 0 and result.test == {}


def test_pause_and_resume_between_batches(small_data):
    paused_at = threading.Event()
    trainer = None
    seen = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, BatchEvent) and not paused_at.is_set():
            trainer.request_pause(True)
            paused_at.set()

    trainer = Trainer(small_config(epochs=1), small_data, callback=on_event)
    worker = threading.Thread(target=trainer.fit)
    worker.start()
    assert paused_at.wait(30)
    worker.join(0.3)
    assert worker.is_alive(), "training went on while paused"
    n_paused = len(seen)
    trainer.request_pause(False)
    worker.join(60)
    assert not worker.is_alive()
    assert len(seen) > n_paused and isinstance(seen[-1], FinishedEvent)


def test_non_finite_loss_names_epoch_and_batch(small_data, tmp_path, monkeypatch):
    real = torch.nn.BCEWithLogitsLoss
    calls = {"n": 0}

    class NanAfterSomeBatches(real):
        def forward(self, logits, target):
            calls["n"] += 1
            loss = super().forward(logits, target)
            return loss * float("nan") if calls["n"] == 22 else loss

    monkeypatch.setattr(torch.nn, "BCEWithLogitsLoss", NanAfterSomeBatches)
    events = []
    n_batches = math.ceil(len(small_data.ratings) * 0.8 / 256)
    with pytest.raises(TrainingError, match=r"epoch 2, batch 3\b"):
        train(small_config(epochs=3), small_data, runs_dir=tmp_path, callback=events.append)
    assert n_batches == 19
    failed = events[-1]
    assert isinstance(failed, FailedEvent) and failed.epoch == 2 and failed.batch == 3
    run = Run(failed.run_dir)
    assert run.status == "failed"
    assert "non-finite" in run.read_meta().get("message", "")
    assert run.has_weights("best")  # the last good weights (epoch 1) stay


def test_unavailable_device_is_a_clear_error(small_data):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists here")
    events = []
    with pytest.raises(DeviceError, match="cuda"):
        train(small_config(device="cuda"), small_data, save_run=False, callback=events.append)
    assert isinstance(events[-1], FailedEvent)


def test_side_features_and_crosses_train(small_data):
    cfg = preset("full").replace(epochs=2, device="cpu", batch_size=512, patience=None)
    result = train(cfg, small_data, save_run=False)
    assert result.test["auc"] > 0.55
    wide_names = {s.name for s in result.encoder.specs}
    assert "gender x genres" in wide_names


def test_paper_preset_uses_ftrl_on_wide_part(small_data, monkeypatch):
    import widedeep_core.training.trainer as trainer_module
    from widedeep_core.training.optim import FTRL

    used = []  # the optimisers the trainer itself builds and steps

    def spy(model, cfg):
        opts = real(model, cfg)
        used.append((model, opts))
        return opts

    real = trainer_module.build_optimizers
    monkeypatch.setattr(trainer_module, "build_optimizers", spy)
    cfg = preset("paper").replace(epochs=1, device="cpu")
    result = train(cfg, small_data, save_run=False)
    assert math.isfinite(result.test["auc"])
    ((model, opts),) = used
    assert model is result.model
    wide, deep = opts
    assert isinstance(wide, FTRL) and wide.defaults["l1"] == cfg.ftrl_l1
    assert isinstance(deep, torch.optim.Adagrad)
    wide_ids = {id(p) for p in model.wide_parameters()}
    assert {id(p) for g in wide.param_groups for p in g["params"]} == wide_ids
    assert all(wide.state[p] for p in model.wide_parameters())  # FTRL really stepped


def test_reference_protocol_keeps_one_order_and_the_last_weights(small_data, tmp_path):
    fixed = train(small_config(epochs=2), small_data, save_run=False)
    reshuffled = train(small_config(epochs=2, shuffle=True), small_data, save_run=False)
    # epoch 1 sees the same seeded order; only the reshuffling run changes it afterwards
    assert fixed.history[0]["train_loss"] == reshuffled.history[0]["train_loss"]
    assert fixed.history[1]["train_loss"] != reshuffled.history[1]["train_loss"]

    cfg = small_config(epochs=3, lr=0.05, restore_best=False)
    result = train(cfg, small_data, runs_dir=tmp_path)
    last = Run(result.run_dir).load_weights("last")
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, last[key]), key
    assert evaluate_run(result.run_dir, small_data)["auc"] == pytest.approx(result.test["auc"])


def test_training_dynamics_are_recorded_once_an_epoch(small_data, tmp_path):
    from widedeep_core.evaluation.evaluate import part_shares
    from widedeep_core.features.prepare import prepare
    from widedeep_core.model import WideDeep
    from widedeep_core.model.widedeep import predict_parts

    cfg = small_config(epochs=3)
    result = train(cfg, small_data, runs_dir=tmp_path)
    run = Run(result.run_dir)
    rows = run.read_epoch_metrics()
    for row in rows:
        assert 0.0 < row["dyn_wide_share"] < 1.0
        assert row["dyn_grad_wide"] > 0 and row["dyn_grad_deep"] > 0
    # the last epoch's shares, recomputed from its stored weights on the validation rows
    prep = prepare(cfg, small_data)
    model = WideDeep.from_config(cfg, prep.encoder.specs)
    model.load_state_dict(run.load_weights("last"))
    wide, deep = predict_parts(model, prep.encoded("val")[0])
    mine = part_shares(wide, deep)
    assert rows[-1]["dyn_wide_share"] == pytest.approx(mine["wide_share"], rel=1e-9)
    assert rows[-1]["dyn_deep_abs_logit"] == pytest.approx(mine["deep_abs_logit"], rel=1e-9)
    # by hand on three rows: |w| mean 2, |d| mean 1
    shares = part_shares(torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, -1.0, 1.5]))
    assert shares == {"wide_abs_logit": 2.0, "deep_abs_logit": 1.0, "wide_share": 2 / 3}


def test_gradient_norms_agree_between_the_fused_and_the_autograd_step(small_data):
    from widedeep_core.training import trainer as trainer_mod

    fused = train(small_config(epochs=1, dropout=0.0), small_data, save_run=False)
    real = trainer_mod.make_train_step
    try:
        trainer_mod.make_train_step = lambda *a, **kw: real(*a, **{**kw, "fused": False})
        plain = train(small_config(epochs=1, dropout=0.0), small_data, save_run=False)
    finally:
        trainer_mod.make_train_step = real
    a, b = fused.history[-1], plain.history[-1]
    assert a["dyn_grad_wide"] == pytest.approx(b["dyn_grad_wide"], rel=1e-3)
    assert a["dyn_grad_deep"] == pytest.approx(b["dyn_grad_deep"], rel=1e-3)
