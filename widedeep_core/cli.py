"""The ``widedeep`` command line: the core's jobs without a window.

Every failure exits non-zero with one line on stderr (a traceback only with --debug).
With --json exactly one JSON object (or list, for ``runs``) goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from widedeep_core.config.seeds import parse_seeds, seed_run, set_name
from widedeep_core.constants import DEFAULT_EXCLUDE, EXCLUDE_RULES, LAYOUTS, RELEASES
from widedeep_core.errors import ConfigError, DataError, WideDeepError
from widedeep_core.monitors import config_monitor
from widedeep_core.sweeps.cli import add_parsers as add_sweep_parsers

from . import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `cmd | head`
EXIT_TERMINATED = 143  # 128 + SIGTERM: `timeout`, `kill`, a scheduler ending the job


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwound like Ctrl-C, so that a half-written export's temp file is
    removed and a training run is stored as interrupted, instead of the process vanishing
    with both left behind."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _print_json(obj: Any) -> None:
    from widedeep_core.fileio import dumps

    sys.stdout.write(dumps(obj, indent=None) + "\n")


def _load(path: str):
    from widedeep_core.data import load_movielens

    return load_movielens(path)


# ---------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> int:
    """Layout, counts, rating histogram and problems of a data folder."""
    from widedeep_core.data import summarize

    data = _load(args.path)
    summary = summarize(data).to_dict()
    summary.update(layout=data.layout, path=str(data.source), fingerprint=data.fingerprint)
    if args.json:
        _print_json(summary)
        return 0
    print(f"{data.name}: layout {data.layout}, fingerprint {data.fingerprint[:12]}")
    for key in ("n_ratings", "n_users", "n_movies"):
        if key in summary:
            print(f"  {key.replace('n_', ''):<10} {summary[key]:,}")
    if "sparsity" in summary:
        print(f"  {'sparsity':<10} {summary['sparsity']:.2%}")
    hist = summary.get("rating_histogram") or {}
    if hist:
        print("  histogram " + "  ".join(f"{k}: {v:,}" for k, v in hist.items()))
    problems = summary.get("problems") or []
    print(f"  problems  {len(problems) if problems else 'none'}")
    for p in problems:
        if isinstance(p, str):
            print(f"    - {p}")
            continue
        where = p.get("path") or ""
        if where and p.get("line"):
            where += f", line {p['line']}"
        print(f"    - {where + ': ' if where else ''}{p.get('message', p)}")
    return 0


def _config_from_args(args: argparse.Namespace, data) -> tuple[Any, list[str]]:
    from widedeep_core.config import (
        adapt_to_data,
        check_strings,
        fields_available,
        parse_assignments,
        preset,
    )
    from widedeep_core.errors import ConfigError

    cfg, errors = check_strings(preset(args.preset), parse_assignments(args.set or []))
    if errors:  # every bad setting at once, on one line
        (first, reason), *rest = errors.items()
        raise ConfigError(first, "; ".join([reason, *(f"{k}: {m}" for k, m in rest)]))
    assert cfg is not None  # no errors: a config
    return adapt_to_data(cfg, fields_available(data))


def cmd_train(args: argparse.Namespace) -> int:
    """Train a preset (with overrides) on a data folder and store the run (one per seed)."""
    if getattr(args, "resume", None):
        return _resume(args)
    if not args.data:
        raise DataError("train: give --data FOLDER (or --resume RUN to continue a run)")
    seeds = parse_seeds(args.seeds) if getattr(args, "seeds", None) else None
    data = _load(args.data)
    cfg, notes = _config_from_args(args, data)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if seeds is None:
        return _train_one(args, data, cfg)
    summaries: list[dict[str, Any]] = []
    for seed in seeds:
        # the name says the seed: the runs of a set are told apart in every list
        one = seed_run(cfg, seed)
        if not args.quiet:
            print(f"seed {seed} ({len(summaries) + 1} of {len(seeds)})", file=sys.stderr)
        code = _train_one(args, data, one, summaries)
        if code:
            return code
    if args.json:
        _print_json({"seeds": seeds, "runs": summaries})
    return 0


def _resume(args: argparse.Namespace) -> int:
    """``train --resume RUN``: the run's own settings, its data (or --data), its folder."""
    from widedeep_core.api import resume_trainer
    from widedeep_core.runs import RunStore

    if args.set or args.seeds:
        raise ConfigError("--resume", "a resumed run keeps its own settings: drop --set/--seeds")
    run = RunStore(args.runs_dir).get(args.resume)
    data = _load(args.data) if args.data else None
    cfg = run.read_config()

    def make(callback: Any) -> Any:
        trainer = resume_trainer(run, data, callback=callback)
        if not args.quiet:
            after = trainer.resume["epoch"] if trainer.resume else "?"
            print(f"resuming {run.id} after epoch {after} of {cfg.epochs}", file=sys.stderr)
        return trainer

    return _train_one(args, data, cfg, make=make)


def _train_one(
    args: argparse.Namespace, data, cfg, collect: list | None = None, make: Any = None
) -> int:
    """Train one configuration; its summary is printed, or kept in ``collect`` (--seeds).
    ``make(callback)`` builds the trainer (a resumed run's); default: a new run."""
    from widedeep_core.api import make_trainer
    from widedeep_core.training import (
        BatchEvent,
        EpochEvent,
        EvaluatingEvent,
        StartedEvent,
    )

    bar = None
    quiet = args.quiet

    def on_event(event: object) -> None:
        nonlocal bar
        if quiet:
            return
        from tqdm import tqdm

        if isinstance(event, BatchEvent):
            if bar is None:
                bar = tqdm(
                    total=event.n_batches,
                    desc=f"epoch {event.epoch}/{cfg.epochs}",
                    unit="batch",
                    file=sys.stderr,
                    leave=False,
                    dynamic_ncols=True,
                )
            bar.update(event.batch - bar.n)
            bar.set_postfix(loss=f"{event.loss:.4f}", refresh=False)
        elif isinstance(event, EpochEvent):
            if bar is not None:
                bar.close()
                bar = None
            print(_epoch_line(event), file=sys.stderr)
        elif isinstance(event, StartedEvent):
            print(f"training on {event.device}", file=sys.stderr)
        elif isinstance(event, EvaluatingEvent):
            print(f"evaluating the {event.split} split (model and baselines)", file=sys.stderr)

    if make is not None:
        trainer = make(on_event)
        data = trainer.data
    else:
        trainer = make_trainer(cfg, data, runs_dir=args.runs_dir, callback=on_event)
    if not quiet:
        print(f"preparing {data.name} for preset {cfg.preset}", file=sys.stderr)
    try:
        result = trainer.fit()
    except KeyboardInterrupt as exc:
        return _interrupted(trainer, exc)
    finally:
        if bar is not None:
            bar.close()
    summary = result.summary()
    summary["preset"] = cfg.preset
    if collect is not None:
        summary["seed"] = cfg.seed
        collect.append(summary)
    if args.json and collect is None:
        _print_json(summary)
    elif args.json:
        pass  # every seed's summary goes out at the end, as one object
    else:
        print(f"run {result.status}: {result.run_dir}")
        monitor = config_monitor(cfg)
        print(
            f"  epochs {result.epochs_run}, best {result.best_epoch} by {monitor.label} "
            f"{monitor.format(result.best_value)}, {result.train_seconds:.1f} s"
        )
        print("  test " + _format_metrics(result.test))
        _print_comparison(result.test)
    return 0


def _epoch_line(event) -> str:
    """One epoch on stderr: loss, validation AUC and log loss, the monitored metric, best."""
    from widedeep_core.monitors import monitor_of

    v = event.val
    monitor = monitor_of(event.monitor, _k_of(v))
    extra = ""
    if monitor.metric not in ("auc", "logloss"):
        extra = f"  {monitor.metric} {v[monitor.metric]:.4f}"
    return (
        f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f}  "
        f"val auc {v['auc']:.4f}  logloss {v['logloss']:.4f}{extra}  "
        f"best {event.best_epoch} ({monitor.label} {monitor.format(event.best_value)})  "
        f"({event.seconds:.1f} s)"
    )


def _k_of(val: dict[str, float]) -> int:
    """The K of an epoch's ndcg@K, 10 when it has none."""
    for key in val:
        if key.startswith("ndcg@"):
            return int(key.split("@", 1)[1])
    return 10


def _interrupted(trainer, exc: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM during training: say where the run was kept (as interrupted)."""
    run = trainer.run
    where = f"; the run is kept as interrupted in {run.path}" if run is not None else ""
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    print(f"widedeep: {word}{where}", file=sys.stderr)
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _format_metrics(metrics: dict[str, Any]) -> str:
    from widedeep_core.runs.compare import scalar_metrics

    return "  ".join(
        f"{k} {v:.4f}" if isinstance(v, float) and k != "ranking_users" else f"{k} {v:g}"
        for k, v in scalar_metrics(metrics).items()
    )


def _print_comparison(metrics: dict[str, Any]) -> None:
    """The model beside popularity and EASE^R at K, as an aligned table (if any)."""
    from widedeep_core.runs.compare import format_comparison

    table = format_comparison(metrics)
    if table:
        print("  " + table.replace("\n", "\n  "))


def _run_of(args: argparse.Namespace):
    """The run that ``args.run_dir`` names: an id as ``widedeep runs`` prints it, or a path."""
    from widedeep_core.runs import RunStore

    return RunStore(getattr(args, "runs_dir", None)).get(args.run_dir)


def _data_for_run(args: argparse.Namespace):
    return _load(args.data) if getattr(args, "data", None) else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Test metrics of a stored run, ranking metrics included."""
    from widedeep_core.api import evaluate_run

    metrics = evaluate_run(_run_of(args), _data_for_run(args), part=args.part)
    if args.json:
        _print_json({"run_dir": args.run_dir, "part": args.part, **metrics})
    else:
        from widedeep_core.runs.compare import scalar_metrics

        print(f"{args.part} metrics of {args.run_dir}:")
        for key, value in scalar_metrics(metrics).items():
            print(
                f"  {key:<14} {value:.4f}" if key != "ranking_users" else f"  {key:<14} {value:g}"
            )
        _print_comparison(metrics)
    return 0


# Tables too long to print whole; --output and --json carry every row.
DIAGNOSE_LONG_TABLES = ("per_user", "embedding_map")


def cmd_diagnose(args: argparse.Namespace) -> int:
    """Every diagnostic of a stored run (issue 21), optionally beside a second run."""
    from widedeep_core.diagnostics.report import compare, diagnose, frame_to_json
    from widedeep_core.runs import RunStore

    data = _data_for_run(args)
    diag_args = {"part": args.part, "permutation": not args.skip_permutation}
    diagnosis = diagnose(_run_of(args), data, **diag_args)
    other = compared = None
    if args.compare:
        other_run = RunStore(getattr(args, "runs_dir", None)).get(args.compare)
        other = diagnose(other_run, data, **diag_args)
        compared = compare(diagnosis, other)
    if args.output:
        _write_diagnosis(args.output, diagnosis, other, compared)
    if args.json:
        out: dict[str, Any] = {"diagnosis": diagnosis.to_dict()}
        if other is not None and compared is not None:
            out["compare_with"] = other.to_dict()
            out["compare"] = frame_to_json(compared)
        _print_json(out)
        return 0
    _print_diagnosis(diagnosis)
    if other is not None and compared is not None:
        print(f"\n{other.name} (B) minus {diagnosis.name} (A), per user, 95% paired bootstrap:")
        print(_indent(compared.to_string(index=False, float_format="%.4f")))
    return 0


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def _print_diagnosis(d) -> None:
    print(f"diagnostics of {d.name} ({d.run}) on its {d.part} split, protocol {d.protocol}:")
    for key, value in d.values.items():
        shown = ", ".join(f"{v:.4f}" for v in value) if isinstance(value, list) else value
        print(f"  {key:<18} {shown:.4f}" if isinstance(shown, float) else f"  {key:<18} {shown}")
    for note in d.notes:
        print(f"  note: {note}")
    for name, table in d.tables.items():
        if name in DIAGNOSE_LONG_TABLES:
            print(f"\n{name}: {len(table)} rows (--output DIR or --json for every row)")
            continue
        print(f"\n{name}:")
        print(_indent(table.to_string(index=False, float_format="%.4f")))


def _write_diagnosis(folder: str, d, other, compared) -> None:
    """Every table as CSV in ``folder``; PNG plots would need matplotlib, which is not a
    dependency of the core (the app draws the plots with pyqtgraph)."""
    from pathlib import Path

    from widedeep_core.fileio import write_failure, write_output_text

    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(write_failure(exc, root)) from None
    frames = {f"{name}.csv": t for name, t in d.tables.items()}
    if other is not None:
        frames.update({f"b_{name}.csv": t for name, t in other.tables.items()})
        frames["compare.csv"] = compared
    for name, frame in frames.items():
        text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
        write_output_text(root / name, text)
    print(
        f"{folder}: {len(frames)} CSV files (no PNG plots: matplotlib is not installed with "
        "widedeep; the app's Diagnose page exports them)",
        file=sys.stderr,
    )


def cmd_recommend(args: argparse.Namespace) -> int:
    """Top-N unseen movies for one user."""
    from widedeep_core.api import open_recommender

    if args.all_users == (args.user is not None):
        raise DataError("give either --user ID or --all-users")
    rec = open_recommender(_run_of(args), _data_for_run(args))
    _check_list_length(rec, args.n)
    if args.all_users:
        return _recommend_all(args, rec)
    table = rec.recommend(args.user, args.n, genre=args.genre, exclude=args.exclude)
    _print_fallback(table)
    if args.json:
        rows = table.to_dict(orient="records")
        for row in rows:
            row["genres"] = list(row["genres"]) if isinstance(row["genres"], tuple) else []
        _print_json(
            {"run_dir": args.run_dir, "user": args.user, "exclude": args.exclude, "items": rows}
        )
        return 0
    print(f"top {len(table)} for user {args.user} (leaving out {EXCLUDE_RULES[args.exclude]}):")
    for row in table.itertuples():
        year = ""  # MovieLens titles carry the year; show it only when they do not
        if row.year == row.year and f"({int(row.year)})" not in str(row.title):
            year = f" [{int(row.year)}]"
        genres = "|".join(row.genres) if isinstance(row.genres, tuple) else ""
        print(
            f"{row.rank:>3}. {_printable(row.title)}{year}  p={row.probability:.3f} "
            f"(wide {row.wide_logit:+.2f}, deep {row.deep_logit:+.2f})  {_printable(genres)}"
        )
    return 0


# C0 and C1 control characters (ESC included): a title or a run name holding them would
# move the cursor or recolour the terminal when printed as it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: object) -> str:
    """``text`` with its control characters shown as escapes (``\\x1b``), never sent raw."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def _check_list_length(rec, n: int) -> None:
    """K must fit the catalogue: a longer list would pad with movies that cannot be ranked."""
    from widedeep_core.data.index import catalogue

    n_movies = len(catalogue(rec.data))
    if n > n_movies:
        raise DataError(f"-n {n} is larger than the catalogue ({n_movies} movies)")


def _print_fallback(table) -> None:
    """The recommender's one-line reason when it fell back to popularity (stderr)."""
    note = getattr(table, "attrs", {}).get("fallback")
    if note:
        print(f"note: {note}", file=sys.stderr)


def _recommend_all(args: argparse.Namespace, rec) -> int:
    """``recommend --all-users``: user,rank,item,score for every user, as CSV."""
    if args.genre:
        raise DataError("--genre is not available with --all-users (the lists are unfiltered)")
    from widedeep_core.fileio import write_output_chunks

    total = len(rec.users)
    print(f"ranking every movie for {total:,} users", file=sys.stderr)
    bar = None
    if not getattr(args, "quiet", False) and args.output not in (None, "-"):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="user", file=sys.stderr, leave=False, dynamic_ncols=True)
    rows = -1  # the header is a line too

    def progress(done: int, _total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    def chunks():  # the CSV a block of users at a time: never the whole table in memory
        nonlocal rows
        for chunk in rec.iter_all_users_csv(args.n, exclude=args.exclude, progress=progress):
            rows += chunk.count("\n")
            yield chunk

    try:
        if args.output in (None, "-"):
            for chunk in chunks():
                sys.stdout.write(chunk)
        else:
            write_output_chunks(args.output, chunks())
    finally:
        if bar is not None:
            bar.close()
    note = rec.cold_note()
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"note: each list leaves out {EXCLUDE_RULES[args.exclude]}", file=sys.stderr)
    if args.output not in (None, "-"):
        print(f"{args.output}: {rows} rows", file=sys.stderr)
    return 0


def _write_csv(frame, output: str | None) -> None:
    """A frame as CSV: to ``output`` atomically, or to stdout without one."""
    from widedeep_core.fileio import write_output_text

    text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    write_output_text(output, text)
    print(f"{output}: {len(frame)} rows", file=sys.stderr)


SPLIT_PARTS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


def cmd_split(args: argparse.Namespace) -> int:
    """A run's train, validation or test ratings (original ids), recomputed and hash-checked."""
    from widedeep_core.serving.loading import load_trained

    part = SPLIT_PARTS.get(args.part)
    if part is None:
        raise DataError(f"unknown part {args.part!r}; choose train, valid or test")
    prep = load_trained(_run_of(args), _data_for_run(args)).prepared()
    rows = getattr(prep.split, part)
    ratings = prep.data.ratings.iloc[rows][["user", "item", "rating"]]
    _write_csv(ratings, args.output)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """List the stored runs, newest first (filtered; seed sets folded with --group seed)."""
    from widedeep_core.runs import RunStore
    from widedeep_core.runs.filters import parse_filter
    from widedeep_core.runs.table import run_values

    store = RunStore(args.runs_dir)
    infos = store.list()
    if getattr(args, "filter", None):
        parsed = parse_filter(args.filter)
        if parsed.error:
            raise DataError(parsed.error)
        infos = [i for i in infos if parsed.matches(run_values(i), i.tags)]
    if getattr(args, "group", None) == "seed":
        return _runs_by_seed(args, infos, store)
    if args.json:
        _print_json([_run_json(i) for i in infos])
        return 0
    if not infos:
        print(f"no runs in {store.root}")
        return 0
    from widedeep_core.monitors import monitor_of

    for i in infos:
        auc = f"{i.test_auc:.4f}" if i.test_auc is not None else "-"
        monitor = monitor_of(i.monitor)
        ndcg = i.test_metrics.get("ndcg@10")
        ndcg = f"{ndcg:.4f}" if isinstance(ndcg, (int, float)) else "-"
        tags = f"  [{', '.join(i.user_tags)}]" if i.user_tags else ""
        print(
            f"{i.id}  {i.status:<11} {i.preset or '-':<10} {i.protocol or '-':<15} "
            f"{i.data_name or '-':<14} "
            f"epochs {i.epochs_run:<4} best {monitor.label} {monitor.format(i.best_value)}  "
            f"test auc {auc}  ndcg@10 {ndcg}  {_printable(i.name)}{_printable(tags)}"
        )
    return 0


# the metrics ``runs --group seed`` averages
_SEED_METRICS = ("val_auc", "val_logloss", "test_auc", "test_logloss", "test_hr", "test_ndcg",
                 "test_mrr", "pop_ndcg", "ease_ndcg")  # fmt: skip


def _runs_by_seed(args: argparse.Namespace, infos, store) -> int:
    """Runs that differ only by seed as one row each: mean, spread, min and max."""
    from widedeep_core.runs.grouping import aggregate, seed_sets
    from widedeep_core.runs.table import run_values

    groups: list[dict[str, Any]] = []
    for runs in seed_sets(infos):
        row = aggregate([run_values(r) for r in runs])
        metrics = {
            k: {"mean": v.mean, "std": v.std, "min": v.low, "max": v.high, "n": v.n}
            for k in _SEED_METRICS
            if (v := row.get(k)) is not None
        }
        groups.append(
            {
                "runs": [r.id for r in runs],
                "names": [r.name for r in runs],
                "seeds": list(row.get("seed") or ()),
                "preset": row.get("preset"),
                "protocol": row.get("protocol"),
                "data": row.get("data"),
                "metrics": metrics,
            }
        )
    if args.json:
        _print_json(groups)
        return 0
    if not groups:
        print(f"no runs in {store.root}")
        return 0
    for g in groups:
        shown = "  ".join(
            f"{k} {m['mean']:.4f}" + (f" ± {m['std']:.4f}" if m["n"] > 1 else "")
            for k, m in g["metrics"].items()
            if k in ("val_auc", "test_auc", "test_ndcg")
        )
        seeds = ",".join(map(str, g["seeds"]))
        print(
            f"{len(g['runs'])} run(s)  seeds {seeds:<10} {g['preset'] or '-':<10} "
            f"{g['protocol'] or '-':<15} {shown}  {_printable(set_name(g['names'][0]))}"
        )
    return 0


def cmd_runs_tag(args: argparse.Namespace) -> int:
    """Add tags to a stored run (kept in its annotations.json)."""
    from widedeep_core.runs import RunStore
    from widedeep_core.runs.tags import add_tags

    run = RunStore(args.runs_dir).get(args.run)
    tags = add_tags(run, args.tags)
    print(f"{run.id}: tags {', '.join(tags) or '(none)'}")
    return 0


def cmd_runs_untag(args: argparse.Namespace) -> int:
    """Remove tags from a stored run."""
    from widedeep_core.runs import RunStore
    from widedeep_core.runs.tags import remove_tags

    run = RunStore(args.runs_dir).get(args.run)
    tags = remove_tags(run, args.tags)
    print(f"{run.id}: tags {', '.join(tags) or '(none)'}")
    return 0


def cmd_runs_note(args: argparse.Namespace) -> int:
    """Set (or, with an empty text, remove) a stored run's note."""
    from widedeep_core.runs import RunStore
    from widedeep_core.runs.tags import set_note

    run = RunStore(args.runs_dir).get(args.run)
    note = set_note(run, " ".join(args.text))
    print(f"{run.id}: note {'set' if note else 'removed'}")
    return 0


def cmd_runs_rename(args: argparse.Namespace) -> int:
    """Change the display name of a stored run."""
    from widedeep_core.runs import RunStore

    run = RunStore(args.runs_dir).rename(args.run, args.new_name)
    print(f"{run.id}: renamed to {run.name}")
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    """Delete a stored run (refused while it trains, unless --force)."""
    from widedeep_core.runs import RunStore

    store = RunStore(args.runs_dir)
    store.delete(args.run, force=args.force)
    print(f"deleted {args.run}")
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    """Write a run's curves and metrics to CSV."""
    from widedeep_core.runs import RunStore, export_run

    for path in export_run(RunStore(args.runs_dir).get(args.run), args.output):
        print(path)
    return 0


def _run_json(info) -> dict[str, Any]:
    return {
        "id": info.id,
        "path": str(info.path),
        "name": info.name,
        "created": info.created.isoformat() if info.created else None,
        "status": info.status,
        "message": info.message,
        "preset": info.preset,
        "data": info.data_name,
        "layout": info.data_layout,
        "hyperparameters": info.hyperparameters,
        "best_val_auc": info.best_val_auc,
        "monitor": info.monitor,
        "best_value": info.best_value,
        "test_auc": info.test_auc,
        "duration_s": info.duration_s,
        "epochs_run": info.epochs_run,
        "tags": info.tags,
        "user_tags": list(info.user_tags),
        "note": info.note,
        "protocol": info.protocol,
    }


def cmd_demo(args: argparse.Namespace) -> int:
    """Write a synthetic MovieLens-like folder (offline demo data)."""
    from widedeep_core.data import DEMO_SIZE, write_synthetic

    given = {"n_users": args.users, "n_items": args.items, "n_ratings": args.ratings}
    size = {k: DEMO_SIZE[k] if v is None else v for k, v in given.items()}
    try:
        path = write_synthetic(args.folder, args.layout, **size, seed=args.seed)
    except OSError as exc:
        raise DataError(f"{exc.filename or args.folder}: cannot write ({exc.strerror})") from None
    print(path)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    """The presets, what each is for, and the settings where it differs from the defaults."""
    from widedeep_core.config import PRESET_HELP, PRESETS, preset_settings
    from widedeep_core.config.text import format_value

    rows = {name: preset_settings(name) for name in PRESETS}
    if args.json:
        _print_json(
            [{"name": n, "help": PRESET_HELP.get(n, ""), "settings": v} for n, v in rows.items()]
        )
        return 0
    for name, settings in rows.items():
        print(f"{name}: {PRESET_HELP.get(name, '')}")
        for key, value in settings.items():
            if key != "preset":
                print(f"    {key} = {format_value(key, value)}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch an official MovieLens zip (checked, written atomically) and print its path."""
    from widedeep_core.data.download import download_release

    last = [-1]

    def progress(done: int, total: int | None) -> None:
        if args.quiet or not total:
            return
        pct = int(100 * done / total)
        if pct != last[0] and pct % 5 == 0:
            last[0] = pct
            print(f"\r{args.release}: {pct}%", end="", file=sys.stderr, flush=True)

    path = download_release(args.release, args.dest, progress=progress, force=args.force)
    if last[0] >= 0:
        print(file=sys.stderr)
    print(path)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    """The compute devices this machine really has."""
    from widedeep_core.devices import available_devices

    devices = available_devices()
    if args.json:
        _print_json([{"key": d.key, "name": d.name} for d in devices])
    else:
        for d in devices:
            print(f"{d.key:<8} {d.name}")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from widedeep_core.config.presets import DEFAULT_PRESET, preset_help

    p = argparse.ArgumentParser(
        prog="widedeep",
        description="Train, compare and use Wide & Deep recommenders on MovieLens data.",
        epilog="example: widedeep demo /tmp/demo && widedeep train --data /tmp/demo",
    )
    p.add_argument("--version", action="version", version=f"widedeep {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="describe a MovieLens folder or zip")
    s.add_argument("path")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train a preset on a data folder (or resume a run)")
    s.add_argument("--data", default=None, help="MovieLens folder or official zip")
    s.add_argument("--preset", default=DEFAULT_PRESET, help=preset_help())
    s.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a configuration field"
    )
    s.add_argument("--runs-dir", default=None, help="where runs are stored")
    s.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.add_argument(
        "--seeds",
        default=None,
        metavar="0,1,2",
        help="train one run per seed (the same settings otherwise); the Runs page and "
        "`widedeep runs --group seed` show them as one row with mean and spread",
    )
    s.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue a cancelled or interrupted run after its last finished epoch, in "
        "its own folder with its own settings (data: the run's, or --data)",
    )
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="test metrics of a stored run")
    s.add_argument("run_dir", help="run id (as `widedeep runs` lists it) or folder")
    s.add_argument("--runs-dir", default=None, help="where runs are stored (for an id)")
    s.add_argument("--data", default=None, help="data folder (default: the run's own)")
    s.add_argument("--part", choices=("test", "val"), default="test")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("diagnose", help="why a stored run is good or bad (issue 21)")
    s.add_argument("run_dir", help="run id (as `widedeep runs` lists it) or folder")
    s.add_argument("--compare", default=None, metavar="RUN2", help="a second run, same split")
    s.add_argument("--runs-dir", default=None, help="where runs are stored (for an id)")
    s.add_argument("--data", default=None, help="data folder (default: the run's own)")
    s.add_argument("--part", choices=("test", "val"), default="test")
    s.add_argument("--output", default=None, metavar="DIR", help="write every table as CSV")
    s.add_argument(
        "--skip-permutation", action="store_true", help="leave out the permutation importance"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_diagnose)

    s = sub.add_parser("recommend", help="top-N unseen movies for a user (or every user)")
    s.add_argument("run_dir", help="run id (as `widedeep runs` lists it) or folder")
    s.add_argument("--runs-dir", default=None, help="where runs are stored (for an id)")
    s.add_argument("--user", type=int, default=None)
    s.add_argument(
        "--all-users",
        action="store_true",
        help="every user's list as CSV user,rank,item,score",
    )
    s.add_argument(
        "--exclude",
        choices=tuple(EXCLUDE_RULES),
        default=DEFAULT_EXCLUDE,
        help="movies a list leaves out: rated (default: every movie the user rated), "
        "train (the run's training movies) or history (the protocol's test-time history, "
        "the lists the ranking metrics judge)",
    )
    s.add_argument("--output", default=None, help="CSV file for --all-users (default stdout)")
    s.add_argument("-n", type=int, default=10)
    s.add_argument("--genre", default=None)
    s.add_argument("--data", default=None, help="data folder (default: the run's own)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_recommend)

    s = sub.add_parser("split", help="a run's train, valid or test ratings as CSV")
    s.add_argument("run_dir", help="run id (as `widedeep runs` lists it) or folder")
    s.add_argument("--runs-dir", default=None, help="where runs are stored (for an id)")
    s.add_argument("--part", required=True, help="train, valid or test")
    s.add_argument("--output", default=None, help="CSV file user,item,rating (default stdout)")
    s.add_argument("--data", default=None, help="data folder (default: the run's own)")
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("runs", help="list stored runs (or rename, delete, export one)")
    s.add_argument("--runs-dir", default=None)
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--filter", default=None, help="only runs that pass, e.g. 'val_auc > 0.79, tag:baseline'"
    )
    s.add_argument(
        "--group",
        choices=("seed",),
        default=None,
        help="seed: runs that differ only by seed as one row (mean, spread, min, max)",
    )
    s.set_defaults(func=cmd_runs)
    runs_sub = s.add_subparsers(dest="runs_command")
    # each action takes --runs-dir after its name too; SUPPRESS keeps the parent's value
    r = runs_sub.add_parser("rename", help="change a run's display name")
    r.add_argument("run", help="run id (folder name) or path")
    r.add_argument("new_name")
    r.add_argument("--runs-dir", default=argparse.SUPPRESS)
    r.set_defaults(func=cmd_runs_rename)
    r = runs_sub.add_parser("delete", help="delete a run folder (a damaged one too)")
    r.add_argument("run", help="run id (folder name) or path")
    r.add_argument("--force", action="store_true", help="even while it is still training")
    r.add_argument("--runs-dir", default=argparse.SUPPRESS)
    r.set_defaults(func=cmd_runs_delete)
    r = runs_sub.add_parser("export", help="write a run's curves and metrics as CSV")
    r.add_argument("run", help="run id (folder name) or path")
    r.add_argument(
        "--output", required=True, help="a .csv file (epoch table) or a folder (every table)"
    )
    r.add_argument("--runs-dir", default=argparse.SUPPRESS)
    r.set_defaults(func=cmd_runs_export)
    for name, func, what in (
        ("tag", cmd_runs_tag, "add tags to a run"),
        ("untag", cmd_runs_untag, "remove tags from a run"),
    ):
        r = runs_sub.add_parser(name, help=what)
        r.add_argument("run", help="run id (folder name) or path")
        r.add_argument("tags", nargs="+", metavar="TAG")
        r.add_argument("--runs-dir", default=argparse.SUPPRESS)
        r.set_defaults(func=func)
    r = runs_sub.add_parser("note", help="set a run's note (empty text removes it)")
    r.add_argument("run", help="run id (folder name) or path")
    r.add_argument("text", nargs="*", metavar="TEXT")
    r.add_argument("--runs-dir", default=argparse.SUPPRESS)
    r.set_defaults(func=cmd_runs_note)

    s = sub.add_parser("demo", help="write a synthetic MovieLens-like folder")
    s.add_argument("folder")
    s.add_argument("--layout", default="ml-1m", choices=LAYOUTS)
    # default: the demo size (that of ML-100K), kept in widedeep_core.data.DEMO_SIZE
    s.add_argument("--users", type=int, default=None, help="default 1000")
    s.add_argument("--items", type=int, default=None, help="default 1700")
    s.add_argument("--ratings", type=int, default=None, help="default 100000")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("presets", help="list the presets and their settings")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_presets)

    s = sub.add_parser("download", help="fetch an official MovieLens release (zip)")
    s.add_argument("release", choices=RELEASES, help="the release's name")
    s.add_argument("--dest", default=None, help="folder (default: the user cache folder)")
    s.add_argument("--force", action="store_true", help="fetch again even if present")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("devices", help="list the compute devices available here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_devices)
    add_sweep_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``widedeep``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except Terminated:
        print("widedeep: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("widedeep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _broken_pipe()
    except WideDeepError as exc:
        if args.debug:
            raise
        print(f"widedeep: error: {_printable(_one_line(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            raise
        print(
            f"widedeep: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(rerun with --debug for a traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _broken_pipe() -> int:
    """The reader of stdout went away (``widedeep runs | head -1``): end quietly.

    stdout is pointed at devnull so that the interpreter's final flush does not fail
    again (the recipe of Python's ``signal`` documentation).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests): nothing will flush to a pipe
    return EXIT_BROKEN_PIPE


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
