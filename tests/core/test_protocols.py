"""Evaluation protocols as configuration (issue 19): filters, k-core, per-user random
splits, the positive rule, the test history, and the named protocols of the presets."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_core.config import Config
from widedeep_core.config.presets import preset
from widedeep_core.config.protocols import PROTOCOLS, protocol_name, protocol_text
from widedeep_core.data.synthetic import make_synthetic
from widedeep_core.evaluation.judged import history_rows, ranking_users
from widedeep_core.features.prepare import prepare
from widedeep_core.features.protocol import kcore_mask, protocol_counts, protocol_data
from widedeep_core.features.splits import make_split, ratio_counts

GENERAL = preset("recbole-general")


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=150, n_items=200, n_ratings=7000, seed=3)


def _recbole_split_ids(tot: int, ratios: list[float]) -> list[int]:
    """RecBole 1.2.1's ``Dataset._calcu_split_ids``, as written there (the counts)."""
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (0.6, 0.25, 0.15)])
def test_per_user_counts_are_recboles_rounding(fractions):
    sizes = np.arange(0, 400)
    got = np.stack(ratio_counts(sizes, fractions), 1)
    total = sum(fractions)
    want = np.array([_recbole_split_ids(int(n), [f / total for f in fractions]) for n in sizes])
    np.testing.assert_array_equal(got, want)


def _naive_core(users, items, ku, ki):
    """Peel one offending rating at a time, in Python: the largest core, independently."""
    alive = set(range(len(users)))
    changed = True
    while changed:
        changed = False
        uc, ic = {}, {}
        for r in alive:
            uc[users[r]] = uc.get(users[r], 0) + 1
            ic[items[r]] = ic.get(items[r], 0) + 1
        for r in sorted(alive):
            if uc[users[r]] < ku or ic[items[r]] < ki:
                alive.discard(r)
                changed = True
                break
    return np.array(sorted(alive), dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcore_is_the_largest_core(seed):
    rng = np.random.default_rng(seed)
    n = 400
    users = rng.integers(0, 40, n)
    items = np.minimum(rng.geometric(0.08, n), 60) - 1
    keep = kcore_mask(users, items, 5, 4)
    np.testing.assert_array_equal(np.flatnonzero(keep), _naive_core(users, items, 5, 4))
    u, i = users[keep], items[keep]
    assert (np.bincount(u)[np.unique(u)] >= 5).all()
    assert (np.bincount(i)[np.unique(i)] >= 4).all()


def test_general_protocol_keeps_a_10_core_of_positives(data):
    pdata = protocol_data(GENERAL, data)
    r = pdata.ratings
    assert len(r) < len(data.ratings)
    assert r["rating"].min() >= 3
    assert r.groupby("user").size().min() >= 10
    assert r.groupby("item").size().min() >= 10
    # the catalogue is the movies left, the users are those left
    assert set(pdata.movies["item"]) == set(r["item"])
    assert set(pdata.users["user"]) == set(r["user"])
    counts = protocol_counts(pdata)
    assert counts == {
        "ratings": len(r),
        "users": r["user"].nunique(),
        "items": r["item"].nunique(),
    }
    # a second application changes nothing and returns the same object
    assert protocol_data(GENERAL, pdata) is pdata
    # the seed protocol filters nothing: the loaded data itself
    assert protocol_data(Config(), data) is data


def test_general_protocol_labels_and_per_user_split(data):
    prep = prepare(GENERAL.replace(device="cpu"), data)
    assert prep.loaded is data and prep.data is not data
    assert np.all(prep.labels == 1.0)  # ratings >= 3 are all positives
    r = prep.data.ratings
    parts = prep.split
    allrows = np.concatenate([parts.train, parts.val, parts.test])
    assert sorted(allrows) == list(range(len(r)))
    users = r["user"].to_numpy()
    sizes = np.bincount(users)
    for name, col in (("train", 0), ("val", 1), ("test", 2)):
        got = np.bincount(users[getattr(parts, name)], minlength=len(sizes))
        want = ratio_counts(sizes, (0.8, 0.1, 0.1))[col]
        present = sizes > 0
        np.testing.assert_array_equal(got[present], want[present])
    # seeded: the same seed gives the same split, another seed another
    again = make_split(r, "user-random", (0.8, 0.1, 0.1), GENERAL.seed)
    assert again.record.hash == parts.record.hash
    other = make_split(r, "user-random", (0.8, 0.1, 0.1), GENERAL.seed + 1)
    assert other.record.hash != parts.record.hash


def test_test_history_masks_validation_items_at_test_only(data):
    prep = prepare(GENERAL.replace(device="cpu"), data)
    np.testing.assert_array_equal(
        history_rows(prep, "test"), np.union1d(prep.split.train, prep.split.val)
    )
    np.testing.assert_array_equal(history_rows(prep, "val"), prep.split.train)
    judged = ranking_users(prep, "test", None)
    seed_like = prepare(GENERAL.replace(device="cpu", test_history="train"), data)
    judged_train = ranking_users(seed_like, "test", None)
    np.testing.assert_array_equal(judged.user_ids, judged_train.user_ids)
    grew = sum(len(a) - len(b) for a, b in zip(judged.seen, judged_train.seen, strict=True))
    assert grew == len(prep.split.val)  # every validation row is one more masked item


def test_positive_rule_at_least_the_threshold(data):
    rating = data.ratings["rating"].to_numpy()
    above = prepare(Config(threshold=4.0, device="cpu"), data)
    at_least = prepare(Config(threshold=4.0, positive_rule=">=", device="cpu"), data)
    np.testing.assert_array_equal(above.labels, (rating > 4).astype(np.float32))
    np.testing.assert_array_equal(at_least.labels, (rating >= 4).astype(np.float32))


def test_context_protocol_drops_threes_and_labels_fours(data):
    prep = prepare(preset("recbole-context").replace(device="cpu"), data)
    rating = data.ratings["rating"].to_numpy()
    kept = np.isfinite(prep.labels)
    np.testing.assert_array_equal(kept, rating != 3)
    np.testing.assert_array_equal(prep.labels[kept], (rating[kept] >= 4).astype(np.float32))
    n = int(kept.sum())
    # RecBole's RS rounding: validation and test int(0.1 n), train the rest
    assert prep.split.sizes() == (n - 2 * int(n * 0.1), int(n * 0.1), int(n * 0.1))
    # ML-1M's 739,012 context rows: RecBole's 591,210 / 73,901 / 73,901
    assert [int(c[0]) for c in ratio_counts(np.array([739_012]), (0.8, 0.1, 0.1))] == [
        591_210,
        73_901,
        73_901,
    ]


def test_named_protocols():
    assert preset("reference").protocol == "seed"
    assert preset("fast").protocol == "seed" and preset("topn").protocol == "seed"
    assert preset("recbole-context").protocol == "recbole-context"
    assert GENERAL.protocol == "recbole-general"
    assert set(PROTOCOLS) == {"seed", "recbole-context", "recbole-general"}
    custom = Config(min_rating=2.0, min_user_ratings=5)
    assert custom.protocol == "custom"
    text = protocol_text(custom)
    assert "ratings >= 2" in text and "5/0-core" in text
    # a run's stored config dict names the same protocol
    assert protocol_name(GENERAL.to_dict()) == "recbole-general"
    assert protocol_name({"threshold": 3}) == "seed"  # an older run: the defaults


def test_a_protocol_that_keeps_nothing_is_one_clear_error(data):
    from widedeep_core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        prepare(Config(min_rating=9.0, device="cpu"), data)
    assert info.value.field == "min_rating"
    assert "keeps no rating" in str(info.value)


def test_lists_under_the_general_protocol(data, tmp_path):
    """`--exclude history` leaves out training and validation movies; the default
    "rated" also every movie the protocol dropped (a 1-star rating is still seen)."""
    from widedeep_core import api

    cfg = GENERAL.replace(device="cpu", epochs=1, retrieval_folds=0, candidates=40)
    result = api.train(cfg, data, runs_dir=tmp_path)
    rec = api.open_recommender(result.run_dir, data)
    prep = rec.trained.prepared()
    r = prep.data.ratings
    history = np.union1d(prep.split.train, prep.split.val)
    low = data.ratings[data.ratings["rating"] < 3]
    user = int(np.intersect1d(low["user"].unique(), r["user"].unique())[0])
    mine = r["user"].to_numpy() == user
    hist_items = set(r["item"].to_numpy()[history[mine[history]]])
    test_items = set(r["item"].to_numpy()[prep.split.test[mine[prep.split.test]]])
    assert set(rec.excluded_items(user, "history")) == hist_items
    assert set(rec.excluded_items(user, "train")) < hist_items
    rated = set(data.ratings.loc[data.ratings["user"] == user, "item"])
    assert set(rec.excluded_items(user, "rated")) == rated
    assert set(low.loc[low["user"] == user, "item"]) <= rated
    listed = rec.recommend(user, 10, exclude="history")
    assert not set(listed["item"]) & hist_items
    assert not set(rec.recommend(user, 10)["item"]) & rated
    # the exported lists are those the test metrics judged
    from widedeep_core.evaluation.evaluate import ranked_lists

    users, top, _, items = ranked_lists(rec.trained.model, prep, "test", k=10)
    table = rec.recommend_all(10, users=users, exclude="history")
    assert table.attrs["exclude"] == "history"
    for row, u in enumerate(users):
        judged = [int(items[c]) for c in top[row] if c >= 0]
        assert table.loc[table["user"] == u, "item"].tolist() == judged
    assert test_items - hist_items == test_items  # test movies are never history
    # the profile counts every rating the user made, not only those the protocol kept
    assert rec.user_profile(user)["n_ratings"] == len(rated)
