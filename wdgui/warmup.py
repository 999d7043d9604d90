"""Load what the first run needs in a worker thread without stalling the window.

Two things stall the GUI thread while another thread imports PyTorch, even with the
GIL switch interval at 1 ms (measured on 2 cores with a 5 ms probe timer):

- ``dlopen`` of ``libtorch_cpu.so`` (400+ MB of static initialisers) runs with the GIL
  held when Python imports the extension: 400-450 ms. Loading the library first
  through a ctypes *foreign call*, which releases the GIL, takes that off the lock.
- The cyclic garbage collector: importing torch, ``torch._dynamo`` (pulled in by the
  first optimiser) and sympy allocates hundreds of thousands of objects, and each
  full collection scans all of them with the GIL held: bursts of 150-360 ms.
  Collection is paused while importing, then ``gc.freeze()`` moves everything
  loaded so far out of the collector's sight, so later collections stay short.

With both, the longest stall measured while importing torch and building the first
optimiser fell from 360-450 ms to about 40 ms.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator

# Loaded in dependency order; names that do not exist on a platform are skipped.
TORCH_LIBRARIES = ("libc10.so", "libtorch_cpu.so", "libtorch.so")
RTLD_NOW, RTLD_GLOBAL = 2, 0x100


def preload_torch_libraries() -> list[str]:
    """dlopen torch's big shared libraries with the GIL released (Linux); returns them."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    try:
        libc = ctypes.CDLL(None)  # a CDLL (not PyDLL) call releases the GIL
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = []
    for name in TORCH_LIBRARIES:
        path = os.path.join(lib, name)
        if os.path.exists(path) and dlopen(path.encode(), RTLD_NOW | RTLD_GLOBAL):
            loaded.append(name)
    return loaded


def _import_sweep_modules() -> None:
    """Optuna and SQLAlchemy, which the Sweep page's worker imported at first use (a
    418 ms stall of the window there); optional: without them the Sweep page says so."""
    for name in (
        "sqlalchemy",
        "optuna",
        "widedeep_core.sweeps.study",
        "widedeep_core.sweeps.runner",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def qt_type_steps(per_step: int = 25) -> Iterator[None]:
    """Create every class of QtCore, QtGui and QtWidgets, ``per_step`` names a step.

    PySide6 creates its classes (and their enums, in Python) on first access. Importing
    pyqtgraph reads every one of them (its ``Qt`` shim copies the three modules), and
    doing that in the warm-up thread while the GUI thread used PySide crashed 1-2 fresh
    sessions in 15 (segfault in the GUI thread while the warm-up thread was creating an
    enum). The GUI thread creates them first, in short steps (~250 ms in all), and the
    warm-up waits for it before importing pyqtgraph.
    """
    from PySide6 import QtCore, QtGui, QtWidgets

    for module in (QtCore, QtGui, QtWidgets):
        names = dir(module)
        for start in range(0, len(names), per_step):
            for name in names[start : start + per_step]:
                getattr(module, name)
            yield


# Set once a warm-up has finished in this process: later trainings need none.
WARMED = threading.Event()
_WARMING = threading.Lock()


def ensure_warm() -> None:
    """The warm-up, in the calling (worker) thread, unless one already ran: a window made
    without its warm-up thread (``MainWindow()`` in a script or a test) still imports
    PyTorch for its first run with the GIL and the collector kept off the GUI thread's
    back (without it the first Start stalled the window 145-190 ms). pyqtgraph is not
    imported here: its classes must first be created in the GUI thread."""
    warm_up(pyqtgraph=False)


def warm_up(qt_ready: threading.Event | None = None, pyqtgraph: bool = True) -> None:
    """Import pandas, pyqtgraph, torch, the trainer and Optuna; train a tiny model once.

    Runs in a worker thread (``MainWindow(warm_up=True)`` starts it after the first
    paint). The tiny run, in memory, goes through every path the first real run takes
    (encoder, model, the first optimiser step, which imports ``torch._dynamo``, the
    evaluation), so their lazy imports and first-call set-ups happen here. Idempotent;
    a failure only means the first run pays the cost itself. With ``qt_ready`` it waits
    (at most 30 s) for the GUI thread to have run :func:`qt_type_steps` before
    importing pyqtgraph.
    """
    with _WARMING:  # one warm-up at a time: a first Start waits for the window's
        if not WARMED.is_set():
            _warm_up(qt_ready, pyqtgraph)
            return
    # warmed already (a first Start did it): what a window's warm-up adds still happens
    if qt_ready is not None:
        qt_ready.wait(30)
    if pyqtgraph:
        importlib.import_module("pyqtgraph")


def _warm_up(qt_ready: threading.Event | None, pyqtgraph: bool) -> None:
    gc.disable()
    try:
        # pandas and pyarrow first: their extension modules are dlopen'ed with the GIL
        # held, and glibc's loader lock is held through libtorch's 400 ms dlopen; a data
        # load importing pandas meanwhile held the GIL while waiting: a 1 s stall.
        from widedeep_core.data import make_synthetic

        # the pages built after the warm-up (plots) need pyqtgraph: imported here, off
        # the GUI thread; the window builds them once this function returns
        if qt_ready is not None:
            qt_ready.wait(30)
        if pyqtgraph:
            importlib.import_module("pyqtgraph")
        preload_torch_libraries()

        from widedeep_core.config import preset
        from widedeep_core.threads import apply_thread_share, set_threads
        from widedeep_core.training import Trainer

        set_threads(1)  # spinning OpenMP threads would slow the window
        try:
            data = make_synthetic(n_users=20, n_items=30, n_ratings=400, seed=0)
            config = preset("reference").replace(epochs=1, batch_size=64, device="cpu")
            Trainer(config, data).fit()
        finally:
            apply_thread_share()  # the process's share (WIDEDEEP_THREADS, other trainings)
        _import_sweep_modules()
    finally:
        WARMED.set()  # once, even after a failure: then the first run pays the cost itself
        gc.freeze()
        gc.enable()
