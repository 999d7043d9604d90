"""The core must never import Qt, pyqtgraph or the GUI package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import widedeep_core

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "wdgui", "shiboken6")
CORE = Path(widedeep_core.__file__).parent


def test_no_module_in_core_imports_qt():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(CORE)}:{node.lineno} imports {name}")
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys, widedeep_core\n"
        "for m in pkgutil.walk_packages(widedeep_core.__path__, 'widedeep_core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


SERVING_FORBIDDEN = ("widedeep_core.training", "widedeep_core.training.trainer",
                     "widedeep_core.training.optim", "widedeep_core.runs.recorder")  # fmt: skip


def test_serving_a_stored_run_never_imports_the_trainer_or_the_optimisers(tmp_path):
    """Serving needs only run folder -> encoder -> model -> scorer (also via the CLI)."""
    from widedeep_core.api import train
    from widedeep_core.config import preset
    from widedeep_core.data import write_synthetic

    folder = write_synthetic(tmp_path / "data", "ml-1m", n_users=40, n_items=60, n_ratings=1500)
    from widedeep_core.data import load_movielens

    data = load_movielens(folder, cache=False)
    result = train(preset("reference").replace(epochs=1, device="cpu"), data, runs_dir=tmp_path)
    user = int(data.ratings["user"].iloc[0])
    code = (
        "import sys\n"
        "from widedeep_core.serving import Recommender\n"
        f"Recommender.from_run({str(result.run_dir)!r}).recommend({user}, n=3)\n"
        "from widedeep_core.cli import main\n"
        f"assert main(['recommend', {str(result.run_dir)!r}, '--user', '{user}', '-n', '3']) == 0\n"
        f"bad = [m for m in {SERVING_FORBIDDEN!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
