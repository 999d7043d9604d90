"""Shared fixtures: isolate user dirs, run Qt offscreen, build synthetic data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep caches, runs and settings of every test out of the real user folders."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("WIDEDEEP_RUNS_DIR", str(base / "runs"))
    monkeypatch.setenv("WIDEDEEP_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    # trainings of the user outside the suite must not change the suite's core shares
    monkeypatch.setenv("WIDEDEEP_SLOTS_DIR", str(base / "slots"))
    monkeypatch.delenv("WIDEDEEP_THREADS", raising=False)
    yield


@pytest.fixture(scope="session")
def small_data():
    """An in-memory synthetic data set (ml-1m-like, with demographics)."""
    from widedeep_core.data.synthetic import make_synthetic

    return make_synthetic(n_users=120, n_items=150, n_ratings=6000, seed=1)
