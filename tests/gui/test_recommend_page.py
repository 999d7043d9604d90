"""Recommend page: run chooser, searchable user, top-N unseen movies, genre, explained errors."""

from __future__ import annotations

import json

import numpy as np
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


def shown_column(page, header: str) -> list[str]:
    """The cells of one column of the recommendations table, as shown."""
    model = page.recommendationsTable.model()
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    c = headers.index(header)
    return [model.index(r, c).data() for r in range(model.rowCount())]


def headers_of(view) -> list[str]:
    model = view.model()
    return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


def type_user(qtbot, page, user: str) -> None:
    edit = page.userSelector.lineEdit()
    edit.clear()
    qtbot.keyClicks(edit, user)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_the_list_leaves_out_every_rated_movie_and_says_so(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    page.show()
    qtbot.waitExposed(page)
    n_movies = tiny_data.movies["item"].nunique()
    page.topNSpin.setValue(n_movies)  # every candidate: a rated one would be among them
    type_user(qtbot, page, "7")
    r = tiny_data.ratings
    titles = dict(zip(tiny_data.movies["item"], tiny_data.movies["title"], strict=True))
    rated = {titles[i] for i in r.loc[r["user"] == 7, "item"]}
    shown = shown_column(page, "Title")
    assert page.excludeCombo.currentData() == "rated"
    assert len(shown) == n_movies - len(rated) and not set(shown) & rated
    assert "every movie the user rated" in page.excludeLabel.text()
    assert f"({len(rated)} movies)" in page.excludeLabel.text()

    # the lists the ranking metrics judge leave out the training split only
    page.excludeCombo.setCurrentIndex(page.excludeCombo.findData("history"))
    trained = len(page.recommender.training_items(7))
    shown = shown_column(page, "Title")
    assert trained < len(rated) and len(shown) == n_movies - trained
    assert set(shown) & rated  # the held-out movies the metrics count as hits
    assert "history under the run's protocol" in page.excludeLabel.text()
    combo = page.findChild(type(page.excludeCombo), "excludeCombo")
    assert [combo.itemData(i) for i in range(combo.count())] == ["rated", "train", "history"]


def test_a_restored_page_opens_the_shown_run(qtbot, runs_dir):
    """After a restart the combo shows the saved run: showing the page opens it."""
    p = RecommendPage(RunStore(runs_dir))  # no data from the Data page: the run's own
    qtbot.addWidget(p)
    second = p.runCombo.itemData(1)
    p.restore_state(
        {"run": second.split("/")[-1], "user": "7", "top_n": 4, "genre": None, "exclude": "train"}
    )
    assert p.runCombo.currentData() == second
    with qtbot.waitSignal(p.jobs.finished, timeout=20000):
        p.show()
    qtbot.waitUntil(lambda: p.recommendationsTable.model().rowCount() == 4, timeout=5000)
    assert str(p.recommender.trained.run.path) == second
    assert p.userSelector.currentText() == "7" and "User 7" in p.profileLabel.text()
    assert p.excludeCombo.currentData() == "train"
    assert p.state() == {
        "run": second.split("/")[-1], "user": "7", "top_n": 4, "genre": None, "exclude": "train"
    }  # fmt: skip
    p.shutdown()


def test_enter_opens_the_shown_run_and_refresh_retries(qtbot, runs_dir):
    p = RecommendPage(RunStore(runs_dir))
    qtbot.addWidget(p)
    assert p.recommender is None  # listed, not opened (hidden, as before a first show)
    with qtbot.waitSignal(p.jobs.finished, timeout=20000):
        type_user(qtbot, p, "5")  # Enter opens the shown run
    assert str(p.recommender.trained.run.path) == p.runCombo.currentData()
    p.show()  # the list of the run opened meanwhile
    qtbot.waitUntil(lambda: p.recommendationsTable.model().rowCount() > 0, timeout=5000)
    assert "User 5" in p.profileLabel.text()

    # a run that cannot be opened says why; Refresh tries again once it can be
    second = p.runCombo.itemData(1)
    info_file = runs_dir / second.split("/")[-1] / "data.json"
    saved = info_file.read_text()
    info = json.loads(saved)
    info.update(path=str(runs_dir / "no-such-folder"), fingerprint="0" * 64)
    info_file.write_text(json.dumps(info))
    p.runCombo.setCurrentIndex(1)
    with qtbot.waitSignal(p.jobs.finished, timeout=20000):
        p.runCombo.activated.emit(1)
    assert p.recommender is None and "Cannot use this run" in p.errorLabel.text()
    info_file.write_text(saved)
    with qtbot.waitSignal(p.jobs.finished, timeout=20000):
        p.refreshButton.click()
    assert str(p.recommender.trained.run.path) == second and p.errorLabel.isHidden()
    qtbot.waitUntil(lambda: p.recommendationsTable.model().rowCount() > 0, timeout=5000)
    p.shutdown()


def test_without_runs_the_page_says_to_train_one(qtbot, tmp_path):
    p = RecommendPage(RunStore(tmp_path / "empty"))
    qtbot.addWidget(p)
    p.show()
    assert "train one on the Train page" in p.profileLabel.text()
    p.profileLabel.setText("")
    type_user(qtbot, p, "3")
    assert "No run to recommend from" in p.profileLabel.text()


def test_empty_columns_and_the_titles_year_are_hidden(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    page.userSelector.setEditText("7")
    page.update_recommendations()
    headers = headers_of(page.recommendationsTable)
    assert headers[:2] == ["#", "Title"] and "Score" in headers
    for empty in ("Retrieval #", "Retrieval score", "Because you liked", "Year"):
        assert empty not in headers  # one-stage: nothing in them; the title has the year
    assert "Year" not in headers_of(page.topRatedTable)
    assert all(t.endswith(")") for t in shown_column(page, "Title"))


ML1M_TITLES = (
    "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963)",
    "Star Wars: Episode V - The Empire Strikes Back (1980)",
    "Shawshank Redemption, The (1994)",
    "One Flew Over the Cuckoo's Nest (1975)",
)


@pytest.mark.parametrize("two_stage", [False, True])
def test_titles_stay_readable_at_the_default_window_size(
    make_window, runs_dir, qtbot, monkeypatch, two_stage
):
    window = make_window(runs_dir=runs_dir)
    window.resize(1280, 820)  # the default size
    window.show()
    qtbot.waitExposed(window)
    page = window.recommend_page
    window.pages.setCurrentWidget(page)
    with qtbot.waitSignal(page.jobs.finished, timeout=20000):
        page.load_run(page.runCombo.itemData(0))
    rec = page.recommender
    plain = rec.recommend

    def ml1m_like(user, n=10, genre=None, **kw):
        df = plain(user, n, genre, **kw)
        df["title"] = [ML1M_TITLES[i % len(ML1M_TITLES)] for i in range(len(df))]
        df["year"] = [float(t[-5:-1]) for t in df["title"]]
        df["genres"] = [("Action", "Adventure", "Sci-Fi", "War")] * len(df)
        if two_stage:
            df["score"] = 1.0 / (1.0 + np.exp(-(df["wide_logit"] + df["deep_logit"])))
            df["retrieval_rank"] = range(3, 3 + len(df))
            df["retrieval_score"] = 0.4321
            df["because"] = [[1, 2, 3]] * len(df)
        return df

    monkeypatch.setattr(rec, "recommend", ml1m_like)
    type_user(qtbot, page, "7")
    view = page.recommendationsTable
    qtbot.waitUntil(lambda: view.model().rowCount() == 10, timeout=5000)
    headers = headers_of(view)
    expected = {"Title", "Genres", "Score", "Wide", "Deep"}
    if two_stage:
        expected |= {"Retrieval #", "Retrieval score", "Because you liked"}
    assert expected <= set(headers) and "Year" not in headers
    assert view.horizontalScrollBar().maximum() == 0  # nothing off-screen
    right = max(view.columnViewportPosition(c) + view.columnWidth(c) for c in range(len(headers)))
    assert right <= view.viewport().width()
    widths = {h: view.columnWidth(c) for c, h in enumerate(headers)}
    title = widths["Title"]
    assert all(title > w for h, w in widths.items() if h != "Title")  # the widest column
    metrics = view.fontMetrics()
    readable = metrics.horizontalAdvance(ML1M_TITLES[2]) + 12  # "Shawshank Redemption, The"
    assert title >= readable
    if not two_stage:  # one stage: every title whole, the genres give way first
        longest = max(metrics.horizontalAdvance(t) for t in ML1M_TITLES)
        assert title >= longest
    page.shutdown()


def test_ml1m_codes_are_shown_in_words(page, qtbot, tiny_data):
    open_first_run(qtbot, page)
    users = tiny_data.users.set_index("user")
    age, occupation = int(users.loc[7, "age"]), int(users.loc[7, "occupation"])
    type_user(qtbot, page, "7")
    text = page.profileLabel.text()
    from widedeep_core.constants import ML1M_AGE_LABELS as ML1M_AGES
    from widedeep_core.constants import ML1M_OCCUPATIONS

    assert f"age: {ML1M_AGES[age]}" in text
    assert f"occupation: {ML1M_OCCUPATIONS[occupation]}" in text


def test_ml100k_demographics_are_shown_as_stored():
    from wdgui.pages.recommend import profile_text

    profile = {"gender": "F", "age": 25, "occupation": "writer", "n_ratings": 30}
    text = profile_text(4, profile, "ml-100k")
    assert "age: 25 " in text + " " and "occupation: writer" in text
    one_m = profile_text(4, {"age": 25, "occupation": "20"}, "ml-1m")
    assert "age: 25-34" in one_m and "occupation: writer" in one_m


def test_run_combo_shows_the_monitored_metric(qtbot, runs_dir):
    run = sorted(p for p in runs_dir.iterdir() if p.is_dir())[0]
    config = json.loads((run / "config.json").read_text())
    config["monitor"] = "val_ndcg"
    (run / "config.json").write_text(json.dumps(config))
    tests = json.loads((run / "test_metrics.json").read_text())
    tests.update(monitor="val_ndcg", best_value=0.1234)
    (run / "test_metrics.json").write_text(json.dumps(tests))
    p = RecommendPage(RunStore(runs_dir))
    qtbot.addWidget(p)
    labels = {p.runCombo.itemData(i): p.runCombo.itemText(i) for i in range(p.runCombo.count())}
    assert "val NDCG@10 0.1234" in labels[str(run)] and "AUC" not in labels[str(run)]
    other = next(text for path, text in labels.items() if path != str(run))
    assert "val AUC 0." in other


def test_export_every_users_list_in_a_worker(page, qtbot, tmp_path):
    assert not page.exportButton.isEnabled()  # no run open yet
    open_first_run(qtbot, page)
    assert page.exportButton.isEnabled()
    page.topNSpin.setValue(4)
    out = tmp_path / "all.csv"
    with qtbot.waitSignal(page.export_jobs.finished, timeout=60000):
        assert page.export_all(str(out))
        assert page.exportButton.text() == "Cancel export" and not page.exportProgress.isHidden()
    lines = out.read_text().splitlines()
    expected = page.recommender.recommend_all(4, exclude=page.excludeCombo.currentData())
    assert lines[0] == "user,rank,item,score" and len(lines) == 1 + len(expected)
    first = lines[1].split(",")
    assert [int(first[0]), int(first[1]), int(first[2])] == [
        int(expected.iloc[0]["user"]),
        1,
        int(expected.iloc[0]["item"]),
    ]
    assert f"{len(expected):,} rows written" in page.last_export
    assert page.exportButton.text() == "Export all users..." and page.exportButton.isEnabled()
    # a folder is one message, never a crash
    with qtbot.waitSignal(page.export_jobs.finished, timeout=60000):
        page.export_all(str(tmp_path))
    assert "folder" in page.errorLabel.text() and page.last_export == "Export failed"
