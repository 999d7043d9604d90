"""Recommend page: run chooser, searchable user, top-N unseen movies, genre, explained errors."""

from __future__ import annotations

import json

import pytest

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
