"""The trainer: whole splits held as tensors, batches by slicing a seeded permutation.

No per-sample ``Dataset`` and no DataLoader workers: on this kind of model the cost of
a step is framework overhead, so each step is a handful of fat tensor ops. Progress
goes to one callback as small frozen event objects; that callback is the only
interface the GUI worker uses.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import Config
from .data.types import MovieLensData
from .devices import resolve_device
from .errors import TrainingError, WideDeepError
from .evaluation import evaluate_pointwise, evaluate_split
from .fastpath import make_train_step
from .features import FeatureEncoder
from .model import WideDeep
from .optim import build_optimizers
from .protocol import Prepared, model_fields, prepare
from .runs import Run, RunStore
from .threads import CoreShare


@dataclass(frozen=True)
class BatchEvent:
    """Emitted every ``config.log_every`` batches."""

    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    n_batches: int
    step: int  # global batch count
    loss: float  # mean training loss over the batches since the last event
    samples_per_s: float


@dataclass(frozen=True)
class EpochEvent:
    """Emitted after each epoch with the validation metrics."""

    epoch: int
    epochs: int
    train_loss: float
    val: dict[str, float]
    best_epoch: int
    best_val_auc: float
    seconds: float
    lr: float


@dataclass(frozen=True)
class FinishedEvent:
    """Training ended normally or by a cancel request; test metrics use the best weights."""

    status: str  # "finished" | "cancelled"
    run_dir: Path | None
    epochs_run: int
    best_epoch: int
    best_val_auc: float
    test: dict[str, float]
    train_seconds: float


@dataclass(frozen=True)
class FailedEvent:
    """Training stopped on an error; the run keeps the last good weights."""

    message: str
    epoch: int | None
    batch: int | None
    run_dir: Path | None


@dataclass
class TrainResult:
    """What ``Trainer.fit`` returns: the finished event's fields plus the model itself."""

    status: str
    run_dir: Path | None
    epochs_run: int
    best_epoch: int
    best_val_auc: float
    test: dict[str, float]
    train_seconds: float
    model: WideDeep
    encoder: FeatureEncoder
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The JSON summary the CLI prints."""
        return {
            "status": self.status,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_val_auc": self.best_val_auc,
            "test_auc": self.test.get("auc"),
            "test_logloss": self.test.get("logloss"),
            "train_seconds": self.train_seconds,
            "test": self.test,
        }


Callback = Callable[[object], None]

# Batches gathered from the training tensors at once: one big index op instead of one
# per step, with memory bounded to _CHUNK batches.
_CHUNK = 64


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) so the same config gives the same run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(config: Config, encoder: FeatureEncoder) -> WideDeep:
    """The WideDeep model a configuration describes over an encoder's fields."""
    wide, deep = model_fields(config)
    return WideDeep(
        encoder.specs,
        wide,
        deep,
        embed_dim=config.embed_dim,
        hidden=config.hidden,
        activation=config.activation,
        dropout=config.dropout,
        batch_norm=config.batch_norm,
    )


def data_info(data: MovieLensData) -> dict[str, Any]:
    """What a run records about the data it saw."""
    return {
        "name": data.name,
        "layout": data.layout,
        "path": str(Path(data.source).resolve())
        if Path(data.source).exists()
        else str(data.source),
        "fingerprint": data.fingerprint,
        "n_ratings": int(data.n_ratings),
        "n_users": int(data.ratings["user"].nunique()),
        "n_items": int(data.ratings["item"].nunique()),
    }


class Trainer:
    """Trains one configuration on one data set, writing a run folder as it goes."""

    def __init__(
        self,
        config: Config,
        data: MovieLensData,
        *,
        runs_dir: str | Path | None = None,
        save_run: bool = True,
        callback: Callback | None = None,
    ):
        self.config = config
        self.data = data
        self.callback = callback
        self.runs_dir = runs_dir
        self.save_run = save_run
        self.run: Run | None = None
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._share = CoreShare()

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

    def _emit(self, event: object) -> None:
        if self.callback is not None:
            self.callback(event)

    # ------------------------------------------------------------ training

    def fit(self) -> TrainResult:
        """Run the whole training; emits events; raises a WideDeepError on failure."""
        cfg = self.config
        where: dict[str, int | None] = {"epoch": None, "batch": None}
        self._share.__enter__()  # this process's share of the cores (threads.py)
        try:
            device = resolve_device(cfg.device)
            seed_everything(cfg.seed)
            prepared = prepare(cfg, self.data)
            if self.save_run:
                store = RunStore(self.runs_dir)
                self.run = store.create(cfg, data_info(self.data), name=cfg.name)
                self.run.write_split(prepared.split.record.to_dict())
                self.run.write_encoder(prepared.encoder.to_json())
                self.run.write_environment(device)
                self.run.set_status("running")
            return self._fit(prepared, device, where)
        except BaseException as exc:
            message = _describe(exc)
            if self.run is not None:
                self.run.set_status("failed", message)
            self._emit(FailedEvent(message, where["epoch"], where["batch"], self._run_dir()))
            if isinstance(exc, WideDeepError) or not isinstance(exc, Exception):
                raise
            raise TrainingError(message) from exc
        finally:
            self._share.__exit__(None, None, None)

    def _run_dir(self) -> Path | None:
        return self.run.path if self.run is not None else None

    def _fit(self, prep: Prepared, device: torch.device, where: dict[str, int | None]):
        cfg = self.config
        run = self.run
        x_train, y_train = prep.encoded("train")
        x_val, y_val = prep.encoded("val")
        x_train, y_train = x_train.to(device), y_train.to(device)
        model = build_model(cfg, prep.encoder).to(device)
        optimizers = build_optimizers(model, cfg)
        schedulers = [_scheduler(o, cfg) for o in optimizers]
        use_amp = bool(cfg.amp) and device.type == "cuda"
        # the fused hand-written step where the model allows it (same arithmetic)
        train_step = make_train_step(model, optimizers, amp=use_amp)

        n = len(y_train)
        bs = min(cfg.batch_size, n)
        n_batches = math.ceil(n / bs)
        gen = torch.Generator().manual_seed(cfg.seed)
        higher_is_better = cfg.monitor != "val_logloss"
        best_score = -math.inf
        best_epoch, best_auc = 0, float("nan")
        best_state = last_state = _cpu_state(model)
        history: list[dict[str, Any]] = []
        step = 0
        stale = 0
        started = time.perf_counter()
        status = "finished"

        for epoch in range(1, cfg.epochs + 1):
            where["epoch"] = epoch
            self._share.rebalance()  # another training may have started or ended
            model.train()
            t_epoch = time.perf_counter()
            if cfg.shuffle or epoch == 1:
                perm = torch.randperm(n, generator=gen).to(device)
            # per-batch losses stay on the device; they are read (one sync) at log points
            losses = torch.zeros(n_batches, device=device)
            window_start, window_t, batch_rows = 0, time.perf_counter(), []
            done_batches = 0
            for b in range(n_batches):
                if not self._resume.is_set():
                    self._resume.wait()
                if self._cancel.is_set():
                    status = "cancelled"
                    break
                where["batch"] = b + 1
                if b % _CHUNK == 0:
                    # gather many batches at once; each step then takes cheap views
                    rows = perm[b * bs : (b + _CHUNK) * bs]
                    x_chunk, y_chunk = x_train.take(rows), y_train[rows]
                o = (b % _CHUNK) * bs
                xb, yb = x_chunk.take(slice(o, o + bs)), y_chunk[o : o + bs]
                loss = train_step(xb, yb)
                step += 1
                done_batches += 1
                losses[b] = loss
                if b + 1 - window_start == cfg.log_every or b + 1 == n_batches:
                    window = losses[window_start : b + 1]
                    mean = float(window.mean())
                    if not math.isfinite(mean):
                        bad = window_start + int(torch.nonzero(~torch.isfinite(window))[0, 0])
                        where["batch"] = bad + 1
                        raise _non_finite(epoch, bad + 1)
                    now = time.perf_counter()
                    rate = (b + 1 - window_start) * bs / max(now - window_t, 1e-9)
                    self._emit(BatchEvent(epoch, b + 1, n_batches, step, mean, rate))
                    batch_rows.append({"epoch": epoch, "batch": b + 1, "step": step, "loss": mean})
                    window_start, window_t = b + 1, now
            if run is not None and batch_rows:
                run.append_batch_metrics(batch_rows)
            if status == "cancelled" and done_batches < n_batches:
                break  # a partial epoch is not evaluated; the best weights so far stand

            train_loss = float(losses[:done_batches].mean())
            val = evaluate_pointwise(model, x_val, y_val, cfg.eval_batch_size, device)
            score = -val["logloss"] if not higher_is_better else val["auc"]
            if not math.isfinite(score):
                score = -math.inf
            improved = score > best_score
            if improved:
                best_score, best_epoch, best_auc = score, epoch, val["auc"]
                stale = 0
            else:
                stale += 1
            lr = optimizers[-1].param_groups[0]["lr"]
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in val.items()},
                "lr": lr,
                "seconds": time.perf_counter() - t_epoch,
                "best_epoch": best_epoch,
            }
            history.append(row)
            last_state = _cpu_state(model)
            if improved:
                best_state = last_state
            if run is not None:
                run.append_epoch_metrics(row)
                run.save_weights(last_state, "last")
                if improved:
                    run.save_weights(best_state, "best")
            self._emit(
                EpochEvent(
                    epoch, cfg.epochs, train_loss, val, best_epoch, best_auc, row["seconds"], lr
                )
            )
            for sched in schedulers:
                if sched is not None:
                    sched.step()
            if cfg.early_stopping and stale >= int(cfg.patience or 0):
                break
            if self._cancel.is_set():
                status = "cancelled"
                break

        train_seconds = time.perf_counter() - started
        epochs_run = len(history)
        where["batch"] = None
        # a cancel mid-epoch leaves half-trained weights: go back to a finished epoch
        model.load_state_dict(best_state if cfg.restore_best else last_state)
        test: dict[str, float] = {}
        if epochs_run:
            test = evaluate_split(model, prep, "test", device)
        if run is not None:
            run.write_test_metrics(
                {
                    **test,
                    "best_epoch": best_epoch,
                    "best_val_auc": best_auc,
                    "epochs_run": epochs_run,
                    "train_seconds": train_seconds,
                }
            )
            message = None if epochs_run else "cancelled before the first epoch ended"
            run.set_status(status, message)
        event = FinishedEvent(
            status, self._run_dir(), epochs_run, best_epoch, best_auc, test, train_seconds
        )
        self._emit(event)
        return TrainResult(
            status=status,
            run_dir=self._run_dir(),
            epochs_run=epochs_run,
            best_epoch=best_epoch,
            best_val_auc=best_auc,
            test=test,
            train_seconds=train_seconds,
            model=model,
            encoder=prep.encoder,
            history=history,
        )


def train(
    config: Config,
    data: MovieLensData,
    *,
    runs_dir: str | Path | None = None,
    save_run: bool = True,
    callback: Callback | None = None,
) -> TrainResult:
    """Train one configuration (a convenience over ``Trainer``)."""
    return Trainer(config, data, runs_dir=runs_dir, save_run=save_run, callback=callback).fit()


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _scheduler(opt: torch.optim.Optimizer, cfg: Config):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(cfg.epochs // 3, 1), gamma=0.3)
    return None


def _non_finite(epoch: int, batch: int) -> TrainingError:
    return TrainingError(
        f"the training loss became non-finite in epoch {epoch}, batch {batch}; "
        "the last good weights are kept (try a lower learning rate)"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user"
    if isinstance(exc, WideDeepError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "BatchEvent",
    "EpochEvent",
    "FailedEvent",
    "FinishedEvent",
    "TrainResult",
    "Trainer",
    "build_model",
    "seed_everything",
    "train",
]
