"""Labels and the three split protocols: determinism, disjointness, coverage, ordering."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from widedeep_core.errors import ConfigError
from widedeep_core.features.splits import (
    Split,
    SplitRecord,
    binary_labels,
    make_split,
    split_hash,
)


def _check_partition(split: Split, rows: np.ndarray) -> None:
    parts = [split.train, split.val, split.test]
    for p in parts:
        assert p.dtype == np.int64
        assert np.all(np.diff(p) > 0), "indices must be sorted and unique"
    joined = np.concatenate(parts)
    assert len(joined) == len(rows)
    assert np.array_equal(np.sort(joined), np.sort(rows))


def test_binary_labels_threshold_and_neutral():
    df = pd.DataFrame({"rating": np.array([1, 3, 4, 5, 3, 2.5], dtype=np.float32)})
    labels, keep = binary_labels(df, threshold=3.0)
    assert labels.dtype == np.float32 and keep.dtype == np.int64
    assert labels.tolist() == [0, 0, 1, 1, 0, 0]
    assert keep.tolist() == list(range(6))
    labels, keep = binary_labels(df, threshold=3.0, drop_neutral=True)
    assert keep.tolist() == [0, 2, 3, 5]
    assert labels.tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError):  # Config validates the threshold; a cheap guard here
        binary_labels(df, threshold="high")


@pytest.mark.parametrize("kind", ["random", "temporal", "leave-last-out"])
def test_split_is_a_deterministic_partition(small_data, kind):
    ratings = small_data.ratings
    a = make_split(ratings, kind, seed=3)
    b = make_split(ratings, kind, seed=3)
    _check_partition(a, np.arange(len(ratings)))
    assert a.record == b.record
    assert a.record.hash == split_hash(a.train, a.val, a.test)
    for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test), strict=True):
        assert np.array_equal(x, y)
    assert len(a.val) > 0 and len(a.test) > 0


def test_random_split_sizes_and_seed(small_data):
    n = small_data.n_ratings
    s = make_split(small_data.ratings, "random", seed=0)
    assert s.sizes() == (int(n * 0.8), int(n * 0.1), n - int(n * 0.8) - int(n * 0.1))
    other = make_split(small_data.ratings, "random", seed=1)
    assert other.record.hash != s.record.hash
    custom = make_split(small_data.ratings, "random", fractions=(0.5, 0.25, 0.25))
    assert custom.sizes()[0] == n // 2


def test_rows_restricts_the_split(small_data):
    _, keep = binary_labels(small_data.ratings, drop_neutral=True)
    for kind in ("random", "temporal", "leave-last-out"):
        s = make_split(small_data.ratings, kind, rows=keep)
        _check_partition(s, keep)


def test_temporal_split_puts_the_latest_ratings_last(small_data):
    r = small_data.ratings
    s = make_split(r, "temporal", fractions=(0.8, 0.1, 0.1))
    part = pd.Series("train", index=r.index)
    part.iloc[s.val] = "val"
    part.iloc[s.test] = "test"
    df = r.assign(part=part)
    for _, g in df.groupby("user"):
        n = len(g)
        n_test = min(int(np.floor(n * 0.1 + 0.5)), n - 1)
        n_val = min(int(np.floor(n * 0.1 + 0.5)), n - 1 - n_test)
        counts = g["part"].value_counts()
        assert counts.get("test", 0) == n_test
        assert counts.get("val", 0) == n_val
        assert counts.get("train", 0) >= 1
        ts = {p: g.loc[g["part"] == p, "timestamp"] for p in ("train", "val", "test")}
        if n_val:
            assert ts["train"].max() <= ts["val"].min()
        if n_test:
            assert max(ts["train"].max(), ts["val"].max() if n_val else 0) <= ts["test"].min()


def test_leave_last_out_by_hand_with_ties():
    # user 7: four ratings, two share the latest timestamp -> row order breaks the tie
    ratings = pd.DataFrame(
        {
            "user": np.array([7, 7, 9, 7, 9, 7, 5, 5, 5], dtype=np.int32),
            "item": np.arange(9, dtype=np.int32),
            "rating": np.full(9, 4.0, dtype=np.float32),
            "timestamp": np.array([10, 40, 5, 20, 6, 40, 3, 1, 2], dtype=np.int64),
        }
    )
    s = make_split(ratings, "leave-last-out")
    # user 7 order: row0 (10), row3 (20), row1 (40), row5 (40, later row) -> test row5, val row1
    # user 5 order: row7 (1), row8 (2), row6 (3) -> test row6, val row8
    # user 9 has 2 ratings: all train
    assert s.test.tolist() == [5, 6]
    assert s.val.tolist() == [1, 8]
    assert s.train.tolist() == [0, 2, 3, 4, 7]


def test_leave_last_out_per_user(small_data):
    r = small_data.ratings
    s = make_split(r, "leave-last-out")
    sizes = r.groupby("user").size()
    eligible = int((sizes >= 3).sum())
    assert len(s.test) == eligible and len(s.val) == eligible
    test_users = r["user"].to_numpy()[s.test]
    assert len(np.unique(test_users)) == eligible
    # the test rating is the user's latest
    latest = r.groupby("user")["timestamp"].max()
    assert np.all(r["timestamp"].to_numpy()[s.test] == latest.loc[test_users].to_numpy())


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), "abc"]
)
def test_bad_fractions_fail_fast(small_data, fractions):
    # Config validates split_fractions with a message naming the field; make_split guards
    with pytest.raises((AssertionError, ValueError)):
        make_split(small_data.ratings, "random", fractions=fractions)


def test_bad_kind_fails_fast(small_data):
    with pytest.raises(AssertionError):
        make_split(small_data.ratings, "by-genre")
    with pytest.raises(ConfigError):
        make_split(small_data.ratings, "random", rows=[0, small_data.n_ratings])


def test_record_json_round_trip(small_data):
    s = make_split(small_data.ratings, "temporal", fractions=(0.7, 0.2, 0.1), seed=5)
    d = json.loads(json.dumps(s.record.to_dict()))
    assert SplitRecord.from_dict(d) == s.record
    assert d["kind"] == "temporal" and d["fractions"] == [0.7, 0.2, 0.1] and d["seed"] == 5
    with pytest.raises(ConfigError):
        SplitRecord.from_dict({"kind": "random"})
