"""Helpers shared by the benchmark scripts: machine line, tables, peak RSS, the rerun line.

Scripts import this as ``from _common import ...``: Python puts the script's own folder
on ``sys.path``, so ``python benchmarks/bench_x.py`` works from any directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from widedeep_core.config import Config, from_strings, parse_assignments, preset
from widedeep_core.devices import resolve_device
from widedeep_core.errors import WideDeepError

T = TypeVar("T")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cuda_cards() -> list[str]:
    """Names of the CUDA GPUs this PyTorch build can use (empty without CUDA)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def machine_line(device: str = "cpu") -> str:
    """One line naming what the figures come from: cores, CPU, torch, threads, GPU, device."""
    cards = cuda_cards()
    gpu = ", ".join(cards) if cards else "none"
    return (
        f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; CUDA: {gpu}; "
        f"device used: {device}"
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rerun_line(script: str, argv: Sequence[str] | None) -> str:
    """The exact command that reruns ``script`` with the same arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    return "rerun: " + shlex.join(["python", f"benchmarks/{Path(script).name}", *args])


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: text left-aligned, numbers (already formatted) right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = _numeric_columns(len(headers), cells)

    def line(items: Sequence[str]) -> str:
        parts = [
            s.rjust(w) if num else s.ljust(w)
            for s, w, num in zip(items, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table of the same cells."""
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    numeric = _numeric_columns(len(headers), cells)
    out = ["| " + " | ".join(headers) + " |"]
    out.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)


def _numeric_columns(n: int, cells: list[list[str]]) -> list[bool]:
    """Which columns hold only numbers (right-aligned)."""
    return [bool(cells) and all(_looks_numeric(r[i]) for r in cells) for i in range(n)]


def _looks_numeric(text: str) -> bool:
    """True for cells like '0.812', '12.3 s', '4.1x', '0.80 ± 0.01', 'n/a', '-'."""
    head = text.strip().split(" ")[0].rstrip("x%")
    if head in ("", "-", "n/a"):
        return True
    try:
        float(head.replace(",", ""))
    except ValueError:
        return False
    return True


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    vals = [float(v) for v in values]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def parse_list(text: str, convert: Callable[[str], T]) -> list[T]:
    """Split a comma-separated option value; a bad item is an argparse error naming it."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    try:
        return [convert(item) for item in items]
    except (ValueError, WideDeepError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--device`` option every script takes (cpu unless asked)."""
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")


def check_device(spec: str) -> str:
    """Resolve ``--device`` now, so an absent GPU fails before any work; returns its name."""
    return str(resolve_device(spec))


def build_config(name: str, sets: Sequence[str], **fixed: object) -> Config:
    """A preset with ``--set KEY=VALUE`` overrides applied, then the benchmark's own values."""
    cfg = from_strings(preset(name), parse_assignments(sets))
    return cfg.replace(**fixed) if fixed else cfg


def run_main(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s status; a domain error prints one line and exits 1."""
    try:
        code = main()
    except WideDeepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)


def fmt_seconds(value: float | None) -> str:
    """Seconds with sensible precision; None as 'n/a'."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"
