"""Baselines and retrieval: EASE^R closed form by hand, popularity, the large-catalogue route."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from widedeep_core import retrieval as bl
from widedeep_core.errors import ConfigError
from widedeep_core.retrieval import products


def _x(rows: list[list[int]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_ease_closed_form_by_hand():
    # G = X^T X = [[2, 1], [1, 1]]; with lambda 1, P = (G + I)^-1 = [[2, -1], [-1, 3]] / 5
    # B[i, j] = -P[i, j] / P[j, j]: B[0, 1] = (1/5) / (3/5) = 1/3, B[1, 0] = (1/5) / (2/5) = 1/2
    x = _x([[1, 1], [1, 0]])
    b = bl.ease_weights(x, 1.0)
    np.testing.assert_allclose(b, [[0, 1 / 3], [1 / 2, 0]], rtol=1e-6)
    ease = bl.EASE(x, 1.0)
    assert ease.name == "ease"
    np.testing.assert_allclose(
        ease.score(np.array([0, 1])), [[1 / 2, 1 / 3], [0, 1 / 3]], rtol=1e-6
    )


def test_ease_matches_per_column_ridge_regressions():
    # with diag(B) = 0 each column is a ridge regression of item j on the other items
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 6)) < 0.4).astype(np.float64)
    lam = 2.5
    b = bl.ease_weights(sp.csr_matrix(dense), lam)
    for j in range(6):
        others = [c for c in range(6) if c != j]
        a = dense[:, others]
        w = np.linalg.solve(a.T @ a + lam * np.eye(5), a.T @ dense[:, j])
        np.testing.assert_allclose(b[others, j], w, rtol=1e-4, atol=1e-6)
        assert b[j, j] == 0


def test_ease_because_lists_the_users_items_by_weight():
    rng = np.random.default_rng(1)
    x = sp.csr_matrix((rng.random((40, 8)) < 0.5).astype(np.float32))
    ease = bl.EASE(x, 3.0)
    user, item = 0, 7
    own = x[user].indices[x[user].indices != item]
    got = ease.because(user, item, n=3)
    weights = ease.b[own, item]
    expected = own[np.lexsort((own, -weights))][:3]
    assert [j for j, _ in got] == list(expected)
    assert [w for _, w in got] == pytest.approx(list(ease.b[expected, item]))
    # the contributions are the terms of the score (diag(B) = 0)
    score = float(ease.score(np.array([user]))[0, item])
    assert float(ease.b[x[user].indices, item].sum()) == pytest.approx(score, rel=1e-5)


@pytest.mark.parametrize("lam", [0, -1, -0.5, float("nan"), float("inf"), "x", None])
def test_lambda_must_be_positive(lam):
    with pytest.raises(ConfigError, match="ease_lambda") as err:
        bl.EASE(_x([[1, 0], [0, 1]]), lam)
    assert err.value.field == "ease_lambda"


def test_popularity_counts_and_rank():
    x = _x([[1, 1, 0, 0], [1, 0, 0, 1], [1, 1, 0, 0]])
    pop = bl.Popularity(x)
    np.testing.assert_array_equal(pop.counts, [3, 2, 0, 1])
    np.testing.assert_array_equal(pop.score(np.array([0, 2])), [[3, 2, 0, 1]] * 2)
    assert pop.because(0, 3) == []
    np.testing.assert_array_equal(bl.popularity_rank(np.array([2, 5, 2, 0])), [2, 1, 3, 4])


def test_interaction_matrix_is_binary():
    x = bl.interaction_matrix(np.array([0, 0, 1]), np.array([2, 2, 0]), 2, 3)
    np.testing.assert_array_equal(x.toarray(), [[0, 0, 1], [1, 0, 0]])


def top_items(scores: np.ndarray, seen: sp.csr_matrix | None, n: int) -> np.ndarray:
    """Top ``n`` item indices per row: score descending, ties by item index ascending,
    items marked in ``seen`` (CSR rows aligned with ``scores``) never listed (a row with
    fewer than ``n`` unseen items is padded with -1)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    s[np.isnan(s)] = -np.inf
    if seen is not None and seen.nnz:
        r, c = seen.nonzero()
        s[r, c] = np.nan  # below -inf: a seen item never beats an unseen one
    n = min(int(n), s.shape[1])
    key = np.where(np.isnan(s), np.inf, -s)  # ascending key; seen items last
    # argpartition keeps the candidates, a stable sort on them applies the tie rule
    if n < s.shape[1]:
        kth = np.partition(key, n - 1, axis=1)[:, n - 1 : n]
        cand = key <= kth  # every item tied with the n-th stays in
    else:
        cand = np.ones_like(key, dtype=bool)
    out = np.empty((len(s), n), dtype=np.int64)
    for r in range(len(s)):
        idx = np.flatnonzero(cand[r])
        out[r] = idx[np.argsort(key[r, idx], kind="stable")[:n]]
    out[np.take_along_axis(key, out, axis=1) == np.inf] = -1
    return out


def test_top_items_tie_break_and_seen():
    scores = np.array([[1.0, 3.0, 3.0, 0.0, np.nan], [2.0, 2.0, 2.0, 2.0, 2.0]])
    seen = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [1, 1, 1, 1, 0]]))
    top = top_items(scores, seen, 3)
    np.testing.assert_array_equal(top, [[2, 0, 3], [4, -1, -1]])


def _skewed(n_users=60, n_items=40, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1)
    dense = rng.random((n_users, n_items)) < np.clip(p * 3, 0, 0.9)
    return sp.csr_matrix(dense.astype(np.float32))


def test_large_catalogue_route_restricts_ease_to_most_rated():
    x = _skewed()
    model, choice = bl.make_retrieval(x, lam=5.0, max_items=10)
    assert choice.name == model.name == "ease-top10"
    assert "40 movies > 10" in choice.reason
    counts = np.asarray(x.sum(0)).ravel()
    assert set(model.items) == set(np.argsort(-counts, kind="stable")[:10])
    s = model.score(np.arange(5))
    outside = np.setdiff1d(np.arange(40), model.items)
    assert np.isneginf(s[:, outside]).all()
    # on the covered items it is EASE of the restricted matrix
    np.testing.assert_allclose(
        s[:, model.items],
        (x[:5][:, model.items] @ bl.ease_weights(x[:, model.items], 5.0)),
        rtol=1e-5,
    )
    small, choice = bl.make_retrieval(x, lam=5.0)
    assert choice.name == small.name == "ease"


def test_item_knn():
    x = _skewed(seed=2)
    knn, choice = bl.make_retrieval(x, "item-knn")
    assert choice.name == "item-knn"
    w = knn.w.toarray()
    assert (np.diag(w) == 0).all() and (w >= 0).all()
    assert ((w > 0).sum(0) <= bl.DEFAULT_KNN_NEIGHBOURS).all()
    dense = x.toarray()
    norms = np.sqrt(dense.sum(0))
    cos = dense.T @ dense / np.outer(norms, norms).clip(1e-9)
    np.fill_diagonal(cos, 0)
    np.testing.assert_allclose(w, cos, rtol=1e-5, atol=1e-6)  # 40 items < 100 neighbours
    np.testing.assert_allclose(knn.score(np.array([3])), dense[3:4] @ w, rtol=1e-5)
    liked = knn.because(3, 0, n=2)
    assert all(j in x[3].indices for j, _ in liked)
    with pytest.raises(ConfigError, match="retrieval"):
        bl.make_retrieval(x, "svd")


def test_iter_scores_blocks():
    x = _skewed()
    ease = bl.EASE(x, 10.0)
    users = np.arange(60)
    blocks = list(ease.iter_scores(users, block_size=25))
    assert [len(u) for u, _ in blocks] == [25, 25, 10]
    np.testing.assert_allclose(np.concatenate([s for _, s in blocks]), ease.score(users))


def test_ease_weights_are_row_major():
    # scoring reads whole rows of B; a column-major B would be copied on every block
    x = _skewed()
    assert bl.ease_weights(x, 10.0).flags.c_contiguous


# ------------------------------------------------ evaluation: same users, cached rows


@pytest.fixture(scope="module")
def many_users():
    """More users with a test positive than the old 2,000-user baseline sample."""
    from widedeep_core.api import train
    from widedeep_core.config import preset
    from widedeep_core.data.synthetic import make_synthetic
    from widedeep_core.features import prepare

    data = make_synthetic(n_users=9000, n_items=60, n_ratings=120_000, seed=3)
    cfg = preset("fast").replace(epochs=1, device="cpu", patience=None)
    result = train(cfg, data, save_run=False)
    return result, prepare(cfg, data)


def test_baselines_are_judged_on_the_models_users(many_users):
    from widedeep_core.evaluation.judged import MAX_RANKING_USERS

    result, _ = many_users
    test = result.test
    assert test["ranking_users"] > MAX_RANKING_USERS  # the model ranks every user here
    for row in test["baselines"].values():
        assert row["ranking_users"] == test["ranking_users"]


def test_baseline_rows_are_cached_per_split_k_and_lambda(many_users, monkeypatch, tmp_path):
    from widedeep_core.evaluation import baselines
    from widedeep_core.evaluation.judged import ranking_users

    monkeypatch.setenv("WIDEDEEP_CACHE_DIR", str(tmp_path))
    _, prep = many_users
    judged = ranking_users(prep, "test", None)
    fits = []
    real = baselines.make_retrieval
    monkeypatch.setattr(
        baselines, "make_retrieval", lambda *a, **k: fits.append(1) or real(*a, **k)
    )
    first = baselines.evaluate_baselines(prep, judged=judged)
    again = baselines.evaluate_baselines(prep, judged=judged)
    assert again == first and len(fits) == 1  # the second try read the stored rows
    assert baselines.evaluate_baselines(prep, judged=judged, cache=False) == first
    assert len(fits) == 2
    other_k = baselines.evaluate_baselines(prep, judged=judged, k=5)
    other_lambda = baselines.evaluate_baselines(prep, judged=judged, lam=50.0)
    assert len(fits) == 4 and "hr@5" in other_k["ease"]
    assert other_lambda["ease"]["lambda"] == 50.0
    val = baselines.evaluate_baselines(prep, "val", judged=ranking_users(prep, "val", None))
    assert len(fits) == 5 and val != first
    # a damaged file is recomputed and rewritten
    (stored,) = [
        p for p in (tmp_path / "baselines").iterdir() if p.read_text() == json.dumps(first)
    ]
    stored.write_text('{"popularity": ')
    assert baselines.evaluate_baselines(prep, judged=judged) == first
    assert len(fits) == 6 and json.loads(stored.read_text()) == first


def test_an_unwritable_cache_only_costs_a_refit(many_users, monkeypatch, tmp_path):
    from widedeep_core.evaluation import baselines
    from widedeep_core.evaluation.judged import ranking_users

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WIDEDEEP_CACHE_DIR", str(blocker))
    _, prep = many_users
    judged = ranking_users(prep, "test", None)
    rows = baselines.evaluate_baselines(prep, judged=judged)
    assert rows == baselines.evaluate_baselines(prep, judged=judged, cache=False)


def _weighted(rng: np.random.Generator) -> sp.csr_matrix:
    dense = (rng.random((40, 70)) < 0.2) * rng.integers(1, 4, size=(40, 70))
    dense[[3, 17]] = 0  # rows with nothing in them
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.mark.parametrize("block_floats", [1 << 20, 40 * 32])
def test_sparse_dense_matches_scipy_product(monkeypatch, block_floats):
    # one block, and blocks of 32 columns with a short last one (70 = 32 + 32 + 6)
    monkeypatch.setattr(products, "_BLOCK_FLOATS", block_floats)
    rng = np.random.default_rng(1)
    x = _weighted(rng)
    dense = rng.standard_normal((70, 70)).astype(np.float32)
    got = bl.sparse_dense(x, dense).numpy()
    np.testing.assert_allclose(got, x @ dense, rtol=1e-5, atol=1e-5)
    assert not got[[3, 17]].any()
    binary = x.copy()
    binary.data[:] = 1.0
    np.testing.assert_array_equal(bl.sparse_dense(binary, dense).numpy(), binary @ dense)
    empty = sp.csr_matrix((5, 70), dtype=np.float32)
    assert bl.sparse_dense(empty, dense).shape == (5, 70)


@pytest.mark.parametrize("ratio", [0.0, float("inf")])
def test_gram_is_exact_on_both_routes(monkeypatch, ratio):
    # ratio 0 forces scipy's sparse product, inf the blocked dense one (blocks of 32)
    monkeypatch.setattr(products, "_DENSE_GRAM_RATIO", ratio)
    monkeypatch.setattr(products, "_BLOCK_FLOATS", 40 * 32)
    x = _weighted(np.random.default_rng(2))
    x.data[:] = 1.0
    g = bl.gram(x)
    assert g.dtype == torch.float64
    np.testing.assert_array_equal(g.numpy(), (x.T @ x).toarray())
