"""The trainer: whole splits held as tensors, batches by slicing a seeded permutation.

No per-sample ``Dataset`` and no DataLoader workers: on this kind of model the cost of
a step is framework overhead, so each step is a handful of fat tensor ops. Progress
goes to listeners as small frozen events (``training.events``); the trainer writes no
file itself: a recorder (``runs.recorder.RunRecorder``, added by ``api.make_trainer``)
listens first and writes the run folder.

The loop is in named pieces: ``Trainer.fit`` (prepare, then report success or
failure), ``_train`` (the epoch loop), ``_run_epoch`` (the batches of one epoch),
``EarlyStopping`` (the best epoch and when to stop) and ``_finish`` (restore the
serving weights, score the test split, emit ``FinishedEvent``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from widedeep_core.config import Config
from widedeep_core.data.types import MovieLensData
from widedeep_core.devices import resolve_device
from widedeep_core.errors import TrainingError, WideDeepError
from widedeep_core.evaluation import evaluate_ranking, evaluate_split
from widedeep_core.evaluation.evaluate import part_shares, pointwise
from widedeep_core.features.encoder import FeatureEncoder
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.prepare import Prepared, prepare
from widedeep_core.model import WideDeep
from widedeep_core.model.widedeep import predict_parts
from widedeep_core.monitors import monitor_of
from widedeep_core.ranking.twostage import attach_retrieval, retrieval_arrays
from widedeep_core.threads import CoreShare
from widedeep_core.training.events import (
    BatchEvent,
    EpochEvent,
    EvaluatingEvent,
    FailedEvent,
    FinishedEvent,
    Recorder,
    StartedEvent,
)
from widedeep_core.training.fastpath import make_train_step
from widedeep_core.training.optim import build_optimizers
from widedeep_core.training.resume import (
    load_step_state,
    make_point,
    restore_rng,
    restore_schedulers,
    step_state,
)
from widedeep_core.training.topn import EpochRows, TopNRows

Callback = Callable[[object], None]

# Batches gathered from the training tensors at once: one big index op instead of one
# per step, with memory bounded to _CHUNK batches.
_CHUNK = 64


@dataclass
class TrainResult:
    """What ``Trainer.fit`` returns: the finished event plus the model itself."""

    finished: FinishedEvent
    model: WideDeep
    encoder: FeatureEncoder
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.finished.status

    @property
    def run_dir(self) -> Path | None:
        return self.finished.run_dir

    @property
    def epochs_run(self) -> int:
        return self.finished.epochs_run

    @property
    def best_epoch(self) -> int:
        return self.finished.best_epoch

    @property
    def best_val_auc(self) -> float:
        return self.finished.best_val_auc

    @property
    def best_value(self) -> float:
        """The monitored validation metric at the best epoch (``monitor``)."""
        return self.finished.best_value

    @property
    def monitor(self) -> str:
        return self.finished.monitor

    @property
    def test(self) -> dict[str, float]:
        return self.finished.test

    @property
    def train_seconds(self) -> float:
        return self.finished.train_seconds

    def summary(self) -> dict[str, Any]:
        """The JSON summary the CLI prints."""
        return {
            "status": self.status,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_val_auc": self.best_val_auc,
            "monitor": self.monitor,
            "best_value": self.best_value,
            "test_auc": self.test.get("auc"),
            "test_logloss": self.test.get("logloss"),
            "train_seconds": self.train_seconds,
            "test": self.test,
        }


class EarlyStopping:
    """Tracks the best epoch by the monitored validation metric and when to stop."""

    def __init__(self, monitor: str, patience: int | None, k: int = 10):
        self.monitor = monitor_of(monitor, k)
        self.patience = int(patience or 0)
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_auc = float("nan")
        self.best_value = float("nan")  # the monitored metric at the best epoch
        self.stale = 0

    def update(self, epoch: int, val: Mapping[str, float]) -> bool:
        """Record one epoch's validation metrics; True when it is the new best."""
        value = float(val[self.monitor.metric])
        score = self.monitor.score(value)
        if not math.isfinite(score):
            score = -math.inf
        if score > self.best_score:
            self.best_score, self.best_epoch, self.best_auc = score, epoch, val["auc"]
            self.best_value = value
            self.stale = 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True when ``patience`` epochs in a row brought no improvement (0: never)."""
        return bool(self.patience) and self.stale >= self.patience

    def state(self) -> dict[str, Any]:
        """What a resume point keeps of the tracker."""
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_auc": self.best_auc,
            "best_value": self.best_value,
            "stale": self.stale,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Back to ``state()``'s moment."""
        self.best_score = float(state["best_score"])
        self.best_epoch = int(state["best_epoch"])
        self.best_auc = float(state["best_auc"])
        self.best_value = float(state["best_value"])
        self.stale = int(state["stale"])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) so the same config gives the same run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class _Loop:
    """The state the epoch loop shares between its pieces."""

    model: WideDeep
    optimizers: list[torch.optim.Optimizer]
    x_train: Encoded | EpochRows  # a run with negatives encodes its batches (topn)
    y_train: torch.Tensor
    batch_size: int
    n_batches: int
    generator: torch.Generator
    device: torch.device
    use_amp: bool
    train_step: Callable[[Encoded, torch.Tensor], torch.Tensor]
    perm: torch.Tensor | None = None
    step: int = 0


class Trainer:
    """Trains one configuration on one data set, telling its listeners as it goes."""

    def __init__(
        self,
        config: Config,
        data: MovieLensData,
        *,
        recorder: Recorder | None = None,
        callback: Callback | None = None,
        resume: Mapping[str, Any] | None = None,
    ):
        """``recorder`` hears every event first (``runs.recorder.RunRecorder``, which
        ``api.make_trainer`` adds; the trainer itself writes no file), then ``callback``.

        ``resume`` (a run's resume point, ``training.resume``, with its best weights
        under ``"best_weights"``) continues that run after its last finished epoch."""
        self.config = config
        self.resume = resume
        self.data = data
        self.callback = callback
        self.recorder = recorder
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._where: dict[str, int | None] = {"epoch": None, "batch": None}
        self._share = CoreShare()  # this process's share of the cores (threads.py)

    # ------------------------------------------------------------ control (any thread)

    def request_cancel(self) -> None:
        """Stop after the current batch; the best weights are kept as a cancelled run."""
        self._cancel.set()
        self._resume.set()

    def request_pause(self, paused: bool) -> None:
        """Pause (True) or resume (False) between batches."""
        if paused:
            self._resume.clear()
        else:
            self._resume.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def run(self) -> Any:
        """The run folder being written (a ``runs.Run``; None without a recorder or
        before the start)."""
        return self.recorder.run if self.recorder is not None else None

    def _run_dir(self) -> Path | None:
        return self.recorder.run_dir if self.recorder is not None else None

    def _emit(self, event: object) -> None:
        # the recorder first: the folder is written before anyone else hears of it
        if self.recorder is not None:
            self.recorder(event)
        if self.callback is not None:
            self.callback(event)

    # ------------------------------------------------------------ training

    def fit(self) -> TrainResult:
        """Run the whole training; emits events; raises a WideDeepError on failure."""
        cfg = self.config
        self._share.__enter__()
        try:
            device = resolve_device(cfg.device)
            seed_everything(cfg.seed)
            prepared = prepare(cfg, self.data)
            retrieval = None
            if cfg.two_stage:
                prepared = attach_retrieval(prepared)
                retrieval = retrieval_arrays(prepared)
            self._emit(
                StartedEvent(
                    cfg,
                    self.data,
                    prepared.split.record.to_dict(),
                    prepared.encoder.to_json(),
                    device,
                    retrieval,
                )
            )
            return self._train(prepared, device)
        except BaseException as exc:
            message = _describe(exc)
            where = self._where
            stopped = isinstance(exc, KeyboardInterrupt)
            self._emit(
                FailedEvent(message, where["epoch"], where["batch"], self._run_dir(), stopped)
            )
            if isinstance(exc, WideDeepError) or not isinstance(exc, Exception):
                raise
            raise TrainingError(message) from exc
        finally:
            self._share.__exit__(None, None, None)

    def _train(self, prep: Prepared, device: torch.device) -> TrainResult:
        """The epoch loop: train, validate, keep the best state, stop early or on cancel."""
        topn = TopNRows(prep) if self.config.negatives else None
        # Adam's moments of a table row that no batch touches decay by beta each step
        # and reach the subnormal range after ~800 steps; x86 CPUs compute subnormals
        # ~100x slower, which made an ML-32M-sized fast epoch's steps 9x slower by its
        # end (4.0 -> 37.9 ms). Flushing them to zero changes only values below 1.2e-38.
        flushed = torch.set_flush_denormal(True)
        try:
            return self._train_with(prep, device, topn)
        finally:
            if flushed:
                torch.set_flush_denormal(False)
            if topn is not None:
                topn.close()  # a spilled run's negatives leave the disk

    def _train_with(self, prep: Prepared, device: torch.device, topn: TopNRows | None):
        cfg = self.config
        x_train, y_train = topn.epoch(1) if topn is not None else prep.encoded("train")
        x_val, y_val = prep.encoded("val")
        model = WideDeep.from_config(cfg, prep.encoder.specs).to(device)
        n = len(y_train)
        bs = min(cfg.batch_size, n)
        optimizers = build_optimizers(model, cfg)
        use_amp = bool(cfg.amp) and device.type == "cuda"
        loop = _Loop(
            model=model,
            optimizers=optimizers,
            x_train=x_train.to(device),
            y_train=y_train.to(device),
            batch_size=bs,
            n_batches=math.ceil(n / bs),
            generator=torch.Generator().manual_seed(cfg.seed),
            device=device,
            use_amp=use_amp,
            # the fused hand-written step where the model allows it (same arithmetic); it
            # moves the parameters into one flat buffer, so it is built last
            train_step=make_train_step(model, optimizers, amp=use_amp, batch_size=bs),
        )
        self._share.cap = step_threads(model, bs)
        schedulers = [_scheduler(o, cfg) for o in loop.optimizers]
        tracker = EarlyStopping(cfg.monitor, cfg.patience, cfg.ranking_k)
        best_state = last_state = _cpu_state(model)
        history: list[dict[str, Any]] = []
        started = time.perf_counter()
        status = "finished"
        first = 1
        if self.resume is not None:  # go on after the run's last finished epoch
            point = self.resume
            model.load_state_dict(point["weights"])
            load_step_state(point["optim"], loop.train_step, loop.optimizers)
            restore_schedulers(point, schedulers)
            restore_rng(point, loop.generator)
            if point.get("perm") is not None and not cfg.shuffle:
                loop.perm = point["perm"].to(device)
            tracker.restore(point["tracker"])
            history = [dict(r) for r in point["history"]]
            loop.step = int(point["step"])
            first = int(point["epoch"]) + 1
            started -= float(point.get("train_seconds", 0.0))
            last_state = _cpu_state(model)
            best_state = dict(point.get("best_weights") or last_state)
            if topn is not None and first > 1:
                loop.perm = None  # the epoch's rows are drawn below

        for epoch in range(first, cfg.epochs + 1):
            self._where["epoch"] = epoch
            self._share.rebalance()  # another training may have started or ended
            t_epoch = time.perf_counter()
            if topn is not None and epoch > 1:  # new negatives every epoch
                x_epoch, y_epoch = topn.epoch(epoch)
                loop.x_train, loop.y_train = x_epoch.to(device), y_epoch.to(device)
                loop.n_batches = math.ceil(len(y_epoch) / bs)
                loop.perm = None
            train_loss = self._run_epoch(loop, epoch)
            if train_loss is None:
                status = "cancelled"
                break  # a partial epoch is not evaluated; the best weights so far stand
            wide, deep = predict_parts(model, x_val, cfg.eval_batch_size, device)
            val = pointwise(y_val, wide + deep)  # as evaluate_pointwise, parts kept
            dynamics = {**part_shares(wide, deep), **_grad_norms(loop)}
            if cfg.monitor == "val_ndcg":
                val.update(evaluate_ranking(model, prep, "val", k=cfg.ranking_k))
            improved = tracker.update(epoch, val)
            lr = loop.optimizers[-1].param_groups[0]["lr"]
            seconds = time.perf_counter() - t_epoch
            last_state = _cpu_state(model)
            if improved:
                best_state = last_state
            for sched in schedulers:  # stepped before the resume point is taken
                if sched is not None:
                    sched.step()
            event = EpochEvent(
                epoch,
                cfg.epochs,
                train_loss,
                val,
                tracker.best_epoch,
                tracker.best_auc,
                seconds,
                lr,
                weights=last_state,
                improved=improved,
                monitor=cfg.monitor,
                best_value=tracker.best_value,
                dynamics=dynamics,
            )
            history.append(event.row())
            point = make_point(
                epoch=epoch,
                step=loop.step,
                weights=last_state,
                optim=step_state(loop.train_step, loop.optimizers),
                schedulers=schedulers,
                generator=loop.generator,
                perm=None if cfg.shuffle or topn is not None else loop.perm,
                tracker=tracker.state(),
                history=history,
                train_seconds=time.perf_counter() - started,
            )
            self._emit(replace(event, resume=point))
            if tracker.should_stop:
                break
            if self._cancel.is_set():
                status = "cancelled"
                break

        serving = best_state if cfg.serving_weights == "best" else last_state
        elapsed = time.perf_counter() - started
        self._share.cap = None  # the evaluation's blocks are large: the whole share
        self._share.rebalance()
        if topn is not None:
            topn.close()  # the evaluation needs no negatives
        return self._finish(prep, loop, serving, tracker, status, history, elapsed)

    def _run_epoch(self, loop: _Loop, epoch: int) -> float | None:
        """Train one epoch; its mean loss, or None when a cancel cut it short."""
        cfg = self.config
        model, bs, n_batches, device = loop.model, loop.batch_size, loop.n_batches, loop.device
        model.train()
        if cfg.shuffle or loop.perm is None:
            loop.perm = torch.randperm(len(loop.y_train), generator=loop.generator).to(device)
        # per-batch losses stay on the device; they are read (one sync) at log points
        losses = torch.zeros(n_batches, device=device)
        window_start, window_t = 0, time.perf_counter()
        for b in range(n_batches):
            if not self._resume.is_set():
                self._resume.wait()
            if self._cancel.is_set():
                return None
            self._where["batch"] = b + 1
            if b % _CHUNK == 0:
                # gather many batches at once; each step then takes cheap views
                rows = loop.perm[b * bs : (b + _CHUNK) * bs]
                x_chunk, y_chunk = loop.x_train.take(rows), loop.y_train.index_select(0, rows)
            o = (b % _CHUNK) * bs
            xb, yb = x_chunk.take(slice(o, o + bs)), y_chunk[o : o + bs]
            losses[b] = loop.train_step(xb, yb)
            loop.step += 1
            if b + 1 - window_start == cfg.log_every or b + 1 == n_batches:
                window = losses[window_start : b + 1]
                mean = float(window.mean())
                if not math.isfinite(mean):
                    bad = window_start + int(torch.nonzero(~torch.isfinite(window))[0, 0])
                    self._where["batch"] = bad + 1
                    raise _non_finite(epoch, bad + 1)
                now = time.perf_counter()
                rate = (b + 1 - window_start) * bs / max(now - window_t, 1e-9)
                self._emit(BatchEvent(epoch, b + 1, n_batches, loop.step, mean, rate))
                window_start, window_t = b + 1, now
        return float(losses.mean())

    def _finish(
        self,
        prep: Prepared,
        loop: _Loop,
        serving_state: dict[str, torch.Tensor],
        tracker: EarlyStopping,
        status: str,
        history: list[dict[str, Any]],
        train_seconds: float,
    ) -> TrainResult:
        """Load the serving weights, score the test split and emit ``FinishedEvent``."""
        self._where["batch"] = None
        # a cancel mid-epoch leaves half-trained weights: go back to a finished epoch
        model = loop.model
        model.load_state_dict(serving_state)
        if history:
            self._emit(EvaluatingEvent("test"))
        test = evaluate_split(model, prep, "test", loop.device) if history else {}
        event = FinishedEvent(
            status,
            self._run_dir(),
            len(history),
            tracker.best_epoch,
            tracker.best_auc,
            test,
            train_seconds,
            monitor=self.config.monitor,
            best_value=tracker.best_value,
        )
        self._emit(event)
        return TrainResult(event, model, prep.encoder, history)


def train(
    config: Config,
    data: MovieLensData,
    *,
    recorder: Recorder | None = None,
    callback: Callback | None = None,
) -> TrainResult:
    """Train one configuration, writing nothing (``api.train`` stores the run)."""
    return Trainer(config, data, recorder=recorder, callback=callback).fit()


def _grad_norms(loop: _Loop) -> dict[str, float]:
    """L2 norms of the wide and the deep part's gradients at the epoch's last step
    (the fused step keeps them in its flat buffer; autograd in ``.grad``)."""
    model, grad_of = loop.model, getattr(loop.train_step, "grad_of", None)

    def norm(params: Any) -> float:
        total = 0.0
        for p in params:
            g = grad_of(p) if grad_of is not None else p.grad
            if g is not None:
                total += float(g.detach().double().pow(2).sum())
        return math.sqrt(total)

    return {"grad_wide": norm(model.wide_parameters()), "grad_deep": norm(model.deep_parameters())}


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# Below this many MLP floating-point operations a step, a second thread does not pay:
# reference at batch 512 (2.4 MFLOP) and 1024 (4.8) ran as fast on 1 thread as on 2, at
# half the CPU; fast at 4096 (52 MFLOP) and reference at 4096 (19) gained from 2
# (2 cores, ML-1M size, WIDEDEEP_THREADS=1 against 2; benchmarks/bench_throughput.py).
ONE_THREAD_STEP_FLOPS = 8e6


def step_threads(model: WideDeep, batch_size: int) -> int | None:
    """1 when a training step is too small to share across cores, else None (any)."""
    mlp = getattr(model, "mlp", None)
    flops = 0.0
    for layer in mlp if mlp is not None else ():
        if isinstance(layer, nn.Linear):
            flops += 6.0 * layer.in_features * layer.out_features  # forward and backward
    return 1 if flops * batch_size < ONE_THREAD_STEP_FLOPS else None


def _scheduler(opt: torch.optim.Optimizer, cfg: Config):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(cfg.epochs // 3, 1), gamma=0.3)
    return None


def _non_finite(epoch: int, batch: int) -> TrainingError:
    # weights are saved at the end of each epoch: in epoch 1 there are none yet
    kept = (
        "no epoch finished, so no weights were saved"
        if epoch <= 1
        else f"the weights of epoch {epoch - 1} and before are kept"
    )
    return TrainingError(
        f"the training loss became non-finite in epoch {epoch}, batch {batch}; "
        f"{kept} (try a lower learning rate)"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user"
    if isinstance(exc, WideDeepError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


__all__ = ["EarlyStopping", "TrainResult", "Trainer", "seed_everything", "train"]
