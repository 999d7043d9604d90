"""Runs page, experiment tracking: chosen columns, filter by value, groups, protocols,
compare, diff, tags and notes, seed sets, curves (smoothing, x axes, hover, export) and
the saved view. Driven through the page's widgets."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from PySide6.QtCore import QSettings, Qt

from wdgui.pages.runs import KEYS, RunsPage
from wdgui.plotting import debiased_ema
from widedeep_core.runs import RunStore


def _edit(folder, name, change):
    path = folder / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _copy_as_seed(runs_dir, source, seed: int, shift: float):
    """A copy of ``source`` that differs only by its seed (and its numbers)."""
    target = runs_dir / f"{source.name[:-4]}{seed:04x}"
    shutil.copytree(source, target)
    _edit(target, "config.json", lambda c: c.update(seed=seed))
    _edit(target, "run.json", lambda m: m.update(name=f"small net seed {seed}"))
    _edit(target, "test_metrics.json", lambda t: t.update(auc=t["auc"] + shift))
    rows = [json.loads(line) for line in (target / "epochs.jsonl").read_text().splitlines()]
    for row in rows:
        row["val_auc"] += shift
        row["wall_s"] = row.get("wall_s", row["epoch"]) + 3 * shift  # no two runs alike
    (target / "epochs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _edit(target, "test_metrics.json", lambda t: t.update(best_val_auc=rows[-1]["val_auc"]))
    return target


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "view.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_page(qtbot, runs_dir, settings):
    def make():
        page = RunsPage(RunStore(runs_dir), settings=settings)
        qtbot.addWidget(page)
        page.ask_confirmation = False
        return page

    return make


def by_name(page, name):
    return next(i for i in page.model.runs() if i.name == name)


def top_names(page):
    return [page.cell(r, "name") for r in range(page.runsTable.model().rowCount())]


def test_columns_are_chosen_from_a_menu_and_remembered(make_page):
    page = make_page()
    menu = page.columnsButton.menu()
    actions = {a.data(): a for a in menu.actions() if a.isCheckable()}
    assert {"lr", "seed", "val_auc", "test_logloss", "test_mrr", "pop_ndcg", "protocol"} <= set(
        actions
    )
    assert actions["protocol"].isChecked() and not actions["test_logloss"].isChecked()
    actions["test_logloss"].trigger()
    actions["dropout"].trigger()
    assert not page.runsTable.isColumnHidden(KEYS.index("test_logloss"))
    assert page.runsTable.isColumnHidden(KEYS.index("dropout"))
    again = make_page()  # a new session
    assert "test_logloss" in again.visible_columns() and "dropout" not in again.visible_columns()
    assert again.cell(0, "protocol") == "seed"


def test_filter_by_value_and_a_bad_filter_says_why(make_page):
    page = make_page()
    wide = by_name(page, "wide net")
    page.filterEdit.setText("lr > 0.002")
    assert top_names(page) == ["wide net"]
    page.filterEdit.setText("lr > 0.002 and preset = topn")
    assert top_names(page) == []
    page.filterEdit.setText("val_acu > 0.5")
    assert page.filterError.isVisibleTo(page) and "did you mean val_auc" in page.filterError.text()
    assert len(top_names(page)) == 2  # a half-typed filter never empties the table
    page.filterEdit.setText(f"id = {wide.id}")
    assert top_names(page) == ["wide net"] and not page.filterError.isVisibleTo(page)


def test_tags_and_notes_are_edited_filtered_and_grouped(make_page, runs_dir):
    page = make_page()
    small = by_name(page, "small net")
    page.select_runs([small.id])
    page.tagEdit.setText("baseline, keep")
    assert page.save_tags()
    page.noteEdit.setPlainText("the first try")
    page.saveNoteButton.click()
    stored = json.loads((small.path / "annotations.json").read_text())
    assert stored == {"tags": ["baseline", "keep"], "note": "the first try"}
    page.filterEdit.setText("tag:baseline")
    assert top_names(page) == ["small net"]
    page.filterEdit.clear()
    page.select_runs([i.id for i in page.model.runs()])  # both: the tags they share
    assert page.tagEdit.text() == ""
    page.tagEdit.setText("both")
    page.tagEdit.returnPressed.emit()
    assert {i.name: i.user_tags for i in page.model.runs()} == {
        "small net": ("baseline", "keep", "both"), "wide net": ("both",)
    }  # fmt: skip
    page.groupCombo.setCurrentIndex(page.groupCombo.findData("tag"))
    groups = top_names(page)
    assert sorted(groups) == ["baseline (1 run)", "both (2 runs)", "keep (1 run)"]
    page.tagEdit.setText("x y")  # spaces separate tags too
    page.select_runs([small.id])
    page.tagEdit.setText("bad!tag")
    assert not page.save_tags() and "invalid tag" in page.errorLabel.text()


def test_group_by_protocol_and_runs_of_two_protocols_are_never_ranked_together(make_page, runs_dir):
    page = make_page()
    wide = by_name(page, "wide net")
    _edit(wide.path, "config.json", lambda c: c.update(split="user-random"))
    page.refresh()
    assert "2 protocols" in page.protocolNote.text() and "within each" in page.protocolNote.text()
    page.runsTable.sortByColumn(KEYS.index("val_auc"), Qt.SortOrder.AscendingOrder)
    ascending = [page.cell(r, "protocol") for r in range(2)]
    page.runsTable.sortByColumn(KEYS.index("val_auc"), Qt.SortOrder.DescendingOrder)
    assert [page.cell(r, "protocol") for r in range(2)] == ascending  # blocks stay whole
    page.select_runs([i.id for i in page.model.runs()])
    assert "judged on 2 protocols" in page.protocolNote.text()
    page.groupCombo.setCurrentIndex(page.groupCombo.findData("protocol"))
    assert sorted(top_names(page)) == ["custom (1 run)", "seed (1 run)"]


def test_compare_and_diff_of_two_runs(make_page):
    page = make_page()
    small, wide = by_name(page, "small net"), by_name(page, "wide net")
    page.select_runs([small.id, wide.id])
    header, *rows = page.compare_rows()
    assert header[3:] == ["Popularity", "EASE"] and len(header) == 5
    table = {r[0]: r[1:] for r in rows}
    shown = {header[1]: 0, header[2]: 1}
    first = small if header[1].startswith("small") else wide
    assert table["AUC"][shown[header[1]]] == f"{first.test_metrics['auc']:.4f}"
    pop = first.test_metrics["baselines"]["popularity"]["ndcg@10"]
    assert table["NDCG@10"][2] == f"{pop:.4f}"
    diff = page.diff_rows()
    assert [r[0] for r in diff[1:]] == ["hidden", "lr"]  # exactly the differing fields
    page.diffSameCheck.setChecked(True)
    assert len(page.diff_rows()) > 10  # the rest unfolded


def test_a_studys_trials_sit_folded_under_it_not_among_the_runs(make_page, runs_dir):
    """No grouping (the default): ordinary runs are rows, a sweep's trials one row per
    study, folded; group by Study lists the ordinary runs under "(no study)"."""
    page = make_page()
    small = by_name(page, "small net")
    for k, lr in enumerate((0.001, 0.01)):
        target = runs_dir / f"{small.path.name[:-4]}{k + 16:04x}"
        shutil.copytree(small.path, target)
        _edit(target, "config.json", lambda c, lr=lr: c.update(lr=lr))
        tags = {"study": "lr-sweep", "trial": k}
        _edit(target, "run.json", lambda m, k=k, t=tags: m.update(name=f"trial {k}", tags=t))
    page.refresh()
    names = top_names(page)
    assert sorted(names) == ["small net", "study lr-sweep (2 runs)", "wide net"]
    row = names.index("study lr-sweep (2 runs)")
    study = page.runsTable.model().index(row, 0)
    assert not page.runsTable.isExpanded(study)  # folded: the trials do not bury the runs
    assert sorted(page.cell(r, "name", study) for r in range(2)) == ["trial 0", "trial 1"]
    page.select_runs([r.id for r in page.model.runs() if r.name == "trial 1"])
    assert [r.name for r in page.selected_runs()] == ["trial 1"]  # its study opened
    assert page.runsTable.isExpanded(study)

    page.groupCombo.setCurrentIndex(page.groupCombo.findData("study"))
    names = top_names(page)
    assert names == ["lr-sweep (2 runs)", "(no study) (2 runs)"]


def test_seed_sets_are_one_row_with_mean_and_spread_and_a_band(make_page, runs_dir):
    page = make_page()
    small = by_name(page, "small net")
    copies = [_copy_as_seed(runs_dir, small.path, s, 0.01 * s) for s in (1, 2)]
    page.refresh()
    names = top_names(page)
    (folded,) = [n for n in names if "seeds" in n]
    assert folded == "small net (seeds 0,1,2)" and len(names) == 2
    row = names.index(folded)
    aucs = [r.best_val_auc for r in page.model.runs() if r.name.startswith("small net")]
    mean = sum(aucs) / 3
    assert page.cell(row, "val_auc").startswith(f"{mean:.4f} ± ")
    page.select_rows([row])
    assert len(page.selected_runs()) == 3
    (key,) = page.curve_data()
    xs, ys = page.curve_data()[key]
    low, high = page.band_data(key)
    assert xs == [1.0, 2.0] and low[0] < ys[0] < high[0]
    assert page.legend_labels() == ["small net (mean of 3 seeds)"]  # the set, not a run of it
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("wall"))
    walls = [page.curve_data()[key][0] for key in page.curve_data()]
    (xs,) = walls  # the k-th epochs of the runs, at their mean wall time
    assert len(xs) == 2 and xs == sorted(xs)
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("epoch"))
    assert [r[0] for r in page.diff_rows()[1:]] == ["seed"]
    page.seedsCheck.setChecked(False)
    assert len(top_names(page)) == 4
    assert all(c.exists() for c in copies)


def test_curves_smooth_x_axes_log_hover_and_export(make_page, tmp_path):
    page = make_page()
    small = by_name(page, "small net")
    page.select_runs([small.id])
    page.metricCombo.setCurrentIndex(3)  # batch losses
    raw = page.curve_data()[small.id][1]
    page.smoothSpin.setValue(0.6)
    smoothed = page.curve_data()[small.id][1]
    assert smoothed == pytest.approx(debiased_ema(raw, 0.6)[0])
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("wall"))
    xs = page.curve_data()[small.id][0]
    assert xs == sorted(xs) and xs[-1] > 0
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("step"))
    xs, ys = page.curve_data()[small.id]
    text = page.hover_at(xs[2] + 0.1)
    assert f"{ys[2]:.4f}" in text and page.hoverLabel.text() == text
    assert page.crosshair.isVisible() and page.crosshair.value() == xs[2]
    page.logXCheck.setChecked(True)
    page.logCheck.setChecked(True)
    plot = page.runsPlot.getPlotItem()
    assert plot.ctrl.logXCheck.isChecked() and plot.ctrl.logYCheck.isChecked()
    out = tmp_path / "shown.csv"
    assert page.export_plot_csv(out) == len(xs)
    rows = list(csv.DictReader(out.open()))
    assert float(rows[2]["loss"]) == pytest.approx(ys[2]) and float(rows[2]["step"]) == xs[2]
    png = page.export_png(tmp_path / "shown.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"


def test_the_view_is_saved_between_sessions(make_page):
    page = make_page()
    page.filterEdit.setText("lr > 0.002")
    page.groupCombo.setCurrentIndex(page.groupCombo.findData("preset"))
    page.seedsCheck.setChecked(False)
    page.metricCombo.setCurrentIndex(1)
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("wall"))
    page.smoothSpin.setValue(0.3)
    page.logCheck.setChecked(True)
    again = make_page()
    assert again.filterEdit.text() == "lr > 0.002"
    assert again.groupCombo.currentData() == "preset" and not again.seedsCheck.isChecked()
    assert again.metricCombo.currentIndex() == 1 and again.xAxisCombo.currentData() == "wall"
    assert again.smoothSpin.value() == pytest.approx(0.3) and again.logCheck.isChecked()
    assert top_names(again) == ["reference (1 run)"]
