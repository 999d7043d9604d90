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
