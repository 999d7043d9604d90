"""FeatureEncoder: train-only vocabularies, OOV, buckets, crosses, JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from widedeep_core.config import fields_available
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.features import (
    Encoded,
    FeatureEncoder,
    bucket_age,
    bucket_year,
    bucket_zip,
    cross_name,
)
from widedeep_core.features.splits import make_split

ALL = ["user", "item", "gender", "age", "occupation", "zip", "year", "genres"]
CROSSES = [("genres", "gender"), "age x genres", ("user", "genres"), ("gender", "age")]


@pytest.fixture(scope="module")
def split(small_data):
    return make_split(small_data.ratings, "random", seed=0)


@pytest.fixture(scope="module")
def encoder(small_data, split):
    return FeatureEncoder.fit(small_data, split.train, ALL, CROSSES)


def test_buckets():
    assert bucket_age([1, 18, 25, 35, 45, 50, 56]).tolist() == [1, 18, 25, 35, 45, 50, 56]
    assert bucket_age([7, 17, 18, 24, 30, 44, 49, 55, 56, 80]).tolist() == [
        1, 1, 18, 18, 25, 35, 45, 50, 56, 56,
    ]  # fmt: skip
    assert bucket_zip(["55117-1234", "t8h1n", None, ""]).tolist() == ["551", "T8H", "?", "?"]
    assert bucket_year([1994.0, 1995.0, 1999.0, np.nan]).tolist() == [1990, 1995, 1995, -1]


def test_specs_follow_the_canonical_order(encoder):
    names = [s.name for s in encoder.specs]
    assert names == [*ALL, "user x genres", "gender x age", "gender x genres", "age x genres"]
    multi = {s.name for s in encoder.specs if s.multi}
    assert multi == {"genres", "user x genres", "gender x genres", "age x genres"}
    assert encoder.single_names == [n for n in names if n not in multi]
    assert cross_name("genres", "occupation") == "occupation x genres"


def test_vocab_comes_from_training_rows_only(small_data, split, encoder):
    r = small_data.ratings
    train_users = set(r["user"].to_numpy()[split.train].tolist())
    train_items = set(r["item"].to_numpy()[split.train].tolist())
    assert set(encoder.values("user")) == train_users
    assert set(encoder.values("item")) == train_items
    sizes = {s.name: s.size for s in encoder.specs}
    assert sizes["user"] == len(train_users) + 1
    assert sizes["gender"] == 3  # OOV + F + M


def test_unseen_ids_map_to_zero(small_data):
    r = small_data.ratings
    # hold one item and one user out of training entirely
    held_item = int(r["item"].value_counts().index[0])
    held_user = int(r["user"].value_counts().index[-1])
    mask = (r["item"] != held_item) & (r["user"] != held_user)
    train = np.flatnonzero(mask.to_numpy())
    enc = FeatureEncoder.fit(small_data, train, ["user", "item", "gender", "genres"], [])
    other = np.flatnonzero(~mask.to_numpy())
    e = enc.transform(small_data, other)
    users = r["user"].to_numpy()[other]
    items = r["item"].to_numpy()[other]
    ucol, icol = enc.single_names.index("user"), enc.single_names.index("item")
    assert np.all(e.single[:, ucol].numpy()[users == held_user] == 0)
    assert np.all(e.single[:, icol].numpy()[items == held_item] == 0)
    assert np.all(e.single[:, ucol].numpy()[users != held_user] > 0)


def test_transform_pairs_handles_arbitrary_ids(small_data, encoder, split):
    e = encoder.transform_pairs(small_data, [10**9, -5], [10**9, 1])
    assert len(e) == 2
    names = encoder.single_names
    row0 = dict(zip(names, e.single[0].tolist(), strict=True))
    assert all(v == 0 for v in row0.values()), "unknown user and item give OOV everywhere"
    assert all(int(v.abs().sum()) == 0 for v in (m[0] for m in e.multi.values()))
    # known pairs encode exactly like the rows they come from
    rows = split.test[:50]
    r = small_data.ratings
    a = encoder.transform(small_data, rows)
    b = encoder.transform_pairs(small_data, r["user"].to_numpy()[rows], r["item"].to_numpy()[rows])
    assert torch.equal(a.single, b.single)
    assert all(torch.equal(a.multi[k], b.multi[k]) for k in a.multi)
    # one user against many items broadcasts
    c = encoder.transform_pairs(small_data, int(r["user"].iloc[0]), np.arange(1, 21))
    assert len(c) == 20


def test_user_features_come_from_the_users_table(small_data, encoder):
    users = small_data.users
    u = users.iloc[3]
    e = encoder.transform_pairs(small_data, [int(u["user"])], [1])
    names = encoder.single_names
    gender_code = int(e.single[0, names.index("gender")])
    assert encoder.values("gender")[gender_code - 1] == u["gender"]
    age_code = int(e.single[0, names.index("age")])
    assert encoder.values("age")[age_code - 1] == int(u["age"])
    zip_code = int(e.single[0, names.index("zip")])
    assert encoder.values("zip")[zip_code - 1] == str(u["zip"])[:3].upper()


def test_genres_are_padded_with_zero(small_data, encoder):
    movies = small_data.movies
    items = movies["item"].to_numpy()[:30]
    e = encoder.transform_pairs(small_data, np.full(len(items), 1), items)
    g = e.multi["genres"].numpy()
    known = set(encoder.values("genres"))
    vocab = encoder.values("genres")
    for row, genres in zip(g, movies["genres"].iloc[:30], strict=True):
        nonzero = row[row > 0]
        assert sorted(vocab[c - 1] for c in nonzero) == sorted(x for x in genres if x in known)
        # padding only at the end
        assert np.all(row[len(nonzero) :] == 0)


def test_cross_support_counts_training_rows(small_data, split, encoder):
    r = small_data.ratings.iloc[split.train]
    users = small_data.users.set_index("user")
    movies = small_data.movies.set_index("item")
    df = pd.DataFrame(
        {
            "gender": users.loc[r["user"], "gender"].to_numpy(),
            "genres": movies.loc[r["item"], "genres"].to_numpy(),
        }
    ).explode("genres")
    expected = df.groupby(["gender", "genres"]).size()
    support = encoder.cross_support(("genres", "gender"))
    assert list(support.columns) == ["value", "count"]
    got = dict(zip(support["value"], support["count"], strict=True))
    assert got == {f"{g} x {x}": int(c) for (g, x), c in expected.items()}
    assert support["count"].is_monotonic_decreasing
    with pytest.raises(ConfigError) as err:
        encoder.cross_support("zip x year")
    assert err.value.field == "crosses"


def test_cross_codes_match_their_values(small_data, encoder):
    r = small_data.ratings
    e = encoder.transform(small_data, np.arange(40))
    pairs = encoder.values("gender x age")
    users = small_data.users.set_index("user")
    col = encoder.single_names.index("gender x age")
    for row, code in enumerate(e.single[:, col].tolist()):
        u = users.loc[int(r["user"].iloc[row])]
        if code:
            assert pairs[code - 1] == (u["gender"], int(u["age"]))


def test_min_count_drops_rare_cross_values(small_data, split):
    enc = FeatureEncoder.fit(small_data, split.train, ["item"], ["user x genres"], min_count=5)
    support = enc.cross_support("user x genres")
    assert len(support) > 0 and support["count"].min() >= 5
    full = FeatureEncoder.fit(small_data, split.train, ["item"], ["user x genres"])
    assert len(full.cross_support("user x genres")) > len(support)


def test_json_round_trip(small_data, split, encoder):
    d = json.loads(json.dumps(encoder.to_json()))
    again = FeatureEncoder.from_json(d)
    assert again.specs == encoder.specs
    a = encoder.transform(small_data, split.val)
    b = again.transform(small_data, split.val)
    assert torch.equal(a.single, b.single)
    assert all(torch.equal(a.multi[k], b.multi[k]) for k in a.multi)
    assert again.cross_support("age x genres").equals(encoder.cross_support("age x genres"))
    with pytest.raises(RunError):
        FeatureEncoder.from_json({"format": "something else"})


def test_fields_without_demographics(small_data, split):
    no_users = dataclasses.replace(small_data, users=None, layout="ml-10m")
    assert list(fields_available(no_users)) == ["user", "item", "year", "genres"]
    with pytest.raises(ConfigError) as err:
        FeatureEncoder.fit(no_users, split.train, ["user", "gender"], [])
    assert err.value.field == "fields" and "gender" in str(err.value)
    with pytest.raises(ConfigError) as err:
        FeatureEncoder.fit(no_users, split.train, ["user"], ["age x genres"])
    assert err.value.field == "crosses"
    enc = FeatureEncoder.fit(
        no_users, split.train, list(fields_available(no_users)), ["user x genres"]
    )
    assert len(enc.transform(no_users, split.test)) == len(split.test)


@pytest.mark.parametrize(
    ("fields", "crosses", "field"),
    [
        (["user", "title"], [], "fields"),
        ([], [], "fields"),
        (["user"], [("genres", "genres")], "crosses"),
        (["user"], [("user", "user")], "crosses"),
        (["user"], ["user x colour"], "crosses"),
    ],
)
def test_bad_fields_are_config_errors(small_data, split, fields, crosses, field):
    with pytest.raises(ConfigError) as err:
        FeatureEncoder.fit(small_data, split.train, fields, crosses)
    assert err.value.field == field


def test_encoded_take_and_to(encoder, small_data, split):
    e = encoder.transform(small_data, split.train[:100])
    assert isinstance(e, Encoded) and len(e) == 100
    assert e.single.dtype == torch.long
    idx = torch.tensor([5, 0, 7])
    t = e.take(idx)
    assert len(t) == 3 and torch.equal(t.single[1], e.single[0])
    assert torch.equal(t.multi["genres"][0], e.multi["genres"][5])
    # a numpy index and a boolean mask pick the rows advanced indexing picks
    mask = torch.zeros(len(e), dtype=torch.bool)
    mask[[3, 9]] = True
    for how, rows in ((np.array([5, 0, 7]), [5, 0, 7]), (mask, [3, 9])):
        picked = e.take(how)
        assert torch.equal(picked.single, e.single[rows])
        assert torch.equal(picked.multi["genres"], e.multi["genres"][rows])
    moved = e.to("cpu")
    assert torch.equal(moved.single, e.single)
