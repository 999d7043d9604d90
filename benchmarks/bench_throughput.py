"""Epoch time of our trainer against a reference-style pipeline, in the same process.

The reference implementation (khanhnamle1994's Wide-and-Deep-PyTorch, on pytorch-fm)
feeds the model through a per-sample ``Dataset`` and a ``DataLoader`` with workers,
with sigmoid + ``BCELoss`` and a plain Adam. We hold whole splits as tensors and slice
a seeded permutation. Both train the same architecture (user + movie ids, embedding
16, MLP 16-16 with batch-norm, ReLU, dropout 0.5) with Adam lr 1e-3, weight decay 1e-6.

    python benchmarks/bench_throughput.py                 # ML-1M-size synthetic data
    python benchmarks/bench_throughput.py --data ../shared/data/ml-100k --workers 2
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch
from _common import add_device_argument, check_device, machine_line, run_main
from torch import nn
from torch.utils.data import DataLoader, Dataset

from widedeep_core.config import preset
from widedeep_core.devices import resolve_device
from widedeep_core.evaluation.metrics import auc
from widedeep_core.threads import apply_thread_share
from widedeep_core.training import EpochEvent, Trainer
from widedeep_core.training import trainer as training


class RatingsDataset(Dataset):
    """The reference's dataset: one (field ids, target) row per ``__getitem__``."""

    def __init__(self, items: np.ndarray, targets: np.ndarray):
        self.items = items
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.items[index], self.targets[index]


class ReferenceWideDeep(nn.Module):
    """pytorch-fm's WideAndDeepModel, as the reference used it (sigmoid inside)."""

    def __init__(self, field_dims, embed_dim=16, mlp_dims=(16, 16), dropout=0.5):
        super().__init__()
        self.offsets = torch.tensor((0, *np.cumsum(field_dims)[:-1]), dtype=torch.long)
        self.linear = nn.Embedding(sum(field_dims), 1)
        self.bias = nn.Parameter(torch.zeros(1))
        self.embedding = nn.Embedding(sum(field_dims), embed_dim)
        nn.init.xavier_uniform_(self.embedding.weight)
        layers, width = [], len(field_dims) * embed_dim
        for h in mlp_dims:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.embed_out = len(field_dims) * embed_dim

    def forward(self, x):
        x = x + self.offsets.unsqueeze(0)
        wide = self.linear(x).sum(1) + self.bias
        deep = self.mlp(self.embedding(x).view(-1, self.embed_out))
        return torch.sigmoid((wide + deep).squeeze(1))


def reference_epoch(data, batch_size: int, workers: int, max_batches: int | None) -> float:
    """Seconds for one epoch of the reference-style pipeline (extrapolated if capped):
    pytorch-fm's ``main.py`` loop as the seed ran it, ``loss.item()`` every step and a
    validation pass (AUC) after the epoch, as our trainer's epoch also ends with one."""
    users = data.ratings["user"].to_numpy()
    items = data.ratings["item"].to_numpy()
    u_codes, u_idx = np.unique(users, return_inverse=True)
    i_codes, i_idx = np.unique(items, return_inverse=True)
    x = np.stack([u_idx, i_idx], 1).astype(np.int64)
    y = (data.ratings["rating"].to_numpy() > 3).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, valid = order[: int(0.8 * len(y))], order[int(0.8 * len(y)) : int(0.9 * len(y))]
    loader = DataLoader(
        RatingsDataset(x[train], y[train]), batch_size=batch_size, shuffle=True,
        num_workers=workers,
    )  # fmt: skip
    valid_loader = DataLoader(
        RatingsDataset(x[valid], y[valid]), batch_size=batch_size, num_workers=workers
    )
    torch.manual_seed(0)
    model = ReferenceWideDeep([len(u_codes), len(i_codes)])
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    model.train()
    n_batches = len(loader)
    start = time.perf_counter()
    cpu0 = _cpu_with_children()
    done = 0
    total_loss = 0.0
    for fields, target in loader:
        loss = criterion(model(fields), target.float())
        model.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
        done += 1
        if max_batches and done >= max_batches:
            break
    seconds = time.perf_counter() - start
    del loader  # joins the workers, so their CPU time is counted
    cpu = _cpu_with_children() - cpu0
    scale = n_batches / done
    start, cpu0 = time.perf_counter(), _cpu_with_children()
    model.eval()
    targets, predicts = [], []
    with torch.no_grad():
        for fields, target in valid_loader:
            targets.extend(target.tolist())
            predicts.extend(model(fields).tolist())
    auc(np.array(targets), np.array(predicts))
    del valid_loader
    val_seconds = time.perf_counter() - start
    val_cpu = _cpu_with_children() - cpu0
    return seconds * scale + val_seconds, cpu * scale + val_cpu


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (DataLoader workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def our_epoch(
    data,
    batch_size: int,
    epochs: int = 2,
    *,
    name: str = "reference",
    fused: bool = True,
    project: bool = True,
    **overrides: object,
) -> tuple[float, float]:
    """(wall seconds of our fastest epoch, CPU seconds of the last) with a preset's model
    (``overrides`` change its fields); ``fused=False`` forces the autograd step (the
    trainer before the hand-written step), ``project=False`` the fused step without its
    projected first layer (the trainer before it)."""
    cfg = preset(name).replace(
        **{
            "epochs": epochs,
            "batch_size": batch_size,
            "device": "cpu",
            "patience": None,
            "lr_schedule": "none",
            **overrides,
        }
    )
    times: list[float] = []
    cpu: list[float] = []

    def on_event(e: object) -> None:
        if isinstance(e, EpochEvent):
            times.append(e.seconds)
            cpu.append(time.process_time())

    real = training.make_train_step

    def make_step(*args, **kwargs):
        if not project:
            kwargs.pop("batch_size", None)
        return real(*args, **kwargs, fused=fused)

    training.make_train_step = make_step
    try:
        Trainer(cfg, data, callback=on_event).fit()
    finally:
        training.make_train_step = real
    best = min(times)
    # CPU seconds of the last epoch (training + validation), from one epoch end to the next
    return best, cpu[-1] - cpu[-2]


def mlp_floor(data, name: str, steps: int = 30, device: str = "cpu") -> float:
    """Seconds per epoch of the preset's MLP alone (forward + backward, no embeddings,
    no optimiser): the matrix-multiply floor of its step."""
    cfg = preset(name)
    width = len(cfg.deep_fields) * cfg.embed_dim
    layers, w = [], width
    for h in cfg.hidden:
        layers += [nn.Linear(w, h), nn.ReLU()]
        w = h
    dev = resolve_device(device)
    mlp = nn.Sequential(*layers, nn.Linear(w, 1)).to(dev)
    x = torch.randn(cfg.batch_size, width, device=dev, requires_grad=True)
    mlp(x).sum().backward()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        mlp(x).sum().backward()
    sync()
    per_step = (time.perf_counter() - start) / steps
    return per_step * 0.8 * data.n_ratings / cfg.batch_size


def side_fields(data, batch_size: int, **run: object) -> None:
    """Issue 10's measure of the embedding paths: every side field, the multi-valued
    genres and the three genre crosses (``full``'s inputs) through a small MLP (embed 16,
    64-32), against the 2-field ``reference`` model, one batch size; both fused."""
    small = {"embed_dim": 16, "hidden": (64, 32)}
    ref, ref_cpu = our_epoch(data, batch_size, name="reference", **run)
    side, side_cpu = our_epoch(data, batch_size, name="full", **small, **run)
    print(
        f"side fields at batch {batch_size}: full's fields + crosses, embed 16, MLP 64-32: "
        f"{side:.2f} s/epoch ({side_cpu:.2f} CPU); reference (2 fields, 16-16): {ref:.2f} "
        f"({ref_cpu:.2f} CPU); ratio {side / ref:.1f}x wall, {side_cpu / ref_cpu:.1f}x CPU"
    )


def load_data(args):
    if args.data:
        from widedeep_core.data import load_movielens

        return load_movielens(args.data)
    from widedeep_core.data.synthetic import make_synthetic

    return make_synthetic(6040, 3706, 1_000_209, seed=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="MovieLens folder (default: ML-1M-size synthetic data)")
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers of the baseline")
    p.add_argument("--big-batch", type=int, default=4096, help="the batch size we recommend")
    p.add_argument(
        "--max-batches", type=int, default=None, help="cap the baseline epoch (extrapolated)"
    )
    p.add_argument(
        "--presets", default="full", help="presets whose epoch at their own batch is also timed"
    )
    p.add_argument("--skip-reference", action="store_true", help="only the presets' epochs")
    p.add_argument(
        "--side-fields",
        action="store_true",
        help="the side-field paths' cost: full's fields and crosses with a small MLP "
        "against reference, both at the big batch",
    )
    add_device_argument(p)
    p.add_argument("--amp", action="store_true", help="our epochs with mixed precision")
    args = p.parse_args(argv)
    device = check_device(args.device)
    # our epochs run here; the reference-style pipeline always runs on the CPU, as the
    # seed's did
    run = {"device": args.device, "amp": args.amp}
    apply_thread_share()
    data = load_data(args)
    print(machine_line(device) + (" (AMP)" if args.amp else ""))
    print(f"data: {data.name} ({data.n_ratings:,} ratings, 80% train)")
    if not args.skip_reference:
        rows = []
        for bs in (512, args.big_batch):
            ref, ref_cpu = reference_epoch(data, bs, args.workers, args.max_batches)
            plain, plain_cpu = our_epoch(data, bs, fused=False, **run)
            ours, ours_cpu = our_epoch(data, bs, **run)
            rows.append((bs, ref, plain, ours, ref_cpu, plain_cpu, ours_cpu))
        print("seconds per epoch, wall (CPU: user + system, DataLoader workers included)")
        print(f"{'batch':>6} {'reference':>16} {'autograd step':>16} {'ours':>16} "
              f"{'speed-up wall':>14} {'CPU':>6}")  # fmt: skip
        for bs, ref, plain, ours, ref_cpu, plain_cpu, ours_cpu in rows:
            print(f"{bs:>6} {ref:>7.2f} ({ref_cpu:>6.2f}) {plain:>7.2f} ({plain_cpu:>6.2f}) "
                  f"{ours:>7.2f} ({ours_cpu:>6.2f}) {ref / ours:>13.1f}x "
                  f"{ref_cpu / ours_cpu:>5.1f}x")  # fmt: skip
        ref_512, ours_big = rows[0][1], rows[-1][3]
        print(
            f"ours at batch {args.big_batch} against the reference at its batch 512: "
            f"{ref_512 / ours_big:.1f}x"
        )
        print(
            f"(reference: per-sample Dataset + DataLoader({args.workers} workers) at the same "
            "batch size, loss.item() each step and a validation AUC pass, as pytorch-fm's "
            "main.py; autograd step: our trainer with the autograd step instead of the fused "
            "one; ours: the trainer's epoch incl. validation scoring)"
        )
    for name in [n for n in args.presets.split(",") if n]:
        bs = preset(name).batch_size
        plain, plain_cpu = our_epoch(data, bs, name=name, fused=False, **run)
        flat, flat_cpu = our_epoch(data, bs, name=name, project=False, **run)
        ours, ours_cpu = our_epoch(data, bs, name=name, **run)
        floor = mlp_floor(data, name, device=args.device)
        print(
            f"{name} at batch {bs}: autograd step {plain:.2f} s/epoch ({plain_cpu:.2f} CPU), "
            f"fused step without projection {flat:.2f} ({flat_cpu:.2f} CPU), "
            f"fused step {ours:.2f} ({ours_cpu:.2f} CPU): {plain / ours:.2f}x wall and "
            f"{plain_cpu / ours_cpu:.2f}x CPU over autograd, {flat / ours:.2f}x wall over "
            f"no projection; its MLP alone (fwd+bwd, unprojected) {floor:.2f} s/epoch "
            f"= {floor / ours:.0%} of the epoch"
        )
    if args.side_fields:
        side_fields(data, args.big_batch, **run)
    print("rerun: python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    run_main(lambda: main())
