"""Two trainings at once against one alone, with and without the per-process core share.

Each training is a separate ``python`` process training the ``reference`` preset for
one epoch on ML-1M-size synthetic data. "oversubscribed" gives every process one
thread per core (torch's default before threads.py); "shared" lets each process take
its share (``threads.CoreShare``: cores // trainings running).

    python benchmarks/bench_concurrency.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import machine_line, rerun_line, run_main

CHILD = """
import sys, time
from widedeep_core.config import preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.training import EpochEvent, Trainer
data = make_synthetic(6040, 3706, 1_000_209, seed=0)
cfg = preset(sys.argv[1]).replace(epochs=1, device="cpu")
seconds = []
Trainer(cfg, data,
        callback=lambda e: seconds.append(e.seconds) if isinstance(e, EpochEvent) else None).fit()
print(f"EPOCH {seconds[0]:.3f}")
"""


def run_group(n: int, preset: str, threads: int | None) -> list[float]:
    """Start ``n`` trainings together; the epoch seconds each reports."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if threads is None:
        env.pop("WIDEDEEP_THREADS", None)
    else:
        env["WIDEDEEP_THREADS"] = str(threads)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, preset], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    out = []
    for p in procs:
        text, _ = p.communicate()
        out += [float(line.split()[1]) for line in text.splitlines() if line.startswith("EPOCH")]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="reference")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    print(machine_line())
    t = time.perf_counter()
    alone = run_group(1, args.preset, None)
    shared = run_group(2, args.preset, None)
    over = run_group(2, args.preset, cores)
    print(f"{args.preset}, one epoch each (s); {time.perf_counter() - t:.0f} s in all")
    print(f"one training alone ({cores} threads):       {alone[0]:.2f}")
    print(f"two at once, shared cores (cores // 2):    {max(shared):.2f}  "
          f"({max(shared) / alone[0]:.2f}x the single epoch)")  # fmt: skip
    print(f"two at once, {cores} threads each (old):     {max(over):.2f}  "
          f"({max(over) / alone[0]:.2f}x the single epoch)")  # fmt: skip
    print(rerun_line(__file__, argv))
    return 0


if __name__ == "__main__":
    run_main(lambda: main())
