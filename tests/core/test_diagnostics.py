"""Diagnostics (issue 21): each checked against an independent computation on small data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from widedeep_core.diagnostics import tables as T
from widedeep_core.diagnostics.calibration import sigmoid
from widedeep_core.diagnostics.embeddings import neighbours, pca_2d
from widedeep_core.diagnostics.fields import permutation_importance, wide_terms
from widedeep_core.diagnostics.report import DIAGNOSTICS_JSON, compare, diagnose
from widedeep_core.diagnostics.subject import DiagnosisCancelled, open_subject
from widedeep_core.errors import RunError
from widedeep_core.evaluation.metrics import auc, judge_lists
from widedeep_core.runs import Run


@pytest.fixture(scope="module")
def data():
    from widedeep_core.data.synthetic import make_synthetic

    return make_synthetic(n_users=120, n_items=150, n_ratings=6000, seed=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    """Two fast runs on the same split (different seeds of the model only: lr)."""
    from widedeep_core.api import train
    from widedeep_core.config import preset

    root = tmp_path_factory.mktemp("diag") / "runs"
    cfg = preset("fast").replace(device="cpu", epochs=2)
    a = train(cfg, data, runs_dir=root).run_dir
    b = train(cfg.replace(lr=2e-3, wide_fields=("user", "item", "gender")), data, runs_dir=root)
    return a, b.run_dir


@pytest.fixture(scope="module")
def diagnosis(runs, data):
    return diagnose(runs[0], data)


def copy_run(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "copy")


# ---------------------------------------------------------------- pure pieces


def test_per_user_lists_average_to_judge_lists():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 40, 30, 10
    top = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    top[3, 7:] = -1  # a short list
    positives = [np.sort(rng.choice(n_items, rng.integers(1, 6), replace=False)) for _ in top]
    per_user = T.per_user_lists(top, positives, k)
    want = judge_lists(torch.from_numpy(top), positives, k)
    for name, value in want.items():
        assert per_user[name].mean() == pytest.approx(value, abs=1e-12)


def test_per_user_auc_matches_auc_per_group():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 15, 400)
    y = rng.integers(0, 2, 400).astype(float)
    s = np.round(rng.normal(size=400), 1)  # ties
    table = T.per_user_auc(groups, y, s)
    for g, value in zip(table["group"], table["auc"], strict=True):
        want = auc(y[groups == g], s[groups == g])
        assert (np.isnan(value) and np.isnan(want)) or value == pytest.approx(want)


def test_reliability_bins_and_ece_by_hand():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=500)
    p[:3] = [0.0, 1.0, 0.1]
    y = (rng.uniform(size=500) < p**2).astype(float)
    bins = T.reliability_bins(y, p, 10)
    ece = 0.0
    for i in range(10):
        lo, hi = i / 10, (i + 1) / 10
        sel = (p >= lo) & ((p < hi) if i < 9 else (p <= hi))
        assert bins["count"][i] == sel.sum()
        if sel.any():
            assert bins["mean_predicted"][i] == pytest.approx(p[sel].mean())
            assert bins["observed_rate"][i] == pytest.approx(y[sel].mean())
            ece += sel.sum() / len(p) * abs(y[sel].mean() - p[sel].mean())
    assert T.expected_calibration_error(bins) == pytest.approx(ece)


def test_popularity_buckets_cut_the_ratings_in_thirds():
    counts = np.array([50, 0, 30, 10, 10, 5, 5, 40])
    bucket = T.popularity_bucket(counts)
    # sorted: 50 (col 0), 40 (7), 30 (2), 10 (3), 10 (4), 5, 5, 0; total 150
    assert bucket.tolist() == [0, 2, 1, 2, 2, 2, 2, 1]
    assert T.activity_bucket(np.array([0, 1, 20, 21, 300, 301])).tolist() == [
        T.COLD_LABEL, "1-20", "1-20", "21-50", "101-300", ">300",
    ]  # fmt: skip


def test_paired_bootstrap_holds_the_true_difference():
    rng = np.random.default_rng(3)
    a = rng.uniform(size=500)
    b = a + 0.1 + rng.normal(0, 0.05, size=500)
    diff, lo, hi = T.paired_bootstrap(a, b, n_boot=500, seed=0)
    assert lo < 0.1 < hi and lo > 0
    assert diff == pytest.approx((b - a).mean())
    assert T.paired_bootstrap(a, b, n_boot=500, seed=0) == (diff, lo, hi)  # seeded
    same = T.paired_bootstrap(a, a + rng.normal(0, 0.05, 500), n_boot=500, seed=0)
    assert same[1] < 0 < same[2]


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    v = np.random.default_rng(4).normal(size=(60, 8)) * np.arange(1, 9)
    coords, ratio = pca_2d(v)
    pca = PCA(2).fit(v)
    want = pca.transform(v)
    for j in range(2):
        sign = np.sign(coords[:, j] @ want[:, j])
        np.testing.assert_allclose(coords[:, j], sign * want[:, j], atol=1e-9)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_)


# ---------------------------------------------------------------- a run


def test_calibration_of_a_run_recomputed(runs, data, diagnosis):
    s = open_subject(runs[0], data)
    p = 1.0 / (1.0 + np.exp(-s.logit))
    idx = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        (idx == i).mean() * abs(s.y[idx == i].mean() - p[idx == i].mean())
        for i in range(10)
        if (idx == i).any()
    )
    assert diagnosis.values["ece"] == pytest.approx(ece)
    assert diagnosis.values["brier"] == pytest.approx(np.mean((p - s.y) ** 2))
    assert diagnosis.tables["calibration"]["count"].sum() == len(s.y)
    np.testing.assert_allclose(sigmoid(s.logit), p)


def test_lists_and_buckets_give_back_the_run_metrics(runs, diagnosis):
    metrics = Run(runs[0]).read_test_metrics()
    lists = diagnosis.tables["lists"].set_index("ranker")
    for key in ("hr@10", "ndcg@10", "recall@10", "coverage@10", "pop_rank@10"):
        assert lists.loc["model", key] == pytest.approx(metrics[key])
        for name in ("popularity", "ease"):
            assert lists.loc[name, key] == pytest.approx(metrics["baselines"][name][key])
    act = diagnosis.tables["by_activity"].set_index("bucket")
    buckets, overall = act.drop(index="all"), act.loc["all"]
    for m in ("ndcg@10", "hr@10", "mrr@10"):
        assert (buckets[m].fillna(0) * buckets["user_share"]).sum() == pytest.approx(overall[m])
        assert overall[m] == pytest.approx(metrics[m])
    for m in ("logloss", "accuracy"):
        assert (buckets[m] * buckets["row_share"]).sum() == pytest.approx(overall[m])
    assert overall["auc"] == pytest.approx(metrics["auc"])
    pop = diagnosis.tables["by_popularity"].set_index("bucket")
    parts = pop.drop(index="all")
    assert parts["precision_share"].sum() == pytest.approx(metrics["precision@10"])
    assert parts["hits"].sum() == pop.loc["all", "hits"]
    assert parts["items"].sum() == pop.loc["all", "items"]
    assert (parts["logloss"] * parts["row_share"]).sum() == pytest.approx(metrics["logloss"])
    dist = diagnosis.tables["popularity_distribution"]
    assert dist["model_share"].sum() == pytest.approx(1.0)
    assert dist["catalogue_share"].sum() == pytest.approx(1.0)


def test_diversity_by_hand(runs, data):
    from widedeep_core.diagnostics.lists import genre_matrix, intra_list_diversity

    s = open_subject(runs[0], data)
    genres = genre_matrix(s)
    got = intra_list_diversity(s.top[:5], genres)
    for r, row in enumerate(s.top[:5]):
        sets = [set(np.flatnonzero(genres[c])) for c in row]
        d = [
            1 - len(a & b) / len(a | b) if a | b else 0.0
            for i, a in enumerate(sets)
            for j, b in enumerate(sets)
            if i != j
        ]
        assert got[r] == pytest.approx(np.mean(d))


def test_wide_terms_add_up_to_the_wide_logit(runs, data):
    s = open_subject(runs[1], data)
    terms = wide_terms(s)
    assert set(terms) == {"bias", "user", "item", "gender"}
    np.testing.assert_allclose(sum(terms.values()), s.wide, atol=1e-5)


def test_permutation_importance_is_zero_for_a_field_the_model_cannot_use(runs, data):
    from widedeep_core.serving import load_trained

    trained = load_trained(runs[1], data)
    wide = trained.model.wide
    start, size = wide.offsets_by_name["gender"], wide.sizes_by_name["gender"]
    with torch.no_grad():  # gender is read by the wide part only: now it adds nothing
        wide.embedding.weight[start : start + size] = 0.0
    s = open_subject(runs[1], data, trained=trained)
    seen = []
    table = permutation_importance(s, repeats=2, progress=lambda f, m: seen.append(f))
    rows = table.set_index("field")
    assert rows.loc["gender", "drop"] == 0.0 and rows.loc["gender", "std"] == 0.0
    assert rows.loc["item", "drop"] > 0.01  # the movie id carries this model
    assert rows.loc["gender", "parts"] == "wide"
    assert seen[-1] == pytest.approx(1.0) and len(seen) == 2 * len(table)
    again = permutation_importance(s, repeats=2)
    assert again.equals(table)  # seeded
    with pytest.raises(DiagnosisCancelled):
        permutation_importance(s, should_stop=lambda: True)


def test_embedding_map_and_neighbours(runs, data, diagnosis):
    from widedeep_core.diagnostics.embeddings import item_vectors
    from widedeep_core.serving import load_trained

    trained = load_trained(runs[0], data)
    ids, vectors = item_vectors(trained)
    emap = diagnosis.tables["embedding_map"]
    assert emap["item"].tolist() == ids.tolist()
    coords, _ = pca_2d(vectors)
    np.testing.assert_allclose(emap[["x", "y"]].to_numpy(), coords)
    assert emap["title"].str.len().min() > 0
    near = neighbours(trained, int(ids[0]), n=5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit[1:] @ unit[0]
    want = ids[1:][np.argsort(-sim, kind="stable")[:5]]
    assert near["item"].tolist() == want.tolist()
    np.testing.assert_allclose(near["similarity"], np.sort(sim)[::-1][:5])
    with pytest.raises(RunError, match="no embedding"):
        neighbours(trained, 10**9)


def test_two_runs_side_by_side(runs, data, diagnosis):
    other = diagnose(runs[1], data, permutation=False)
    table = compare(diagnosis, other, n_boot=200)
    row = table[(table["metric"] == "ndcg@10") & (table["group"] == "all")].iloc[0]
    pa, pb = diagnosis.tables["per_user"], other.tables["per_user"]
    want = (pb["ndcg"] - pa["ndcg"]).mean()
    assert row["diff"] == pytest.approx(want)
    assert row["lo"] <= row["diff"] <= row["hi"]
    self_cmp = compare(diagnosis, diagnosis, n_boot=50)
    assert (self_cmp["diff"].fillna(0) == 0).all() and not self_cmp["significant"].any()
    assert set(table["group"]) >= {"all", "1-20", "21-50"}


def test_validation_part(runs, data):
    d = diagnose(runs[0], data, part="val", permutation=False)
    assert d.part == "val"
    val_auc = Run(runs[0]).read_test_metrics()["best_val_auc"]
    assert d.values["auc"] == pytest.approx(val_auc, abs=1e-6)


# ---------------------------------------------------------------- the cache


def test_cache_is_read_back_and_recomputed_when_damaged_or_old(runs, data, tmp_path, monkeypatch):
    import widedeep_core.diagnostics.report as report

    run_dir = copy_run(runs[0], tmp_path)
    first = diagnose(run_dir, data)
    path = Run(run_dir).file(DIAGNOSTICS_JSON)
    assert json.loads(path.read_text())["format"] == report.DIAGNOSTICS_FORMAT

    def no_load(*args, **kwargs):
        raise AssertionError("the stored diagnosis should have been used")

    monkeypatch.setattr(report, "open_subject", no_load)
    again = diagnose(run_dir, data)
    assert again.values == first.values
    for name, table in first.tables.items():
        assert again.tables[name].shape == table.shape
        np.testing.assert_array_equal(
            again.tables[name].select_dtypes("number").to_numpy(),
            table.select_dtypes("number").to_numpy(),
        )
    monkeypatch.undo()
    for damage in ("{not json", json.dumps({"format": 0, "parts": {}})):
        path.write_text(damage)
        assert diagnose(run_dir, data).values["ece"] == pytest.approx(first.values["ece"])
        assert json.loads(path.read_text())["format"] == report.DIAGNOSTICS_FORMAT


# ---------------------------------------------------------------- bad input


def test_a_damaged_run_is_one_clear_error(runs, data, tmp_path):
    run_dir = copy_run(runs[0], tmp_path)
    (run_dir / "encoder.json").write_text("{")
    with pytest.raises(RunError, match=str(run_dir)):
        diagnose(run_dir, data, cache=False)


def test_an_unservable_run_is_one_clear_error(runs, data, tmp_path):
    run_dir = copy_run(runs[0], tmp_path)
    for weights in run_dir.glob("weights_*.pt"):
        weights.unlink()
    with pytest.raises(RunError, match="weights"):
        diagnose(run_dir, data)


def test_a_run_on_other_data_is_one_clear_error(runs):
    from widedeep_core.data.synthetic import make_synthetic

    other = make_synthetic(n_users=50, n_items=40, n_ratings=1000, seed=9)
    with pytest.raises(RunError, match="not the data this run was trained on") as err:
        diagnose(runs[0], other)
    assert str(Run(runs[0]).path) in str(err.value)


def test_a_run_without_test_metrics_is_one_clear_error(runs, data, tmp_path):
    run_dir = copy_run(runs[0], tmp_path)
    (run_dir / "test_metrics.json").unlink()
    with pytest.raises(RunError, match="no test metrics") as err:
        diagnose(run_dir, data)
    assert str(run_dir) in str(err.value)


def test_runs_on_different_splits_are_not_compared(runs, data, diagnosis, tmp_path):
    from widedeep_core.api import train
    from widedeep_core.config import preset

    cfg = preset("fast").replace(device="cpu", epochs=1, seed=7)
    other = diagnose(train(cfg, data, runs_dir=tmp_path).run_dir, data, permutation=False)
    with pytest.raises(RunError, match="splits differ"):
        compare(diagnosis, other)


def test_a_two_stage_run_is_calibrated_on_its_ranked_candidates(data, tmp_path):
    from widedeep_core.api import train
    from widedeep_core.config import preset
    from widedeep_core.ranking.lists import ListRanker

    cfg = preset("topn").replace(device="cpu", epochs=1, candidates=30)
    run_dir = train(cfg, data, runs_dir=tmp_path).run_dir
    d = diagnose(run_dir, data, permutation=False)
    metrics = Run(run_dir).read_test_metrics()
    lists = d.tables["lists"].set_index("ranker")
    assert lists.loc["model", "ndcg@10"] == pytest.approx(metrics["ndcg@10"])
    s = open_subject(run_dir, data)
    ranked = ListRanker(s.trained.model, s.prep).rank(s.judged.user_ids, s.judged.seen, 30)
    labels = [
        np.isin(c[v], p)
        for c, v, p in zip(ranked.columns, ranked.valid, s.judged.positives, strict=True)
    ]
    probs = sigmoid(ranked.scores[ranked.valid])
    y = np.concatenate(labels).astype(float)
    bins = d.tables["calibration_candidates"]
    assert bins["count"].sum() == ranked.valid.sum()
    assert (bins["count"] * bins["observed_rate"].fillna(0)).sum() == pytest.approx(y.sum())
    assert d.values["candidates_brier"] == pytest.approx(np.mean((probs - y) ** 2))
    assert d.notes and "no movie embeddings" in d.notes[0]


def test_training_dynamics_table_follows_the_epoch_rows(diagnosis, runs):
    from widedeep_core.runs import Run

    table = diagnosis.tables["dynamics"]
    rows = Run(diagnosis.run).read_epoch_metrics()
    assert table["epoch"].tolist() == [r["epoch"] for r in rows]
    assert table["wide_share"].tolist() == pytest.approx([r["dyn_wide_share"] for r in rows])
    expected = [r["dyn_grad_wide"] / (r["dyn_grad_wide"] + r["dyn_grad_deep"]) for r in rows]
    assert table["grad_wide_share"].tolist() == pytest.approx(expected)
