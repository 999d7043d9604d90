"""Negative sampling: never a rated movie, seeded, popularity weighting, hard negatives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from widedeep_core.errors import ConfigError
from widedeep_core.retrieval import interaction_matrix
from widedeep_core.training.negatives import NegativeSampler


def _data(n_users=50, n_items=80, seed=0):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    dense = rng.random((n_users, n_items)) < np.clip(p * 2, 0, 0.95)
    dense[0, :-1] = True  # user 0 rated every movie but the last
    dense[1, :] = True  # user 1 rated every movie
    u, i = np.nonzero(dense)
    return interaction_matrix(u, i, n_users, n_items), dense


@pytest.mark.parametrize("weighting", ["uniform", "popularity"])
def test_no_rated_movie_is_ever_a_negative(weighting):
    x, dense = _data()
    sampler = NegativeSampler(x, k=5, weighting=weighting, seed=3)
    pos_users = np.repeat(np.arange(50), 20)
    for epoch in range(3):
        u, i = sampler.sample(pos_users, epoch)
        assert not dense[u, i].any()
        assert len(u) == 5 * (len(pos_users) - 20)  # user 1 has nothing left to draw
    u, i = sampler.sample(np.array([0, 0, 0]), 0)
    np.testing.assert_array_equal(i, [79] * 15)  # the one movie user 0 has not rated


def test_seeded_and_resampled_every_epoch():
    x, _ = _data()
    pos = np.arange(2, 50).repeat(3)
    a = NegativeSampler(x, k=4, seed=7).sample(pos, 2)
    b = NegativeSampler(x, k=4, seed=7).sample(pos, 2)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], np.repeat(pos, 4))
    other_epoch = NegativeSampler(x, k=4, seed=7).sample(pos, 3)
    other_seed = NegativeSampler(x, k=4, seed=8).sample(pos, 2)
    assert (a[1] != other_epoch[1]).mean() > 0.5
    assert (a[1] != other_seed[1]).mean() > 0.5


def test_popularity_weighting_shifts_mass_to_popular_movies():
    rng = np.random.default_rng(0)
    n_items = 200
    pop = rng.permutation(np.arange(1, n_items + 1) ** 2).astype(float)
    u = np.repeat(np.arange(400), 10)
    i = np.concatenate(
        [rng.choice(n_items, 10, replace=False, p=pop / pop.sum()) for _ in range(400)]
    )
    x = interaction_matrix(u, i, 400, n_items)
    counts = np.asarray(x.sum(0)).ravel()
    pos = np.arange(400).repeat(5)
    _, uni = NegativeSampler(x, k=4, weighting="uniform", seed=0).sample(pos)
    _, pw = NegativeSampler(x, k=4, weighting="popularity", seed=0).sample(pos)
    assert counts[pw].mean() > 1.5 * counts[uni].mean()
    top = np.argsort(-counts)[:20]
    assert np.isin(pw, top).mean() > 2 * np.isin(uni, top).mean()


def test_hard_negatives_come_from_the_candidates():
    x, dense = _data()
    cand = np.full((50, 6), -1)
    for user in range(50):
        free = np.flatnonzero(~dense[user])[:6]
        cand[user, : len(free)] = free
    sampler = NegativeSampler(x, k=1, seed=0, hard_candidates=cand, hard_k=3)
    pos = np.arange(50).repeat(2)
    u, i = sampler.sample(pos, 0)
    n_plain = 2 * 49  # user 1 has no unrated movie
    hu, hi = u[n_plain:], i[n_plain:]
    assert len(hu) == 3 * 2 * 49
    assert all(item in cand[user] for user, item in zip(hu, hi, strict=True))
    assert not dense[u, i].any()


def test_bad_settings():
    x, _ = _data()
    with pytest.raises(ConfigError, match="negative_sampling"):
        NegativeSampler(x, weighting="zipf")
    with pytest.raises(ConfigError, match="negatives"):
        NegativeSampler(x, k=-1)
    with pytest.raises(ConfigError, match="hard_negatives"):
        NegativeSampler(x, hard_k=2)
    assert isinstance(x, sp.csr_matrix)
