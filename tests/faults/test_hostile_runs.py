"""Run folders and data paths from an untrusted source: no crash, no hang, no wrong list.

Real files and real processes (a crafted retrieval.npz once made scipy write out of
bounds: the process died with SIGSEGV). Every refusal is one line naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from widedeep_core.api import open_recommender, train
from widedeep_core.config import preset
from widedeep_core.data import write_synthetic
from widedeep_core.errors import WideDeepError
from widedeep_core.runs import RunStore

SIZE = {"n_users": 80, "n_items": 100, "n_ratings": 3000}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("hostile") / "ml", "ml-1m", **SIZE)


@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory) -> dict[str, Path]:
    from widedeep_core.data import load_movielens

    data = load_movielens(folder)
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, cfg in (
        ("fast", preset("fast").replace(epochs=1, device="cpu")),
        ("topn", preset("topn").replace(epochs=1, device="cpu", candidates=50)),
    ):
        out[name] = train(cfg, data, runs_dir=root).run_dir
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / run.name
    shutil.copytree(run, target)
    return target


def _cli(*argv: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "widedeep_core.cli", *map(str, argv)],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("widedeep: error: "), proc.stderr[-2000:]
    assert "internal error" not in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_a_crafted_retrieval_npz_is_one_line_not_a_segfault(runs, tmp_path):
    run = _copy(runs["topn"], tmp_path)
    stored = dict(np.load(run / "retrieval.npz"))
    n = SIZE["n_items"]
    crafted = {k: v for k, v in stored.items() if not k.startswith("main_")}
    crafted.update(
        main_name=np.array("item-knn"),
        main_indices=np.full(400, 2**31 - 1, dtype=np.int64),
        main_indptr=np.r_[0, np.full(n, 400)].astype(np.int64),
        main_data=np.ones(400, np.float32),
    )
    _npz(run / "retrieval.npz", **crafted)
    proc = _cli("recommend", run, "--user", 1)
    assert proc.returncode != -signal.SIGSEGV
    _one_line(proc, "retrieval.npz", "main model", "'indices'", "outside")


def test_a_small_npz_declaring_gigabytes_is_refused_before_it_is_read(runs, tmp_path):
    run = _copy(runs["topn"], tmp_path)
    stored = dict(np.load(run / "retrieval.npz"))
    # zeros compress to almost nothing: a few KB on disk that would expand to 400 MB
    big = {**stored, "main_b": np.zeros((10_000, 10_000), np.float32)}
    with open(run / "retrieval.npz", "wb") as f:
        np.savez_compressed(f, **big)
    assert (run / "retrieval.npz").stat().st_size < 2_000_000
    _one_line(_cli("recommend", run, "--user", 1), "retrieval.npz", "declares 100,000,000")


def test_nan_weights_and_missing_fingerprints_refuse_to_serve(runs, tmp_path):
    run = _copy(runs["fast"], tmp_path)
    weights = run / "weights_best.pt"
    if not weights.exists():
        weights = run / "weights_last.pt"
    state = torch.load(weights, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    torch.save(state, weights)
    _one_line(_cli("recommend", run, "--user", 1), weights.name, "NaN")
    other = _copy(runs["topn"], tmp_path)
    info = json.loads((other / "data.json").read_text())
    info.pop("fingerprint")
    (other / "data.json").write_text(json.dumps(info))
    _one_line(_cli("recommend", other, "--user", 1), "data.json", "no data fingerprint")


@pytest.mark.parametrize(
    "content", ["[" * 100_000 + "]" * 100_000, '{"status": ' + "7" * 5000 + "}"]
)
def test_a_hostile_run_json_is_listed_damaged_and_can_be_deleted(runs, tmp_path, content):
    run = _copy(runs["fast"], tmp_path)
    (run / "run.json").write_text(content)
    proc = _cli("runs", "--runs-dir", run.parent, "--json")
    assert proc.returncode == 0, proc.stderr
    (listed,) = json.loads(proc.stdout)
    assert listed["status"] == "damaged" and "run.json" in listed["message"]
    proc = _cli("runs", "--runs-dir", run.parent, "delete", run.name)
    assert proc.returncode == 0 and not run.exists(), proc.stderr


def test_deleting_a_live_run_stops_its_trainer(folder, tmp_path):
    root = tmp_path / "live"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "widedeep_core.cli", "train", "--data", str(folder),
         "--preset", "reference", "--set", "epochs=500", "--set", "device=cpu",
         "--runs-dir", str(root), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "WIDEDEEP_THREADS": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [p for p in root.glob("20*") if (p / "epochs.jsonl").exists()]
        if found:
            break
        time.sleep(0.05)
    (run,) = found
    proc = _cli("runs", "--runs-dir", root, "delete", run.name, "--force")
    assert proc.returncode == 0, proc.stderr
    _, err = trainer.communicate(timeout=120)
    assert trainer.returncode == 1, err[-2000:]
    assert "the run folder was deleted" in err
    assert not run.exists() and not [p for p in root.iterdir() if not p.name.startswith(".")]


def test_a_fifo_or_a_device_as_the_data_path_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "f.zip"
    os.mkfifo(fifo)
    _one_line(_cli("info", fifo, timeout=30), "named pipe")
    _one_line(_cli("info", os.devnull, timeout=30), "is a device")
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere")
    _one_line(_cli("info", dangling, timeout=30), "symbolic link", "does not exist")


def test_escape_sequences_in_titles_are_shown_not_sent(runs, folder, tmp_path):
    data_dir = tmp_path / "esc"
    shutil.copytree(folder, data_dir)
    movies = (data_dir / "movies.dat").read_bytes().split(b"\n")
    movies = [m.replace(b"::", b"::\x1b[2J\x07", 1) if m else m for m in movies]
    (data_dir / "movies.dat").write_bytes(b"\n".join(movies))
    root = tmp_path / "r"
    proc = _cli("train", "--data", data_dir, "--set", "epochs=1", "--runs-dir", root, "--quiet")
    assert proc.returncode == 0, proc.stderr
    (run,) = root.glob("20*")
    proc = _cli("recommend", run, "--user", 1, "-n", 3)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "\\x1b[2J\\x07" in proc.stdout


# ---------------------------------------------------------------- property: any mutation

FILES = ("run.json", "config.json", "data.json", "encoder.json", "split.json", "retrieval.npz")


@st.composite
def mutations(draw):
    name = draw(st.sampled_from(FILES))
    how = draw(st.sampled_from(["truncate", "garbage", "flip", "json", "empty", "delete"]))
    cut = draw(st.floats(0.0, 1.0))
    junk = draw(st.binary(min_size=0, max_size=64))
    value = draw(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        )
    )
    return name, how, cut, junk, value


def _mutate(path: Path, how: str, cut: float, junk: bytes, value: object) -> None:
    raw = path.read_bytes() if path.exists() else b""
    if how == "truncate":
        path.write_bytes(raw[: int(len(raw) * cut)])
    elif how == "garbage":
        path.write_bytes(junk)
    elif how == "flip" and raw:
        i = int((len(raw) - 1) * cut)
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :])
    elif how == "json":
        path.write_text(json.dumps(value))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink(missing_ok=True)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(change=mutations())
def test_any_mutated_run_folder_is_refused_in_one_line_or_served(runs, tmp_path_factory, change):
    name, how, cut, junk, value = change
    root = tmp_path_factory.mktemp("mutated")
    run = root / runs["topn"].name
    shutil.copytree(runs["topn"], run)
    _mutate(run / name, how, cut, junk, value)
    store = RunStore(root)
    (_listed,) = store.list()  # listing never fails: a broken run is listed as damaged
    try:
        rec = open_recommender(run)
        table = rec.recommend(int(rec.users[0]), n=5)
        assert table["score"].notna().all()
    except WideDeepError as exc:
        text = str(exc)
        assert "\n" not in text.strip() and text.strip()
    store.delete(run.name, force=True)  # and it can always be deleted
    assert not run.exists()
