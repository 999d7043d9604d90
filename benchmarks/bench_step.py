"""Training steps of one preset, variants interleaved in one process: the autograd step,
the fused step without its projected first layer, and the fused step as the trainer runs it.

On a VM whose speed moves by 20-40% within minutes, epochs timed one after another
mislead; here each variant runs a block of steps in turn, round after round, on the same
batches, and the table gives the median and range of the per-round ratios.

    python benchmarks/bench_step.py --preset full                 # batch 1024, 2 threads
    python benchmarks/bench_step.py --preset reference --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import (
    add_device_argument,
    check_device,
    format_table,
    machine_line,
    rerun_line,
    run_main,
)

from widedeep_core.config import preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.features import prepare
from widedeep_core.model import WideDeep
from widedeep_core.training.fastpath import FusedStep, make_train_step
from widedeep_core.training.optim import build_optimizers

VARIANTS = {
    "autograd step": {"fused": False},
    "fused, no projection": {"batch_size": None},
    "fused (trainer's)": {},
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="full")
    p.add_argument("--batch", type=int, default=None, help="default: the preset's")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: as set)")
    p.add_argument("--steps", type=int, default=20, help="steps per block")
    p.add_argument("--rounds", type=int, default=10)
    add_device_argument(p)
    args = p.parse_args(argv)
    device = check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = preset(args.preset).replace(device=args.device)
    bs = args.batch or cfg.batch_size
    data = make_synthetic(6040, 3706, 1_000_209, seed=0)
    print(machine_line(device))
    prep = prepare(cfg, data)
    x, y = prep.encoded("train")
    steps = {}
    for name, options in VARIANTS.items():
        torch.manual_seed(0)
        model = WideDeep.from_config(cfg, prep.encoder.specs).to(device).train()
        kwargs = {"batch_size": bs, **options}
        steps[name] = make_train_step(model, build_optimizers(model, cfg), **kwargs)
    projected = getattr(steps["fused (trainer's)"], "first", None)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    batches = [
        (x.take(perm[i * bs : (i + 1) * bs]).to(device), y[perm[i * bs : (i + 1) * bs]].to(device))
        for i in range(args.steps)
    ]
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for step in steps.values():  # warm-up
        for xb, yb in batches[:3]:
            step(xb, yb)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            for xb, yb in batches:
                step(xb, yb)
            sync()
            times[name].append((time.perf_counter() - start) / len(batches))
    base = times["autograd step"]
    rows = []
    for name, t in times.items():
        ratios = [a / b for a, b in zip(base, t, strict=True)]
        rows.append(
            (
                name,
                f"{statistics.median(t) * 1e3:.2f}",
                f"{min(t) * 1e3:.2f}",
                f"{statistics.median(ratios):.2f}x",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
                f"{statistics.median(t) * 0.8 * data.n_ratings / bs:.2f}",
            )
        )
    print(
        f"preset {args.preset}, batch {bs}, {torch.get_num_threads()} threads; "
        f"{args.rounds} rounds of {args.steps} steps per variant; projected fields: "
        f"{', '.join(projected.projected) if projected is not None else 'none'}"
    )
    headers = ("step", "median ms", "best ms", "autograd / this", "range", "epoch s (est.)")
    print(format_table(headers, rows))
    if not isinstance(steps["fused (trainer's)"], FusedStep):
        print("(this preset's optimiser or layers take the autograd step: no fused rows)")
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(lambda: main())
