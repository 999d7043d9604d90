"""Two-stage top-N: config rules, negatives in training, one list for serving and metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from widedeep_core.api import train
from widedeep_core.config import Config, preset
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.errors import ConfigError, DataError, RunError
from widedeep_core.evaluation.evaluate import ranked_lists
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.prepare import prepare
from widedeep_core.features.retrieval_features import training_rows
from widedeep_core.ranking.twostage import attach_retrieval
from widedeep_core.retrieval import interaction_matrix
from widedeep_core.runs.schema import RETRIEVAL_NPZ
from widedeep_core.serving.recommend import COLUMNS, Recommender
from widedeep_core.training.topn import TopNRows

SMALL = {"epochs": 2, "device": "cpu", "retrieval_folds": 2, "batch_size": 512}


NEWCOMER = 9999  # a user whose only rating is held out: no training ratings


@pytest.fixture(scope="module")
def data():
    base = make_synthetic(n_users=120, n_items=160, n_ratings=6000, seed=3)
    row = pd.DataFrame({"user": [NEWCOMER], "item": [1], "rating": [5.0], "timestamp": [1]})
    users = pd.concat([base.users, base.users.iloc[:1].assign(user=NEWCOMER)])
    ratings = pd.concat([base.ratings, row.astype(base.ratings.dtypes)], ignore_index=True)
    return dataclasses.replace(base, ratings=ratings, users=users, fingerprint="newcomer")


@pytest.fixture(scope="module")
def seed(data):
    """A split seed that keeps the newcomer's rating out of training."""
    newcomer_row = len(data.ratings) - 1
    for s in range(50):
        prep = prepare(preset("topn").replace(seed=s, **SMALL), data)
        if newcomer_row not in set(prep.split.train):
            return s
    raise AssertionError("no seed holds the newcomer out")


@pytest.fixture(scope="module")
def topn_run(data, seed, tmp_path_factory):
    cfg = preset("topn").replace(seed=seed, **SMALL)
    return train(cfg, data, runs_dir=tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"candidates": 5, "ranking_k": 10}, "candidates", "candidates >= ranking_k"),
        ({"ease_lambda": 0.0}, "ease_lambda", "must be in"),
        ({"ease_lambda": -3.0}, "ease_lambda", "must be in"),
        ({"negatives": 0}, "negatives", "needs sampled negatives"),
        ({"retrieval_folds": 1}, "retrieval_folds", "0 .* or 2 to 10"),
        ({"retrieval": "none", "hard_negatives": 2}, "hard_negatives", "set retrieval"),
        ({"retrieval_features": ("score", "bogus")}, "retrieval_features", "unknown value"),
    ],
)
def test_config_rules(changes, field, words):
    with pytest.raises(ConfigError, match=words) as err:
        preset("topn").replace(**changes)
    assert err.value.field == field


def test_pointwise_config_ignores_the_topn_fields():
    assert Config(candidates=3).candidates == 3  # M < K only matters with a retrieval
    assert not preset("reference").two_stage and preset("topn").two_stage


def test_negatives_are_never_rated_and_reproducible(data, seed):
    cfg = preset("topn").replace(seed=seed, **SMALL, hard_negatives=2)
    prep = attach_retrieval(prepare(cfg, data))
    rows = TopNRows(prep)
    u, i, _ = training_rows(data, prep.split.train, prep.labels)
    rated = interaction_matrix(u, i, len(rows.user_ids), len(rows.item_ids))
    for epoch in range(1, cfg.epochs + 1):
        nu, ni = rows.negatives(epoch)
        assert len(nu) > 0
        assert not np.asarray(rated[nu, ni]).any()
    again = TopNRows(prep)
    for epoch in range(1, cfg.epochs + 1):
        (a, b), (c, d) = rows.negatives(epoch), again.negatives(epoch)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    x, y = rows.epoch(2)
    batch = x.take(torch.arange(len(y)))
    assert batch.dense is not None and batch.dense.shape == (len(y), len(prep.retrieval.names))
    assert float(y.sum()) == float(rows.y_rows.sum())  # negatives are labelled 0


def _epoch_arrays(rows: TopNRows, epoch: int) -> list[np.ndarray]:
    x, y = rows.epoch(epoch)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
    got = x.take(perm)
    return [
        y.numpy(),
        got.single.numpy(),
        got.dense.numpy(),
        *(v.numpy() for v in got.multi.values()),
    ]


def test_an_epoch_s_rows_are_the_concatenated_rows_encoded_a_chunk_at_a_time(data, seed):
    cfg = preset("topn").replace(seed=seed, **SMALL)
    prep = attach_retrieval(prepare(cfg, data))
    rows = TopNRows(prep)
    x, y = rows.epoch(2)
    nu, ni = rows.negatives(2)
    whole = Encoded.concat(
        [
            rows.x_rows,
            prep.encoder.transform_pairs(data, rows.user_ids[nu], rows.item_ids[ni]).with_dense(
                rows.store.get(1, "dense").astype(np.float32)
            ),
        ]
    )
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:700]
    for got, want in (
        (x.take(idx), whole.take(idx)),
        (x.take(slice(5, 900)), whole.take(slice(5, 900))),
    ):
        torch.testing.assert_close(got.single, want.single, rtol=0, atol=0)
        torch.testing.assert_close(got.dense, want.dense, rtol=0, atol=0)
        for name in want.multi:
            torch.testing.assert_close(got.multi[name], want.multi[name], rtol=0, atol=0)
    assert len(x) == len(whole) == len(y)


def test_negatives_spilled_to_disk_and_scored_in_user_ranges_are_the_same(data, seed, monkeypatch):
    import widedeep_core.features.retrieval_features as rf
    from widedeep_core.config import memory

    cfg = preset("topn").replace(seed=seed, **{**SMALL, "epochs": 3}, hard_negatives=2)
    prep = attach_retrieval(prepare(cfg, data))
    kept = TopNRows(prep)
    assert not kept.store.on_disk
    want = [_epoch_arrays(kept, e) for e in (1, 2, 3)]
    ranges = []
    user_ranges = rf._user_ranges
    monkeypatch.setattr(memory, "SPILL_BYTES", 0)
    monkeypatch.setattr(rf, "PAIRS_PER_CALL", 900)
    monkeypatch.setattr(rf, "_user_ranges", lambda *a: ranges.append(r := user_ranges(*a)) or r)
    spilled = TopNRows(prep)
    folder = spilled.store.folder
    assert spilled.store.on_disk and folder is not None and any(folder.iterdir())
    assert min(len(r) for r in ranges) > 1  # every fold was scored in several user ranges
    assert all(lo < hi for r in ranges for lo, hi in r)
    for e, arrays in zip((1, 2, 3), want, strict=True):
        for a, b in zip(arrays, _epoch_arrays(spilled, e), strict=True):
            np.testing.assert_array_equal(a, b)
    spilled.close()
    assert not folder.exists()


def test_spilled_negatives_need_the_disk_room_and_say_so(data, seed, monkeypatch):
    import shutil

    from widedeep_core.config import memory
    from widedeep_core.training import epoch_store

    cfg = preset("topn").replace(seed=seed, **SMALL)
    prep = attach_retrieval(prepare(cfg, data))
    monkeypatch.setattr(memory, "SPILL_BYTES", 0)
    monkeypatch.setattr(
        epoch_store.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 0)
    )
    with pytest.raises(ConfigError, match="GiB free: free some space") as info:
        TopNRows(prep)
    assert info.value.field == "negatives"


def test_two_stage_run_serves_and_explains(data, topn_run):
    assert topn_run.status == "finished"
    assert (topn_run.run_dir / RETRIEVAL_NPZ).is_file()
    assert topn_run.test["ndcg@10"] > 0
    rec = Recommender.from_run(topn_run.run_dir, data)
    user = int(data.ratings["user"].iloc[0])
    table = rec.recommend(user, n=8)
    assert list(table.columns) == COLUMNS and len(table) == 8
    assert table.attrs["fallback"] is None
    assert table["score"].is_monotonic_decreasing and table["score"].nunique() > 1
    assert (table["score"] < 0.9999).all()
    assert table["retrieval_rank"].between(1, rec.trained.config.candidates).all()
    train_items = set(rec.training_items(user))
    assert not train_items & set(table["item"])
    assert any(table["because"])
    for because in table["because"]:
        assert set(because) <= train_items
    genre = rec.recommend(user, n=3, genre="Drama")
    assert all("Drama" in g for g in genre["genres"])


def test_evaluation_and_recommender_rank_the_same_lists(data, topn_run):
    rec = Recommender.from_run(topn_run.run_dir, data)
    prep = rec.trained.prepared()
    user_ids, top, _, items = ranked_lists(rec.trained.model, prep, "test", k=10)
    picked = user_ids[:: max(1, len(user_ids) // 6)][:6]
    # the metrics judge lists that leave out the protocol's history (the training split)
    everyone = rec.recommend_all(10, users=picked, exclude="history")
    for user in picked:
        row = int(np.flatnonzero(user_ids == user)[0])
        judged = [int(items[c]) for c in top[row] if c >= 0]
        shown = rec.recommend(int(user), n=10, exclude="history")["item"].tolist()
        exported = everyone.loc[everyone["user"] == user, "item"].tolist()
        assert judged == shown == exported


def test_unseen_lists_hold_no_rated_movie_by_default(data, topn_run):
    rec = Recommender.from_run(topn_run.run_dir, data)
    users = rec.users[:10]
    everyone = rec.recommend_all(10, users=users)
    assert everyone.attrs["exclude"] == "rated"
    held_out = 0
    for user in users:
        rated = set(rec.seen_items(int(user)).tolist())
        table = rec.recommend(int(user), n=10)
        assert table.attrs["exclude"] == "rated"
        assert not rated & set(table["item"].tolist())
        assert table["item"].tolist() == everyone.loc[everyone["user"] == user, "item"].tolist()
        judged = rec.recommend(int(user), n=10, exclude="train")["item"].tolist()
        held_out += len(rated & set(judged))
    assert held_out > 0  # the judged lists do hold held-out rated movies: the rules differ


def test_newcomer_gets_popular_movies_and_is_told(data, topn_run):
    rec = Recommender.from_run(topn_run.run_dir, data)
    table = rec.recommend(NEWCOMER, n=5)
    assert "no training ratings" in table.attrs["fallback"]
    assert len(table) == 5 and not any(table["because"])
    everyone = rec.recommend_all(5, users=np.array([NEWCOMER]))
    assert everyone["item"].tolist() == table["item"].tolist()


def test_one_stage_recommend_all_matches_recommend(data, seed, tmp_path):
    cfg = preset("reference").replace(epochs=1, device="cpu", seed=seed)
    result = train(cfg, data, runs_dir=tmp_path)
    rec = Recommender.from_run(result.run_dir, data)
    users = np.array(rec.users[:4])
    everyone = rec.recommend_all(5, users=users)
    assert list(everyone.columns) == ["user", "rank", "item", "score"]
    for user in users:
        shown = rec.recommend(int(user), n=5)
        assert shown["item"].tolist() == everyone.loc[everyone["user"] == user, "item"].tolist()
        assert shown["retrieval_rank"].isna().all() and not any(shown["because"])
    with pytest.raises(RunError, match="two-stage ranking needs a run trained with"):
        Recommender.from_run(result.run_dir, data, two_stage=True)


def test_k_larger_than_the_catalogue(data, topn_run):
    rec = Recommender.from_run(topn_run.run_dir, data)
    with pytest.raises(DataError, match=r"catalogue of .* has 160"):
        rec.recommend(int(rec.users[0]), n=161)
    with pytest.raises(ConfigError, match="larger than the catalogue"):
        ranked_lists(rec.trained.model, rec.trained.prepared(), "test", k=500)


def test_movies_outside_a_capped_route_read_zero_and_fit_float16(data, seed):
    from widedeep_core.features.retrieval_features import (
        activity_buckets,
        dense_names,
        fit_fold,
        pair_features,
    )
    from widedeep_core.retrieval.ease import EASE

    cfg = preset("topn").replace(seed=seed, **SMALL)
    prep = prepare(cfg, data)
    u, i, y = training_rows(data, prep.split.train, prep.labels)
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    fm = fit_fold(u, i, y, (n_users, n_items), lambda x: EASE(x, 1.0, max_items=20))
    names = dense_names(cfg)
    pu, pi = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    feats = pair_features(fm, pu.ravel(), pi.ravel(), names, activity_buckets(fm.seen))
    assert np.isfinite(feats.astype(np.float16)).all()  # the stored negatives' dtype
    covered = np.isin(pi.ravel(), fm.main.items)
    score = feats[:, names.index("score")]
    assert (score[~covered] == 0).all() and (score[covered] != 0).any()
    assert np.abs(score[covered]).max() <= 65504


def test_two_stage_evaluation_judges_a_seeded_sample_past_its_user_cap(data, topn_run, monkeypatch):
    from widedeep_core.evaluation import evaluate

    rec = Recommender.from_run(topn_run.run_dir, data)
    prep, model = rec.trained.prepared(), rec.trained.model
    every, *_ = ranked_lists(model, prep, "test")
    assert len(every) > 40  # all judged users below the cap
    monkeypatch.setattr(evaluate, "MAX_TWO_STAGE_USERS", 40)
    users, top, positives, _ = ranked_lists(model, prep, "test")
    again, *_ = ranked_lists(model, prep, "test")
    assert len(users) == 40 and np.isin(users, every).all()
    np.testing.assert_array_equal(users, again)  # seeded: the same sample each time
    assert len(top) == len(positives) == 40
    row = evaluate.evaluate_split(model, prep, "test")
    assert row["ranking_users"] == 40 and row["baselines"]["ease"]["ranking_users"] == 40


def test_a_capped_route_s_features_equal_those_of_its_whole_catalogue_scores(data, seed):
    """Scoring only the covered movies (``score_covered``) gives the features that the
    catalogue-wide scores (-inf outside) give; ranks among ties and -inf included."""
    from widedeep_core.features.retrieval_features import (
        activity_buckets,
        dense_names,
        fit_fold,
        pair_features,
    )
    from widedeep_core.retrieval.ease import EASE

    class Whole:  # the same model, seen through ``score`` only
        def __init__(self, model):
            self.model = model

        def score_covered(self, users):
            return self.model.score(users), None

    cfg = preset("topn").replace(seed=seed, **SMALL)
    prep = prepare(cfg, data)
    u, i, y = training_rows(data, prep.split.train, prep.labels)
    shape = (int(u.max()) + 1, int(i.max()) + 1)
    fm = fit_fold(u, i, y, shape, lambda x: EASE(x, 50.0, max_items=30))
    names = dense_names(cfg)
    rng = np.random.default_rng(0)
    pu, pi = rng.integers(0, shape[0], 5000), rng.integers(0, shape[1], 5000)
    act = activity_buckets(fm.seen)
    got = pair_features(fm, pu, pi, names, act)
    whole = dataclasses.replace(fm, main=Whole(fm.main), liked=Whole(fm.liked))
    np.testing.assert_array_equal(got, pair_features(whole, pu, pi, names, act))
    assert len(np.unique(got[:, names.index("rank_bucket")])) > 3
