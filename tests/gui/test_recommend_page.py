"""Recommend page: run chooser, searchable user, top-N unseen movies, genre, explained errors."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from wdgui.pages.recommend import RecommendPage
from widedeep_core.data import load_movielens
from widedeep_core.runs import RunStore


@pytest.fixture(scope="module")
def tiny_data(tiny_folder):
    return load_movielens(tiny_folder, cache=False)


@pytest.fixture
def page(qtbot, runs_dir, tiny_data):
    p = RecommendPage(RunStore(runs_dir))
    qtbot.addWidget(p)
    p.set_data(tiny_data)
    yield p
    p.shutdown()


def open_first_run(qtbot, page):
    assert page.runCombo.count() == 2
    run_dir = page.runCombo.itemData(0)
    page.load_run(run_dir)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20000)
    return run_dir


def test_top_n_unseen_movies_for_a_user(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    assert page.recommender is not None, page.errorLabel.text()
    page.userSelector.setEditText("7")
    page.update_recommendations()
    page.topNSpin.setValue(5)
    assert page.recommendationsTable.model().rowCount() == 5
    rated = set(tiny_data.ratings.loc[tiny_data.ratings["user"] == 7, "item"])
    shown = list(page.recommendations["item"])
    assert len(shown) == 5 and not set(shown) & rated
    probs = list(page.recommendations["probability"])
    assert probs == sorted(probs, reverse=True)
    # the user's own favourites, with demographics and the rating count
    favourites = page.ratedModel.frame
    assert len(favourites) == min(5, len(rated))
    assert list(favourites["rating"]) == sorted(favourites["rating"], reverse=True)
    assert f"{len(rated)} ratings" in page.profileLabel.text()
    assert "gender" in page.profileLabel.text()


def test_user_list_is_searchable(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    completer = page.userSelector.completer()
    completer.setCompletionPrefix("1")
    found = [
        completer.completionModel().index(i, 0).data() for i in range(completer.completionCount())
    ]
    assert found and all(u.startswith("1") for u in found)
    assert len(page.userSelector.model().stringList()) == tiny_data.ratings["user"].nunique()


def test_genre_filter(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    page.userSelector.setEditText("3")
    page.update_recommendations()
    genre = tiny_data.genres[0]
    page.genreCombo.setCurrentIndex(page.genreCombo.findData(genre))
    genres = page.recommendations["genres"]
    assert len(genres) > 0 and all(genre in g for g in genres)


def test_unknown_user_is_explained(page, qtbot):
    open_first_run(qtbot, page)
    page.userSelector.setEditText("999999")
    page.update_recommendations()
    assert not page.errorLabel.isHidden()
    assert "999999" in page.errorLabel.text()
    assert page.recommendationsTable.model().rowCount() == 0
    page.userSelector.setEditText("abc")
    page.update_recommendations()
    assert "not a user id" in page.errorLabel.text()


def test_a_run_whose_data_is_gone_is_explained(page, qtbot, runs_dir):
    run_dir = page.runCombo.itemData(0)
    info_file = runs_dir / run_dir.split("/")[-1] / "data.json"
    info = json.loads(info_file.read_text())
    info.update(path=str(runs_dir / "no-such-folder"), fingerprint="0" * 64)
    info_file.write_text(json.dumps(info))
    page.load_run(run_dir)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=20000)
    assert page.recommender is None
    assert not page.errorLabel.isHidden()
    assert "not available" in page.errorLabel.text()


def test_no_runs_yet(qtbot, tmp_path):
    p = RecommendPage(RunStore(tmp_path / "empty"))
    qtbot.addWidget(p)
    assert p.runCombo.count() == 1 and p.runCombo.itemData(0) is None
    assert "No finished runs" in p.runCombo.itemText(0)


def test_recommend_page_shows_the_runs_baselines(page, qtbot):
    open_first_run(qtbot, page)
    shown = page.baselinesTable.values()
    assert page.baselinesTable.objectName() == "recommendBaselines"
    assert shown[0] == ["metric", "model", "Popularity", "EASE"]
    assert any(row[0] == "NDCG@10" for row in shown[1:])


def test_two_stage_columns_because_titles_and_fallback(page, qtbot, tiny_data, monkeypatch):
    open_first_run(qtbot, page)
    rec = page.recommender
    plain = rec.recommend
    own = rec.top_rated(7, 2)

    def two_stage(user, n=10, genre=None, **kw):
        df = plain(user, n, genre, **kw)
        df["score"] = df["wide_logit"] + df["deep_logit"]
        df["retrieval_rank"] = range(3, 3 + len(df))
        df["retrieval_score"] = 0.5
        df["because"] = [[(int(own["item"][0]), 0.3), (int(own["item"][1]), 0.1)]] * len(df)
        df.attrs["fallback"] = "user 7 has no training ratings: most-rated movies shown"
        return df

    monkeypatch.setattr(rec, "recommend", two_stage)
    page.userSelector.setEditText("7")
    page.update_recommendations()
    model = page.recommendationsTable.model()
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert "Score" in headers and "P(like)" not in headers  # no column of 1.0000s
    assert {"Retrieval #", "Retrieval score", "Because you liked"} <= set(headers)
    tip = model.headerData(headers.index("Score"), Qt.Orientation.Horizontal, Qt.ToolTipRole)
    assert "logit" in tip  # what the core says its score is (a one-stage run's logit)
    because = model.index(0, headers.index("Because you liked")).data()
    assert because == f"{own['title'][0]}; {own['title'][1]}"
    label = page.findChild(type(page.fallbackLabel), "recommendFallback")
    assert not label.isHidden() and "no training ratings" in label.text()

    monkeypatch.setattr(rec, "recommend", plain)  # the one-stage list: its logit, no notice
    page.update_recommendations()
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert "Score" in headers and "P(like)" not in headers
    assert page.fallbackLabel.isHidden()
