"""Runs page: table over the RunStore, sort, filter, overlays, rename, delete, exports."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import Qt

from wdgui.pages.runs import KEYS, RunsPage
from widedeep_core.runs import RunStore

# the headers of the first releases, by the column keys of ``runs.table``
OLD = {"Name": "name", "Status": "status", "Hidden": "hidden", "LR": "lr", "Data": "data",
       "Epochs": "epochs_run", "Best val AUC": "val_auc", "Monitor": "monitor",
       "Test HR@K": "test_hr", "Test NDCG@K": "test_ndcg", "Popularity NDCG@K": "pop_ndcg",
       "EASE NDCG@K": "ease_ndcg"}  # fmt: skip


@pytest.fixture
def page(qtbot, runs_dir):
    p = RunsPage(RunStore(runs_dir))
    qtbot.addWidget(p)
    p.ask_confirmation = False
    return p


def column(name: str) -> int:
    return KEYS.index(OLD.get(name, name))


def names_in_view(page) -> list[str]:
    proxy = page.runsTable.model()
    return [proxy.index(r, column("Name")).data() for r in range(proxy.rowCount())]


def test_lists_every_run_with_key_columns(page):
    assert sorted(names_in_view(page)) == ["small net", "wide net"]
    proxy = page.runsTable.model()
    row = names_in_view(page).index("wide net")
    cell = {h: proxy.index(row, column(h)).data() for h in OLD}
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
    # the legend tells the runs apart by name (their settings are in the diff table)
    assert sorted(page.legend_labels()) == ["small net", "wide net"]
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
    assert page.compare_rows() == []  # nothing selected
    info = page.model.runs()[0]
    page.select_runs([info.id])
    shown = page.compare_rows()
    shown = [shown[0], *[r for r in shown[1:] if "@" in r[0]]]
    assert shown[0] == ["metric", info.name, "Popularity", "EASE"]
    rows = {row[0]: row[1:] for row in shown[1:]}
    stored = json.loads((info.path / "test_metrics.json").read_text())
    assert rows["NDCG@10"] == [
        f"{stored['ndcg@10']:.4f}",
        f"{stored['baselines']['popularity']['ndcg@10']:.4f}",
        f"{stored['baselines']['ease']['ndcg@10']:.4f}",
    ]
    assert {"HR@10", "MRR@10", "Coverage@10", "Pop rank@10"} <= set(rows)
    assert "EASE^R lambda 500" in page.baselinesNote.text()
    page.select_runs([i.id for i in page.model.runs()])  # two: side by side (no longer blank)
    assert len(page.compare_rows()[0]) == 5


def header_of(page, name: str) -> str:
    return page.runsTable.model().headerData(column(name), Qt.Orientation.Horizontal)


def test_ranking_columns_and_the_monitored_metric(page, runs_dir):
    target = next(i for i in page.model.runs() if i.name == "small net")
    config = json.loads((target.path / "config.json").read_text())
    config["monitor"] = "val_ndcg"  # as topn monitors: a run judged by NDCG, not AUC
    (target.path / "config.json").write_text(json.dumps(config))
    stored = json.loads((target.path / "test_metrics.json").read_text())
    stored.update(monitor="val_ndcg", best_value=0.1234)
    (target.path / "test_metrics.json").write_text(json.dumps(stored))
    page.refresh()
    names = ["Monitor", "Test HR@K", "Test NDCG@K", "Popularity NDCG@K", "EASE NDCG@K"]
    assert [header_of(page, n) for n in names] == [
        "Monitor", "Test HR@10", "Test NDCG@10", "Popularity NDCG@10", "EASE NDCG@10"
    ]  # fmt: skip
    proxy = page.runsTable.model()
    row = names_in_view(page).index("small net")
    cell = {n: proxy.index(row, column(n)).data() for n in names}
    base = stored["baselines"]
    assert cell == {
        "Monitor": "val NDCG@10 0.1234",
        "Test HR@K": f"{stored['hr@10']:.4f}",
        "Test NDCG@K": f"{stored['ndcg@10']:.4f}",
        "Popularity NDCG@K": f"{base['popularity']['ndcg@10']:.4f}",
        "EASE NDCG@K": f"{base['ease']['ndcg@10']:.4f}",
    }
    other = names_in_view(page).index("wide net")
    assert proxy.index(other, column("Monitor")).data().startswith("val AUC 0.")
    # sortable by the ranking metric
    page.runsTable.sortByColumn(column("Test NDCG@K"), Qt.SortOrder.DescendingOrder)
    values = [float(proxy.index(r, column("Test NDCG@K")).data()) for r in range(2)]
    assert values == sorted(values, reverse=True)


def test_plot_shows_a_hint_until_runs_are_selected(page):
    assert page.plotStack.currentWidget() is page.plotHint
    assert "Select" in page.plotHint.text()
    assert not page.pngButton.isEnabled()  # nothing to export
    assert page.export_png("nothing.png") is None and "Nothing to export" in page.errorLabel.text()
    page.select_runs([i.id for i in page.model.runs()])
    assert page.plotStack.currentWidget() is page.runsPlot
    assert page.pngButton.isEnabled()
    page.select_runs([])
    assert page.plotStack.currentWidget() is page.plotHint and not page.pngButton.isEnabled()


def test_epoch_ticks_are_whole_numbers(page, qtbot):
    page.resize(1000, 700)
    page.show()
    qtbot.waitExposed(page)
    page.select_runs([i.id for i in page.model.runs()])
    plot = page.runsPlot.getPlotItem()
    axis = plot.getAxis("bottom")

    def ticks(lo: float, hi: float) -> list[float]:
        plot.setXRange(lo, hi, padding=0)
        return [v for _, values in axis.tickValues(lo, hi, axis.width()) for v in values]

    for lo, hi in ((0.9, 2.1), (0.5, 37.5), (1, 250)):
        shown = ticks(lo, hi)
        assert shown and all(float(v).is_integer() for v in shown), (lo, hi, shown)
        assert len(shown) <= 12
    page.xAxisCombo.setCurrentIndex(page.xAxisCombo.findData("step"))  # pyqtgraph's own
    assert axis._tickSpacing is None


def test_integer_step():
    from wdgui.pages.runs import integer_step

    assert [integer_step(s) for s in (1, 8, 9, 30, 100, 1000)] == [1, 1, 2, 5, 20, 200]


def test_the_legend_is_beside_the_curves_not_over_them(page, qtbot):
    page.resize(1000, 700)
    page.show()
    qtbot.waitExposed(page)
    page.select_runs([i.id for i in page.model.runs()])
    qtbot.wait(20)  # the layout places the legend
    plot = page.runsPlot.getPlotItem()
    legend = plot.legend
    assert len(page.legend_labels()) == 2
    data_area = plot.getViewBox().sceneBoundingRect()
    box = legend.sceneBoundingRect()
    assert box.width() > 0 and box.left() >= data_area.right() - 1  # (half-pixel edges)


def test_past_twelve_curves_the_legend_gives_way_to_the_hover_line(qtbot, trained_runs, tmp_path):
    """50 selected runs: a 50-entry legend is taller than the plot and took ~1 ms an entry
    to build; past LEGEND_MAX the curves are drawn unnamed and without point markers, a
    line says so, and the hover readout still names every curve."""
    import shutil

    from wdgui.pages.runs import LEGEND_MAX

    src = next(p for p in trained_runs.iterdir() if p.is_dir())
    root = tmp_path / "many"
    root.mkdir()
    for k in range(LEGEND_MAX + 2):
        dst = shutil.copytree(src, root / f"{src.name}_{k:02d}")
        meta = json.loads((dst / "run.json").read_text())
        meta["name"] = f"copy {k}"
        (dst / "run.json").write_text(json.dumps(meta))
    page = RunsPage(RunStore(root))
    qtbot.addWidget(page)
    ids = [r.id for r in page.model.runs()]
    page.select_runs(ids)
    assert len(page.curve_data()) == LEGEND_MAX + 2
    assert page.legend_labels() == []
    assert all(item.opts["symbol"] is None for item in page.curve_items().values())
    assert page.hoverLabel.text().startswith(f"{LEGEND_MAX + 2} curves: the legend shows")

    page.select_runs(ids[:3])  # few again: named, marked, the line gone
    assert sorted(page.legend_labels()) == sorted(r.name for r in page.selected_runs())
    assert all(item.opts["symbol"] == "o" for item in page.curve_items().values())
    assert page.hoverLabel.text() == ""
    page.select_runs(ids)
    text = page.hover_at(1.0)
    assert all(f"copy {k}:" in text for k in range(LEGEND_MAX + 2))


def test_a_stepwise_page_lists_over_turns_and_a_refresh_outruns_it(qtbot, runs_dir):
    """As the window builds it: a piece per turn, the runs read a few per turn (no turn
    reads 500 runs' files); a ``refresh`` meanwhile shows the newer listing at once."""
    page = RunsPage(RunStore(runs_dir), stepwise=True)
    qtbot.addWidget(page)
    page.construction.run_in_turns(page)
    qtbot.waitUntil(lambda: page.construction.done and page.listing_done(), timeout=10_000)
    assert sorted(names_in_view(page)) == ["small net", "wide net"]
    page.list_in_turns()
    assert not page.listing_done()
    target = next(i for i in page.model.runs() if i.name == "small net")
    RunStore(runs_dir).rename(target.path, "renamed")
    page.refresh()
    assert sorted(names_in_view(page)) == ["renamed", "wide net"]
    qtbot.waitUntil(page.listing_done, timeout=10_000)
    assert sorted(names_in_view(page)) == ["renamed", "wide net"]
    page.shutdown()
