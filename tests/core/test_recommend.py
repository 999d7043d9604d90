"""Top-N recommendations: unseen only, ordered, parts add up, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_core.api import train
from widedeep_core.config import preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.errors import DataError, RunError
from widedeep_core.serving.recommend import COLUMNS, Recommender


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    data = make_synthetic(n_users=120, n_items=150, n_ratings=6000, seed=1)
    cfg = preset("full").replace(epochs=2, device="cpu", patience=None)
    result = train(cfg, data, runs_dir=tmp_path_factory.mktemp("runs"))
    return data, result


def test_top_n_unseen_sorted_and_parts_add_up(trained_run):
    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    user = int(data.ratings["user"].iloc[0])
    table = rec.recommend(user, n=7)
    assert list(table.columns) == COLUMNS
    assert len(table) == 7 and list(table["rank"]) == list(range(1, 8))
    rated = set(data.ratings.loc[data.ratings["user"] == user, "item"])
    assert not rated & set(table["item"])
    assert table["probability"].is_monotonic_decreasing
    logit = table["wide_logit"] + table["deep_logit"]
    np.testing.assert_allclose(table["probability"], 1 / (1 + np.exp(-logit)), rtol=1e-5)
    titles = data.movies.set_index("item").loc[table["item"], "title"]
    assert list(titles) == list(table["title"])


def test_scores_match_model_on_the_same_pairs(trained_run):
    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    user = int(data.ratings["user"].iloc[3])
    items = rec.candidates(user)
    wide, deep = rec.score(user, items)
    best = items[np.argmax(wide + deep)]
    assert rec.recommend(user, n=1)["item"].iloc[0] == best


def test_genre_filter_and_profile(trained_run):
    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    user = int(data.ratings["user"].iloc[5])
    table = rec.recommend(user, n=5, genre="Drama")
    assert len(table) > 0 and all("Drama" in g for g in table["genres"])
    profile = rec.user_profile(user)
    assert profile["n_ratings"] == int((data.ratings["user"] == user).sum())
    assert profile["gender"] in ("M", "F")
    top = rec.top_rated(user, n=3)
    assert top["rating"].is_monotonic_decreasing


def test_unknown_user_and_bad_genre_are_clear_errors(trained_run):
    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    with pytest.raises(DataError, match="user 999999 is not in the data"):
        rec.recommend(999999)
    with pytest.raises(DataError, match="unknown genre 'Cooking'"):
        rec.recommend(int(data.users["user"].iloc[0]), genre="Cooking")
    with pytest.raises(DataError, match="at least 1"):
        rec.recommend(int(data.users["user"].iloc[0]), n=0)


def test_run_refuses_other_data(trained_run):
    _, result = trained_run
    other = make_synthetic(n_users=50, n_items=60, n_ratings=1000, seed=9)
    with pytest.raises(RunError, match="not the data this run was trained on"):
        Recommender.from_run(result.run_dir, other)


def test_missing_run_folder(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        Recommender.from_run(tmp_path / "nope")


def test_block_scoring_agrees_with_one_user_at_a_time(trained_run):
    from widedeep_core.ranking.kernel import score_block

    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    users = np.array([int(u) for u in data.users["user"].iloc[:5]])
    items = rec.candidates(int(users[0]))
    trained = rec.trained
    wide, deep = score_block(trained.model, trained.encoder, data, users, items, batch_size=7)
    one_wide, one_deep = rec.score(int(users[0]), items)
    np.testing.assert_allclose(wide[0].numpy(), one_wide, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(deep[0].numpy(), one_deep, rtol=1e-5, atol=1e-6)
    table = rec.recommend(int(users[0]), n=4)
    best = np.argsort(-(one_wide + one_deep), kind="stable")[:4]
    assert list(table["item"]) == list(items[best])


def test_whole_catalogue_work_holds_a_share_of_the_cores(trained_run, monkeypatch):
    # recommend_all and evaluate_run rank every user: like a training, they take a slot
    # (threads.CoreShare), so a CLI run beside the app does not oversubscribe the cores
    from widedeep_core import threads
    from widedeep_core.api import evaluate_run

    data, result = trained_run
    held = []
    real_enter = threads.CoreShare.__enter__

    def enter(self):
        out = real_enter(self)
        held.append(self.trainings())
        return out

    monkeypatch.setattr(threads.CoreShare, "__enter__", enter)
    Recommender.from_run(result.run_dir, data).recommend_all(3)
    evaluate_run(result.run_dir, data)
    assert held == [1, 1]


def test_all_users_streams_in_blocks_with_the_same_rows(trained_run, monkeypatch):
    from widedeep_core.ranking.lists import ListRanker

    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    whole = rec.recommend_all(5)
    monkeypatch.setattr(ListRanker, "block_size", property(lambda self: 7))  # many blocks
    seen = []
    blocks = list(rec.iter_recommend_all(5, progress=lambda done, total: seen.append(done)))
    assert len(blocks) == -(-len(rec.users) // 7) and max(len(b) for b in blocks) <= 7 * 5
    assert seen == sorted(seen) and seen[-1] == len(rec.users)
    import pandas as pd

    streamed = pd.concat(blocks, ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole[streamed.columns.tolist()])


def test_cli_all_users_csv_is_written_whole_or_not_at_all(trained_run, tmp_path, monkeypatch):
    from widedeep_core.cli import main

    data, result = trained_run
    out = tmp_path / "recs.csv"
    out.write_text("old content\n")
    calls = {"n": 0}
    real = Recommender.iter_recommend_all

    def failing(self, *a, **kw):  # the second block fails: the old file must stay
        for block in real(self, *a, **kw):
            calls["n"] += 1
            if calls["n"] == 2:
                raise DataError("disk gone")
            yield block

    monkeypatch.setattr(
        "widedeep_core.ranking.lists.ListRanker.block_size", property(lambda self: 10)
    )
    monkeypatch.setattr(Recommender, "iter_recommend_all", failing)
    monkeypatch.setattr("widedeep_core.cli._load", lambda path: data)
    args = ["recommend", str(result.run_dir), "--all-users", "--output", str(out), "--data", "x"]
    assert main(args) == 1
    assert out.read_text() == "old content\n" and not list(tmp_path.glob(".recs.csv.*"))
    monkeypatch.setattr(Recommender, "iter_recommend_all", real)
    assert main(args) == 0
    lines = out.read_text().splitlines()
    whole = Recommender.from_run(result.run_dir, data).recommend_all(10)
    assert lines[0] == "user,rank,item,score" and len(lines) == 1 + len(whole)


def test_id_span_matches_a_plain_search_in_the_columns_dtype():
    """A user's row range in an int32 id column, for ids inside, outside and beyond
    the dtype (the keys are made in the column's dtype, never the column converted)."""
    import numpy as np

    from widedeep_core.data.index import id_span

    ids = np.sort(np.random.default_rng(0).integers(1, 50, 500)).astype(np.int32)
    for uid in (0, 1, 7, 49, 50, 2**31 - 1, 2**40, -(2**40)):
        want = (int(np.sum(ids < uid)), int(np.sum(ids <= uid))) if abs(uid) < 2**31 - 1 else (0, 0)
        if want[0] == want[1]:
            assert id_span(ids, uid)[0] == id_span(ids, uid)[1]
        else:
            assert id_span(ids, uid) == want


def test_catalogue_columns_equal_the_intersection_search():
    import numpy as np

    from widedeep_core.data.index import catalogue_columns

    rng = np.random.default_rng(1)
    items = np.unique(rng.integers(1, 400, 150))
    for _ in range(20):
        ids = rng.integers(0, 450, int(rng.integers(0, 60)))
        want = np.searchsorted(items, np.intersect1d(ids, items))
        assert np.array_equal(catalogue_columns(items, ids), want)


def test_warm_builds_every_rules_indexes_so_later_lists_build_nothing(trained_run, monkeypatch):
    """The Recommend page warms the recommender in its loading worker: afterwards a list
    under any exclusion rule, for any user, re-reads no split and re-sorts no column."""
    import widedeep_core.serving.recommend as recommend_mod

    data, result = trained_run
    rec = Recommender.from_run(result.run_dir, data)
    rec.warm()

    def built_again(*args, **kwargs):
        raise AssertionError("an index was built after warm()")

    monkeypatch.setattr(rec.trained, "prepared", built_again)
    monkeypatch.setattr(recommend_mod, "_pairs_by_user", built_again)
    real_argsort = np.argsort

    def argsort(values, *args, **kwargs):  # the per-user indexes sort a whole column
        if len(values) >= len(data.ratings) // 2:
            built_again()
        return real_argsort(values, *args, **kwargs)

    monkeypatch.setattr(recommend_mod.np, "argsort", argsort)
    user = int(rec.users[-1])
    for rule in ("rated", "train", "history"):
        assert len(rec.recommend(user, n=5, exclude=rule)) == 5
        rec.excluded_items(user, rule)
    rec.top_rated(user)
    rec.user_profile(user)
