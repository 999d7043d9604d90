"""Experiment tracking in the core: the table's columns, the filter, groups and seed sets,
tags and notes, N runs compared, and curves by epoch, step or wall time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from widedeep_core.config import preset
from widedeep_core.errors import RunError
from widedeep_core.runs import RunInfo, RunStore
from widedeep_core.runs.compare import compare_runs, run_labels, settings_diff
from widedeep_core.runs.curves import series
from widedeep_core.runs.filters import parse_filter
from widedeep_core.runs.grouping import aggregate, group_runs, mean_band, seed_sets, spread
from widedeep_core.runs.table import COLUMN_BY_KEY, best_rows, run_values
from widedeep_core.runs.tags import add_tags, parse_tags, remove_tags, set_note

DATA = {"name": "ml-1m", "layout": "ml-1m", "path": "/d", "fingerprint": "f1"}


def info(name="a", rid="2026-01-01_000000_a_0001", config=None, tests=None, **kw) -> RunInfo:
    cfg = {**preset("reference").to_dict(), **(config or {})}
    from widedeep_core.config.protocols import protocol_name

    return RunInfo(
        id=rid,
        path=Path("/runs") / rid,
        name=name,
        created=None,
        status="finished",
        config=cfg,
        protocol=protocol_name(cfg),
        test_metrics=tests or {},
        data_name="ml-1m",
        data_fingerprint="f1",
        **kw,
    )


def test_every_config_field_and_final_metric_is_a_column():
    from widedeep_core.config import config_fields

    assert {f.name for f in config_fields()} <= set(COLUMN_BY_KEY)
    for key in ("val_auc", "val_logloss", "test_auc", "test_logloss", "test_hr", "test_ndcg",
                "test_mrr", "pop_ndcg", "ease_ndcg", "protocol", "tags"):  # fmt: skip
        assert key in COLUMN_BY_KEY
    tests = {"auc": 0.7, "ndcg@5": 0.2, "baselines": {"ease": {"ndcg@5": 0.3}}}
    row = run_values(info(config={"ranking_k": 5}, tests=tests, best_val_auc=0.8))
    assert row["test_auc"] == 0.7 and row["test_ndcg"] == 0.2 and row["ease_ndcg"] == 0.3
    assert row["val_auc"] == 0.8 and row["lr"] == 0.001 and row["protocol"] == "seed"
    assert row["pop_ndcg"] is None


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("val_auc > 0.79", True),
        ("val_auc>0.81", False),
        ("best_val_auc >= 0.8", True),
        ("preset = reference", True),
        ("preset = topn", False),
        ("PRESET = Reference", True),
        ("tag:baseline", True),
        ("-tag:baseline", False),
        ("tag:study", True),
        ("tag:other", False),
        ("lr < 0.01 and hidden = 16-16", True),
        ("lr < 0.01, hidden = 32-16", False),
        ("protocol = seed", True),
        ("protocol != seed", False),
        ("name ~ NET", True),
        ("small", True),
        ("wide", False),
        ("test_ndcg@10 > 0.1", True),
        ("test_ndcg@5 > 0.1", False),
        ("", True),
    ],
)
def test_filter_by_value(text, hit):
    run = info(
        "small net",
        tests={"ndcg@10": 0.2},
        best_val_auc=0.8,
        user_tags=("baseline",),
        tags={"study": "s1"},
    )
    parsed = parse_filter(text)
    assert parsed.error is None
    assert parsed.matches(run_values(run), run.tags) is hit


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("val_acu > 0.7", "unknown column 'val_acu'; did you mean val_auc?"),
        ("lr >", "needs a value"),
        ("> 3", "needs a column"),
        ("preset > topn", "compares numbers only"),
        ("tag:", "needs a tag name"),
        ('name = "unclosed', "unexpected"),
        ("zzz = 1", "unknown column 'zzz'"),
    ],
)
def test_bad_filter_is_one_message_and_matches_everything(text, says):
    parsed = parse_filter(text)
    assert parsed.error is not None and says in parsed.error
    assert parsed.error.startswith("Filter:") and "\n" not in parsed.error
    assert parsed.matches(run_values(info()))


def test_best_marks_only_within_one_protocol():
    rows = [{"test_auc": 0.7}, {"test_auc": 0.9}, {"test_auc": 0.6}, {"test_logloss": 0.5}]
    protocols = ["seed", "recbole-general", "seed", "seed"]
    assert best_rows(rows, "test_auc", protocols) == {0, 1}
    assert best_rows([{"test_logloss": 0.6}, {"test_logloss": 0.5}], "test_logloss",
                     ["seed", "seed"]) == {1}  # fmt: skip
    assert best_rows(rows, "lr", protocols) == set()  # a setting is not a score


def test_group_by_study_data_preset_protocol_and_tag():
    a = info("a", "r1", tags={"study": "s1"}, user_tags=("x", "y"), preset="reference")
    b = info("b", "r2", config={"split": "user-random"}, preset="topn")
    assert list(group_runs([a, b], "study")) == ["s1", "(no study)"]
    assert {k: [r.name for r in v] for k, v in group_runs([a, b], "tag").items()} == {
        "x": ["a"], "y": ["a"], "(untagged)": ["b"]
    }  # fmt: skip
    assert list(group_runs([a, b], "protocol")) == ["seed", "custom"]
    assert list(group_runs([a, b], "preset")) == ["reference", "topn"]
    assert list(group_runs([a, b], "data")) == ["ml-1m"]


def test_seed_sets_fold_runs_that_differ_only_by_seed():
    runs = [
        info("s0", "r0", config={"seed": 0}, best_val_auc=0.70),
        info("s1", "r1", config={"seed": 1}, best_val_auc=0.72),
        info("s2", "r2", config={"seed": 2}, best_val_auc=0.77),
        info("other", "r3", config={"seed": 0, "lr": 0.01}, best_val_auc=0.5),
    ]
    sets = seed_sets(runs)
    assert [[r.id for r in s] for s in sets] == [["r0", "r1", "r2"], ["r3"]]
    row = aggregate([run_values(r) for r in sets[0]])
    assert row["seed"] == (0, 1, 2) and row["lr"] == 0.001
    assert row["val_auc"].mean == pytest.approx((0.70 + 0.72 + 0.77) / 3)
    assert row["val_auc"].low == 0.70 and row["val_auc"].high == 0.77 and row["val_auc"].n == 3
    assert row["val_auc"].text().startswith("0.7300 ± 0.03")
    assert spread([None, "x"]) is None and spread([0.5]).text() == "0.5000"
    assert mean_band([([1, 2, 3], [1.0, 2.0, 3.0]), ([1, 2], [3.0, 4.0])]) == (
        [1, 2], [2.0, 3.0], [1.0, 2.0], [3.0, 4.0]
    )  # fmt: skip


def test_settings_diff_and_labels_tell_runs_apart():
    a = info("fast", "2026-01-01_000000_fast_aaaa")
    b = info("fast", "2026-01-01_000000_fast_bbbb", config={"lr": 0.003})
    differ, same = settings_diff([a, b])
    assert differ == ["lr"] and "hidden" in same and "name" not in same
    assert run_labels([a, b]) == ["fast [aaaa] · lr=0.001", "fast [bbbb] · lr=0.003"]
    assert run_labels([a]) == ["fast"]
    # names that differ are the labels: the settings would only push the values away
    fields = ("user", "item", "gender", "age", "occupation", "zip")
    c = info("full", "r3", config={"wide_fields": list(fields)})
    assert run_labels([a, c]) == ["fast", "full"]
    d = info("full", "r4", config={"wide_fields": ["user"]})
    assert run_labels([c, d]) == [
        "full [r3] · wide_fields=user,item,gende…",
        "full [r4] · wide_fields=user",
    ]


def test_compare_n_runs_side_by_side_with_the_baselines():
    base = {"popularity": {"ndcg@10": 0.4}, "ease": {"ndcg@10": 0.45}}
    a = info("a", "r1", tests={"auc": 0.7, "ndcg@10": 0.2, "baselines": base})
    b = info("b", "r2", tests={"auc": 0.8, "ndcg@10": 0.3, "baselines": base})
    header, rows, notes = compare_runs([a, b], ["a", "b"])
    assert header == ["metric", "a", "b", "Popularity", "EASE"] and not notes
    table = {r[0]: r[1:] for r in rows}
    assert table["AUC"] == [0.7, 0.8, None, None]
    assert table["NDCG@10"] == [0.2, 0.3, 0.4, 0.45]
    other = replace(b, test_metrics={"ndcg@10": 0.3, "baselines": {"ease": {"ndcg@10": 0.5}}})
    header, rows, notes = compare_runs([a, other], ["a", "b"])
    assert header[3:] == ["Popularity (a)", "EASE (a)", "EASE (b)"] and notes


def test_tags_and_note_are_stored_atomically_in_the_run_folder(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(preset("reference"), DATA)
    assert add_tags(run, ["baseline", "lr-sweep"]) == ["baseline", "lr-sweep"]
    assert add_tags(run, ["baseline"]) == ["baseline", "lr-sweep"]
    assert set_note(run, "  first try ") == "first try"
    assert remove_tags(run, ["lr-sweep", "absent"]) == ["baseline"]
    stored = json.loads((run.path / "annotations.json").read_text())
    assert stored == {"tags": ["baseline"], "note": "first try"}
    listed = store.list()[0]
    assert listed.user_tags == ("baseline",) and listed.note == "first try"
    assert not list(run.path.glob("*.tmp"))
    run.set_status("running")  # the trainer's run.json writes leave the tags alone
    assert store.list()[0].user_tags == ("baseline",)
    with pytest.raises(RunError, match="invalid tag"):
        add_tags(run, ["two words"])
    assert parse_tags("a, b  c") == ["a", "b", "c"]


def test_curves_by_epoch_step_and_wall_time():
    epochs = [{"epoch": 1, "val_auc": 0.6, "seconds": 2.0}, {"epoch": 2, "val_auc": 0.7,
              "seconds": 3.0}]  # fmt: skip
    batches = [{"epoch": 1, "step": s, "loss": 1.0 / s} for s in (5, 10)] + [
        {"epoch": 2, "step": s, "loss": 1.0 / s} for s in (15, 20)
    ]
    assert series(epochs, batches, "epochs", "val_auc", "epoch") == ([1.0, 2.0], [0.6, 0.7])
    assert series(epochs, batches, "epochs", "val_auc", "step")[0] == [10.0, 20.0]
    assert series(epochs, batches, "epochs", "val_auc", "wall")[0] == [2.0, 5.0]
    assert series(epochs, batches, "batches", "loss", "epoch")[0] == [0.5, 1.0, 1.5, 2.0]
    assert series(epochs, batches, "batches", "loss", "wall")[0] == [1.0, 2.0, 3.5, 5.0]
    recorded = [{**r, "wall_s": 9.0} for r in epochs]  # newer runs record it
    assert series(recorded, [], "epochs", "val_auc", "wall")[0] == [9.0, 9.0]
    with pytest.raises(RunError):
        series(epochs, batches, "epochs", "val_auc", "hours")


def test_read_series_rereads_a_run_only_when_its_files_change(tmp_path, monkeypatch):
    """A redraw of 50 curves (smoothing dragged, metric switched) reads no unchanged file;
    an epoch appended (a live run) or the file replaced is read at once."""
    from widedeep_core.fileio import append_jsonl, atomic_write_text
    from widedeep_core.runs.curves import read_series
    from widedeep_core.runs.run import Run

    folder = tmp_path / "run"
    folder.mkdir()
    epochs = folder / "epochs.jsonl"
    append_jsonl(epochs, [{"epoch": 1, "val_auc": 0.6}])
    assert read_series(folder, "epochs", "val_auc") == ([1.0], [0.6])

    reads = []
    real = Run.read_epoch_metrics

    def counted(self):
        reads.append(self.path)
        return real(self)

    monkeypatch.setattr(Run, "read_epoch_metrics", counted)
    xs, ys = read_series(folder, "epochs", "val_auc")
    assert (xs, ys) == ([1.0], [0.6]) and reads == []
    xs.append(99.0)  # the caller's list: the cached series is not changed through it
    assert read_series(folder, "epochs", "val_auc") == ([1.0], [0.6])
    append_jsonl(epochs, [{"epoch": 2, "val_auc": 0.7}])
    assert read_series(folder, "epochs", "val_auc") == ([1.0, 2.0], [0.6, 0.7])
    atomic_write_text(epochs, '{"epoch": 1, "val_auc": 0.5}\n')  # same folder, new inode
    assert read_series(folder, "epochs", "val_auc") == ([1.0], [0.5])
    assert len(reads) == 2


def test_a_seed_sets_wall_time_band_pairs_the_runs_kth_points():
    """No two runs log at the same second: on wall time the k-th points are averaged (at
    their mean time); on epochs and steps the shared x values are."""
    a = ([1.5, 3.0], [0.6, 0.7])
    b = ([1.7, 3.4], [0.8, 0.9])
    assert mean_band([a, b]) == ([], [], [], [])
    xs, mean, low, high = mean_band([a, b], by_position=True)
    assert xs == pytest.approx([1.6, 3.2]) and mean == pytest.approx([0.7, 0.8])
    assert low == [0.6, 0.7] and high == [0.8, 0.9]
    short = ([1.0], [0.5])
    assert mean_band([a, short], by_position=True)[0] == pytest.approx([1.25])
