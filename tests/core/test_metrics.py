"""Metrics against sklearn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss, roc_auc_score

from widedeep_core.evaluation.metrics import (
    accuracy,
    auc,
    gauc,
    logloss,
    ranking_metrics,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False)),
        min_size=2,
        max_size=60,
    )
)
def test_auc_matches_sklearn_with_ties(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    if len(set(y.tolist())) < 2:
        assert math.isnan(auc(y, s))
        return
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-9)


def test_auc_on_many_rows_and_tensors():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200_000)
    s = np.round(rng.normal(size=len(y)) + y * 0.5, 2)  # heavy ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert auc(torch.from_numpy(y).float(), torch.from_numpy(s)) == pytest.approx(auc(y, s))
    assert auc([0, 1, 1], [0.9, 0.1, 0.1]) == 0.0
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    assert math.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auc([], []))


def test_gauc_is_the_impression_weighted_user_auc():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 30, 2000) * 7 + 3  # arbitrary ids
    y = rng.integers(0, 2, 2000)
    s = np.round(rng.normal(size=2000) + y * 0.3, 1)
    num = den = 0.0
    for u in np.unique(users):
        m = users == u
        if len(set(y[m].tolist())) == 2:
            num += m.sum() * roc_auc_score(y[m], s[m])
            den += m.sum()
    assert gauc(users, y, s) == pytest.approx(num / den, abs=1e-12)
    # one user with one class only is left out; none with both classes -> nan
    assert gauc([1, 1, 2, 2], [0, 1, 1, 1], [0.2, 0.3, 0.1, 0.9]) == 1.0
    assert math.isnan(gauc([1, 2], [0, 1], [0.1, 0.2]))


def test_logloss_and_accuracy():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.8, 0.4, 0.0, 1.0])
    assert logloss(y, p) == pytest.approx(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)), rel=1e-9)
    assert math.isfinite(logloss(y, p))
    assert accuracy(y, p) == pytest.approx(4 / 5)
    assert accuracy(y, p, threshold=0.3) == pytest.approx(5 / 5)


def test_ranking_metrics_by_hand():
    # user 0: items ranked 3 > 1 > 0 > 4 > 2 (item 1 seen in training is skipped)
    # top-2 after exclusion: [3, 0]; positives {0, 2}: one hit at rank 2
    # user 1: ties everywhere, broken by item index: top-2 [0, 1]; positive {4}: no hit
    # user 2: no held-out positive -> not counted
    scores = np.array(
        [[0.5, 0.8, 0.1, 0.9, 0.3], [0.2, 0.2, 0.2, 0.2, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5]]
    )
    seen = [np.array([1]), np.array([], dtype=int), np.array([0])]
    pos = [np.array([0, 2]), np.array([4]), np.array([], dtype=int)]
    got = ranking_metrics(scores, seen, pos, k=2)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert got["hr"] == pytest.approx((1 + 0) / 2)
    assert got["precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["recall"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["ndcg"] == pytest.approx((ndcg0 + 0) / 2)
    masked = np.where(np.arange(5) == 1, -np.inf, scores[0])[None]
    one = ranking_metrics(masked, None, [np.array([0, 2])], k=2)
    assert one["ndcg"] == pytest.approx(ndcg0)
    # a scorer called with user indices gives the same numbers, in small batches
    calls = []

    def scorer(users):
        calls.append(users.tolist())
        return torch.from_numpy(scores[users])

    assert ranking_metrics(scorer, seen, pos, k=2, batch_size=1) == pytest.approx(got)
    assert calls == [[0], [1]]


def test_ranking_metrics_perfect_and_empty():
    scores = np.array([[3.0, 2.0, 1.0, 0.0]])
    got = ranking_metrics(scores, None, [np.array([0, 1])], k=3)
    assert got == pytest.approx(
        {"hr": 1.0, "ndcg": 1.0, "precision": 2 / 3, "recall": 1.0, "mrr": 1.0}
    )
    assert all(math.isnan(v) for v in ranking_metrics(scores, None, [[]], k=3).values())
    with pytest.raises(ValueError):
        ranking_metrics(scores, None, [[0]], k=0)


# ---------------------------------------------------------------- top-N lists


def test_judge_lists_by_hand():
    import torch

    from widedeep_core.evaluation.metrics import judge_lists

    top = torch.tensor([[3, 1, 2], [0, 1, 4]])
    pos = [np.array([1, 9]), np.array([7])]
    m = judge_lists(top, pos, k=3)
    # user 0: hit at rank 2 -> dcg 1/log2(3), ideal 1 + 1/log2(3); mrr 1/2; user 1: none
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert m["hr"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx(ndcg0 / 2)
    assert m["mrr"] == pytest.approx(0.25)
    assert m["precision"] == pytest.approx((1 / 3) / 2)
    assert m["recall"] == pytest.approx(0.25)


def test_ranked_columns_follow_the_tie_rule():
    from widedeep_core.evaluation.metrics import ranked_columns

    rng = np.random.default_rng(4)
    scores = np.round(rng.normal(size=(40, 30)), 1).astype(np.float32)  # many ties
    scores[3, :] = 0.0
    seen = [rng.choice(30, rng.integers(0, 10), replace=False) for _ in range(40)]
    users = np.arange(40)
    top = ranked_columns(scores, seen, users, 5, batch_size=7).numpy()
    for row, u in enumerate(users):
        unseen = np.setdiff1d(np.arange(30), seen[u])
        expected = unseen[np.lexsort((unseen, -scores[u, unseen]))][:5]
        np.testing.assert_array_equal(top[row], expected)


def test_coverage_and_popularity_rank():
    from widedeep_core.evaluation.metrics import catalogue_coverage, mean_popularity_rank

    top = np.array([[0, 1], [1, -1]])
    assert catalogue_coverage(top, 4) == 0.5
    assert mean_popularity_rank(top, np.array([3, 1, 2, 4])) == pytest.approx((3 + 1 + 1) / 3)


def test_top_k_stable_equals_a_stable_sort_with_ties():
    from widedeep_core.ranking.kernel import top_k

    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 30), generator=g).double()  # many ties
    scores[::3, ::2] = -torch.inf  # masked items tie too
    scores[5] = -torch.inf  # a row with nothing rankable
    for k in (1, 5, 30, 40):
        want = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(top_k(scores, k), want)
