"""The station order is a checked contract (pyproject's [tool.importlinter]): it holds
on the tree, and an upward import planted in a copy of it, inside a function, breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy shadows the installed package
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for pkg in ("widedeep_core", "wdgui"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_the_tree_keeps_every_import_contract(tmp_path):
    out = _lint(_copy(tmp_path))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_a_planted_upward_import_inside_a_function_breaks_the_contract(tmp_path):
    tree = _copy(tmp_path)
    index = tree / "widedeep_core" / "data" / "index.py"
    index.write_text(
        index.read_text()
        + "\n\ndef _planted():\n    from widedeep_core.serving import Recommender\n"
        "\n    return Recommender\n"
    )
    out = _lint(tree)
    assert out.returncode != 0
    assert "Core stations import only stations below them BROKEN" in out.stdout
    assert "widedeep_core.data.index -> widedeep_core.serving" in out.stdout
