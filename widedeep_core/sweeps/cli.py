"""``widedeep sweep`` (run or resume a study) and ``widedeep sweep show STUDY``.

``sweep`` takes its options directly and has one optional sub-command, ``show``: argparse
leaves the sub-command empty when only options are given, so both spellings parse.
Nothing here imports Optuna or torch until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from widedeep_core.errors import ConfigError, SweepError

EXIT_INTERRUPTED = 130


def add_parsers(subparsers: Any) -> None:
    """Add ``sweep`` and ``sweep show`` to the ``widedeep`` sub-command parsers."""
    from widedeep_core.config.presets import DEFAULT_PRESET, preset_help

    s = subparsers.add_parser(
        "sweep",
        help="search hyperparameters with Optuna; 'sweep show STUDY' lists a study",
        description="Run (or resume) an Optuna study whose trials are normal runs.",
        epilog="example: widedeep sweep --data ml-100k --preset full "
        "--space 'lr=1e-4..1e-2:log' --space 'hidden=64,32|256,128' --trials 20 --workers 2",
    )
    s.add_argument("--data", help="MovieLens folder or official zip")
    s.add_argument("--preset", default=DEFAULT_PRESET, help=preset_help())
    s.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="fix a field for every trial"
    )
    s.add_argument(
        "--space",
        action="append",
        metavar="FIELD=LOW..HIGH[:log]|FIELD=A|B",
        help="a searched field: a range (maybe on a log scale) or choices; repeat per field",
    )
    s.add_argument("--trials", type=int, default=None, help="trials the study should hold")
    s.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument("--timeout", type=float, default=None, help="stop starting trials after S s")
    _storage_args(s)
    s.add_argument("--study", default=None, help="study name (default: derived from the set-up)")
    s.add_argument(
        "--metric",
        default=None,
        help="objective: val_auc, val_logloss, val_ndcg, ... (default: the preset's monitor)",
    )
    s.add_argument("--pruner", default="median", help="median (default), hyperband or none")
    s.add_argument("--seed", type=int, default=0, help="seed of the TPE sampler")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_sweep)

    sub = s.add_subparsers(dest="sweep_command", metavar="{show,list}")
    show = sub.add_parser("show", help="the trials and the best configuration of a study")
    show.add_argument("study_name", metavar="STUDY")
    _storage_args(show)
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    show.set_defaults(func=cmd_sweep_show)
    listing = sub.add_parser("list", help="the studies in a storage, with their trials and best")
    _storage_args(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON list on stdout")
    listing.set_defaults(func=cmd_sweep_list)


def _storage_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        default=None,
        help="SQLAlchemy URL or SQLite file (default: sweeps.db in the runs folder)",
    )
    parser.add_argument("--runs-dir", default=None, help="where runs (and the default db) live")


def _print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, default=str) + "\n")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run or resume a study; print its table (or JSON) at the end."""
    from widedeep_core.config import (
        adapt_to_data,
        fields_available,
        from_strings,
        parse_assignments,
        preset,
    )
    from widedeep_core.data import load_movielens

    from . import (
        SweepSpec,
        default_study_name,
        format_summary,
        metric_direction,
        normalize_url,
        parse_space,
        run_sweep,
        study_summary,
        validate_space,
    )
    from .study import make_pruner, validate_study_name

    if not args.data:
        raise ConfigError("--data", "a sweep needs the data folder (or 'sweep show STUDY')")
    # everything that can be checked without data is checked before loading it
    if args.study is not None:
        validate_study_name(args.study)
    space = parse_space(args.space or [])
    if args.metric is None:  # what the preset picks its best epoch by
        from widedeep_core.monitors import config_monitor

        args.metric = config_monitor(preset(args.preset)).column
    metric_direction(args.metric)
    make_pruner(args.pruner, 1)
    base = from_strings(preset(args.preset), parse_assignments(args.set or []))
    data = load_movielens(args.data)
    base, notes = adapt_to_data(base, fields_available(data))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    validate_space(space, base, fields_available(data))
    url = normalize_url(args.storage, args.runs_dir)
    spec = SweepSpec(
        study=args.study or default_study_name(space, base, args.metric, data.name),
        storage=url,
        space=space,
        base=base,
        data_path=str(args.data),
        data_fingerprint=data.fingerprint,
        runs_dir=args.runs_dir,
        metric=args.metric,
        pruner=args.pruner,
        seed=args.seed,
    )
    progress = _Progress(spec, args.trials, quiet=args.quiet)
    try:
        outcome = run_sweep(
            spec,
            data,
            n_trials=args.trials,
            timeout=args.timeout,
            workers=args.workers,
            on_trial=progress.trial,
            on_start=progress.start,
            on_note=progress.note,
        )
    finally:
        progress.close()
    summary = study_summary(outcome.study, url)
    if outcome.stopped:  # Ctrl-C or a stop: one line, as ``train`` says it
        print(
            f"widedeep: interrupted; study {spec.study} keeps its trials (the one in flight "
            f"is marked stopped); rerun the same command to resume, or "
            f"'widedeep sweep show {spec.study}'",
            file=sys.stderr,
        )
        if args.json:
            _print_json(summary)
        return EXIT_INTERRUPTED
    if args.json:
        _print_json(summary)
    else:
        print(format_summary(summary, data_hint=str(args.data)))
    _check_lost_workers(outcome, spec.study, args.trials, summary)
    return 0


def _check_lost_workers(outcome: Any, study: str, n_trials: int | None, summary: Any) -> None:
    """A killed worker process: exit non-zero when the study was left short of its trials.

    Its trial is marked failed and not run again by this command (the shared budget had
    given it out). When every trial asked for still ended (the worker died between two
    trials), the note printed during the run is all, and the exit status is 0.
    """
    if not outcome.lost_workers:
        return
    counts = summary["counts"]
    done = counts.get("complete", 0) + counts.get("pruned", 0)
    if n_trials is not None and done >= n_trials:
        return
    held = f"{done} of {n_trials}" if n_trials is not None else f"{done}"
    raise SweepError(
        f"worker {'; '.join(outcome.lost_workers)} ended without finishing; study {study} "
        f"holds {held} finished trial(s): rerun the same command to run the missing ones"
    )


class _Progress:
    """A tqdm bar over the trials this command runs, with the best value so far."""

    def __init__(self, spec: Any, n_trials: int | None, quiet: bool):
        self.spec = spec
        self.quiet = quiet
        self.bar: Any = None
        self.best: float | None = None
        self.maximize = spec.direction == "maximize"
        self.counts: dict[str, int] = {}

    def start(self, left: int | None, recovered: list[int]) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        from . import display_url

        for number in recovered:
            note = f"note: trial {number} was left running by a dead worker: marked failed"
            print(note, file=sys.stderr)
        print(
            f"study {self.spec.study} in {display_url(self.spec.storage)}: "
            + (f"{left} trial(s) to run" if left is not None else "until the time limit"),
            file=sys.stderr,
        )
        self.bar = tqdm(
            total=left, desc=f"sweep {self.spec.study}", unit="trial", file=sys.stderr,
            dynamic_ncols=True,
        )  # fmt: skip

    def note(self, text: str) -> None:
        """A note (workers capped, a worker killed): printed even with ``--quiet``."""
        line = f"note: {text}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def trial(self, message: dict[str, Any]) -> None:
        state = message["state"]
        self.counts[state] = self.counts.get(state, 0) + 1
        value = message.get("value")
        if state == "complete" and value is not None:
            pick = max if self.maximize else min
            self.best = value if self.best is None else pick(self.best, value)
        if self.bar is not None:
            self.bar.update(1)
            post: dict[str, Any] = dict(self.counts)
            if self.best is not None:
                post["best"] = f"{self.best:.4f}"
            self.bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_sweep_list(args: argparse.Namespace) -> int:
    """Every study in a storage: its metric, trials by state and best value."""
    from . import display_url, normalize_url, study_list

    url = normalize_url(args.storage, args.runs_dir)
    rows = study_list(url)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no studies in {display_url(url)}")
        return 0
    print(f"studies in {display_url(url)}:")
    for r in rows:
        best = f"{r['best']:.4f}" if isinstance(r["best"], (int, float)) else "-"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(r["states"].items())) or "no trials"
        kind = "" if r["widedeep"] else "  (not a widedeep study)"
        print(f"  {r['study']}  {r['metric'] or '-'}  best {best}  {counts}{kind}")
    return 0


def cmd_sweep_show(args: argparse.Namespace) -> int:
    """Print a study's trials and its best configuration."""
    from . import format_summary, load_study, normalize_url, study_summary

    url = normalize_url(args.storage, args.runs_dir)
    summary = study_summary(load_study(args.study_name, url), url)
    if not summary["widedeep"]:
        print(
            f"note: study {args.study_name} is not a widedeep study (no recorded search "
            "space): showing its trials only",
            file=sys.stderr,
        )
    if args.json:
        _print_json(summary)
    else:
        data = summary.get("data_path") or "PATH"
        print(format_summary(summary, data_hint=data))
    return 0
