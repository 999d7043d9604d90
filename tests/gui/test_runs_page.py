"""Runs page: table over the RunStore, sort, filter, overlays, rename, delete, exports."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import Qt

from wdgui.pages.runs import COLUMNS, RunsPage
from widedeep_core.runs import RunStore


@pytest.fixture
def page(qtbot, runs_dir):
    p = RunsPage(RunStore(runs_dir))
    qtbot.addWidget(p)
    p.ask_confirmation = False
    return p


def column(name: str) -> int:
    return [h for h, _ in COLUMNS].index(name)


def names_in_view(page) -> list[str]:
    proxy = page.runsTable.model()
    return [proxy.index(r, column("Name")).data() for r in range(proxy.rowCount())]


def test_lists_every_run_with_key_columns(page):
    assert sorted(names_in_view(page)) == ["small net", "wide net"]
    proxy = page.runsTable.model()
    row = names_in_view(page).index("wide net")
    cell = {h: proxy.index(row, column(h)).data() for h, _ in COLUMNS}
    assert cell["Status"] == "finished" and cell["Hidden"] == "32-16" and cell["LR"] == "0.003"
    assert cell["Epochs"] == "2" and 0 < float(cell["Best val AUC"]) < 1
    assert cell["Data"] == "ml-1m"


def test_sort_and_filter(page):
    page.runsTable.sortByColumn(column("Name"), Qt.SortOrder.AscendingOrder)
    assert names_in_view(page) == ["small net", "wide net"]
    page.runsTable.sortByColumn(column("Name"), Qt.SortOrder.DescendingOrder)
    assert names_in_view(page) == ["wide net", "small net"]
    page.filterEdit.setText("WIDE")
    assert names_in_view(page) == ["wide net"]
    page.filterEdit.clear()
    assert len(names_in_view(page)) == 2


def test_selected_runs_are_overlaid_one_curve_each(page):
    infos = page.model.runs()
    page.select_runs([i.id for i in infos])
    data = page.curve_data()
    assert set(data) == {i.id for i in infos}
    assert all(list(x) == [1.0, 2.0] for x, _ in data.values())
    legend = page.runsPlot.getPlotItem().legend
    assert sorted(label.text for _, label in legend.items) == ["small net", "wide net"]
    curves = page.curve_items()
    page.metricCombo.setCurrentIndex(3)  # batch losses: same curve objects, new data
    assert page.curve_items() == curves
    assert all(len(x) > 2 for x, _ in page.curve_data().values())
    page.logCheck.setChecked(True)
    assert page.runsPlot.getPlotItem().ctrl.logYCheck.isChecked()
    page.select_runs([infos[0].id])
    assert set(page.curve_data()) == {infos[0].id}


def test_rename_and_delete(page, runs_dir):
    target = next(i for i in page.model.runs() if i.name == "small net")
    page.select_runs([target.id])
    assert page.rename_selected("tiny baseline")
    assert sorted(names_in_view(page)) == ["tiny baseline", "wide net"]
    assert not page.rename_selected("   ")  # refused by the core, explained in the page
    assert "invalid run name" in page.errorLabel.text()
    page.select_runs([target.id])
    assert page.delete_selected() == 1
    assert names_in_view(page) == ["wide net"]
    assert not (runs_dir / target.id).exists()


def test_damaged_and_incomplete_runs_are_listed_and_deleted(page, runs_dir):
    target = next(i for i in page.model.runs() if i.name == "wide net")
    (target.path / "run.json").write_text("{cut short")
    incomplete = runs_dir / "2026-01-02_101500_reference_ab12"  # no run.json
    incomplete.mkdir()
    page.refresh()
    status = {i.id: i.status for i in page.model.runs()}
    assert status[target.id] == "damaged" and status[incomplete.name] == "incomplete"
    page.select_runs([target.id, incomplete.name])
    assert page.delete_selected() == 2
    assert names_in_view(page) == ["small net"]
    assert not target.path.exists() and not incomplete.exists()


def test_delete_asks_first(page, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    page.ask_confirmation = True
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    page.select_runs([page.model.runs()[0].id])
    page.deleteButton.click()
    assert len(names_in_view(page)) == 2


def test_load_into_form(page, qtbot):
    target = next(i for i in page.model.runs() if i.name == "wide net")
    page.select_runs([target.id])
    with qtbot.waitSignal(page.loadConfigRequested) as blocker:
        page.loadButton.click()
    cfg = blocker.args[0]
    assert cfg.hidden == (32, 16) and cfg.name == "wide net"


def test_export_csv_and_png(page, tmp_path):
    infos = page.model.runs()
    page.select_runs([i.id for i in infos])
    out = tmp_path / "metrics.csv"
    assert page.export_csv(out) == 4
    rows = list(csv.DictReader(out.open()))
    assert {r["run_name"] for r in rows} == {"small net", "wide net"}
    assert {"epoch", "val_auc", "train_loss"} <= set(rows[0])
    png = tmp_path / "plot.png"
    assert page.export_png(png) == png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_shows_the_selected_run_beside_its_baselines(page):
    table = page.findChild(type(page.baselinesTable), "runBaselinesTable")
    assert table is page.baselinesTable
    assert table.values() == []  # nothing selected
    info = page.model.runs()[0]
    page.select_runs([info.id])
    shown = table.values()
    assert shown[0] == ["metric", "model", "Popularity", "EASE"]
    rows = {row[0]: row[1:] for row in shown[1:]}
    stored = json.loads((info.path / "test_metrics.json").read_text())
    assert rows["NDCG@10"] == [
        f"{stored['ndcg@10']:.4f}",
        f"{stored['baselines']['popularity']['ndcg@10']:.4f}",
        f"{stored['baselines']['ease']['ndcg@10']:.4f}",
    ]
    assert {"HR@10", "MRR@10", "Coverage@10", "Pop rank@10"} <= set(rows)
    assert "EASE^R lambda 500" in page.baselinesNote.text()
    page.select_runs([i.id for i in page.model.runs()])  # two: no single run
    assert table.values() == []
