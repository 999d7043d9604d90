"""Serving a stored run: the scoring kernel, its tie-break, reloads and the metrics' lists."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from widedeep_core.api import evaluate_run, train
from widedeep_core.config import preset
from widedeep_core.data.index import catalogue
from widedeep_core.errors import RunError
from widedeep_core.evaluation.evaluate import evaluate_ranking, ranked_lists
from widedeep_core.ranking.kernel import mask, top_k
from widedeep_core.serving import Recommender, load_trained


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from widedeep_core.data.synthetic import make_synthetic

    data = make_synthetic(n_users=80, n_items=120, n_ratings=4000, seed=2)
    cfg = preset("full").replace(epochs=2, device="cpu", patience=None, batch_size=256)
    result = train(cfg, data, runs_dir=tmp_path_factory.mktemp("runs"))
    return data, result


def test_top_k_breaks_ties_by_column_and_puts_nan_and_masked_last():
    scores = torch.tensor([[0.5, 0.9, 0.5, float("nan"), 0.9, 0.1]])
    assert top_k(scores, 6)[0].tolist() == [1, 4, 0, 2, 5, 3]
    masked = mask(scores, [0, 0], [1, 2])
    assert top_k(masked, 3)[0].tolist() == [4, 0, 5]
    assert top_k(scores, 10).shape == (1, 6)  # k past the item count: every item


def test_evaluation_and_recommender_rank_the_same_list(stored):
    data, result = stored
    trained = load_trained(result.run_dir, data)
    prep = trained.prepared()
    k = trained.config.ranking_k
    user_ids, top, _, items = ranked_lists(trained.model, prep, "test", k=k)
    rec = Recommender(trained)
    train_rows = prep.split.train
    ratings = data.ratings
    for row in (0, len(user_ids) // 2, len(user_ids) - 1):
        user = int(user_ids[row])
        mine = train_rows[ratings["user"].to_numpy()[train_rows] == user]
        seen = ratings["item"].to_numpy()[mine]
        shown = rec.recommend(user, n=k, seen=seen)["item"].tolist()
        assert shown == items[top[row]].tolist(), user


def test_ranking_masks_training_items(stored):
    data, result = stored
    trained = load_trained(result.run_dir, data)
    prep = trained.prepared()
    user_ids, top, _, items = ranked_lists(trained.model, prep, "test", k=20)
    users = data.ratings["user"].to_numpy()[prep.split.train]
    train_items = data.ratings["item"].to_numpy()[prep.split.train]
    for row, user in enumerate(user_ids):
        assert not set(items[top[row]]) & set(train_items[users == user]), user


def test_ranking_samples_users_with_the_config_seed(stored):
    data, result = stored
    trained = load_trained(result.run_dir, data)
    prep = trained.prepared()
    full = evaluate_ranking(trained.model, prep, "test", k=10)
    a = evaluate_ranking(trained.model, prep, "test", k=10, max_users=5)
    b = evaluate_ranking(trained.model, prep, "test", k=10, max_users=5)
    assert a["ranking_users"] == 5 and full["ranking_users"] > 5
    assert a == b
    ids_a = ranked_lists(trained.model, prep, "test", k=10, max_users=5)[0]
    assert len(set(ids_a)) == 5 and list(ids_a) == sorted(ids_a)


def test_evaluate_run_reproduces_the_recorded_test_metrics(stored):
    data, result = stored
    again = evaluate_run(result.run_dir, data)
    for key, value in result.test.items():
        if isinstance(value, dict):  # the baselines: deterministic, recomputed exactly
            assert again[key] == value, key
        else:
            assert again[key] == pytest.approx(value, nan_ok=True), key
    assert set(catalogue(data)) >= set(data.ratings["item"])


def test_reload_checks_the_split_hash(stored, tmp_path):
    import shutil

    data, result = stored
    copy = tmp_path / "run"
    shutil.copytree(result.run_dir, copy)
    split = json.loads((copy / "split.json").read_text())
    split["hash"] = "0" * len(split["hash"])
    (copy / "split.json").write_text(json.dumps(split))
    trained = load_trained(copy, data)  # the weights load; the split is checked on use
    with pytest.raises(RunError, match="split"):
        trained.prepared()
    with pytest.raises(RunError, match="split"):
        evaluate_run(copy, data)


def test_a_run_of_other_data_is_refused(stored):
    from widedeep_core.data.synthetic import make_synthetic

    _, result = stored
    other = make_synthetic(n_users=80, n_items=120, n_ratings=4000, seed=3)
    with pytest.raises(RunError, match="fingerprint"):
        load_trained(result.run_dir, other)
    assert np.isfinite(result.test["auc"])


@pytest.mark.parametrize("shift", [0, 10**9])  # small ids: a lookup table; large: a search
def test_rating_codes_index_every_rating(shift):
    from widedeep_core.data.index import rating_codes
    from widedeep_core.data.synthetic import make_synthetic

    data = make_synthetic(n_users=30, n_items=40, n_ratings=500, seed=4)
    data.ratings["user"] += shift
    data.ratings["item"] += shift
    data.movies["item"] += shift
    codes = rating_codes(data)
    assert np.array_equal(codes.users[codes.user_of], data.ratings["user"].to_numpy())
    assert np.array_equal(catalogue(data)[codes.item_of], data.ratings["item"].to_numpy())
    assert rating_codes(data) is codes  # memoised while the tables stay the same
    data.ratings = data.ratings.iloc[:100].copy()
    assert len(rating_codes(data).user_of) == 100
