"""Exported lists and splits let anyone recompute the metrics: this test does, independently.

It reads only recs.csv and the train/test CSVs (plus the movie list for the catalogue),
recomputes HR/NDCG@10 of the model and of popularity and EASE^R with a small numpy
implementation of its own, and checks them against the library's stored numbers.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from widedeep_core.cli import main
from widedeep_core.data import write_synthetic

K = 10
LAMBDA = 500.0
COLD_USERS = range(1001, 1021)  # one rating each: some land outside the training split


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = write_synthetic(
        tmp_path_factory.mktemp("data") / "d", "csv", n_users=60, n_items=80, n_ratings=2500
    )
    with open(path / "ratings.csv", "a", encoding="utf-8") as f:
        # rated 2: never a test positive, so the judged users are the same in every list
        for j, user in enumerate(COLD_USERS):
            f.write(f"{user},{j + 1},2.0,1000000000\n")
    return path


@pytest.fixture(scope="module")
def run_dir(folder, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    argv = ["train", "--data", str(folder), "--set", "epochs=2", "--set", "device=cpu",
            "--set", "hidden=8,4", "--runs-dir", str(runs), "--json", "--quiet"]  # fmt: skip
    code = main(argv)
    assert code == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- independent metrics


def judge(lists: dict[int, list[int]], positives: dict[int, set[int]]) -> tuple[float, float]:
    """Mean HR@K and NDCG@K (binary gains, ideal over min(K, positives))."""
    hr, ndcg = [], []
    for user, pos in positives.items():
        top = lists[user][:K]
        gains = [1.0 if item in pos else 0.0 for item in top]
        dcg = sum(g / np.log2(r + 2) for r, g in enumerate(gains))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(K, len(pos))))
        hr.append(float(any(gains)))
        ndcg.append(dcg / idcg)
    return float(np.mean(hr)), float(np.mean(ndcg))


def rank_unseen(scores: np.ndarray, items: np.ndarray, seen: set[int]) -> list[int]:
    """Highest score first, ties by movie id ascending, training movies left out."""
    order = sorted(
        (i for i in range(len(items)) if int(items[i]) not in seen),
        key=lambda i: (-scores[i], items[i]),
    )
    return [int(items[i]) for i in order[:K]]


def test_metrics_recomputed_from_the_exported_files(folder, run_dir, tmp_path, capsys):
    recs_csv, train_csv, test_csv = (tmp_path / n for n in ("recs.csv", "train.csv", "test.csv"))
    code, _, err = cli(
        capsys, "recommend", run_dir, "--all-users", "-n", K, "--exclude", "history",
        "--output", recs_csv,
    )  # fmt: skip
    assert code == 0, err
    assert "leaves out the user's history under the run's protocol" in err
    for part, path in (("train", train_csv), ("test", test_csv)):
        code, _, err = cli(capsys, "split", run_dir, "--part", part, "--output", path)
        assert code == 0, err
    code, out, err = cli(capsys, "evaluate", run_dir, "--json")
    assert code == 0, err
    library = json.loads(out)

    train = [(int(r["user"]), int(r["item"])) for r in read_rows(train_csv)]
    positives: dict[int, set[int]] = {}
    for r in read_rows(test_csv):
        if float(r["rating"]) > 3:  # the runs' threshold: rating > 3 is positive
            positives.setdefault(int(r["user"]), set()).add(int(r["item"]))
    model_lists: dict[int, list[int]] = {}
    for r in read_rows(recs_csv):
        model_lists.setdefault(int(r["user"]), []).append(int(r["item"]))

    # the catalogue: every listed or rated movie (acceptance uses its own movie list)
    listed = {int(r["movieId"]) for r in read_rows(folder / "movies.csv")}
    rated = {int(r["movieId"]) for r in read_rows(folder / "ratings.csv")}
    items = np.array(sorted(listed | rated))
    users = sorted({u for u, _ in train} | set(positives))
    col = {item: c for c, item in enumerate(items)}
    x = np.zeros((len(users), len(items)))
    row_of = {u: r for r, u in enumerate(users)}
    for u, i in train:
        x[row_of[u], col[i]] = 1.0
    seen = {u: {int(items[c]) for c in np.flatnonzero(x[row_of[u]])} for u in users}

    counts = x.sum(0)
    pop_lists = {u: rank_unseen(counts, items, seen[u]) for u in positives}
    p = np.linalg.inv(x.T @ x + LAMBDA * np.eye(len(items)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    ease_lists = {u: rank_unseen(x[row_of[u]] @ b, items, seen[u]) for u in positives}

    ours = {
        "model": judge(model_lists, positives),
        "popularity": judge(pop_lists, positives),
        "ease": judge(ease_lists, positives),
    }
    theirs = {
        "model": library,
        "popularity": library["baselines"]["popularity"],
        "ease": library["baselines"]["ease"],
    }
    for name, (hr, ndcg) in ours.items():
        assert theirs[name]["ranking_users"] == len(positives), name
        assert theirs[name][f"hr@{K}"] == pytest.approx(hr, abs=1e-9), name
        assert theirs[name][f"ndcg@{K}"] == pytest.approx(ndcg, abs=1e-9), name
    assert library["baselines"]["ease"]["lambda"] == LAMBDA
    assert library["baselines"]["ease"]["route"] == "ease"
    # the test metrics stored by the trainer carry the same table
    stored = json.loads((run_dir / "test_metrics.json").read_text())
    assert stored["baselines"] == library["baselines"]


def test_recs_csv_format(run_dir, tmp_path, capsys):
    path = tmp_path / "recs.csv"
    # "train": some users of this small catalogue rated every movie (no unrated one left)
    code, _, err = cli(
        capsys, "recommend", run_dir, "--all-users", "-n", 5, "--exclude", "train",
        "--output", path,
    )  # fmt: skip
    assert code == 0, err
    with open(path, encoding="utf-8") as f:
        assert f.readline().strip() == "user,rank,item,score"
    rows = read_rows(path)
    by_user: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        by_user.setdefault(int(r["user"]), []).append(r)
    assert len(by_user) == 60 + len(COLD_USERS)  # every user of the data, original ids
    for user_rows in by_user.values():
        assert [int(r["rank"]) for r in user_rows] == [1, 2, 3, 4, 5]
        scores = [float(r["score"]) for r in user_rows]
        assert scores == sorted(scores, reverse=True)
        assert len({r["item"] for r in user_rows}) == 5


def test_split_csv_parts_partition_the_ratings(folder, run_dir, tmp_path, capsys):
    parts = {}
    for part in ("train", "valid", "test"):
        path = tmp_path / f"{part}.csv"
        code, _, err = cli(capsys, "split", run_dir, "--part", part, "--output", path)
        assert code == 0, err
        with open(path, encoding="utf-8") as f:
            assert f.readline().strip() == "user,item,rating"
        parts[part] = [
            (int(r["user"]), int(r["item"]), float(r["rating"])) for r in read_rows(path)
        ]
    ratings = [
        (int(r["userId"]), int(r["movieId"]), float(r["rating"]))
        for r in read_rows(folder / "ratings.csv")
    ]
    assert sorted(parts["train"] + parts["valid"] + parts["test"]) == sorted(ratings)
    n = len(ratings)
    assert len(parts["train"]) == pytest.approx(0.8 * n, abs=2)


def test_user_without_training_ratings_falls_back_to_popularity(run_dir, tmp_path, capsys):
    path = tmp_path / "recs.csv"
    code, _, err = cli(capsys, "recommend", run_dir, "--all-users", "-n", 3, "--output", path)
    assert code == 0, err
    assert err.startswith("ranking every movie for 80 users\n")  # progress first
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 2  # the fallback, and the rule that made the lists
    assert "no training ratings" in notes[0] and "popularity" in notes[0]
    assert notes[1] == "note: each list leaves out every movie the user rated"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["recommend", "{run}", "--all-users", "-n", "81"],
            "larger than the catalogue (80 movies)",
        ),
        (["recommend", "{run}", "--user", "1", "-n", "500"], "larger than the catalogue"),
        (["recommend", "{run}", "-n", "5"], "either --user ID or --all-users"),
        (["split", "{run}", "--part", "holdout"], "unknown part 'holdout'"),
    ],
)
def test_bad_input_is_one_clear_line(run_dir, capsys, argv, needle):
    code, out, err = cli(capsys, *[a.replace("{run}", str(run_dir)) for a in argv])
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


def test_plain_evaluate_shows_model_beside_baselines(run_dir, capsys):
    code, out, err = cli(capsys, "evaluate", run_dir)
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.strip().startswith("metric"))
    assert header.split() == ["metric", "model", "Popularity", "EASE"]
    for label in ("HR@10", "NDCG@10", "MRR@10", "Coverage@10", "Pop rank@10"):
        row = next(line for line in out.splitlines() if line.strip().startswith(label))
        assert len(row.split()) == len(label.split()) + 3
    assert "EASE^R lambda 500" in out


def test_sigterm_midway_leaves_no_export_and_no_temp_file(run_dir, tmp_path, capsys, monkeypatch):
    """`timeout` or `kill` during a long export: the process unwinds like Ctrl-C, so the
    destination is never created and the temp file beside it is removed."""
    import os
    import signal

    from widedeep_core.serving.recommend import Recommender

    real = Recommender.iter_all_users_csv

    def killed_midway(self, *args, **kwargs):
        for i, chunk in enumerate(real(self, *args, **kwargs)):
            if i == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield chunk

    monkeypatch.setattr(Recommender, "iter_all_users_csv", killed_midway)
    monkeypatch.setattr("widedeep_core.ranking.kernel.PAIRS_PER_CALL", 80 * 4)  # 4 users a block
    out = tmp_path / "out"
    out.mkdir()
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = cli(capsys, "recommend", run_dir, "--all-users", "-n", 3,
                       "--output", out / "recs.csv")  # fmt: skip
    assert code == 143
    assert err.strip().splitlines()[-1] == "widedeep: terminated"
    assert list(out.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before  # main() puts the old handler back
